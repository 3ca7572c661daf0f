//! Re-syncs that skip what git already knows: the deploy marker records the MD5 of every blob it shipped, and the
//! next deploy reads only files whose blob it does not name (src/deploy/blob_cache.rs). What is deployed, and so
//! what is recorded, is always the blob's own bytes: never the work tree's (smudge filters, local edits), and a
//! Git LFS file (whose bytes come from the work tree) is never recorded.
use crate::common;

use common::buckets::Backend;
use common::project::Project;

const MARKER: &str = ".dagship/last-deploy.json";

fn marker(project: &Project) -> serde_json::Value {
    serde_json::from_slice(&project.bucket.objects()[MARKER]).unwrap()
}

/// An MD5 as the marker writes it.
fn md5_hex(bytes: &[u8]) -> serde_json::Value {
    serde_json::to_value(dagship::hash::Md5::of_bytes(bytes)).unwrap()
}

fn the_marker_records_each_blobs_digest_and_the_next_plan_trusts_it(backend: Backend) {
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let blob = project.repo.git(&["rev-parse", "HEAD:dags/daily.py"]);
    let recorded = marker(&project)["blobs"][&blob].clone();
    let bytes = std::fs::read(project.repo.path().join("dags/daily.py")).unwrap();
    assert_eq!(recorded["md5"], md5_hex(&bytes), "the digest of the blob's bytes");
    assert_eq!(recorded["size"], bytes.len());

    // A marker that names a wrong digest for the blob (the same size): the plan takes the recorded digest and never
    // reads the file, so it sees a change. This is what makes the re-sync of an unchanged tree read no file.
    let mut forged = marker(&project);
    forged["blobs"][&blob]["md5"] = md5_hex(b"not the file");
    project.bucket.seed(MARKER, &serde_json::to_vec(&forged).unwrap());
    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    assert_eq!(plan.json()["summary"]["replacements"], 1, "daily.py is replaced on the recorded digest's word");

    // A changed blob is hashed, whatever the marker says about the old one; the deploy converges.
    project.repo.write("dags/daily.py", "from operators.slack import notify  # edited\n");
    project.repo.commit("edit");
    project.deploy_json(&[]);
    assert_eq!(project.deployed(), project.expected());
    let again = project.deploy_json(&[]);
    assert_eq!(again["up_to_date"], true);
}

fn what_is_deployed_and_recorded_is_the_blob_not_the_smudged_work_tree(backend: Backend) {
    let project = Project::new(backend, "");
    // A smudge filter that upper-cases the work tree copy (its clean filter undoes it, so git sees no change).
    project.repo.git(&["config", "filter.shout.smudge", "tr a-z A-Z"]);
    project.repo.git(&["config", "filter.shout.clean", "tr A-Z a-z"]);
    project.repo.write(".gitattributes", "dags/*.py filter=shout\n");
    project.repo.commit("filter");
    std::fs::remove_file(project.repo.path().join("dags/daily.py")).unwrap();
    project.repo.git(&["checkout", "--", "dags/daily.py"]);
    let work_tree = std::fs::read(project.repo.path().join("dags/daily.py")).unwrap();
    let blob = project.repo.git(&["cat-file", "blob", "HEAD:dags/daily.py"]) + "\n";
    assert_ne!(work_tree, blob.as_bytes(), "the filter makes the work tree differ from the blob");

    for _ in 0..2 {
        project.deploy_json(&[]);
        assert_eq!(project.deployed()["dags/daily.py"], blob.as_bytes(), "the blob's bytes are deployed");
        let oid = project.repo.git(&["rev-parse", "HEAD:dags/daily.py"]);
        assert_eq!(marker(&project)["blobs"][&oid]["md5"], md5_hex(blob.as_bytes()));
        // Another commit, so the next round plans again with the recorded digests.
        project.repo.write("README.md", &format!("# {}\n", project.repo.head()));
        project.repo.commit("docs");
    }
}

fn a_git_lfs_file_is_never_recorded_by_its_pointer_blob(backend: Backend) {
    let project = Project::new(backend, "");
    let content = b"a large model file\n";
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(content).iter().map(|byte| format!("{byte:02x}")).collect()
    };
    let pointer = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {}\n", content.len());
    project.repo.write("data/model.bin", &pointer);
    project.repo.commit("an LFS file");
    std::fs::write(project.repo.path().join("data/model.bin"), content).unwrap(); // as `git lfs pull` leaves it
    project.deploy_json(&["--allow-dirty"]);
    assert_eq!(project.deployed()["data/model.bin"], content, "the LFS content is deployed");
    let pointer_blob = project.repo.git(&["rev-parse", "HEAD:data/model.bin"]);
    assert!(marker(&project)["blobs"].get(&pointer_blob).is_none(), "the pointer's blob id does not name it");
    let data_blob = project.repo.git(&["rev-parse", "HEAD:data/lookup.csv"]);
    assert!(marker(&project)["blobs"].get(&data_blob).is_some(), "a plain file's blob is recorded");
}

