//! The deploy ledger, `history`, `rollback`, drift and `status`, against real git repositories and the three
//! backends (file://, S3 on moto, GCS on the emulator). Bucket contents are read from the server, never through
//! dagship's store; writes are counted where they happen (a recording proxy, the file:// journal).
use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::buckets::Backend;
use common::fault_proxy::{Fault, FaultProxy, Flavor, Rule};
use common::project::{Project, summary};
use common::run_command;

const CONFIG: &str = "deploy:\n  max_delete: 100%\n";

/// `history --format json`, newest first.
pub(crate) fn history(project: &Project) -> Vec<serde_json::Value> {
    let run = project.run(&["history", "--env", "test", "--format", "json"]);
    run.assert_code(0);
    run.json().as_array().unwrap().clone()
}

/// Every ledger record as stored in the bucket, parsed: a partial record would fail here.
pub(crate) fn stored_records(project: &Project) -> BTreeMap<String, serde_json::Value> {
    project
        .bucket
        .objects()
        .into_iter()
        .filter(|(key, _)| key.starts_with(".dagship/history/"))
        .map(|(key, bytes)| {
            let record = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                panic!("{key} is not a whole record ({err}): {}", String::from_utf8_lossy(&bytes))
            });
            (key, record)
        })
        .collect()
}

fn marker(project: &Project) -> serde_json::Value {
    let bytes = project.bucket.objects().remove(".dagship/last-deploy.json").expect("a marker");
    serde_json::from_slice(&bytes).unwrap()
}

/// The record's object set matches the server's bytes: every key, its MD5 and size.
pub(crate) fn assert_record_matches_bucket(record: &serde_json::Value, deployed: &BTreeMap<String, Vec<u8>>) {
    let objects = record["objects"].as_object().unwrap();
    let recorded: BTreeMap<&String, (serde_json::Value, u64)> =
        objects.iter().map(|(key, object)| (key, (object["md5"].clone(), object["size"].as_u64().unwrap()))).collect();
    let served: BTreeMap<&String, (serde_json::Value, u64)> = deployed
        .iter()
        .map(|(key, bytes)| {
            (key, (serde_json::to_value(dagship::hash::Md5::of_bytes(bytes)).unwrap(), bytes.len() as u64))
        })
        .collect();
    assert_eq!(recorded, served, "the record's object set is what the server holds");
}

/// Deploy A, deploy B (an edit, an add, a delete, a plugins change, a data add), roll back: the bucket is A's
/// tree byte for byte and the ledger has three whole records; a second rollback returns to B.
fn rollback_restores_the_previous_deploy_byte_for_byte(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    let a = project.repo.head();
    project.deploy_json(&[]);
    let at_a = project.expected();
    assert_eq!(project.deployed(), at_a);

    project
        .repo
        .write("dags/daily.py", "from operators.slack import notify  # edited\n")
        .write("dags/new.py", "# a new DAG\n")
        .write("plugins/operators/slack.py", "def notify(): return 2\n")
        .write("data/more.csv", "id\n2\n");
    project.repo.remove("dags/sql/report.sql");
    let b = project.repo.commit("B");
    project.deploy_json(&[]);
    let at_b = project.expected();
    assert_eq!(project.deployed(), at_b);
    assert_ne!(at_a, at_b);

    let started = std::time::Instant::now();
    let run = project.run(&["rollback", "--env", "test", "--format", "json"]);
    run.assert_code(0);
    eprintln!("rollback took {:?}", started.elapsed());
    let report = run.json();
    assert_eq!(report["commit"], a.as_str(), "the rollback deployed A's commit");
    assert_eq!(project.deployed(), at_a, "the bucket is A's tree again, byte for byte");

    let records = history(&project);
    assert_eq!(records.len(), 3, "{records:#?}");
    let field = |index: usize, name: &str| records[index][name].as_str().unwrap_or_default().to_string();
    assert_eq!([field(0, "kind"), field(1, "kind"), field(2, "kind")], ["rollback", "deploy", "deploy"]);
    assert_eq!([field(0, "commit"), field(1, "commit"), field(2, "commit")], [a.clone(), b.clone(), a.clone()]);
    assert_eq!(field(0, "rollback_to"), field(2, "id"), "the rollback names the record it restored");
    assert_eq!(field(0, "previous_commit"), b);
    assert_eq!(report["ledger_id"], records[0]["id"]);
    let stored = stored_records(&project);
    assert_eq!(stored.len(), 3);
    let newest = stored.values().last().unwrap();
    assert_record_matches_bucket(newest, &project.deployed());
    assert_eq!(marker(&project)["ledger_id"], records[0]["id"], "the marker points at the newest record");

    project.run(&["rollback", "--env", "test"]).assert_code(0);
    assert_eq!(project.deployed(), at_b, "a second rollback returns to B");
    let records = history(&project);
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["commit"], b.as_str());
    assert_eq!(records[0]["kind"], "rollback");
    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    let summary = &plan.json()["summary"];
    let changes = ["uploads", "replacements", "deletions"].map(|name| summary[name].as_u64().unwrap());
    assert_eq!(changes, [0, 0, 0], "HEAD is B again");
}

