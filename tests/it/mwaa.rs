//! MWAA deploys end to end: the dagship binary, a versioned bucket on the moto S3 server, and the MWAA control
//! plane faked with wiremock (tests/it/common/mwaa_fake.rs) in the real API's shapes. Object versions are read
//! back from moto, update requests from the fake.
use crate::common;

use std::process::Command;

use common::buckets::{Backend, Bucket, block_on, s3_client};
use common::mwaa_fake::FakeMwaa;
use common::{Repo, Run, dagship_command, run_command};

const ENVIRONMENT: &str = "dagship-test";

struct Setup {
    repo: Repo,
    bucket: Bucket,
    mwaa: FakeMwaa,
}

impl Setup {
    fn new(versioning: bool, extra_mwaa: &str) -> Setup {
        let bucket = Bucket::new(Backend::S3);
        if versioning {
            let client = s3_client(bucket.endpoint.as_ref().unwrap());
            block_on(async {
                client
                    .put_bucket_versioning()
                    .bucket(&bucket.name)
                    .versioning_configuration(
                        aws_sdk_s3::types::VersioningConfiguration::builder()
                            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .expect("enable versioning")
            });
        }
        let mwaa = FakeMwaa::start(ENVIRONMENT, &bucket.name);
        let repo = Repo::new();
        let config = format!(
            "dags_dir: dags\nplugins_dir: plugins\nenvironments:\n  test:\n    platform: mwaa\n    bucket: \"{}\"\n    \
             mwaa:\n      environment_name: {ENVIRONMENT}\n      requirements: requirements.txt\n      \
             poll_interval: 50ms\n      wait_timeout: 3s\n{extra_mwaa}",
            bucket.url
        );
        repo.write("dagship.yml", &config)
            .write("dags/daily.py", "from operators.slack import notify\n")
            .write("plugins/operators/__init__.py", "")
            .write("plugins/operators/slack.py", "def notify(): pass\n")
            .write("requirements.txt", "apache-airflow-providers-slack==9.0.0\n");
        repo.commit("project");
        Setup { repo, bucket, mwaa }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = dagship_command(self.repo.path());
        command.args(args);
        self.bucket.configure(&mut command);
        command.env("AWS_ENDPOINT_URL_MWAA", self.mwaa.uri());
        command
    }

    fn deploy(&self, extra: &[&str]) -> Run {
        let mut args = vec!["deploy", "--env", "test", "--format", "json"];
        args.extend_from_slice(extra);
        run_command(&mut self.command(&args))
    }

    /// Every version moto holds of `key` (under the bucket's prefix), newest first.
    fn versions(&self, key: &str) -> Vec<String> {
        let client = s3_client(self.bucket.endpoint.as_ref().unwrap());
        let full_key = format!("{}{key}", self.bucket.prefix);
        let name = self.bucket.name.clone();
        block_on(async {
            let output = client.list_object_versions().bucket(&name).prefix(&full_key).send().await.unwrap();
            output
                .versions()
                .iter()
                .filter(|version| version.key() == Some(full_key.as_str()))
                .map(|version| version.version_id().unwrap().to_string())
                .collect()
        })
    }

    fn artifact<'a>(json: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
        json["mwaa"]["artifacts"].as_array().unwrap().iter().find(|artifact| artifact["kind"] == kind).unwrap()
    }
}

