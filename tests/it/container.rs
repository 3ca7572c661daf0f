//! The Action as GitHub runs it: the image built from the repository's Dockerfile (scripts/container-test.sh
//! builds it with local base images and the prebuilt binary, and exports DAGSHIP_TEST_IMAGE), started with the
//! runner's `docker run` shape: the checkout mounted at /github/workspace and owned by another uid, `--workdir`,
//! the GITHUB_*/INPUT_* environment, the event file under /github/workflow, the file commands under
//! /github/file_commands, HOME at /github/home, `--network host` for the emulators and wiremock. After each run,
//! `docker diff` must be empty: the container writes nothing outside its mounts.
use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::actions::{REPOSITORY, TOKEN, dispatch, parse_outputs, pull_request, push};
use common::buckets::{Backend, Bucket};
use common::github::GitHub;
use common::{Repo, airflow_python, copy_tree};
use serde_json::json;

const IMAGE_VARIABLE: &str = "DAGSHIP_TEST_IMAGE";
/// The runner's own path of the workspace (GitHub passes host paths like this in RUNNER_TEMP, RUNNER_WORKSPACE).
const RUNNER_WORK: &str = "/home/runner/work/shop";

/// The image under test; the container tests fail without one, they never skip.
fn image() -> String {
    std::env::var(IMAGE_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{IMAGE_VARIABLE} is not set: build the Action's image first with scripts/container-test.sh (scripts/test.sh \
             does; it needs Docker)"
        )
    })
}

fn docker() -> Command {
    Command::new(std::env::var("DAGSHIP_TEST_DOCKER").unwrap_or_else(|_| "docker".into()))
}

/// One `docker run` of the Action and what it left in the runner's files.
struct ContainerRun {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: std::collections::BTreeMap<String, String>,
    summary: String,
    first_line_after: Option<Duration>,
}

