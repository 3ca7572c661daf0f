//! The history's settings and what drift says: when each drifted object changed and where to find who, the
//! per-mapping drift policy (`deploy.drift`), and the ledger's retention (`history.keep`).
use crate::common;

use common::buckets::Backend;
use common::project::Project;

use crate::history::{history, stored_records};

/// A hand edit's time comes from the bucket listing (S3 LastModified, GCS `updated`, the file's mtime) and is
/// shown per object in `drift` (JSON and text) and in the deploy's refusal; who did it is not in any listing, so
/// the report names the backend's audit log once.
fn drift_says_when_each_object_changed_and_where_to_find_who(backend: Backend) {
    let project = Project::new(backend, "deploy:\n  max_delete: 100%\n");
    project.deploy_json(&[]);
    project.bucket.seed("dags/daily.py", b"# hot-fixed in the console\n");
    let json = project.run(&["drift", "--env", "test", "--format", "json"]);
    json.assert_code(1);
    let drift = json.json();
    let changed_at = drift["objects"][0]["changed_at"].as_str().expect("a change time").to_string();
    let at = humantime::parse_rfc3339(&changed_at).expect("RFC 3339");
    let age = std::time::SystemTime::now().duration_since(at).unwrap_or_default();
    assert!(age < std::time::Duration::from_secs(600), "the edit was just now: {changed_at}");
    let who = drift["who"].as_str().unwrap();
    let audit_log = match backend {
        Backend::S3 => "CloudTrail",
        Backend::Gcs => "Cloud Audit Logs",
        Backend::Local => "audit log",
    };
    assert!(who.contains(audit_log), "{who}");

    let text = project.run(&["drift", "--env", "test"]);
    assert!(text.stdout.contains(&changed_at), "{}", text.stdout);
    assert_eq!(text.stdout.matches(audit_log).count(), 1, "who is said once: {}", text.stdout);

    project.repo.write("dags/daily.py", "# the next version\n");
    project.repo.commit("next");
    let refused = project.run(&["deploy", "--env", "test"]);
    refused.assert_code(3);
    assert!(refused.stderr.contains(&changed_at) && refused.stderr.contains(audit_log), "{}", refused.stderr);
}

on_backends!(drift_says_when_each_object_changed_and_where_to_find_who:
    local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

/// Hand-edits the deployed DAG and data file, and commits new versions of both.
fn drift_both_and_commit_over_them(project: &Project) {
    project.deploy_json(&[]);
    project.bucket.seed("dags/daily.py", b"# hot-fixed in the console\n");
    project.bucket.seed("data/lookup.csv", b"id,name\n1,edited by a task\n");
    project.repo.write("dags/daily.py", "# next\n").write("data/lookup.csv", "id,name\n1,next\n");
    project.repo.commit("next");
}

/// `deploy.drift` turns each mapping's policy around: data set to `refuse` refuses a deploy over drifted data
/// (exit 3, naming it) while DAGs set to `report` do not; with both on `report` the deploy goes through.
#[test]
fn the_drift_policy_is_per_mapping() {
    let project =
        Project::new(Backend::Local, "deploy:\n  max_delete: 100%\n  drift: { dags: report, data: refuse }\n");
    drift_both_and_commit_over_them(&project);
    let refused = project.run(&["--strict", "deploy", "--env", "test"]);
    refused.assert_code(3);
    assert!(refused.stderr.contains("data/lookup.csv"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("`dags/daily.py`"), "DAGs only report: {}", refused.stderr);

    let project =
        Project::new(Backend::Local, "deploy:\n  max_delete: 100%\n  drift: { dags: report, data: report }\n");
    drift_both_and_commit_over_them(&project);
    project.run(&["--strict", "deploy", "--env", "test"]).assert_code(0);
    assert_eq!(project.deployed(), project.expected(), "reported drift is deployed over");
}

/// An unknown policy is a config error naming the file, the key, the value and the valid ones; nothing deploys.
#[test]
fn an_unknown_drift_policy_is_a_config_error() {
    let project = Project::new(Backend::Local, "deploy:\n  drift:\n    dags: sometimes\n");
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(2);
    for part in ["dagship.yml", "deploy.drift.dags", "sometimes", "refuse", "report"] {
        assert!(run.stderr.contains(part), "names {part}: {}", run.stderr);
    }
    assert!(project.deployed().is_empty(), "nothing was written");
}

/// `history.keep: 0` would keep nothing: a config error naming the key.
#[test]
fn keeping_no_history_is_a_config_error() {
    let project = Project::new(Backend::Local, "history:\n  keep: 0\n");
    let run = project.run(&["deploy", "--env", "test"]);
    run.assert_code(2);
    assert!(run.stderr.contains("history.keep") && run.stderr.contains("at least 1"), "{}", run.stderr);
}

/// `history.keep: 2`: after four deploys the ledger holds the newest two records, the marker's among them, and
/// a rollback to the older one still works.
#[test]
fn history_keeps_the_newest_records() {
    let project = Project::new(Backend::Local, "deploy:\n  max_delete: 100%\nhistory:\n  keep: 2\n");
    let mut ids = Vec::new();
    for version in 1..=4 {
        project.repo.write("dags/daily.py", &format!("# version {version}\n"));
        project.repo.commit(&format!("version {version}"));
        ids.push(project.deploy_json(&[])["ledger_id"].as_str().unwrap().to_string());
    }
    let kept: Vec<String> =
        stored_records(&project).values().map(|record| record["id"].as_str().unwrap().into()).collect();
    assert_eq!(kept, ids[2..], "the two newest records");
    let marker: serde_json::Value =
        serde_json::from_slice(&project.bucket.objects()[".dagship/last-deploy.json"]).unwrap();
    assert_eq!(marker["ledger_id"], ids[3].as_str());
    project.run(&["rollback", "--env", "test"]).assert_code(0);
    assert_eq!(history(&project).len(), 2, "pruned again after the rollback");
}