#[test]
fn first_deploy_updates_the_environment_and_a_dag_only_change_does_not() {
    let setup = Setup::new(true, "      wait: true\n");
    let run = setup.deploy(&[]);
    run.assert_code(0);
    let json = run.json();
    assert_eq!(json["mwaa"]["update"], "completed", "{}", run.stderr);

    // One UpdateEnvironment, naming exactly the versions moto gave the uploads.
    let updates = setup.mwaa.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let plugins_versions = setup.versions("plugins.zip");
    let requirements_versions = setup.versions("requirements.txt");
    assert_eq!(plugins_versions.len(), 1);
    assert_eq!(updates[0]["PluginsS3Path"], "airflow/plugins.zip");
    assert_eq!(updates[0]["PluginsS3ObjectVersion"], plugins_versions[0].as_str());
    assert_eq!(updates[0]["RequirementsS3Path"], "airflow/requirements.txt");
    assert_eq!(updates[0]["RequirementsS3ObjectVersion"], requirements_versions[0].as_str());
    assert_eq!(Setup::artifact(&json, "plugins")["action"], "uploaded");

    // The DAGs are mirrored; the plugins folder is not (MWAA reads plugins.zip only).
    let keys = setup.bucket.keys();
    assert!(keys.contains(&"dags/daily.py".to_string()), "{keys:?}");
    assert!(!keys.iter().any(|key| key.starts_with("plugins/")), "{keys:?}");

    // A DAG-only change: plugins.zip is rebuilt byte for byte (same MD5 as the running version), so nothing
    // is uploaded and the environment is not updated.
    setup.repo.write("dags/daily.py", "from operators.slack import notify  # edited\n");
    setup.repo.commit("dag only");
    let run = setup.deploy(&[]);
    run.assert_code(0);
    let json = run.json();
    assert_eq!(json["mwaa"]["update"], "not_needed");
    assert_eq!(Setup::artifact(&json, "plugins")["action"], "unchanged");
    assert_eq!(Setup::artifact(&json, "plugins")["running_version"], plugins_versions[0].as_str());
    assert_eq!(setup.mwaa.updates().len(), 1, "no UpdateEnvironment for a DAG-only change");
    assert_eq!(setup.versions("plugins.zip").len(), 1, "no new plugins.zip version");
    assert_eq!(setup.bucket.objects()["dags/daily.py"], b"from operators.slack import notify  # edited\n");
}

#[test]
fn changed_requirements_update_once_with_the_new_version() {
    let setup = Setup::new(true, "      wait: true\n");
    setup.deploy(&[]).assert_code(0);
    let old_version = setup.versions("requirements.txt")[0].clone();

    setup.repo.write("requirements.txt", "apache-airflow-providers-slack==9.1.0\n");
    setup.repo.commit("bump slack");
    let run = setup.deploy(&[]);
    run.assert_code(0);
    let json = run.json();
    let updates = setup.mwaa.updates();
    assert_eq!(updates.len(), 2, "exactly one more UpdateEnvironment: {updates:?}");
    let new_version = setup.versions("requirements.txt")[0].clone();
    assert_ne!(new_version, old_version);
    assert_eq!(updates[1]["RequirementsS3ObjectVersion"], new_version.as_str());
    assert!(updates[1].get("PluginsS3ObjectVersion").is_none(), "plugins unchanged: {}", updates[1]);
    let requirements = Setup::artifact(&json, "requirements");
    assert_eq!(requirements["running_version"], old_version.as_str());
    assert_eq!(requirements["new_version"], new_version.as_str());
    assert!(run.stderr.contains("update of dagship-test requested"), "{}", run.stderr);
}

#[test]
fn an_environment_that_is_not_available_is_refused_with_nothing_uploaded() {
    let setup = Setup::new(true, "");
    setup.mwaa.with(|environment| environment.status = "UPDATE_FAILED".into());
    let run = setup.deploy(&[]);
    run.assert_code(3);
    assert!(run.stderr.contains("is UPDATE_FAILED"), "{}", run.stderr);
    assert!(setup.bucket.keys().is_empty(), "nothing written, not even the lock: {:?}", setup.bucket.keys());
    assert!(setup.mwaa.updates().is_empty());

    // Still UPDATING when the wait runs out: refused too, naming the status.
    setup.mwaa.with(|environment| {
        environment.status = "AVAILABLE".into();
        environment.updating_reads_left = 10_000;
    });
    let mut command = setup.command(&["deploy", "--env", "test"]);
    let started = std::time::Instant::now();
    let run = run_command(&mut command);
    run.assert_code(3);
    assert!(run.stderr.contains("still UPDATING after 3s"), "{}", run.stderr);
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    assert!(setup.bucket.keys().is_empty());
}

#[test]
fn a_deploy_waits_while_another_update_runs() {
    let setup = Setup::new(true, "");
    setup.mwaa.with(|environment| environment.updating_reads_left = 3);
    let run = setup.deploy(&[]);
    run.assert_code(0);
    assert!(run.stderr.contains("is UPDATING; waiting for AVAILABLE"), "{}", run.stderr);
    assert_eq!(run.json()["mwaa"]["update"], "requested");
    assert_eq!(setup.mwaa.updates().len(), 1);
}