impl ContainerRun {
    fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output `{name}`: {:?}\nstderr:\n{}", self.outputs, self.stderr))
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

/// Runs the image as the runner does for `uses: <owner>/dagship@v1`, for `event_name` with `payload`.
fn run_action(
    workspace: &Path,
    head: &str,
    event_name: &str,
    payload: &str,
    inputs: &[(&str, &str)],
    env: &[(&str, String)],
) -> ContainerRun {
    let runner = tempfile::tempdir().unwrap();
    let temp = runner.path().join("_temp");
    let (home, workflow, commands) =
        (temp.join("_github_home"), temp.join("_github_workflow"), temp.join("_runner_file_commands"));
    for dir in [&home, &workflow, &commands] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(workflow.join("event.json"), payload).unwrap();
    let suffix = dagship::random::random_hex()[..12].to_string();
    let (output_file, summary_file) = (format!("set_output_{suffix}"), format!("step_summary_{suffix}"));
    let other_files = [format!("set_env_{suffix}"), format!("add_path_{suffix}"), format!("save_state_{suffix}")];
    for file in [&output_file, &summary_file].into_iter().chain(&other_files) {
        std::fs::write(commands.join(file), "").unwrap();
    }
    let name = format!("dagship-test-{suffix}");

    let mut command = docker();
    command.args([
        "run",
        "--name",
        &name,
        "--label",
        "dagship-test",
        "--workdir",
        "/github/workspace",
        "--network",
        "host",
    ]);
    let mut variables: Vec<(String, String)> = vec![
        ("HOME".into(), "/github/home".into()),
        ("CI".into(), "true".into()),
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_EVENT_NAME".into(), event_name.into()),
        ("GITHUB_EVENT_PATH".into(), "/github/workflow/event.json".into()),
        ("GITHUB_WORKSPACE".into(), "/github/workspace".into()),
        ("GITHUB_OUTPUT".into(), format!("/github/file_commands/{output_file}")),
        ("GITHUB_STEP_SUMMARY".into(), format!("/github/file_commands/{summary_file}")),
        ("GITHUB_ENV".into(), format!("/github/file_commands/{}", other_files[0])),
        ("GITHUB_PATH".into(), format!("/github/file_commands/{}", other_files[1])),
        ("GITHUB_STATE".into(), format!("/github/file_commands/{}", other_files[2])),
        ("GITHUB_REPOSITORY".into(), REPOSITORY.into()),
        ("GITHUB_SHA".into(), head.into()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_RUN_ID".into(), "4242".into()),
        ("GITHUB_JOB".into(), "dagship".into()),
        // Host paths, as the runner passes them: nothing may be written there inside the container.
        ("RUNNER_TEMP".into(), format!("{RUNNER_WORK}/_temp")),
        ("RUNNER_WORKSPACE".into(), RUNNER_WORK.into()),
        ("RUNNER_OS".into(), "Linux".into()),
        ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
    ];
    variables.extend(inputs.iter().map(|(name, value)| (format!("INPUT_{}", name.to_uppercase()), value.to_string())));
    variables.extend(env.iter().map(|(name, value)| (name.to_string(), value.clone())));
    for (name, value) in &variables {
        command.arg("-e").arg(format!("{name}={value}"));
    }
    let mut targets: Vec<&str> = Vec::new();
    let mut mount = |command: &mut Command, from: &Path, to: &'static str, mode: &str| {
        command.arg("-v").arg(format!("{}:{to}{mode}", from.display()));
        targets.push(to);
    };
    mount(&mut command, &home, "/github/home", "");
    mount(&mut command, &workflow, "/github/workflow", "");
    mount(&mut command, &commands, "/github/file_commands", "");
    mount(&mut command, workspace, "/github/workspace", "");
    // The DAG check's venv and uv's downloads, kept between test runs (on GitHub: actions/cache on the home).
    mount(&mut command, &cache_dir(), "/github/home/.cache", "");
    if let Some(bundle) = std::env::var_os("DAGSHIP_TEST_CA_BUNDLE").filter(|value| !value.is_empty()) {
        // A machine whose TLS to the package registry goes through its own CA: uv and pip need that bundle.
        mount(&mut command, Path::new(&bundle), "/etc/dagship-test-ca.crt", ":ro");
        command.args(["-e", "SSL_CERT_FILE=/etc/dagship-test-ca.crt", "-e", "PIP_CERT=/etc/dagship-test-ca.crt"]);
    }
    command.arg(image()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());

    let started = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|err| panic!("cannot run docker ({command:?}): {err}"));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, first_line) = std::sync::mpsc::channel::<Instant>();
    let read = |stream: Box<dyn std::io::Read + Send>, sender: std::sync::mpsc::Sender<Instant>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stream).lines() {
                let _ = sender.send(Instant::now());
                text.push_str(&line.unwrap_or_default());
                text.push('\n');
            }
            text
        })
    };
    let out_reader = read(Box::new(stdout), sender.clone());
    let err_reader = read(Box::new(stderr), sender);
    let status = child.wait().unwrap();
    let (stdout, stderr) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    let first_line_after = first_line.try_iter().min().map(|at| at - started);

    let diff = docker().args(["diff", &name]).output().unwrap();
    let _ = docker().args(["rm", "-f", &name]).output();
    // Docker itself adds the mount points (and their parent folders) to the container's layer.
    let diff: Vec<String> = String::from_utf8_lossy(&diff.stdout)
        .lines()
        .filter(|line| {
            let changed = line.get(2..).unwrap_or_default();
            !targets.iter().any(|target| *target == changed || target.starts_with(&format!("{changed}/")))
        })
        .map(str::to_string)
        .collect();
    let diff = diff.join("\n");
    assert!(diff.is_empty(), "the container wrote outside its mounts (docker diff):\n{diff}\nstderr:\n{stderr}");

    let outputs = parse_outputs(&std::fs::read_to_string(commands.join(&output_file)).unwrap());
    let summary = std::fs::read_to_string(commands.join(&summary_file)).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&commands).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 5, "only the runner's file-command files: {leftovers:?}");
    for file in &other_files {
        let text = std::fs::read_to_string(commands.join(file)).unwrap();
        assert!(text.is_empty(), "dagship never sets env, PATH or state for later steps ({file}: {text:?})");
    }
    ContainerRun { code: status.code().unwrap_or(-1), stdout, stderr, outputs, summary, first_line_after }
}

fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("DAGSHIP_TEST_CONTAINER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("dagship-test-container-cache"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The examples/ repository, with the DAG check's Airflow constrained to the test Airflow's exact versions (the
/// example names Airflow's constraints URL, which these machines cannot reach), its config's `environments` replaced
/// by `environments` when given.
fn examples_repo(environments: Option<&str>) -> Repo {
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    let freeze = Command::new(airflow_python()).args(["-m", "pip", "freeze", "--exclude-editable"]).output().unwrap();
    assert!(freeze.status.success(), "pip freeze of the test Airflow");
    repo.write("orchestration/constraints-airflow.txt", &String::from_utf8(freeze.stdout).unwrap());
    let requirements = std::fs::read_to_string(repo.path().join("orchestration/requirements-dags.txt")).unwrap();
    let requirements: Vec<String> = requirements
        .lines()
        .map(
            |line| if line.starts_with("-c https://") { "-c constraints-airflow.txt".into() } else { line.to_string() },
        )
        .collect();
    repo.write("orchestration/requirements-dags.txt", &(requirements.join("\n") + "\n"));
    if let Some(environments) = environments {
        let config = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
        let start = config.find("environments:").unwrap();
        let end = start + config[start..].find("\n\n").unwrap();
        repo.write("dagship.yml", &format!("{}{environments}{}", &config[..start], &config[end..]));
    }
    repo.commit("the example repository");
    repo
}

/// Gives the checkout to another uid, as a runner's workspace is owned by its user, not by the container's root
/// (git refuses such a repository unless the image marks /github/workspace as safe). Run by a user other than
/// root (GitHub's runners), the checkout already belongs to another uid than the container's.
fn own_by_another_user(repo: &Repo) {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return;
    }
    let status = Command::new("chown").args(["-R", "1001:1001"]).arg(repo.path()).status().unwrap();
    assert!(status.success(), "chown the workspace to the uid of GitHub's runner user");
}

