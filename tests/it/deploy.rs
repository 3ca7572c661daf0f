//! `dagship plan` and `dagship deploy` end to end: a real git repository, the dagship binary, and buckets on
//! the local backend, the moto S3 server and the GCS emulator. Bucket contents are read back through the
//! servers' own APIs.
use crate::common;

use std::time::{Duration, SystemTime};

use common::buckets::Backend;
use common::project::{Project, summary};

fn first_deploy_then_rerun_uploads_nothing(backend: Backend) {
    let project = Project::new(backend, "");
    let files = project.expected().len() as u64;
    let first = project.deploy_json(&[]);
    assert_eq!(summary(&first), (files, 0, 0, 0));
    assert_eq!(project.deployed(), project.expected(), "the bucket mirrors the folders");
    assert!(project.bucket.keys().contains(&".dagship/last-deploy.json".to_string()), "a marker is written");

    // A new commit that touches nothing deployable: a fresh plan, zero writes but the marker.
    project.repo.write("README.md", "# project, edited\n");
    let commit = project.repo.commit("docs");
    let second = project.deploy_json(&[]);
    assert_eq!(summary(&second), (0, 0, 0, files));
    assert_eq!(second["marker_written"], true);
    assert_eq!(second["commit"], commit.as_str());

    // The same commit again: nothing at all to do, not even a lock.
    let third = project.deploy_json(&[]);
    assert_eq!(third["up_to_date"], true);
    assert_eq!(summary(&third), (0, 0, 0, files));
}

fn same_size_edit_with_old_mtime_is_detected(backend: Backend) {
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let path = project.repo.path().join("dags/daily.py");
    let before = std::fs::metadata(&path).unwrap();
    std::fs::write(&path, "from operators.slack import NOTIFY\n").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before.len(), "the edit keeps the size");
    let old = SystemTime::now() - Duration::from_secs(30 * 86_400);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
    project.repo.commit("a same-size edit");

    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    let plan = plan.json();
    let replaced: Vec<&str> = plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|phase| phase["replacements"].as_array().unwrap())
        .map(|change| change["key"].as_str().unwrap())
        .collect();
    assert_eq!(replaced, ["dags/daily.py"]);
    project.deploy_json(&[]);
    assert_eq!(project.deployed(), project.expected());
}

fn empty_source_is_refused_and_nothing_is_deleted(backend: Backend) {
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let before = project.bucket.objects();
    // A DAGs folder whose only file is one no deploy ships (a stray interpreter cache): as good as empty.
    project.repo.remove("dags");
    project.repo.write("dags/__pycache__/daily.cpython-312.pyc", "bytecode");
    project.repo.commit("only a cache left");
    let run = project.run(&["deploy", "--env", "test", "--allow-deletes", "100"]);
    run.assert_code(3);
    assert!(run.stderr.contains("the source folder `dags` holds only excluded files (1)"), "{}", run.stderr);
    assert_eq!(project.bucket.objects(), before, "a refused deploy writes nothing");

    project.repo.remove("dags");
    project.repo.commit("no DAGs folder");
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    assert!(run.stderr.contains("`dags` does not exist in the commit"), "{}", run.stderr);
    let plan = project.run(&["plan", "--env", "test"]);
    plan.assert_code(3);
    assert_eq!(project.bucket.objects(), before);
}