#[test]
fn a_failed_update_stops_before_the_dags_and_the_rerun_reuses_the_upload() {
    let setup = Setup::new(true, "      wait: true\n");
    setup.mwaa.with(|environment| environment.fail_next_update = Some("pip could not install slack==9.0.0".into()));
    let run = setup.deploy(&[]);
    run.assert_code(4);
    assert!(run.stderr.contains("pip could not install slack==9.0.0"), "{}", run.stderr);
    let keys = setup.bucket.keys();
    assert!(!keys.iter().any(|key| key.starts_with("dags/")), "no DAGs after a failed update: {keys:?}");
    assert!(!keys.contains(&".dagship/lock.json".to_string()), "the lock is released: {keys:?}");
    let uploaded = setup.versions("plugins.zip");
    assert_eq!(uploaded.len(), 1);

    // The cause is fixed (here: the fake succeeds); the rerun finds the uploads in place and reuses them.
    let run = setup.deploy(&[]);
    run.assert_code(0);
    let json = run.json();
    assert_eq!(Setup::artifact(&json, "plugins")["action"], "reused");
    assert_eq!(setup.versions("plugins.zip"), uploaded, "nothing uploaded again");
    let updates = setup.mwaa.updates();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["PluginsS3ObjectVersion"], uploaded[0].as_str());
    assert!(setup.bucket.keys().contains(&"dags/daily.py".to_string()));
}

#[test]
fn a_dry_run_reports_the_update_and_writes_nothing() {
    let setup = Setup::new(true, "");
    let run = setup.deploy(&["--dry-run"]);
    run.assert_code(0);
    let json = run.json();
    assert_eq!(json["mwaa"]["update"], "would_update");
    assert_eq!(Setup::artifact(&json, "requirements")["action"], "would_upload");
    let plan = run_command(&mut setup.command(&["plan", "--env", "test"]));
    plan.assert_code(0);
    assert!(plan.stdout.contains("MWAA environment dagship-test: would be updated"), "{}", plan.stdout);
    assert!(plan.stdout.contains("airflow/plugins.zip"), "{}", plan.stdout);
    assert!(setup.bucket.keys().is_empty());
    assert!(setup.mwaa.updates().is_empty());
}

#[test]
fn a_bucket_without_versioning_is_refused() {
    let setup = Setup::new(false, "");
    let run = setup.deploy(&[]);
    run.assert_code(3);
    assert!(run.stderr.contains("put-bucket-versioning"), "{}", run.stderr);
    assert!(setup.bucket.keys().is_empty());
    assert_eq!(setup.mwaa.with(|environment| environment.gets), 0, "refused before asking MWAA");
}

#[test]
fn an_unknown_environment_name_and_a_missing_requirements_file_are_input_errors() {
    let setup = Setup::new(true, "");
    setup.mwaa.with(|environment| environment.name = "someone-else".into());
    let run = setup.deploy(&[]);
    run.assert_code(2);
    assert!(run.stderr.contains("MWAA environment `dagship-test` does not exist"), "{}", run.stderr);

    setup.mwaa.with(|environment| environment.name = ENVIRONMENT.into());
    setup.repo.remove("requirements.txt");
    setup.repo.commit("no requirements file");
    let run = setup.deploy(&[]);
    run.assert_code(2);
    assert!(run.stderr.contains("mwaa.requirements: cannot read `requirements.txt`"), "{}", run.stderr);
    assert!(setup.bucket.keys().is_empty());
}

#[test]
fn an_environment_reading_another_bucket_is_refused() {
    let setup = Setup::new(true, "");
    setup.mwaa.with(|environment| environment.source_bucket = "production-bucket".into());
    let run = setup.deploy(&[]);
    run.assert_code(2);
    assert!(run.stderr.contains("reads bucket `arn:aws:s3:::production-bucket`"), "{}", run.stderr);
    assert!(setup.bucket.keys().is_empty());
}

