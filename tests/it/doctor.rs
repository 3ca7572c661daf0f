//! `dagship doctor` end to end: every check on a repository `dagship init` configured (real git, real dbt on
//! DuckDB, real Airflow, buckets on the emulators, MWAA's control plane faked with wiremock), and each failure a
//! new user meets named with its fix: dbt missing, a bucket that cannot be read, MWAA not AVAILABLE.
use crate::common;

use std::process::Command;

use common::buckets::{Backend, Bucket};
use common::mwaa_fake::FakeMwaa;
use common::{Repo, Run, dagship_command, run_command};

use crate::init::path_with_airflow_and_dbt;

fn doctor(repo: &Repo, bucket: &Bucket, path: &str, args: &[&str]) -> Run {
    let mut command: Command = dagship_command(repo.path());
    bucket.configure(&mut command);
    command.arg("doctor").args(args).env("PATH", path).env("DO_NOT_TRACK", "1");
    run_command(&mut command)
}

/// The text with the run's varying parts (temp paths, commit ids, versions) replaced by names.
fn normalized(text: &str, repo: &Repo, bucket: &Bucket) -> String {
    let merge_base = repo.git(&["rev-parse", "main"]).trim().to_string();
    let mut text = text
        .replace(&repo.path().display().to_string(), "<repo>")
        .replace(&merge_base[..12], "<commit>")
        .replace(&bucket.name, "<bucket>")
        .replace(&common::dbt::dbt_bin_dir().display().to_string(), "<dbt-bin>");
    for (marker, end) in [("dbt-core ", " at"), ("Airflow ", " importable")] {
        if let Some(start) = text.find(marker) {
            let from = start + marker.len();
            let to = from + text[from..].find(end).unwrap();
            text.replace_range(from..to, "<version>");
        }
    }
    text
}

fn initialized(bucket: &Bucket) -> Repo {
    let repo = crate::init::real_layout();
    let env = format!("prod={}", bucket.url);
    common::run_dagship(repo.path(), &["init", "--env", &env]).assert_code(0);
    repo.commit("dagship init");
    repo
}

#[test]
fn doctor_passes_every_check_on_an_initialized_repository_and_writes_nothing_it_keeps() {
    let bucket = Bucket::new(Backend::Gcs);
    let repo = initialized(&bucket);
    let path = path_with_airflow_and_dbt(repo.scratch());
    let run = doctor(&repo, &bucket, &path, &["--write"]);
    run.assert_code(0);
    let text = normalized(&run.stdout, &repo, &bucket);
    let scratch = text.lines().find(|line| line.starts_with("✓ bucket write")).unwrap_or_default().to_string();
    assert!(scratch.contains("/airflow/.dagship/doctor-"), "{text}");
    assert_eq!(
        text.replace(&scratch, "✓ bucket write (prod): <scratch>"),
        "✓ config: <repo>/dagship.yml: valid under --strict\n\
         ✓ git history: full history; HEAD and `main` meet at <commit>\n\
         ✓ dbt (prod): dbt-core <version> at <dbt-bin>/dbt; profile `data_gcp` with target `dev`\n\
         ✓ airflow: Airflow <version> importable by `python3`\n\
         ✓ bucket URL (prod): bucket `<bucket>`, prefix `airflow/`\n\
         ✓ bucket read (prod): listed 0 objects under gs://<bucket>/airflow/.dagship/\n\
         ✓ bucket write (prod): <scratch>\n\
         7 passed, 0 failed, 0 skipped\n"
    );
    assert!(bucket.keys().is_empty(), "the scratch object was removed: {:?}", bucket.keys());
}