on_backends!(the_marker_records_each_blobs_digest_and_the_next_plan_trusts_it: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(what_is_deployed_and_recorded_is_the_blob_not_the_smudged_work_tree: local => Backend::Local);
on_backends!(a_git_lfs_file_is_never_recorded_by_its_pointer_blob: local => Backend::Local);

/// A no-op re-sync writes nothing at all, not even a lock: its one listing found the bucket as the commit has it
/// and the marker naming it, so a second listing under a lock would only find the same. Observed at the wire.
fn a_noop_resync_sends_no_write_request(backend: Backend) {
    use common::fault_proxy::{FaultProxy, Flavor};
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let flavor = if backend == Backend::S3 { Flavor::S3 } else { Flavor::Gcs };
    let proxy = FaultProxy::start(project.bucket.endpoint.as_ref().unwrap(), flavor, 0.0, 1, &[]);
    let run = project.deploy_through(&proxy, &[]);
    run.assert_code(0);
    assert_eq!(run.json()["up_to_date"], true);
    assert_eq!(proxy.writes(), Vec::<String>::new(), "no lock, no marker, no object written");

    // One change: the lock is taken and the change written (the shortcut is for no-ops only).
    project.repo.write("dags/daily.py", "from operators.slack import notify  # v2\n");
    project.repo.commit("edit");
    let run = project.deploy_through(&proxy, &[]);
    run.assert_code(0);
    assert!(proxy.writes().iter().any(|write| write.contains("lock")), "{:?}", proxy.writes());
    assert_eq!(project.deployed(), project.expected());
}

on_backends!(a_noop_resync_sends_no_write_request: s3 => Backend::S3, gcs => Backend::Gcs);

/// The plan takes a recorded blob's digest without reading the file (it is not even staged), so a file it uploads
/// on that digest is written from git just before the upload: a new file holding a recorded blob (a copy, an empty
/// `__init__.py`), and an object changed in the bucket whose file did not change. Both must land with the blob's
/// bytes, which the store checks against the digest sent with them.
fn a_recorded_blob_the_plan_uploads_lands_with_its_own_bytes(backend: Backend) {
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let daily = std::fs::read_to_string(project.repo.path().join("dags/daily.py")).unwrap();
    project.repo.write("dags/copy_of_daily.py", &daily);
    project.repo.commit("a copy: its blob is the recorded one");
    let run = project.deploy_json(&[]);
    assert_eq!(run["plan"]["summary"]["uploads"], 1, "{run}");
    assert_eq!(project.deployed(), project.expected());
    assert_eq!(project.deployed()["dags/copy_of_daily.py"], daily.as_bytes());

    // Changed in the bucket by hand; the commit's unchanged file replaces it.
    project.bucket.seed("dags/daily.py", b"edited in the console\n");
    let run = project.deploy_json(&["--overwrite-drift"]);
    assert_eq!(run["plan"]["summary"]["replacements"], 1, "{run}");
    assert_eq!(project.deployed()["dags/daily.py"], daily.as_bytes());
    assert_eq!(project.deployed(), project.expected());
}

on_backends!(a_recorded_blob_the_plan_uploads_lands_with_its_own_bytes: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

/// The no-op shortcut is for a quiet bucket only: a lock left by a deploy killed after its marker (everything
/// written, the lock not yet released) is taken over and released by the next deploy, even one with nothing to
/// write, instead of staying until a deploy with changes waits out its TTL.
fn a_noop_that_finds_a_dead_lock_takes_it_over_and_releases_it(backend: Backend) {
    let project = Project::new(backend, "deploy:\n  lock_ttl: 2s\n");
    project.deploy_json(&[]);
    let dead = br#"{"id": "dead-deploy", "commit": "dead", "host": "gone-runner", "pid": 4242, "acquired_at": 0,
        "environment": "test", "ttl_seconds": 1, "renewal": 7, "renewed_at": 0}"#;
    project.bucket.seed(".dagship/lock.json", dead);
    let run = project.run(&["deploy", "--env", "test", "--format", "json"]);
    run.assert_code(0);
    assert!(run.stderr.contains("taking over the deploy lock"), "{}", run.stderr);
    assert_eq!(run.json()["up_to_date"], true, "nothing was written: {}", run.stdout);
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the dead lock is gone");
}

on_backends!(a_noop_that_finds_a_dead_lock_takes_it_over_and_releases_it: local => Backend::Local, s3 => Backend::S3);