#[test]
fn airflow_import_errors_are_read_through_invoke_rest_api() {
    let setup = Setup::new(true, "    verify:\n      auth: mwaa\n      timeout: 2s\n      poll_interval: 50ms\n");
    let now = humantime::format_rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).to_string();
    setup.mwaa.with(|environment| {
        environment.rest_api.insert(
            "/importErrors".into(),
            serde_json::json!({ "import_errors": [{ "filename": "/usr/local/airflow/dags/daily.py", "timestamp": now,
                "stack_trace": "  File \"/usr/local/airflow/dags/daily.py\", line 1, in <module>\nModuleNotFoundError: No module named 'operators'" }],
                "total_entries": 1 }),
        );
        environment.rest_api.insert("/dags".into(), serde_json::json!({ "dags": [], "total_entries": 0 }));
    });
    setup.repo.write("dags/daily.py", "from operators.slack import notify  # an airflow dag\n");
    setup.repo.commit("a dag");
    let mut command = setup.command(&["deploy", "--env", "test"]);
    command.env("GITHUB_ACTIONS", "true");
    let run = run_command(&mut command);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "::error file=dags/daily.py,line=1::Airflow on test cannot import this DAG file: ModuleNotFoundError"
        ),
        "{}",
        run.stderr
    );
    let calls = setup.mwaa.with(|environment| environment.rest_calls.clone());
    assert!(calls.iter().any(|call| call["Path"] == "/importErrors" && call["Method"] == "GET"), "{calls:?}");
}

#[test]
fn plugins_zip_holds_the_commits_plugins_only() {
    let setup = Setup::new(true, "deploy:\n  exclude_from: .deployignore\n");
    setup.repo.write(".deployignore", "plugins/scratch/\n").write("plugins/scratch/notes.py", "# excluded\n");
    setup.repo.commit("an excluded plugin folder");
    setup.repo.write("plugins/operators/untracked.py", "# never committed\n");
    setup.deploy(&[]).assert_code(0);
    let zip_bytes = setup.bucket.objects()["plugins.zip"].clone();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut names: Vec<String> = archive.file_names().map(|name| name.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["operators/__init__.py", "operators/slack.py"]);

    // A link out of the repository in the plugins folder: refused before anything is uploaded or updated.
    let outside = setup.repo.scratch().join("outside.py");
    std::fs::write(&outside, "SECRET = 1\n").unwrap();
    std::os::unix::fs::symlink(&outside, setup.repo.path().join("plugins/operators/outside.py")).unwrap();
    std::fs::remove_file(setup.repo.path().join("plugins/operators/untracked.py")).unwrap();
    setup.repo.commit("a link out of the repository");
    let versions = setup.versions("plugins.zip");
    let run = setup.deploy(&[]);
    run.assert_code(3);
    assert!(run.stderr.contains("outside the repository"), "{}", run.stderr);
    assert_eq!(setup.versions("plugins.zip"), versions, "no new plugins.zip");
    assert_eq!(setup.mwaa.updates().len(), 1, "no UpdateEnvironment");
}

#[test]
fn wait_true_waits_for_the_update_it_started_not_the_previous_one() {
    let setup = Setup::new(true, "      wait: true\n");
    // Yesterday's update succeeded; right after our UpdateEnvironment, MWAA still answers AVAILABLE with it.
    let yesterday =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() - 86_400.0;
    setup.mwaa.with(|environment| {
        environment.last_update = Some(serde_json::json!({"Status": "SUCCESS", "CreatedAt": yesterday}));
        environment.stale_reads_after_update = 3;
    });
    let run = setup.deploy(&[]);
    run.assert_code(0);
    assert_eq!(run.json()["mwaa"]["update"], "completed");
    assert!(!setup.mwaa.update_pending(), "dagship returned before MWAA finished the update it started");
    assert!(run.stderr.contains("still the one before ours"), "{}", run.stderr);
    assert!(setup.bucket.keys().contains(&"dags/daily.py".to_string()));
}

#[test]
fn a_dry_run_does_not_wait_for_an_updating_environment() {
    let setup = Setup::new(true, "");
    setup.mwaa.with(|environment| environment.updating_reads_left = 1_000);
    let started = std::time::Instant::now();
    let run = setup.deploy(&["--dry-run"]);
    run.assert_code(0);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "waited {:?}", started.elapsed());
    let json = run.json();
    assert_eq!(json["mwaa"]["status"], "UPDATING", "the status as it is: {json}");
    assert_eq!(json["mwaa"]["update"], "would_update");
    assert!(json["plan"]["summary"]["uploads"].as_u64().unwrap() >= 1, "the plan is shown: {json}");
    assert!(!run.stderr.contains("waiting for AVAILABLE"), "{}", run.stderr);
    assert!(setup.bucket.keys().is_empty());
    assert!(setup.mwaa.updates().is_empty());
}

