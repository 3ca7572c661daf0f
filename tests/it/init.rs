//! `dagship init` end to end: on a fresh copy of examples/ and on a repository laid out like a real one (DAGs
//! under orchestration/dags, the dbt project inside the DAGs folder, jobs under jobs/etl_jobs and jobs/ml_jobs),
//! the config it writes passes `config check --strict`, its workflows pass zizmor, and the pull request flow
//! (`dagship ci` on a pull_request event) runs on it against a bucket on the GCS emulator with real dbt.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::actions::{REPOSITORY, pull_request, run_ci};
use common::buckets::{Backend, Bucket};
use common::github::GitHub;
use common::{Repo, Run, airflow_python, copy_tree, dagship_command, run_command, run_dagship};

const WORKFLOWS: [&str; 3] = [
    ".github/workflows/dagship-pull-request.yml",
    ".github/workflows/dagship-deploy.yml",
    ".github/workflows/dagship-manual.yml",
];

/// The zizmor the test script installs (scripts/test.sh exports its path).
fn zizmor() -> PathBuf {
    let path = std::env::var("DAGSHIP_TEST_ZIZMOR").unwrap_or_else(|_| {
        panic!("DAGSHIP_TEST_ZIZMOR is not set: run the tests through scripts/test.sh, which installs zizmor")
    });
    let path = PathBuf::from(path);
    assert!(path.is_file(), "DAGSHIP_TEST_ZIZMOR={} is not a file", path.display());
    path
}

fn assert_zizmor_accepts(root: &Path) {
    let output = Command::new(zizmor())
        .args(["--offline", "--min-severity", "low"])
        .args(WORKFLOWS)
        .current_dir(root)
        .output()
        .expect("run zizmor");
    assert!(
        output.status.success(),
        "zizmor refused the generated workflows:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A folder whose `python3` is the test Airflow's interpreter (a wrapper: a venv's Python must be started from
/// its own path), first on PATH, then the test dbt.
pub(crate) fn path_with_airflow_and_dbt(scratch: &Path) -> String {
    let bin = scratch.join("airflow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("python3");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' \"$@\"\n", airflow_python())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), common::dbt::path_with_dbt())
}

/// dagship in the repository, with the bucket's emulator, the test dbt, and the test Airflow as `python3` (what
/// `dags_check.python` defaults to).
fn command(repo: &Repo, bucket: &Bucket, args: &[&str]) -> Command {
    let mut command = dagship_command(repo.path());
    bucket.configure(&mut command);
    command.args(args).env("PATH", path_with_airflow_and_dbt(repo.scratch())).env("DO_NOT_TRACK", "1");
    command
}

fn init(repo: &Repo, bucket: &Bucket, extra: &[&str]) -> Run {
    let env = format!("prod={}", bucket.url);
    let mut args = vec!["init", "--env", env.as_str()];
    args.extend_from_slice(extra);
    run_command(&mut command(repo, bucket, &args))
}

/// The pull request flow on the repository init configured: a branch editing `edits`, checked by `dagship ci`
/// as the Action runs it (no token: no comment).
fn pull_request_check(repo: &Repo, bucket: &Bucket, edits: &[(&str, &str)]) -> common::actions::CiRun {
    repo.checkout_new("feature", "main");
    for (path, content) in edits {
        repo.write(path, content);
    }
    let head = repo.commit("a change");
    let github = GitHub::start();
    let ci = run_ci(
        command(repo, bucket, &[]),
        "pull_request",
        &pull_request(3, "main", Some(REPOSITORY)),
        &github.uri(),
        &head,
    );
    ci.run.assert_code(0);
    assert_eq!(ci.output("mode"), "check", "{}", ci.run.stderr);
    assert_eq!(ci.output("environment"), "prod");
    ci
}