fn excludes_and_protected_keys_survive(backend: Backend) {
    let project = Project::new(backend, "deploy:\n  exclude_from: dags/.deployignore\n  max_delete: 100%\n");
    project.repo.write("dags/.deployignore", "scratch/\n*.tmp\n").write("dags/scratch/notes.py", "# local only\n");
    project.repo.commit("excludes");
    project.bucket.seed("dags/scratch/kept_remote.py", b"# placed by hand\n");
    project.bucket.seed("dags/old.tmp", b"tmp\n");
    project.bucket.seed("dags/airflow_monitoring.py", b"# managed by Composer\n");
    // Composer's other managed objects; and a repository file named like the monitoring DAG never replaces it.
    project.repo.write("dags/airflow_monitoring.py", "# a user's copy\n");
    project.repo.commit("a copy of the monitoring DAG");
    project.bucket.seed("airflow.cfg", b"[core]\n");
    project.bucket.seed("logs/scheduler/latest.log", b"log\n");
    project.bucket.seed("env_var.json", b"{}\n");
    project.bucket.seed("dags/stale.py", b"# removed from the repository\n");

    let json = project.deploy_json(&[]);
    let keys = project.bucket.keys();
    assert!(!keys.contains(&"dags/scratch/notes.py".to_string()), "excluded files are not uploaded: {keys:?}");
    for kept in [
        "dags/scratch/kept_remote.py",
        "dags/old.tmp",
        "dags/airflow_monitoring.py",
        "logs/scheduler/latest.log",
        "env_var.json",
        "airflow.cfg",
    ] {
        assert!(keys.contains(&kept.to_string()), "{kept} must survive the mirror: {keys:?}");
    }
    assert!(!keys.contains(&"dags/stale.py".to_string()), "{keys:?}");
    assert_eq!(project.bucket.objects()["dags/airflow_monitoring.py"], b"# managed by Composer\n");
    assert_eq!(summary(&json).2, 1, "exactly one deletion");
}

fn max_delete_refuses_until_allowed(backend: Backend) {
    let project = Project::new(backend, "");
    for index in 0..16 {
        project.repo.write(&format!("dags/generated/dag_{index:02}.py"), &format!("# dag {index}\n"));
    }
    project.repo.commit("many dags");
    project.deploy_json(&[]);
    let before = project.bucket.objects();
    for index in 0..5 {
        project.repo.remove(&format!("dags/generated/dag_{index:02}.py"));
    }
    project.repo.commit("drop five");

    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    let objects = before.keys().filter(|key| key.starts_with("dags/")).count();
    let expected = format!("over `deploy.max_delete` (10% of the {objects} objects under `dags/` = 2)");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-deletes 5"), "{}", run.stderr);
    assert_eq!(project.bucket.objects(), before, "nothing written");
    project.run(&["deploy", "--env", "test", "--allow-deletes", "4"]).assert_code(3);

    let json = project.deploy_json(&["--allow-deletes", "5"]);
    assert_eq!(summary(&json).2, 5);
    assert_eq!(project.deployed(), project.expected());
}

fn dry_run_and_plan_write_nothing(backend: Backend) {
    let project = Project::new(backend, "");
    let plan = project.run(&["plan", "--env", "test", "--format", "markdown"]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("| dags | `dags` | `dags/` | 2 | 0 | 0 | 0 |"), "{}", plan.stdout);
    let json = project.deploy_json(&["--dry-run"]);
    assert_eq!(json["dry_run"], true);
    assert_eq!(summary(&json), (project.expected().len() as u64, 0, 0, 0));
    assert!(project.bucket.objects().is_empty(), "plan and --dry-run write nothing");
}