#[test]
fn a_pull_request_of_the_examples_is_checked_in_the_container_dags_dbt_matrix_and_comment() {
    let repo = examples_repo(None);
    repo.checkout_new("feature", "main");
    repo.write(
        "orchestration/dags/brevo_export.py",
        &(std::fs::read_to_string(repo.path().join("orchestration/dags/brevo_export.py")).unwrap() + "\n# edited\n"),
    )
    .write("orchestration/dags/dbt_project/models/marts/customer_orders.sql", "select 1 as customer_id\n")
    .write("jobs/etl_jobs/external/brevo/main.py", "def export(limit):\n    return limit\n");
    let head = repo.commit("a DAG, a model and a job");
    own_by_another_user(&repo);

    let github = GitHub::start();
    let comments = format!("/repos/{REPOSITORY}/issues/7/comments");
    github.accept_new_comment(7, 1);
    let run = run_action(
        repo.path(),
        &head,
        "pull_request",
        &pull_request(7, "main", Some(REPOSITORY)),
        &[],
        &[("GITHUB_API_URL", github.server.uri()), ("GITHUB_REF", "refs/pull/7/merge".into())],
    );
    run.assert_code(0);
    assert_eq!(run.output("mode"), "check");
    assert_eq!(run.output("dags_ok"), "true", "{}", run.stderr);
    assert_eq!(run.output("dbt_changed"), "true");
    // No state in the environment's bucket yet: a full compile, and the outputs say so.
    assert_eq!(run.output("dbt_mode"), "full");
    assert!(run.output("dbt_state").starts_with("none"), "{}", run.output("dbt_state"));
    assert_eq!(run.output("deleted_models"), "[]");
    assert_eq!(run.output("has_jobs"), "true");
    assert!(run.output("matrix").contains("jobs/etl_jobs/external/brevo"), "{}", run.output("matrix"));
    let posted = github.bodies("POST", &comments);
    assert_eq!(posted.len(), 1, "one sticky comment");
    let comment = posted[0]["body"].as_str().unwrap();
    assert!(comment.contains("DAG import check: passed"), "the comment shows the DAG check:\n{comment}");
    assert!(run.summary.contains("customer_orders"), "the step summary shows the dbt compile:\n{}", run.summary);
    assert!(!repo.path().join(".dagship/bucket").exists(), "a pull request writes no bucket");
    assert!(!run.stderr.contains(TOKEN), "the token is never printed");
    if let Some(after) = run.first_line_after {
        eprintln!("container test: docker run -> first output line in {} ms", after.as_millis());
    }
}

