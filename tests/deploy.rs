//! `dagship plan` and `dagship deploy` end to end: a real git repository, the dagship binary, and buckets on
//! the local backend, the moto S3 server and the GCS emulator. Bucket contents are read back through the
//! servers' own APIs.
mod common;

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
    std::fs::remove_dir_all(project.repo.path().join("dags")).unwrap();
    std::fs::create_dir(project.repo.path().join("dags")).unwrap();
    let run = project.run(&["deploy", "--env", "test", "--allow-deletes", "100"]);
    run.assert_code(3);
    assert!(run.stderr.contains("the source folder `dags` is empty"), "{}", run.stderr);
    assert_eq!(project.bucket.objects(), before, "a refused deploy writes nothing");

    std::fs::remove_dir(project.repo.path().join("dags")).unwrap();
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(3);
    assert!(run.stderr.contains("`dags` does not exist"), "{}", run.stderr);
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
    let objects = before.keys().filter(|key| !key.starts_with(".dagship/")).count();
    let expected = format!("over `deploy.max_delete` (10% of {objects} object(s) = 2)");
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

macro_rules! on_backends {
    ($case:ident: $($backend_mod:ident => $backend:expr),+) => {
        mod $case {
            use super::*;
            $(
                #[test]
                fn $backend_mod() {
                    super::$case($backend)
                }
            )+
        }
    };
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
