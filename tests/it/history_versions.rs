//! Rollback to a commit the repository no longer has: restored from the bucket's object versions (versioned S3
//! on moto, GCS generations on the emulator), checked against the ledger record before any write; refused with
//! zero writes when a version is gone or its bytes differ; a clear "fetch the commit" error where the backend
//! keeps no versions. Writes are counted where they happen (a recording proxy, the file:// journal).
use crate::common;

use std::process::Command;

use common::buckets::Backend;
use common::fault_proxy::{FaultProxy, Flavor};
use common::project::Project;
use common::{Repo, Run, run_command};

use crate::history::{assert_record_matches_bucket, history, stored_records};

const CONFIG: &str = "deploy:\n  max_delete: 100%\n";

/// Rewrites the branch to one commit holding HEAD's tree and drops every other object, so `commit` is gone.
fn forget_commits_before_head(repo: &Repo, commit: &str) {
    repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
    repo.git(&["commit", "-q", "-m", "history rewritten"]);
    repo.git(&["branch", "-D", "main"]);
    repo.git(&["branch", "-m", "main"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    assert!(!repo.git(&["rev-list", "--all"]).contains(commit), "commit {commit} is gone");
}

/// Deploys A (returning its record id) and B (an edit, an add, a delete), then forgets A's commit.
fn deploy_a_and_b_then_forget_a(project: &Project) -> (String, String, std::collections::BTreeMap<String, Vec<u8>>) {
    let a = project.repo.head();
    project.deploy_json(&[]);
    let at_a = project.expected();
    let a_id = history(project)[0]["id"].as_str().unwrap().to_string();
    project
        .repo
        .write("dags/daily.py", "from operators.slack import notify  # edited\n")
        .write("dags/new.py", "# a new DAG\n")
        .write("data/more.csv", "id\n2\n");
    project.repo.remove("dags/sql/report.sql");
    project.repo.commit("B");
    project.deploy_json(&[]);
    assert_ne!(project.deployed(), at_a);
    forget_commits_before_head(&project.repo, &a);
    (a, a_id, at_a)
}

/// A dagship run whose writes are recorded: through a recording proxy on S3 and GCS, the journal on file://.
fn run_observed(project: &Project, args: &[&str]) -> (Run, Vec<String>) {
    let backend = project.bucket.backend;
    let journal = project.repo.scratch().join("observed.journal");
    let proxy = project.bucket.endpoint.as_ref().map(|endpoint| {
        let flavor = if backend == Backend::S3 { Flavor::S3 } else { Flavor::Gcs };
        FaultProxy::start(endpoint, flavor, 0.0, 1, &[])
    });
    let mut command: Command = project.command(args);
    match (&proxy, backend) {
        (Some(proxy), Backend::S3) => command.env("AWS_ENDPOINT_URL_S3", &proxy.url),
        (Some(proxy), _) => command.env("STORAGE_EMULATOR_HOST", &proxy.url),
        (None, _) => command.env("DAGSHIP_FILE_JOURNAL", &journal),
    };
    let run = run_command(&mut command);
    let writes = match &proxy {
        Some(proxy) => proxy.writes(),
        None => std::fs::read_to_string(&journal).unwrap_or_default().lines().map(str::to_string).collect(),
    };
    (run, writes)
}

/// Deploy A, deploy B, rewrite the history so A's commit is gone: `rollback --to <A's record>` restores A's tree
/// byte for byte from the kept object versions, and appends a whole rollback record naming A.
fn rollback_to_a_forgotten_commit_restores_from_object_versions(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    project.bucket.enable_versioning();
    let (a, a_id, at_a) = deploy_a_and_b_then_forget_a(&project);
    let a_record = &stored_records(&project)[&format!(".dagship/history/{a_id}.json")];
    let objects = a_record["objects"].as_object().unwrap();
    assert!(
        objects.values().all(|object| object["version_id"].is_string()),
        "every written object's version is recorded: {objects:#?}"
    );

    let run = project.run(&["rollback", "--env", "test", "--to", &a_id, "--format", "json"]);
    run.assert_code(0);
    assert!(run.stderr.contains("object versions"), "{}", run.stderr);
    assert_eq!(project.deployed(), at_a, "the bucket is A's tree again, byte for byte");
    let records = history(&project);
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[0]["kind"], "rollback");
    assert_eq!(records[0]["commit"], a.as_str());
    assert_eq!(records[0]["rollback_to"], a_id.as_str());
    let stored = stored_records(&project);
    assert_record_matches_bucket(stored.values().last().unwrap(), &project.deployed());
}

on_backends!(rollback_to_a_forgotten_commit_restores_from_object_versions:
    s3 => Backend::S3, gcs => Backend::Gcs);

/// The same rollback when a recorded version is gone, or its bytes are not what the record says: refused with
/// exit 3 naming the object, and no write request at all.
fn rollback_from_a_missing_or_altered_version_refuses_with_zero_writes(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    project.bucket.enable_versioning();
    let (_, a_id, _) = deploy_a_and_b_then_forget_a(&project);
    let at_b = project.deployed();
    let record_key = format!(".dagship/history/{a_id}.json");
    let original = project.bucket.objects().remove(&record_key).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&original).unwrap();

    // A version the bucket does not have (deleted, expired).
    let mut gone = record.clone();
    gone["objects"]["dags/daily.py"]["version_id"] = "1".into();
    // A version whose bytes differ from what the record says.
    let mut altered = record.clone();
    altered["objects"]["dags/sql/report.sql"]["md5"] =
        serde_json::to_value(dagship::hash::Md5::of_bytes(b"x")).unwrap();
    for (case, record, key, why) in
        [("gone", gone, "dags/daily.py", "is gone"), ("altered", altered, "dags/sql/report.sql", "has MD5")]
    {
        project.bucket.seed(&record_key, &serde_json::to_vec(&record).unwrap());
        let (run, writes) = run_observed(&project, &["rollback", "--env", "test", "--to", &a_id]);
        run.assert_code(3);
        assert!(run.stderr.contains(key) && run.stderr.contains(why), "{case}: {}", run.stderr);
        assert!(run.stderr.contains("git fetch origin"), "{case}: says how to get the commit: {}", run.stderr);
        assert_eq!(writes, Vec::<String>::new(), "{case}: a refused restore writes nothing");
        let mut now = project.deployed();
        now.remove(&record_key);
        let mut before = at_b.clone();
        before.remove(&record_key);
        assert_eq!(now, before, "{case}: the bucket is untouched");
    }
}

on_backends!(rollback_from_a_missing_or_altered_version_refuses_with_zero_writes:
    s3 => Backend::S3, gcs => Backend::Gcs);

/// Where the backend keeps no versions (file://, or a bucket without versioning), a rollback to a forgotten
/// commit is a usage error that says to fetch the commit, and writes nothing.
fn rollback_to_a_forgotten_commit_without_versions_says_to_fetch_it(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    let (a, a_id, _) = deploy_a_and_b_then_forget_a(&project);
    let (run, writes) = run_observed(&project, &["rollback", "--env", "test", "--to", &a_id]);
    if backend == Backend::Local {
        run.assert_code(2);
        assert!(run.stderr.contains(&format!("git fetch origin {a}")), "{}", run.stderr);
    } else {
        // GCS records a generation for every object; without versioning the old ones are gone.
        run.assert_code(if backend == Backend::S3 { 2 } else { 3 });
        assert!(run.stderr.contains("git fetch origin"), "{}", run.stderr);
    }
    assert_eq!(writes, Vec::<String>::new(), "nothing is written");
}

on_backends!(rollback_to_a_forgotten_commit_without_versions_says_to_fetch_it:
    local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