#[test]
fn init_on_the_examples_writes_a_strict_config_and_workflows_whose_pull_request_flow_runs() {
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    std::fs::remove_file(repo.path().join("dagship.yml")).unwrap();
    std::fs::remove_dir_all(repo.path().join("workflows")).unwrap();
    repo.commit("the example repository, without dagship's files");
    let bucket = Bucket::new(Backend::Gcs);

    let run = init(&repo, &bucket, &[]);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "Found:\n  DAGs folder       orchestration/dags\n  plugins folder    orchestration/plugins\n  \
         dbt project       orchestration/dags/dbt_project (profile `example_shop`)\n  \
         job folders       3 (jobs/etl_jobs/external/brevo, jobs/etl_jobs/internal/cleanup, jobs/ml_jobs/_template)\n  \
         exclude file      orchestration/dags/.rsyncignore\n  airflowignore     orchestration/dags/.airflowignore\n  \
         Airflow pins      orchestration/requirements-dags.txt\n  workflows         none\n\
         Wrote:\n  dagship.yml\n  .github/workflows/dagship-pull-request.yml\n  .github/workflows/dagship-deploy.yml\n  \
         .github/workflows/dagship-manual.yml\n\
         Next:\n  pin your-org/dagship in the workflows to the release commit you reviewed, and set the variables they \
         name\n  dagship doctor    checks the config, git, dbt, Airflow and each bucket\n"
    );
    let strict = run_dagship(repo.path(), &["--strict", "config", "check", "--format", "json"]);
    strict.assert_code(0);
    let config = strict.json();
    assert_eq!(config["dags_dir"], "orchestration/dags");
    assert_eq!(config["dbt"]["project_dir"], "orchestration/dags/dbt_project");
    assert_eq!(config["jobs"]["ignore"], serde_json::json!(["jobs/ml_jobs/_template"]));
    assert_eq!(config["deploy"]["exclude_from"], "orchestration/dags/.rsyncignore");
    assert_eq!(config["dags_check"]["requirements"], "orchestration/requirements-dags.txt");
    assert_eq!(config["environments"]["prod"]["dbt_target"], "prod");
    assert_eq!(config["environments"]["prod"]["branches"], serde_json::json!(["main"]));
    assert_zizmor_accepts(repo.path());
    // The pull request check imports the DAGs (impact of the dbt change) with the Airflow of
    // `dags_check.requirements`, which it installs from the network; this machine has none, so the test points
    // the check at the Airflow the test script installed instead.
    let written = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    let requirements = "  requirements: \"orchestration/requirements-dags.txt\"\n";
    assert!(written.contains(requirements), "{written}");
    let python = format!("  python: \"{}\"\n", airflow_python());
    std::fs::write(repo.path().join("dagship.yml"), written.replace(requirements, &python)).unwrap();
    repo.commit("dagship init");
    let doctor = run_command(&mut command(&repo, &bucket, &["doctor", "--write"]));
    doctor.assert_code(0);
    assert!(doctor.stdout.ends_with("7 passed, 0 failed, 0 skipped\n"), "{}", doctor.stdout);

    let ci = pull_request_check(
        &repo,
        &bucket,
        &[
            ("orchestration/dags/dbt_project/models/marts/customer_orders.sql", "select 1 as customer_id\n"),
            ("jobs/etl_jobs/external/brevo/main.py", "def export(limit):\n    return limit\n"),
        ],
    );
    assert_eq!(ci.output("jobs"), r#"["jobs/etl_jobs/external/brevo"]"#);
    assert_eq!(ci.output("dbt_changed"), "true", "{}", ci.run.stderr);
    assert_eq!(ci.output("dbt_mode"), "full", "no state in the new bucket yet");
}

/// A repository shaped like the ones dagship is for: DAGs under orchestration/dags with the dbt project inside
/// the DAGs folder, job folders two levels down under jobs/etl_jobs and jobs/ml_jobs.
pub(crate) fn real_layout() -> Repo {
    let repo = Repo::new();
    let dbt = "orchestration/dags/data_gcp_dbt";
    repo.write(
        "orchestration/dags/jobs/import/daily_import.py",
        "from datetime import datetime\nfrom airflow import DAG\n\nwith DAG('daily_import', start_date=datetime(2026, 1, \
         1), schedule=None):\n    pass\n",
    )
    .write("orchestration/dags/common/config.py", "ENV = 'prod'\n")
    .write("orchestration/plugins/helpers.py", "def helper(): pass\n")
    .write(&format!("{dbt}/dbt_project.yml"), "name: data_gcp\nversion: \"1.0.0\"\nconfig-version: 2\nprofile: data_gcp\n")
    .write(
        &format!("{dbt}/profiles.yml"),
        "data_gcp:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/dev.duckdb\n      \
         schema: dev\n",
    )
    .write(&format!("{dbt}/models/orders.sql"), "select 1 as order_id\n")
    .write("jobs/etl_jobs/external/brevo/main.py", "def export(): return 1\n")
    .write("jobs/etl_jobs/external/brevo/tests/test_main.py", "def test(): pass\n")
    .write("jobs/ml_jobs/scoring/main.py", "def score(): return 1\n")
    .write("jobs/ml_jobs/scoring/tests/test_scoring.py", "def test(): pass\n")
    .write("tests/test_repository.py", "def test(): pass\n")
    .write("README.md", "# data platform\n");
    repo.commit("the repository");
    repo
}