on_backends!(first_deploy_then_rerun_uploads_nothing: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(same_size_edit_with_old_mtime_is_detected: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(empty_source_is_refused_and_nothing_is_deleted: local => Backend::Local, s3 => Backend::S3);
on_backends!(excludes_and_protected_keys_survive: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(max_delete_refuses_until_allowed: local => Backend::Local, s3 => Backend::S3);
on_backends!(dry_run_and_plan_write_nothing: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

#[test]
fn detect_since_deploy_diffs_from_the_marker_commit() {
    let project = Project::new(Backend::Local, "");
    let before = project.run(&["detect", "--since-deploy", "test", "--format", "json"]);
    before.assert_code(0);
    assert_eq!(before.json()["files"].as_array().unwrap().len(), 6, "no marker yet: every file");
    assert!(before.stderr.contains("has no deploy marker yet"), "{}", before.stderr);

    let deployed = project.repo.head();
    project.deploy_json(&[]);
    project.repo.write("dags/new.py", "# new\n");
    project.repo.commit("new dag");
    let run = project.run(&["detect", "--since-deploy", "test", "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.json()["base"], deployed.as_str());
    assert_eq!(run.file_list(), ["added dags/new.py"]);
}

// ---- What a deploy ships, and what it never touches (the deploy-engine trust issue). ----

/// Rewrites one line of the project's dagship.yml and commits it.
fn reconfigure(project: &Project, from: &str, to: &str) {
    let path = project.repo.path().join("dagship.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "dagship.yml has no `{from}`:\n{text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    project.repo.commit("reconfigure");
}

/// The bucket's objects with dagship's own records left out, for "nothing changed" comparisons that a lock's
/// create and delete would not disturb... except that a refused deploy must not even take the lock: the whole
/// bucket is compared, records included.
fn everything(project: &Project) -> std::collections::BTreeMap<String, Vec<u8>> {
    project.bucket.objects()
}

fn deletion_guards_hold_per_mapping(backend: Backend) {
    let project = Project::new(backend, "");
    for index in 0..300 {
        project.repo.write(&format!("data/part_{index:03}.csv"), &format!("{index}\n"));
    }
    for index in 0..25 {
        project.repo.write(&format!("dags/dag_{index:02}.py"), &format!("# dag {index}\n"));
    }
    project.repo.write("dags/helpers/util.py", "# helper\n");
    project.repo.commit("a large data folder and 25 DAGs");
    project.deploy_json(&[]);
    let before = everything(&project);

    // A mistyped dags_dir: 10% of all 328 objects would allow 33 deletions, but dags/ holds only 28.
    reconfigure(&project, "dags_dir: dags\n", "dags_dir: dags/helpers\n");
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("the dags mapping (`dags/helpers` -> `dags/`) deletes 28 objects")
            && run.stderr.contains("10% of the 28 objects under `dags/` = 3"),
        "{}",
        run.stderr
    );
    assert_eq!(everything(&project), before, "a refused deploy writes nothing, not even a lock");
}

fn prefixes_dagship_reads_are_never_mirrored_away(backend: Backend) {
    let project = Project::new(backend, "dbt:\n  project_dir: dbt\n  exposures_prefix: data/exposures\n");
    project.repo.write("data/exposures/from_repo.yml", "# would overwrite the bucket's\n");
    project.repo.commit("an exposures file in the data folder");
    project.bucket.seed("data/exposures/dashboards.yml", b"exposures: []\n");
    project.bucket.seed("data/target/manifest.json", b"{}\n");
    let json = project.deploy_json(&["--allow-deletes", "100"]);
    let objects = project.bucket.objects();
    assert_eq!(objects["data/exposures/dashboards.yml"], b"exposures: []\n", "the exposures dagship reads survive");
    assert_eq!(objects["data/target/manifest.json"], b"{}\n", "the dbt state survives the data mirror");
    assert!(!objects.contains_key("data/exposures/from_repo.yml"), "nothing is written into a prefix dagship reads");
    assert_eq!(summary(&json).2, 0, "no deletion planned: {json}");
}

fn only_the_commits_tree_is_deployed(backend: Backend) {
    let project = Project::new(backend, "");
    project.repo.write(".gitignore", "dags/.env\n");
    project.repo.commit("ignore the env file");
    project.repo.write("dags/.env", "WAREHOUSE_PASSWORD=hunter2\n");
    project.repo.write("dags/untracked.py", "# not committed\n");
    let json = project.deploy_json(&[]);
    let keys = project.bucket.keys();
    assert!(!keys.iter().any(|key| key.ends_with(".env") || key.ends_with("untracked.py")), "{keys:?}");
    assert_eq!(json["plan"]["untracked"], 1, "the untracked file is counted: {json}");
    let mut committed = project.expected();
    committed.retain(|key, _| !key.ends_with(".env") && !key.ends_with("untracked.py"));
    assert_eq!(project.deployed(), committed, "the bucket holds the commit");

    // A tracked file edited but not committed: refused, naming it; nothing written.
    let before = everything(&project);
    project.repo.write("dags/daily.py", "# edited, not committed\n");
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    assert!(run.stderr.contains("`dags/daily.py`") && run.stderr.contains("--allow-dirty"), "{}", run.stderr);
    assert_eq!(everything(&project), before);
    // Asked to, it deploys the commit as it is: the edit stays on the laptop.
    project.deploy_json(&["--allow-dirty"]);
    let committed = project.repo.git(&["show", "HEAD:dags/daily.py"]);
    assert_eq!(String::from_utf8(project.bucket.objects()["dags/daily.py"].clone()).unwrap().trim_end(), committed);
}

fn links_out_of_the_repository_are_refused(backend: Backend) {
    let project = Project::new(backend, "");
    let outside = project.repo.scratch().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    type MakeLink<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, MakeLink, &str); 3] = [
        (
            "a mapped folder that is a link to an absolute path",
            Box::new(|| {
                project.repo.remove("data");
                std::os::unix::fs::symlink(&outside, project.repo.path().join("data")).unwrap();
            }),
            "absolute path",
        ),
        (
            "a link to the repository's git config",
            Box::new(|| {
                std::os::unix::fs::symlink("../.git/config", project.repo.path().join("dags/config")).unwrap();
            }),
            "`.git`",
        ),
        (
            "a relative link that climbs out",
            Box::new(|| {
                std::os::unix::fs::symlink("../../outside/secret.txt", project.repo.path().join("dags/up.txt"))
                    .unwrap();
            }),
            "outside the repository",
        ),
    ];
    let start = project.repo.head();
    for (case, make, expected) in cases {
        project.repo.git(&["reset", "-q", "--hard", &start]);
        make();
        project.repo.commit(case);
        let run = project.run(&["deploy", "--env", "test"]);
        run.assert_code(3);
        assert!(run.stderr.contains(expected), "{case}: {}", run.stderr);
        assert!(everything(&project).is_empty(), "{case}: nothing written");
    }
}

fn links_inside_the_repository_deploy_their_targets(backend: Backend) {
    let project = Project::new(backend, "");
    project.repo.write("shared/lib.py", "# shared\n");
    std::os::unix::fs::symlink("../shared", project.repo.path().join("dags/one")).unwrap();
    std::os::unix::fs::symlink("../shared", project.repo.path().join("dags/two")).unwrap();
    std::os::unix::fs::symlink("../shared/lib.py", project.repo.path().join("dags/lib.py")).unwrap();
    project.repo.commit("links inside the repository");
    project.deploy_json(&[]);
    let objects = project.bucket.objects();
    for key in ["dags/one/lib.py", "dags/two/lib.py", "dags/lib.py"] {
        assert_eq!(objects.get(key).map(Vec::as_slice), Some(&b"# shared\n"[..]), "{key}: {:?}", objects.keys());
    }
}

fn names_a_backend_refuses_are_refused_before_any_write(backend: Backend) {
    let project = Project::new(backend, "");
    project.repo.write("dags/bad\u{1b}[31mname.py", "# an escape sequence in the name\n");
    project.repo.commit("a control character");
    let plan = project.run(&["plan", "--env", "test"]);
    plan.assert_code(3);
    assert!(plan.stderr.contains("control character"), "{}", plan.stderr);
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    assert!(everything(&project).is_empty(), "the plan refuses it, so nothing is written, not even a lock");
}

fn folder_placeholders_are_left_alone(backend: Backend) {
    let project = Project::new(backend, "");
    // What the S3 and GCS consoles' "Create folder" leaves, and what the MWAA guide asks users to make.
    project.bucket.seed("dags/", b"");
    project.bucket.seed("data/", b"");
    let json = project.deploy_json(&[]);
    assert_eq!(summary(&json).2, 0, "placeholders are not deletions: {json}");
    let ignored: Vec<String> = json["plan"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|phase| phase["ignored"].as_array().cloned().unwrap_or_default())
        .map(|key| key.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ignored, ["data/", "dags/"], "{json}");
    assert!(project.bucket.keys().contains(&"dags/".to_string()));
    // And again, with deletions allowed: still left alone, still exit 0.
    project.repo.write("dags/another.py", "# another\n");
    project.repo.commit("another DAG");
    project.deploy_json(&["--allow-deletes", "100"]);
    assert!(project.bucket.keys().contains(&"dags/".to_string()));
}

fn a_file_that_becomes_a_folder_and_back_deploys(backend: Backend) {
    let project = Project::new(backend, "");
    project.repo.write("dags/thing", "a file\n");
    project.repo.commit("a file");
    project.deploy_json(&[]);
    project.repo.remove("dags/thing");
    project.repo.write("dags/thing/inner.py", "# now a folder\n");
    project.repo.commit("the file becomes a folder");
    project.deploy_json(&["--allow-deletes", "1"]);
    assert_eq!(project.deployed(), project.expected());
    project.repo.remove("dags/thing");
    project.repo.write("dags/thing", "a file again\n");
    project.repo.commit("and back");
    project.deploy_json(&["--allow-deletes", "1"]);
    assert_eq!(project.deployed(), project.expected());
}

on_backends!(deletion_guards_hold_per_mapping: local => Backend::Local, s3 => Backend::S3);
on_backends!(prefixes_dagship_reads_are_never_mirrored_away: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(only_the_commits_tree_is_deployed: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
on_backends!(links_out_of_the_repository_are_refused: local => Backend::Local, s3 => Backend::S3);
on_backends!(links_inside_the_repository_deploy_their_targets: local => Backend::Local, gcs => Backend::Gcs);
on_backends!(names_a_backend_refuses_are_refused_before_any_write: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);
// The GCS emulator refuses to store a name ending in `/` (real GCS keeps them); the rule is the plan's, the same
// for every backend.
on_backends!(folder_placeholders_are_left_alone: s3 => Backend::S3);
on_backends!(a_file_that_becomes_a_folder_and_back_deploys: local => Backend::Local, s3 => Backend::S3);

#[test]
fn a_dot_dags_dir_never_ships_git() {
    let project = Project::new(Backend::Local, "");
    // What actions/checkout persists: the token in .git/config.
    project.repo.git(&["config", "http.https://github.com/.extraheader", "AUTHORIZATION: basic c2VjcmV0"]);
    let path = project.repo.path().join("dagship.yml");
    let text = std::fs::read_to_string(&path).unwrap().replace("plugins_dir: plugins\ndata_dir: data\n", "");
    std::fs::write(&path, text.replace("dags_dir: dags\n", "dags_dir: .\n")).unwrap();
    project.repo.commit("the whole repository is the DAGs folder");
    project.deploy_json(&[]);
    let objects = project.bucket.objects();
    assert!(objects.keys().any(|key| key == "dags/dagship.yml"), "{:?}", objects.keys());
    assert!(!objects.keys().any(|key| key.contains(".git/")), "{:?}", objects.keys());
    assert!(!objects.values().any(|bytes| String::from_utf8_lossy(bytes).contains("AUTHORIZATION")));
}

#[test]
fn the_marker_names_the_deployed_commit_and_older_commits_warn() {
    let project = Project::new(Backend::Local, "");
    let first = project.repo.head();
    project.repo.write("dags/second.py", "# second\n");
    let second = project.repo.commit("second");
    // A run whose GITHUB_SHA is not what is checked out (a workflow_run, a checkout of another ref).
    let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
    command.env("GITHUB_SHA", &first);
    let run = common::run_command(&mut command);
    run.assert_code(0);
    assert_eq!(run.json()["commit"], second.as_str());
    assert!(run.stderr.contains("not the run's GITHUB_SHA"), "{}", run.stderr);
    let marker: serde_json::Value =
        serde_json::from_slice(&project.bucket.objects()[".dagship/last-deploy.json"]).unwrap();
    assert_eq!(marker["commit"], second.as_str(), "the marker object itself names what was deployed");

    project.repo.git(&["checkout", "-q", &first]);
    let run = project.run(&["deploy", "--env", "test", "--allow-deletes", "1"]);
    run.assert_code(0);
    assert!(run.stderr.contains("an ancestor of the deployed commit"), "{}", run.stderr);
}

#[test]
fn overlapping_prefixes_are_a_config_error() {
    let project = Project::new(Backend::Local, "dbt:\n  project_dir: dbt\n  state_prefix: dags\n");
    let run = project.run(&["config", "check"]);
    run.assert_code(2);
    assert!(run.stderr.contains("dbt.state_prefix") && run.stderr.contains("dags_dir"), "{}", run.stderr);
}

#[test]
fn sse_kms_etags_are_not_taken_for_md5s() {
    let project = Project::new(Backend::S3, "");
    let files = project.expected().len() as u64;
    let proxy = common::rewrite_proxy::RewritingProxy::kms(project.bucket.endpoint.as_ref().unwrap());
    let deploy = || {
        let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
        command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
        common::run_command(&mut command)
    };
    let first = deploy();
    first.assert_code(0);
    assert_eq!(project.deployed(), project.expected(), "the deploy (and its lock) succeed on a KMS bucket");
    project.repo.write("README.md", "# edited\n");
    project.repo.commit("nothing deployable");
    let second = deploy();
    second.assert_code(0);
    assert_eq!(summary(&second.json()), (0, 0, 0, files), "the marker's hashes stand in for the ETags");
}

/// On an SSE-KMS bucket an ETag is not the content's MD5, so what a deploy that stopped part-way wrote cannot be
/// told from a hand edit by its listing. B's ledger record fails to be written after every object of B landed
/// (a changed DAG and a new one); the next deploy of B must repair that (record B, rewrite nothing), not refuse
/// B's own objects as drift. Through the KMS proxy (moto cannot encrypt) with the fault proxy in front of it.
#[test]
fn on_a_kms_bucket_the_deploy_after_one_that_stopped_part_way_repairs_it() {
    use common::fault_proxy::{Fault, FaultProxy, Flavor, Rule};
    let project = Project::new(Backend::S3, "");
    let kms = common::rewrite_proxy::RewritingProxy::kms(project.bucket.endpoint.as_ref().unwrap());
    let deploy = |endpoint: &str| {
        let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
        command.env("AWS_ENDPOINT_URL_S3", endpoint);
        common::run_command(&mut command)
    };
    deploy(&kms.url).assert_code(0);
    project.repo.write("dags/daily.py", "# B changed it\n").write("dags/added_in_b.py", "# B added it\n");
    let b = project.repo.commit("B");

    let faults = FaultProxy::start(&kms.url, Flavor::S3, 0.0, 1, &[]);
    faults.add_rule(Rule::from_then_on("PUT", ".dagship/history/", 1, Fault::Unavailable));
    let failed = deploy(&faults.url);
    assert_eq!(failed.code, 4, "B's record cannot be written: {}", failed.stderr);
    assert_eq!(project.deployed(), project.expected(), "every object of B landed");

    let repaired = deploy(&kms.url);
    repaired.assert_code(0);
    let report = repaired.json();
    assert_eq!(report["commit"], b.as_str());
    let (uploads, replacements, deletions, _) = summary(&report);
    assert_eq!((uploads, replacements, deletions), (0, 0, 0), "B's objects are B's: {}", repaired.stderr);
    assert_eq!(project.deployed(), project.expected());
    let drift = project.command(&["drift", "--env", "test"]).env("AWS_ENDPOINT_URL_S3", &kms.url).output().unwrap();
    assert_eq!(drift.status.code(), Some(0), "{}", String::from_utf8_lossy(&drift.stderr));
}

#[test]
fn dbt_build_output_is_never_deployed_wherever_dbt_project_yml_puts_it() {
    let project = Project::new(Backend::Local, "dbt:\n  project_dir: dags/dbt\n");
    project
        .repo
        .write("dags/dbt/dbt_project.yml", "name: demo\nprofile: demo\ntarget-path: build_out\nlog-path: dbt_logs\n")
        .write("dags/dbt/models/orders.sql", "select 1\n")
        // Committed by mistake: dbt's output under the custom paths.
        .write("dags/dbt/build_out/manifest.json", "{}\n")
        .write("dags/dbt/dbt_logs/dbt.log", "log\n");
    project.repo.commit("a dbt project inside the DAGs folder");
    project.deploy_json(&[]);
    let keys = project.bucket.keys();
    assert!(keys.contains(&"dags/dbt/models/orders.sql".to_string()), "{keys:?}");
    assert!(!keys.iter().any(|key| key.contains("build_out") || key.contains("dbt_logs")), "{keys:?}");
}

/// Every refusal is decided before the lock, observed where the writes would happen rather than inferred from a
/// listing afterwards (where a lock created and deleted leaves no trace): a proxy in front of moto and of the GCS
/// emulator records each request that could change the bucket; the file:// backend keeps its own journal.
fn refused_deploys_send_no_write_request(backend: Backend) {
    use common::fault_proxy::{FaultProxy, Flavor};
    let project = Project::new(backend, "");
    project.deploy_json(&[]);
    let journal = project.repo.scratch().join("writes.journal");
    let proxy = project.bucket.endpoint.as_ref().map(|endpoint| {
        let flavor = if backend == Backend::S3 { Flavor::S3 } else { Flavor::Gcs };
        FaultProxy::start(endpoint, flavor, 0.0, 1, &[])
    });
    let writes = || match &proxy {
        Some(proxy) => proxy.writes(),
        None => std::fs::read_to_string(&journal).unwrap_or_default().lines().map(str::to_string).collect(),
    };
    let observed = |command: &mut std::process::Command| {
        match (&proxy, backend) {
            (Some(proxy), Backend::S3) => command.env("AWS_ENDPOINT_URL_S3", &proxy.url),
            (Some(proxy), _) => command.env("STORAGE_EMULATOR_HOST", &proxy.url),
            (None, _) => command.env("DAGSHIP_FILE_JOURNAL", &journal),
        };
    };
    let deploy = |case: &str| {
        let mut command = project.command(&["deploy", "--env", "test"]);
        observed(&mut command);
        let run = common::run_command(&mut command);
        assert_eq!(run.code, 3, "{case}: {}", run.stderr);
        assert_eq!(writes(), Vec::<String>::new(), "{case}: writes reached the bucket");
    };
    let start = project.repo.head();
    let cases: [(&str, &dyn Fn()); 4] = [
        ("an uncommitted edit", &|| {
            project.repo.write("dags/daily.py", "# not committed\n");
        }),
        ("a link out of the repository", &|| {
            std::os::unix::fs::symlink("/etc/passwd", project.repo.path().join("dags/passwd")).unwrap();
            project.repo.commit("a link out");
        }),
        ("a name with a control character", &|| {
            project.repo.write("dags/bad\rname.py", "# a carriage return\n");
            project.repo.commit("a control character");
        }),
        ("every DAG deleted", &|| {
            project.repo.remove("dags");
            project.repo.write("dags/__pycache__/x.pyc", "bytecode");
            project.repo.commit("only a cache");
        }),
    ];
    for (case, make) in cases {
        project.repo.git(&["reset", "-q", "--hard", &start]);
        make();
        deploy(case);
    }
    // The journal and the proxy do see writes: a deploy that goes through is recorded.
    project.repo.git(&["reset", "-q", "--hard", &start]);
    project.repo.write("dags/new.py", "# new\n");
    project.repo.commit("a new DAG");
    let mut command = project.command(&["deploy", "--env", "test"]);
    observed(&mut command);
    common::run_command(&mut command).assert_code(0);
    // (GCS names a multipart upload's object in its body, not in the URL.)
    let recorded = writes();
    assert!(recorded.iter().any(|write| write.contains("new.py") || write.contains("uploadType")), "{recorded:?}");
}

on_backends!(refused_deploys_send_no_write_request: local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

/// Composer's layout: the environment URL is the bucket itself. Objects outside the mapped prefixes (another
/// team's folder, a prefix that only starts like `dags`, Composer's own files) must come through every deploy
/// byte for byte; the listing here covers the whole bucket, so a write anywhere would show.
fn the_bucket_root_layout_leaves_everything_else_alone(backend: Backend) {
    let project = Project::with_bucket(common::buckets::Bucket::new_at_root(backend), "deploy:\n  max_delete: 100%\n");
    let foreign = [
        ("other-team/keep.txt", &b"theirs\n"[..]),
        ("dags_backup/old.py", b"# a sibling prefix that starts like dags\n"),
        ("datasets/table.csv", b"id\n"),
        ("logs/scheduler/latest.log", b"log\n"),
        ("airflow.cfg", b"[core]\n"),
        ("dags/airflow_monitoring.py", b"# Composer's\n"),
    ];
    for (key, bytes) in foreign {
        project.bucket.seed(key, bytes);
    }
    project.deploy_json(&[]);
    project.repo.remove("dags/sql");
    project.repo.commit("drop a folder");
    project.deploy_json(&[]);
    let objects = project.bucket.objects();
    for (key, bytes) in foreign {
        assert_eq!(objects.get(key).map(Vec::as_slice), Some(bytes), "{key} must be untouched");
    }
    let mut mapped: std::collections::BTreeMap<String, Vec<u8>> = objects
        .into_iter()
        .filter(|(key, _)| ["dags/", "data/", "plugins/"].iter().any(|prefix| key.starts_with(prefix)))
        .collect();
    mapped.remove("dags/airflow_monitoring.py");
    assert_eq!(mapped, project.expected());
}

on_backends!(the_bucket_root_layout_leaves_everything_else_alone: s3 => Backend::S3, gcs => Backend::Gcs);

/// Real GCS answers listings in pages; the emulator answers in one. Through a proxy that pages every listing by 7
/// objects: a first deploy, a re-run (which re-uploads everything past the first page if pages were not
/// followed) and a deletion of 10 behave exactly as with one page.
#[test]
fn gcs_listings_are_followed_across_pages() {
    let project = Project::new(Backend::Gcs, "deploy:\n  max_delete: 100%\n");
    for index in 0..40 {
        project.repo.write(&format!("dags/many/dag_{index:02}.py"), &format!("# dag {index}\n"));
    }
    project.repo.commit("40 DAGs");
    let files = project.expected().len() as u64;
    let proxy = common::rewrite_proxy::RewritingProxy::gcs_pages(project.bucket.endpoint.as_ref().unwrap(), 7);
    let deploy = || {
        let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
        command.env("STORAGE_EMULATOR_HOST", &proxy.url);
        let run = common::run_command(&mut command);
        run.assert_code(0);
        run.json()
    };
    assert_eq!(summary(&deploy()).0, files);
    assert_eq!(project.deployed(), project.expected());
    project.repo.write("README.md", "# edited\n");
    project.repo.commit("nothing deployable");
    assert_eq!(summary(&deploy()), (0, 0, 0, files), "every page was read");
    for index in 30..40 {
        project.repo.remove(&format!("dags/many/dag_{index:02}.py"));
    }
    project.repo.commit("ten fewer");
    assert_eq!(summary(&deploy()).2, 10);
    assert_eq!(project.deployed(), project.expected());
    assert!(proxy.rewritten() > 3, "listings were paged: {}", proxy.rewritten());
}
