//! The deploy engine under stress: phase order as the server saw it, two deploys at once, a deploy killed
//! half-way, a lock held by someone else, symlinks. Against the moto S3 server and the local backend.
use crate::common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::buckets::Backend;
use common::project::{Project, summary};
use common::{finish, moto, run_command, wait_until};

fn add_dags(project: &Project, count: usize) {
    for index in 0..count {
        project.repo.write(&format!("dags/generated/dag_{index:04}.py"), &format!("# generated dag {index}\n"));
    }
    project.repo.commit("generated dags");
}

fn spawn_deploy(project: &Project, extra: &[&str]) -> Child {
    let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
    command.args(extra).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().expect("start dagship deploy")
}

/// Reads moto's request recorder: (method, key) of each write to `bucket`, in arrival order.
fn recorded_writes(bucket: &str) -> Vec<(String, String)> {
    let recording = moto::recorder("download-recording");
    let bucket_path = format!("/{bucket}/airflow/");
    recording
        .lines()
        .filter_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let method = entry["method"].as_str()?.to_string();
            let url = entry["url"].as_str()?;
            let key = url.split_once(&bucket_path)?.1.split('?').next()?.to_string();
            (matches!(method.as_str(), "PUT" | "DELETE") && !key.starts_with(".dagship")).then_some((method, key))
        })
        .collect()
}

#[test]
fn phases_reach_the_server_in_order_data_dags_then_deletions() {
    let project = Project::new(Backend::S3, "deploy:\n  max_delete: 100%\n");
    add_dags(&project, 30);
    project.deploy_json(&[]);
    for index in 0..30 {
        project.repo.write(&format!("dags/generated/dag_{index:04}.py"), &format!("# changed dag {index}\n"));
    }
    project.repo.write("plugins/operators/slack.py", "def notify(): return 1\n");
    project.repo.write("plugins/operators/email.py", "def send(): pass\n");
    project.repo.write("data/lookup.csv", "id,name\n1,b\n");
    project.repo.remove("dags/sql/report.sql");
    project.repo.commit("touch every phase");

    let _recorder = moto::exclusive();
    moto::recorder("reset-recording");
    moto::recorder("start-recording");
    let json = project.deploy_json(&["--concurrency", "8"]);
    moto::recorder("stop-recording");
    // MWAA (the S3 backend's platform) takes plugins only as plugins.zip (tests/it/mwaa.rs): no plugins phase here.
    assert_eq!(summary(&json), (0, 31, 1, 1));

    let writes = recorded_writes(&project.bucket.name);
    let rank = |(method, key): &(String, String)| match (method.as_str(), key.split('/').next().unwrap()) {
        ("PUT", "data") => 0,
        ("PUT", "dags") => 1,
        ("DELETE", _) => 2,
        other => panic!("unexpected request {other:?}"),
    };
    assert_eq!(writes.len(), 32, "{writes:?}");
    let ranks: Vec<i32> = writes.iter().map(rank).collect();
    assert!(ranks.is_sorted(), "requests out of phase order: {writes:?}");
}

fn concurrent_deploys_serialize(backend: Backend) {
    let project = Project::new(backend, "");
    add_dags(&project, 400);
    let first = spawn_deploy(&project, &["--concurrency", "1"]);
    wait_until("the first deploy's lock", Duration::from_secs(60), || {
        project.bucket.keys().contains(&".dagship/lock.json".to_string())
    });
    let second = spawn_deploy(&project, &["--concurrency", "4"]);
    let (first, second) = (finish(first), finish(second));
    first.assert_code(0);
    second.assert_code(0);
    assert!(second.stderr.contains("waiting for the deploy lock held by"), "{}", second.stderr);
    let files = project.expected().len() as u64;
    assert_eq!(summary(&first.json()).0, files);
    // The second deploy planned again under the lock and found the first one's work done.
    assert_eq!(summary(&second.json()), (0, 0, 0, files));
    assert_eq!(project.deployed(), project.expected());
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the lock is released");
}

#[test]
fn concurrent_deploys_serialize_on_s3() {
    concurrent_deploys_serialize(Backend::S3)
}