#[test]
fn init_on_a_real_layout_finds_the_dags_dbt_inside_them_and_the_jobs() {
    let repo = real_layout();
    let bucket = Bucket::new(Backend::Gcs);
    init(&repo, &bucket, &[]).assert_code(0);
    let written = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    for expected in [
        "dags_dir: \"orchestration/dags\"\n",
        "plugins_dir: \"orchestration/plugins\"\n",
        "  project_dir: \"orchestration/dags/data_gcp_dbt\"\n",
        "  dbt: [\"orchestration/dags/data_gcp_dbt/**\"]\n",
        "  roots: [\"jobs/**\"]\n",
        "# 2 job folders with tests found",
        "    dbt_target: \"dev\"\n",
        "# dags_check:\n",
    ] {
        assert!(written.contains(expected), "dagship.yml lacks {expected:?}:\n{written}");
    }
    run_dagship(repo.path(), &["--strict", "config", "check"]).assert_code(0);
    assert_zizmor_accepts(repo.path());
    repo.commit("dagship init");

    let ci = pull_request_check(
        &repo,
        &bucket,
        &[
            ("orchestration/dags/data_gcp_dbt/models/orders.sql", "select 2 as order_id\n"),
            ("jobs/ml_jobs/scoring/main.py", "def score(): return 2\n"),
        ],
    );
    assert_eq!(ci.output("jobs"), r#"["jobs/ml_jobs/scoring"]"#);
    assert_eq!(ci.output("changes"), r#"["dbt","jobs_code","orchestration"]"#);
    assert_eq!(ci.output("modified_models"), r#"["orders"]"#, "{}", ci.run.stderr);
}

#[test]
fn init_refuses_to_replace_any_file_without_force_and_writes_nothing() {
    let repo = real_layout();
    let bucket = Bucket::new(Backend::Gcs);
    repo.write(".github/workflows/dagship-deploy.yml", "name: ours\n");
    let refused = init(&repo, &bucket, &[]);
    refused.assert_code(3);
    assert_eq!(
        refused.stderr,
        "error: .github/workflows/dagship-deploy.yml already exists; nothing was written: pass --force to replace it \
         (and the other files init writes)\n"
    );
    assert!(!repo.path().join("dagship.yml").exists(), "nothing written before the refusal");
    assert!(!repo.path().join(WORKFLOWS[0]).exists());

    let forced = init(&repo, &bucket, &["--force"]);
    forced.assert_code(0);
    assert!(forced.stdout.contains("  .github/workflows/dagship-deploy.yml (replaced)\n"), "{}", forced.stdout);
    assert!(forced.stdout.contains("  workflows         .github/workflows/dagship-deploy.yml\n"), "{}", forced.stdout);
    let again = init(&repo, &bucket, &[]);
    again.assert_code(3);
    assert!(again.stderr.starts_with("error: dagship.yml already exists"), "{}", again.stderr);
}

#[test]
fn init_for_mwaa_writes_environments_chained_by_hand_and_refuses_a_foreign_url() {
    let repo = real_layout();
    let run = run_dagship(
        repo.path(),
        &["init", "--provider", "mwaa", "--env", "stg=s3://shop-stg-airflow", "--env", "prod=s3://shop-prod-airflow"],
    );
    run.assert_code(0);
    let strict = run_dagship(repo.path(), &["--strict", "config", "check", "--format", "json"]);
    strict.assert_code(0);
    let config = strict.json();
    assert_eq!(config["environments"]["stg"]["platform"], "mwaa");
    assert_eq!(config["environments"]["stg"]["mwaa"]["environment_name"], "stg");
    assert_eq!(config["environments"]["prod"]["branches"], serde_json::json!([]), "only the first deploys on merge");
    assert_zizmor_accepts(repo.path());
    let manual = std::fs::read_to_string(repo.path().join(WORKFLOWS[2])).unwrap();
    assert!(manual.contains("        options: [stg, prod]\n"), "{manual}");
    assert!(manual.contains("      rollback-to:\n"), "{manual}");
    assert!(manual.contains("aws-actions/configure-aws-credentials@"), "{manual}");

    let other = Repo::new();
    let wrong = run_dagship(other.path(), &["init", "--provider", "mwaa", "--env", "prod=gs://composer-bucket"]);
    wrong.assert_code(2);
    assert_eq!(
        wrong.stderr,
        "error: --env `prod=gs://composer-bucket`: a MWAA (s3://) environment's bucket starts with s3:// (or file:// for \
         a local folder)\n"
    );
    assert!(!other.path().join("dagship.yml").exists());
}