#[test]
fn doctor_names_the_fix_for_a_missing_dbt_and_an_airflow_it_cannot_import() {
    let bucket = Bucket::new(Backend::Gcs);
    let repo = initialized(&bucket);
    // No dbt, and a python3 without Airflow.
    let run = doctor(&repo, &bucket, "/usr/bin:/bin", &["--format", "json"]);
    run.assert_code(1);
    let json = run.json();
    assert_eq!(json["passed"], false);
    let checks = json["checks"].as_array().unwrap();
    let names: Vec<String> = checks
        .iter()
        .map(|check| format!("{} {}", check["check"].as_str().unwrap(), check["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            "config pass",
            "git history pass",
            "dbt fail",
            "airflow fail",
            "bucket URL pass",
            "bucket read pass",
            "bucket write skip"
        ]
    );
    let dbt = &checks[2];
    assert_eq!(dbt["environment"], "prod");
    assert!(dbt["detail"].as_str().unwrap().starts_with("dbt executable `dbt` not found on PATH"), "{dbt}");
    assert_eq!(
        dbt["fix"],
        "install dbt with the adapter of target `dev`: `pip install dbt-core dbt-duckdb` (or set `dbt.executable`); \
         then check the profile and target named above"
    );
    assert!(checks[3]["detail"].as_str().unwrap().contains("cannot import airflow"), "{}", checks[3]);
    assert!(checks[3]["fix"].as_str().unwrap().starts_with("point `dags_check.python` at a Python with your Airflow"));
}

#[test]
fn doctor_names_the_fix_for_a_bucket_it_cannot_read() {
    let bucket = Bucket::new(Backend::S3);
    let missing = format!("{}-missing", bucket.name);
    let mwaa = FakeMwaa::start("prod", &missing);
    let repo = crate::init::real_layout();
    let env = format!("prod=s3://{missing}/airflow");
    common::run_dagship(repo.path(), &["init", "--provider", "mwaa", "--env", &env]).assert_code(0);
    repo.commit("dagship init");
    let path = path_with_airflow_and_dbt(repo.scratch());
    let mut command = dagship_command(repo.path());
    bucket.configure(&mut command);
    command.args(["doctor", "--env", "prod"]).env("PATH", &path).env("AWS_ENDPOINT_URL_MWAA", mwaa.uri());
    let run = run_command(&mut command);
    run.assert_code(1);
    let read =
        run.stdout.lines().skip_while(|line| !line.starts_with("✗ bucket read (prod): ")).take(2).collect::<Vec<_>>();
    assert_eq!(read.len(), 2, "{}", run.stdout);
    assert!(read[0].contains(&format!("{}-missing", bucket.name)), "the bucket is named: {}", read[0]);
    assert_eq!(read[1], "    fix: check the bucket name in `environments.<name>.bucket` (and the endpoint)");
    assert!(run.stdout.ends_with("6 passed, 1 failed, 1 skipped\n"), "{}", run.stdout);
}

#[test]
fn doctor_fails_with_the_fix_when_the_mwaa_environment_is_not_available() {
    let bucket = Bucket::new(Backend::S3);
    let mwaa = FakeMwaa::start("prod", &bucket.name);
    let repo = crate::init::real_layout();
    common::run_dagship(repo.path(), &["init", "--provider", "mwaa", "--env", &format!("prod={}", bucket.url)])
        .assert_code(0);
    repo.commit("dagship init");
    let path = path_with_airflow_and_dbt(repo.scratch());
    let run_with = |status: &str| {
        mwaa.with(|environment| environment.status = status.into());
        let mut command = dagship_command(repo.path());
        bucket.configure(&mut command);
        command.args(["doctor", "--format", "json"]).env("PATH", &path).env("AWS_ENDPOINT_URL_MWAA", mwaa.uri());
        run_command(&mut command)
    };
    let mwaa_check = |run: &Run| {
        run.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|check| check["check"] == "MWAA environment")
            .cloned()
            .unwrap()
    };

    let available = run_with("AVAILABLE");
    available.assert_code(0);
    assert_eq!(mwaa_check(&available)["detail"], "`prod` is AVAILABLE");

    let failed = run_with("UPDATE_FAILED");
    failed.assert_code(1);
    let check = mwaa_check(&failed);
    assert_eq!(check["status"], "fail");
    assert_eq!(
        check["detail"],
        "`prod` is UPDATE_FAILED, not AVAILABLE: a deploy would wait (up to mwaa.wait_timeout) or be refused"
    );
    assert_eq!(
        check["fix"],
        "wait for the running update to finish, or repair `prod` in the MWAA console (`aws mwaa get-environment --name \
         prod` shows the last update's error)"
    );
}

#[test]
fn doctor_without_a_config_says_to_run_init() {
    let repo = Repo::new();
    repo.write("README.md", "x\n");
    repo.commit("first");
    let run = common::run_dagship(repo.path(), &["doctor"]);
    run.assert_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("✗ config: "), "{}", run.stdout);
    assert_eq!(lines[1], "    fix: run `dagship init` to write one from the repository, or pass --config");
    assert_eq!(lines[2], "0 passed, 1 failed, 0 skipped");
}

#[test]
fn doctor_names_the_fix_for_a_shallow_clone_without_the_default_branch() {
    let origin = Repo::new();
    origin.write("dagship.yml", "dags_dir: dags\ndefault_branch: main\n").write("dags/daily.py", "# daily\n");
    origin.commit("project");
    origin.checkout_new("feature", "main");
    origin.write("dags/weekly.py", "# weekly\n");
    origin.commit("a change");
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "feature"]);
    let run = common::run_dagship(clone.path(), &["doctor", "--format", "json"]);
    run.assert_code(1);
    let json = run.json();
    let history = json["checks"].as_array().unwrap().iter().find(|check| check["check"] == "git history").unwrap();
    assert_eq!(history["status"], "fail");
    assert_eq!(history["detail"], "the default branch `main` is not in this clone");
    assert_eq!(history["fix"], "fetch it (`git fetch origin main`), or set `default_branch` in dagship.yml");
}