#[test]
fn concurrent_deploys_serialize_locally() {
    concurrent_deploys_serialize(Backend::Local)
}

#[test]
fn a_killed_deploy_is_repaired_by_the_next_run() {
    // The next run takes the dead lock over once it has not changed for the 5 s TTL.
    let project = Project::new(Backend::S3, "deploy:\n  lock_ttl: 5s\n");
    add_dags(&project, 1500);
    let mut child = spawn_deploy(&project, &["--concurrency", "1"]);
    wait_until("some uploads", Duration::from_secs(60), || project.bucket.keys().len() > 50);
    child.kill().unwrap();
    child.wait().unwrap();
    let keys = project.bucket.keys();
    let files = project.expected().len() as u64;
    assert!(keys.contains(&".dagship/lock.json".to_string()), "the killed deploy left its lock");
    assert!((keys.len() as u64) < files, "the deploy was interrupted half-way ({} objects)", keys.len());
    assert!(!keys.contains(&".dagship/last-deploy.json".to_string()), "no marker for an unfinished deploy");

    let run = run_command(&mut project.command(&["deploy", "--env", "test", "--format", "json"]));
    run.assert_code(0);
    assert!(run.stderr.contains("taking over the deploy lock"), "{}", run.stderr);
    let json = run.json();
    assert!(json["took_over_lock_from"]["pid"].as_u64().is_some(), "the takeover is reported");
    let (uploads, replacements, deletions, unchanged) = summary(&json);
    assert_eq!((uploads + unchanged, replacements, deletions), (files, 0, 0), "only the missing objects are uploaded");
    assert!(unchanged >= 50);
    assert_eq!(project.deployed(), project.expected());
    assert_eq!(project.deploy_json(&[])["up_to_date"], true);
}

#[test]
fn a_held_lock_times_out_naming_its_holder_and_unlock_clears_it() {
    // A 2 s TTL: `unlock` watches a lock for half its TTL before removing it as dead.
    let project = Project::new(Backend::Local, "deploy:\n  lock_ttl: 2s\n");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let holder = format!(
        r#"{{"id": "other", "commit": "abc123", "host": "runner-42", "pid": 7, "acquired_at": {now},
            "run_url": "https://github.com/acme/airflow/actions/runs/99"}}"#
    );
    project.bucket.seed(".dagship/lock.json", holder.as_bytes());
    let run = run_command(&mut project.command(&["deploy", "--env", "test", "--lock-timeout", "1s"]));
    run.assert_code(3);
    assert!(run.stderr.contains("runner-42") && run.stderr.contains("actions/runs/99"), "{}", run.stderr);
    assert!(run.stderr.contains("dagship unlock"), "{}", run.stderr);
    assert_eq!(project.deployed().len(), 0, "nothing deployed while locked");

    let unlock = run_command(&mut project.command(&["unlock", "--env", "test"]));
    unlock.assert_code(0);
    assert!(unlock.stdout.contains("runner-42"), "{}", unlock.stdout);
    project.deploy_json(&[]);
    assert_eq!(project.deployed(), project.expected());
}

#[test]
fn symlinks_inside_the_repository_are_followed_and_outside_refused() {
    let project = Project::new(Backend::Local, "");
    project.repo.write("shared/common.py", "COMMON = 1\n");
    std::os::unix::fs::symlink("../shared/common.py", project.repo.path().join("dags/common.py")).unwrap();
    project.repo.commit("a link inside the repository");
    let json = project.deploy_json(&[]);
    assert_eq!(summary(&json).0, 5);
    assert_eq!(project.deployed()["dags/common.py"], b"COMMON = 1\n");

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.py"), "TOKEN = 1\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.py"), project.repo.path().join("dags/secret.py")).unwrap();
    project.repo.commit("a link out of the repository");
    let run = run_command(&mut project.command(&["deploy", "--env", "test"]));
    run.assert_code(3);
    assert!(run.stderr.contains("dags/secret.py") && run.stderr.contains("outside the repository"), "{}", run.stderr);
    assert!(!project.deployed().contains_key("dags/secret.py"));
}