on_backends!(rollback_restores_the_previous_deploy_byte_for_byte:
    local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

/// `--to` takes a record id or a commit prefix, `--dry-run` writes nothing, and an unknown target is a usage
/// error that names it.
#[test]
fn rollback_to_a_named_deploy_and_dry_run() {
    let project = Project::new(Backend::Local, CONFIG);
    let a = project.repo.head();
    project.deploy_json(&[]);
    let at_a = project.expected();
    for version in 1..=2 {
        project.repo.write("dags/daily.py", &format!("# version {version}\n"));
        project.repo.commit(&format!("version {version}"));
        project.deploy_json(&[]);
    }
    let at_head = project.deployed();
    let journal = project.repo.scratch().join("dry.journal");
    let mut command = project.command(&["rollback", "--env", "test", "--to", &a[..8], "--dry-run", "--format", "json"]);
    command.env("DAGSHIP_FILE_JOURNAL", &journal);
    let dry = run_command(&mut command);
    dry.assert_code(0);
    assert_eq!(dry.json()["dry_run"], true);
    assert_eq!(std::fs::read_to_string(&journal).unwrap_or_default(), "", "a dry run writes nothing");
    assert_eq!(project.deployed(), at_head);

    let oldest = history(&project).last().unwrap()["id"].as_str().unwrap().to_string();
    project.run(&["rollback", "--env", "test", "--to", &oldest]).assert_code(0);
    assert_eq!(project.deployed(), at_a);

    let unknown = project.run(&["rollback", "--env", "test", "--to", "deadbeef"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("deadbeef") && unknown.stderr.contains("dagship history"), "{}", unknown.stderr);
}

/// A hand edit in the bucket (a DAG changed, a DAG added) is reported by `drift` (exit 1), and the next deploy,
/// which would overwrite one and delete the other, is refused with exit 3 and no write request at all; with
/// --overwrite-drift it goes through. Drift under data is reported, never refused.
fn hand_edits_are_reported_and_never_silently_overwritten(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    project.deploy_json(&[]);
    project.run(&["drift", "--env", "test"]).assert_code(0);

    project.bucket.seed("dags/daily.py", b"# hot-fixed in the console\n");
    project.bucket.seed("dags/hotfix.py", b"# added by hand\n");
    let drift = project.run(&["drift", "--env", "test", "--format", "json"]);
    drift.assert_code(1);
    let objects: Vec<(String, String)> = drift.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| (object["key"].as_str().unwrap().into(), object["kind"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        objects,
        [("dags/daily.py".to_string(), "changed".to_string()), ("dags/hotfix.py".into(), "added".into())]
    );

    project.repo.write("dags/daily.py", "# the next version\n");
    project.repo.commit("next");
    let journal = project.repo.scratch().join("writes.journal");
    let proxy = project.bucket.endpoint.as_ref().map(|endpoint| {
        let flavor = if backend == Backend::S3 { Flavor::S3 } else { Flavor::Gcs };
        FaultProxy::start(endpoint, flavor, 0.0, 1, &[])
    });
    let observed = |args: &[&str]| -> Command {
        let mut command = project.command(args);
        match (&proxy, backend) {
            (Some(proxy), Backend::S3) => command.env("AWS_ENDPOINT_URL_S3", &proxy.url),
            (Some(proxy), _) => command.env("STORAGE_EMULATOR_HOST", &proxy.url),
            (None, _) => command.env("DAGSHIP_FILE_JOURNAL", &journal),
        };
        command
    };
    let writes = || match &proxy {
        Some(proxy) => proxy.writes(),
        None => std::fs::read_to_string(&journal).unwrap_or_default().lines().map(str::to_string).collect(),
    };
    let refused = run_command(&mut observed(&["deploy", "--env", "test"]));
    refused.assert_code(3);
    assert!(
        refused.stderr.contains("dags/daily.py") && refused.stderr.contains("--overwrite-drift"),
        "{}",
        refused.stderr
    );
    assert_eq!(writes(), Vec::<String>::new(), "a deploy refused for drift writes nothing");
    assert_eq!(project.bucket.objects()["dags/daily.py"], b"# hot-fixed in the console\n");
    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(3);
    assert_eq!(plan.json()["drift"]["objects"].as_array().unwrap().len(), 2, "the plan reports the drift");

    run_command(&mut observed(&["deploy", "--env", "test", "--overwrite-drift"])).assert_code(0);
    assert!(!writes().is_empty(), "the write observer does see writes");
    assert_eq!(project.deployed(), project.expected());
    project.run(&["drift", "--env", "test"]).assert_code(0);

    // Data is written by Airflow tasks too: its drift is reported, not refused.
    project.bucket.seed("data/lookup.csv", b"id,name\n1,edited by a task\n");
    project.repo.write("data/lookup.csv", "id,name\n1,b\n");
    project.repo.commit("data change");
    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    assert_eq!(plan.json()["drift"]["objects"][0]["key"], "data/lookup.csv");
    project.deploy_json(&[]);
    assert_eq!(project.deployed(), project.expected());
}

on_backends!(hand_edits_are_reported_and_never_silently_overwritten:
    local => Backend::Local, s3 => Backend::S3, gcs => Backend::Gcs);

/// The ledger write fails after every object write landed (the moment a crash would hurt most): the deploy
/// fails, the ledger holds only whole records, the marker still names A, and the next deploy records B without
/// rewriting an object. Every PUT of a history record answers 503 (no retry gets past it). S3 only: the GCS
/// emulator names an upload's object in the body, where the proxy's rules do not look, and a file:// bucket
/// offers no way to fail one key's writes (the tests run as root).
fn a_failed_ledger_write_leaves_no_partial_record_and_the_next_deploy_repairs(backend: Backend) {
    let project = Project::new(backend, CONFIG);
    let a = project.repo.head();
    project.deploy_json(&[]);
    project.repo.write("dags/new.py", "# B\n");
    let b = project.repo.commit("B");

    let proxy = FaultProxy::start(project.bucket.endpoint.as_ref().unwrap(), Flavor::S3, 0.0, 1, &[]);
    proxy.add_rule(Rule::from_then_on("PUT", ".dagship/history/", 1, Fault::Unavailable));
    let mut command = project.command(&["deploy", "--env", "test"]);
    command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
    let failed = run_command(&mut command);
    assert_eq!(failed.code, 4, "the deploy fails when its record cannot be written: {}", failed.stderr);
    assert!(proxy.total_faults() > 0, "the record's writes were failed");
    assert_eq!(project.deployed(), project.expected(), "every object write had landed");
    assert_eq!(stored_records(&project).len(), 1, "only A's whole record");
    assert_eq!(marker(&project)["commit"], a.as_str(), "the marker still names A");

    let repaired = project.deploy_json(&[]);
    assert_eq!(summary(&repaired).0 + summary(&repaired).1 + summary(&repaired).2, 0, "nothing to rewrite");
    assert_eq!(repaired["up_to_date"], false, "but the deploy is recorded");
    let records = stored_records(&project);
    assert_eq!(records.len(), 2);
    let newest = records.values().last().unwrap();
    assert_eq!(newest["commit"], b.as_str());
    assert_eq!(newest["outcome"], "deployed");
    assert_record_matches_bucket(newest, &project.deployed());
    assert_eq!(marker(&project)["ledger_id"], newest["id"]);
    assert_eq!(project.deploy_json(&[])["up_to_date"], true, "and then it is up to date");
    project.run(&["drift", "--env", "test"]).assert_code(0);
}

on_backends!(a_failed_ledger_write_leaves_no_partial_record_and_the_next_deploy_repairs: s3 => Backend::S3);

/// `status`: the last deployed commit, commits the branch is ahead, drift and the lock, per environment.
#[test]
fn status_shows_each_environment() {
    let project = Project::new(Backend::Local, CONFIG);
    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    let config = config.replace("test: { platform: local,", "test: { branches: [main], platform: local,");
    project.repo.write("dagship.yml", &config);
    let deployed = project.repo.commit("deploy from main");
    project.deploy_json(&[]);
    project.repo.write("README.md", "# one\n");
    project.repo.commit("one");
    project.repo.write("README.md", "# two\n");
    project.repo.commit("two");
    project.bucket.seed("dags/daily.py", b"# edited by hand\n");
    let run = project.run(&["status", "--format", "json"]);
    run.assert_code(0);
    let status = &run.json()[0];
    assert_eq!(status["environment"], "test");
    assert_eq!(status["deployed_commit"], deployed.as_str());
    assert_eq!(status["commits_ahead"], 2);
    assert_eq!(status["drift"], true);
    assert_eq!(status["lock"], serde_json::Value::Null);
    let markdown = project.run(&["status", "--format", "markdown"]);
    assert!(markdown.stdout.contains("| `test` | `main` |"), "{}", markdown.stdout);
}

/// `history` in its three formats; the JSON counts each record's objects instead of listing them.
#[test]
fn history_renders_text_and_markdown() {
    let project = Project::new(Backend::Local, CONFIG);
    let empty = project.run(&["history", "--env", "test"]);
    empty.assert_code(0);
    assert!(empty.stdout.contains("no deploy recorded yet"), "{}", empty.stdout);
    project.deploy_json(&[]);
    let text = project.run(&["history", "--env", "test"]);
    assert!(text.stdout.contains("deploy") && text.stdout.contains("deployed"), "{}", text.stdout);
    let markdown = project.run(&["history", "--env", "test", "--format", "markdown"]);
    assert!(markdown.stdout.contains("| when | kind | outcome |"), "{}", markdown.stdout);
    let json = history(&project);
    assert_eq!(json[0]["object_count"], project.expected().len());
    assert!(json[0].get("objects").is_none(), "the JSON listing leaves the object sets out");
}

/// The plan (and so the PR comment) warns when its commit is an ancestor of the deployed one. In Actions,
/// deploying such a commit is refused (exit 3, nothing written): older code goes
/// back only through a rollback, which a manual run asks for with the `rollback_to` input and the ledger records
/// with the run's URL.
#[test]
fn ci_refuses_an_older_commit_and_rolls_back_through_the_input() {
    use common::actions::{dispatch, run_ci};
    let project = Project::new(Backend::Local, CONFIG);
    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    project.repo.write("dagship.yml", &config.replace("test: { platform:", "test: { branches: [main], platform:"));
    let a = project.repo.commit("A");
    project.deploy_json(&[]);
    let at_a = project.deployed();
    project.repo.write("dags/daily.py", "# B\n");
    let b = project.repo.commit("B");
    project.deploy_json(&[]);
    let at_b = project.deployed();
    let api = "http://127.0.0.1:9";

    project.repo.git(&["checkout", "-q", &a]);
    let plan = project.run(&["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    assert_eq!(plan.json()["older_than_deployed"], b.as_str(), "the plan names the rollback it would be");
    let markdown = project.run(&["plan", "--env", "test", "--format", "markdown"]).stdout;
    assert!(markdown.contains("is an ancestor of the deployed commit"), "{markdown}");
    let payload = dispatch("refs/heads/main", serde_json::json!({"environment": "test"}));
    let refused = run_ci(project.command(&[]), "workflow_dispatch", &payload, api, &a);
    refused.run.assert_code(3);
    assert!(
        refused.run.stderr.contains("ancestor") && refused.run.stderr.contains("rollback"),
        "{}",
        refused.run.stderr
    );
    assert_eq!(project.deployed(), at_b, "nothing written");

    project.repo.git(&["checkout", "-q", "main"]);
    let payload = dispatch("refs/heads/main", serde_json::json!({"environment": "test", "rollback_to": "previous"}));
    let rolled = run_ci(project.command(&[]), "workflow_dispatch", &payload, api, &b);
    rolled.run.assert_code(0);
    assert_eq!(rolled.output("mode"), "rollback");
    assert_eq!(rolled.output("deployed"), "true");
    assert_eq!(project.deployed(), at_a);
    let newest = &history(&project)[0];
    assert_eq!(newest["kind"], "rollback");
    assert_eq!(newest["commit"], a.as_str());
    assert!(newest["run_url"].as_str().unwrap().ends_with("/actions/runs/4242"), "{newest}");
}

/// A deploy that stops part-way (here its deletions fail after every upload landed) leaves objects no record
/// names. They are dagship's, not hand edits: `drift` does not report them and rolling back over them is not
/// refused. The failure is in the history; once the rollback is recorded, the unfinished deploy's intent is gone.
#[test]
fn what_a_failed_deploy_wrote_is_not_drift_and_a_rollback_after_it_goes_through() {
    let project = Project::new(Backend::S3, CONFIG);
    project.deploy_json(&[]);
    let at_a = project.deployed();
    let a_id = history(&project)[0]["id"].as_str().unwrap().to_string();
    project.repo.write("dags/daily.py", "# B\n");
    project.repo.remove("dags/sql/report.sql");
    project.repo.commit("B");

    let proxy = FaultProxy::start(project.bucket.endpoint.as_ref().unwrap(), Flavor::S3, 0.0, 1, &[]);
    proxy.add_rule(Rule::from_then_on("DELETE", "dags/sql/report.sql", 1, Fault::Unavailable));
    let mut command = project.command(&["deploy", "--env", "test"]);
    command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
    run_command(&mut command).assert_code(4);
    assert_eq!(project.bucket.objects()["dags/daily.py"], b"# B\n", "B's upload landed");
    assert!(project.bucket.keys().iter().any(|key| key.starts_with(".dagship/intents/")), "the intent stays");
    let records = history(&project);
    assert_eq!(records[0]["outcome"], "failed", "{records:#?}");

    project.run(&["drift", "--env", "test"]).assert_code(0);
    project.run(&["rollback", "--env", "test", "--to", &a_id]).assert_code(0);
    assert_eq!(project.deployed(), at_a);
    assert!(!project.bucket.keys().iter().any(|key| key.starts_with(".dagship/intents/")), "intents cleared");
    assert_eq!(history(&project)[0]["kind"], "rollback");
}

/// A rollback through a proxy that fails 10% of requests (503, 429, resets before and after the server applied
/// the request, delays, cut bodies) converges when rerun: the bucket is A's tree, every ledger record is whole,
/// and the newest deployed one is the rollback's.
#[test]
fn a_rollback_through_injected_faults_converges() {
    let project = Project::new(Backend::S3, CONFIG);
    for index in 0..40 {
        project.repo.write(&format!("dags/many/dag_{index:02}.py"), &format!("# dag {index}\n"));
    }
    project.repo.commit("A");
    project.deploy_json(&[]);
    let at_a = project.deployed();
    let a_id = history(&project)[0]["id"].as_str().unwrap().to_string();
    for index in 0..40 {
        project.repo.write(&format!("dags/many/dag_{index:02}.py"), &format!("# dag {index}, B\n"));
    }
    project.repo.remove("dags/sql");
    project.repo.commit("B");
    project.deploy_json(&[]);

    let proxy = FaultProxy::start(
        project.bucket.endpoint.as_ref().unwrap(),
        Flavor::S3,
        0.10,
        0x1234_5678,
        &common::fault_proxy::ALL_FAULTS,
    );
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut command = project.command(&["rollback", "--env", "test", "--to", &a_id, "--lock-timeout", "60s"]);
        command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
        let run = run_command(&mut command);
        if run.code == 0 {
            break;
        }
        assert_eq!(run.code, 4, "only remote failures: {}", run.stderr);
        assert!(attempts < 10, "no convergence in 10 attempts: {}", run.stderr);
    }
    assert!(proxy.total_faults() > 0, "faults were injected");
    assert_eq!(project.deployed(), at_a, "after {attempts} attempt(s)");
    let records = stored_records(&project);
    let newest_deployed = records.values().rev().find(|record| record["outcome"] == "deployed").unwrap();
    assert_eq!(newest_deployed["kind"], "rollback");
    assert_record_matches_bucket(newest_deployed, &project.deployed());
    project.run(&["drift", "--env", "test"]).assert_code(0);
    eprintln!("rollback through 10% faults: {attempts} attempt(s), {:?}", proxy.counts());
}

/// SIGKILL at seeded random points of rollbacks (B -> A) once they hold the lock, 5 times: rerunning the rollback converges to A's tree
/// (taking over the dead one's lock), every ledger record stays whole, and no record names the killed run unless
/// all its writes had finished.
#[test]
fn a_killed_rollback_converges_when_rerun() {
    const KILLS: u64 = 5;
    let project = Project::new(Backend::Local, "deploy:\n  lock_ttl: 2s\n  max_delete: 100%\n");
    let version = |tag: &str| {
        for index in 0..150 {
            let filler = "# padding\n".repeat(40 + index);
            project.repo.write(&format!("dags/many/dag_{index:03}.py"), &format!("# {tag} {index}\n{filler}"));
        }
        project.repo.commit(tag)
    };
    version("A");
    project.deploy_json(&[]);
    let at_a = project.deployed();
    let a_id = history(&project)[0]["id"].as_str().unwrap().to_string();
    version("B");
    let deployed = project.deploy_json(&[]);
    let writes_ms =
        deployed["steps"].as_array().unwrap().iter().map(|step| step["seconds"].as_f64().unwrap()).sum::<f64>();
    let writes_ms = (writes_ms * 1000.0) as u64;
    let at_b = project.deployed();

    let mut seed: u64 = 0x0dd_ba11;
    let mut interrupted = 0;
    for kill in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut command = project.command(&["rollback", "--env", "test", "--to", &a_id]);
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        // Killed at a random point after it took the lock (so inside its writes, or just after them).
        let lock = project.bucket.dir().join(".dagship/lock.json");
        common::wait_until("the rollback to take the lock", std::time::Duration::from_secs(30), || {
            lock.exists() || child.try_wait().unwrap().is_some()
        });
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "kill {kill}: the rollback failed on its own: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(seed % (writes_ms + 1)));
        let _ = child.kill();
        child.wait().unwrap();
        if project.bucket.dir().join(".dagship/lock.json").exists() {
            interrupted += 1;
        }
        stored_records(&project); // every record parses: none is partial

        let rerun = project.run(&["rollback", "--env", "test", "--to", &a_id, "--lock-timeout", "30s"]);
        rerun.assert_code(0);
        assert_eq!(project.deployed(), at_a, "kill {kill}: the rerun converges to A");
        let records = stored_records(&project);
        let newest = records.values().last().unwrap();
        assert_eq!((newest["kind"].as_str(), newest["outcome"].as_str()), (Some("rollback"), Some("deployed")));
        assert_record_matches_bucket(newest, &project.deployed());
        assert_eq!(marker(&project)["ledger_id"], newest["id"]);

        project.deploy_json(&[]);
        assert_eq!(project.deployed(), at_b, "kill {kill}: back to B for the next kill");
    }
    eprintln!("killed rollbacks: {interrupted} of {KILLS} kills left a lock (landed inside the locked writes)");
    assert!(interrupted >= 1, "the kills exercise a rollback killed while holding its lock");
}