#[test]
fn a_push_deploys_the_examples_to_s3_with_a_github_deployment_then_a_dry_run_dispatch_writes_nothing() {
    let bucket = Bucket::new(Backend::S3);
    let environments = format!(
        "environments:\n  stg:\n    platform: mwaa\n    bucket: \"{}\"\n    dbt_target: stg\n    vars: {{ ENV_SHORT_NAME: stg }}\n    branches: [main]",
        bucket.url
    );
    let repo = examples_repo(Some(&environments));
    // MWAA takes plugins only through the `mwaa:` step's plugins.zip (tests/it/mwaa.rs); without one, a plugins
    // folder is a config error, so this deploy of the examples leaves it out.
    let config = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    repo.write("dagship.yml", &config.replace("plugins_dir: orchestration/plugins\n", ""));
    repo.commit("MWAA without plugins");
    let head = repo.head();
    own_by_another_user(&repo);
    let s3_env = vec![
        ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone().unwrap()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];

    let github = GitHub::start();
    github.accept_deployments(1);
    let mut env = s3_env.clone();
    env.extend([("GITHUB_API_URL", github.server.uri()), ("GITHUB_REF", "refs/heads/main".into())]);
    let run = run_action(repo.path(), &head, "push", &push("refs/heads/main", common::ZEROS, &head, false), &[], &env);
    run.assert_code(0);
    assert_eq!(run.output("mode"), "deploy");
    assert_eq!(run.output("deployed"), "true");
    assert_eq!(run.output("deployed_environments"), r#"["stg"]"#);
    let keys = bucket.keys();
    for key in ["dags/daily_orders.py", "dags/brevo_export.py", "data/target/manifest.json"] {
        assert!(keys.iter().any(|deployed| deployed == key), "{key} deployed; the bucket holds {keys:?}");
    }
    let statuses = github.statuses();
    assert_eq!(statuses.last().map(String::as_str), Some("success"), "deployment statuses {statuses:?}");

    // A manual run with the example workflow's inputs: plans, writes nothing.
    let before = bucket.objects();
    let mut env = s3_env;
    env.push(("GITHUB_REF", "refs/heads/main".into()));
    let run = run_action(
        repo.path(),
        &head,
        "workflow_dispatch",
        &dispatch("refs/heads/main", json!({"environment": "stg", "dry-run": "true"})),
        &[("environment", "stg"), ("dry-run", "true"), ("github-token", "")],
        &env,
    );
    run.assert_code(0);
    assert_eq!(run.output("mode"), "deploy");
    assert_eq!(run.output("deployed"), "false");
    assert_eq!(bucket.objects(), before, "a dry run writes nothing");
}

#[test]
fn a_pull_request_check_without_airflow_fails_and_the_comment_says_what_to_configure() {
    let repo = examples_repo(None);
    let config = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    let start = config.find("  requirements:").unwrap();
    let end = start + config[start..].find('\n').unwrap();
    // The image's own python3 has no Airflow: what a team gets when it does not configure the check.
    repo.write("dagship.yml", &format!("{}  python: python3{}", &config[..start], &config[end..]));
    repo.commit("no dags_check.requirements");
    repo.checkout_new("feature", "main");
    repo.write("orchestration/dags/daily_orders.py", "from airflow import DAG\n");
    let head = repo.commit("a DAG");
    own_by_another_user(&repo);

    let github = GitHub::start();
    let comments = format!("/repos/{REPOSITORY}/issues/7/comments");
    github.accept_new_comment(7, ..);
    let run = run_action(
        repo.path(),
        &head,
        "pull_request",
        &pull_request(7, "main", Some(REPOSITORY)),
        &[],
        &[("GITHUB_API_URL", github.server.uri()), ("GITHUB_REF", "refs/pull/7/merge".into())],
    );
    run.assert_code(2);
    assert_eq!(run.output("dags_ok"), "false");
    let posted = github.bodies("POST", &comments);
    assert_eq!(posted.len(), 1, "the failure is commented: {}", run.stderr);
    let comment = posted[0]["body"].as_str().unwrap();
    assert!(comment.contains("DAG check failed"), "{comment}");
    assert!(comment.contains("dags_check.requirements"), "the comment says what to configure:\n{comment}");
}

#[test]
fn a_push_deploys_to_gcs_with_the_credentials_path_of_the_runner_mapped_into_the_workspace() {
    let bucket = Bucket::new(Backend::Gcs);
    let environments = format!(
        "environments:\n  stg:\n    platform: composer\n    bucket: \"{}\"\n    endpoint: \"{}\"\n    dbt_target: stg\n    \
         vars: {{ ENV_SHORT_NAME: stg }}\n    branches: [main]",
        bucket.url,
        bucket.endpoint.clone().unwrap()
    );
    let repo = examples_repo(Some(&environments));
    let head = repo.head();
    // What google-github-actions/auth leaves: an untracked key file in the checkout, and its path on the runner.
    repo.write("gha-creds-0123abcd.json", r#"{"type": "external_account"}"#);
    own_by_another_user(&repo);
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", format!("{RUNNER_WORK}/shop/gha-creds-0123abcd.json")),
        ("GITHUB_REF", "refs/heads/main".to_string()),
    ];
    let run = run_action(
        repo.path(),
        &head,
        "push",
        &push("refs/heads/main", common::ZEROS, &head, false),
        &[("github-token", "")],
        &env,
    );
    run.assert_code(0);
    assert!(
        run.stderr.contains("in this container it is /github/workspace/gha-creds-0123abcd.json"),
        "the runner's path is mapped into the workspace:\n{}",
        run.stderr
    );
    assert_eq!(run.output("deployed_environments"), r#"["stg"]"#);
    let keys = bucket.keys();
    assert!(keys.iter().any(|key| key == "dags/daily_orders.py"), "DAGs deployed: {keys:?}");
    assert!(!keys.iter().any(|key| key.contains("gha-creds")), "the key file is never deployed: {keys:?}");
}