#[test]
fn a_plugins_folder_holding_only_placeholders_builds_no_zip_and_updates_nothing() {
    let setup = Setup::new(true, "");
    setup.repo.remove("plugins/operators/__init__.py").remove("plugins/operators/slack.py");
    setup.repo.write("plugins/.gitkeep", "").write("plugins/operators/.keep", "");
    setup.repo.write("dags/daily.py", "# no plugin import\n");
    setup.repo.commit("plugins emptied but kept");
    let run = setup.deploy(&[]);
    run.assert_code(0);
    let json = run.json();
    let kinds: Vec<&str> = json["mwaa"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|artifact| artifact["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["requirements"], "no plugins.zip: {json}");
    assert!(setup.versions("plugins.zip").is_empty(), "no near-empty plugins.zip uploaded");
    let updates = setup.mwaa.updates();
    assert!(updates.iter().all(|update| update.get("PluginsS3Path").is_none()), "{updates:?}");
    assert!(run.stderr.contains("holds no plugin"), "{}", run.stderr);
}

#[test]
fn a_pull_request_check_plan_shows_the_mwaa_update() {
    let setup = Setup::new(true, "      wait: true\n");
    let config = std::fs::read_to_string(setup.repo.path().join("dagship.yml")).unwrap();
    setup
        .repo
        .write("dagship.yml", &config.replace("    platform: mwaa\n", "    platform: mwaa\n    branches: [main]\n"));
    setup.repo.commit("map main");
    setup.deploy(&[]).assert_code(0);
    setup.repo.checkout_new("feature", "main").write("plugins/operators/slack.py", "def notify(): return 2\n");
    let head = setup.repo.commit("plugins only");
    let command = setup.command(&[]);
    let payload = common::actions::pull_request(3, "main", Some(common::actions::REPOSITORY));
    let ci = common::actions::run_ci(command, "pull_request", &payload, "http://127.0.0.1:9", &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("plan_uploads"), "1", "the new plugins.zip: {}", ci.summary);
    assert_eq!(ci.output("mwaa_update"), "true");
    assert!(ci.summary.contains("dagship-test"), "{}", ci.summary);
    assert_eq!(setup.mwaa.updates().len(), 1, "the check updated nothing");
}

/// Rollback on MWAA: back to a deploy whose plugins and requirements the environment already runs makes no
/// UpdateEnvironment call; back over a plugins change, UpdateEnvironment names the plugins.zip version the
/// environment ran then (found among the kept versions by content, not uploaded again) and leaves the unchanged
/// requirements out.
#[test]
fn a_rollback_restores_the_plugins_version_the_environment_ran_and_updates_only_when_it_differs() {
    let setup = Setup::new(true, "      wait: true\n");
    setup.deploy(&[]).assert_code(0);
    let a_plugins = setup.versions("plugins.zip")[0].clone();
    let rollback = || run_command(&mut setup.command(&["rollback", "--env", "test", "--format", "json"]));

    setup.repo.write("dags/daily.py", "from operators.slack import notify  # edited\n");
    setup.repo.commit("dag only");
    setup.deploy(&[]).assert_code(0);
    let run = rollback();
    run.assert_code(0);
    assert_eq!(run.json()["mwaa"]["update"], "not_needed", "{}", run.stderr);
    assert_eq!(setup.mwaa.updates().len(), 1, "no UpdateEnvironment when nothing MWAA reads differs");
    assert_eq!(setup.bucket.objects()["dags/daily.py"], b"from operators.slack import notify\n");

    setup.repo.write("plugins/operators/slack.py", "def notify(): return 2\n");
    setup.repo.commit("plugins change");
    setup.deploy(&[]).assert_code(0);
    let updates = setup.mwaa.updates();
    assert_eq!(updates.len(), 2, "{updates:?}");
    let b_plugins = setup.versions("plugins.zip")[0].clone();
    assert_ne!(b_plugins, a_plugins);
    assert_eq!(updates[1]["PluginsS3ObjectVersion"], b_plugins.as_str());

    let run = rollback();
    run.assert_code(0);
    let updates = setup.mwaa.updates();
    assert_eq!(updates.len(), 3, "one UpdateEnvironment for the rollback: {updates:?}");
    assert_eq!(updates[2]["PluginsS3ObjectVersion"], a_plugins.as_str(), "the version A ran");
    assert!(updates[2].get("RequirementsS3ObjectVersion").is_none(), "requirements unchanged: {}", updates[2]);
    assert_eq!(Setup::artifact(&run.json(), "plugins")["action"], "reused");
    assert_eq!(setup.versions("plugins.zip").len(), 2, "nothing uploaded again");
}
