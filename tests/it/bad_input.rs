//! Bad input: each case is a clear message naming the file, line, key or value, and exit code 2.
use crate::common;

use common::{CONFIG, Repo, dagship_command, run_command, run_dagship};

fn repo_with_config(config: &str) -> Repo {
    let repo = Repo::new();
    repo.commit_files(&[("dagship.yml", config), ("a.py", "a")], "one");
    repo.commit_files(&[("b.py", "b")], "two");
    repo
}

/// Runs `config check` and `detect` on a bad config: both must refuse with the same located message.
fn assert_config_error(config: &str, expected: &[&str]) {
    let repo = repo_with_config(config);
    for args in [&["config", "check"][..], &["detect", "--base", "HEAD~1"][..]] {
        let run = run_dagship(repo.path(), args);
        run.assert_code(2);
        for needle in expected {
            assert!(run.stderr.contains(needle), "{args:?}: expected {needle:?} in stderr:\n{}", run.stderr);
        }
        assert!(run.stdout.is_empty(), "nothing on stdout for a failed run: {}", run.stdout);
    }
}

#[test]
fn missing_config() {
    let repo = Repo::new();
    repo.commit_files(&[("a.py", "a")], "one");
    let run = run_dagship(repo.path(), &["detect", "--all"]);
    run.assert_code(2);
    assert!(run.stderr.contains("dagship.yml not found"), "{}", run.stderr);
    assert!(run.stderr.contains("--config"), "says what to do: {}", run.stderr);
}

#[test]
fn yaml_syntax_error_names_line_and_column() {
    assert_config_error(
        "filters:\n  dbt: [\"a/**\"\n  x: 1\n",
        &["dagship.yml:3:3", "did not find expected ',' or ']', while parsing a flow sequence"],
    );
}

#[test]
fn wrong_type_names_the_key_path() {
    assert_config_error(
        "jobs:\n  roots: [\"jobs/**\"]\n  all_on_push: sometimes\n",
        &["dagship.yml:3:16", "jobs.all_on_push", "invalid type"],
    );
    assert_config_error("deploy:\n  max_delete: lots\n", &["dagship.yml:2:15", "deploy.max_delete", "\"10%\""]);
}

#[test]
fn unknown_environment_in_after() {
    assert_config_error(
        "environments:\n  prod:\n    platform: composer\n    bucket: gs://prod-dags\n    after: staging\n",
        &["dagship.yml:5:5", "environments.prod.after", "unknown environment `staging`", "known environments: prod"],
    );
}

#[test]
fn unknown_platform_and_bad_bucket_url() {
    assert_config_error(
        "environments:\n  prod: { platform: airflow, bucket: gs://p }\n",
        &["environments.prod.platform", "unknown variant `airflow`", "composer"],
    );
    assert_config_error(
        "environments:\n  prod: { platform: mwaa, bucket: \"gs://p\" }\n",
        &["dagship.yml:2:27", "environments.prod.bucket", "s3://BUCKET"],
    );
}

#[test]
fn invalid_glob_names_the_glob() {
    assert_config_error(
        "filters:\n  dbt:\n    - \"dbt/**\"\n    - \"models/[oops\"\n",
        &["dagship.yml:4:7", "filters.dbt[1]", "invalid glob `models/[oops`"],
    );
}

#[test]
fn after_loop_is_refused() {
    assert_config_error(
        "environments:\n  a: { platform: local, bucket: file://a, after: b }\n  b: { platform: local, bucket: file://b, after: a }\n",
        &["loop"],
    );
}

#[test]
fn unknown_keys_are_warnings_with_their_place() {
    let repo = repo_with_config(&format!("{CONFIG}\nfilterz: {{}}\njobs_extra: 1\n"));
    let run = run_dagship(repo.path(), &["config", "check", "--format", "json"]);
    run.assert_code(0);
    assert!(run.stderr.contains("dagship.yml:16:1: filterz: unknown key"), "{}", run.stderr);
    assert!(run.stderr.contains("jobs_extra: unknown key"), "{}", run.stderr);
    assert_eq!(run.json()["jobs"]["marker"], "tests");
}

#[test]
fn unknown_revision() {
    let repo = repo_with_config(CONFIG);
    let run = run_dagship(repo.path(), &["detect", "--base", "no-such-branch"]);
    run.assert_code(2);
    assert!(run.stderr.contains("unknown revision `no-such-branch`"), "{}", run.stderr);
    // A revision cannot pass for a git option.
    let run = run_dagship(repo.path(), &["detect", "--base=--output=/tmp/pwned"]);
    run.assert_code(2);
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn not_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dagship.yml"), CONFIG).unwrap();
    let run = run_dagship(dir.path(), &["detect", "--all"]);
    run.assert_code(2);
    assert!(run.stderr.contains("is not inside a git repository"), "{}", run.stderr);
}

#[test]
fn missing_range_flags() {
    let repo = repo_with_config(CONFIG);
    // Outside Actions a bare detect compares with the default branch (detect_ranges.rs); in a workflow it needs
    // a range.
    let run = run_command(dagship_command(repo.path()).arg("detect").env("GITHUB_ACTIONS", "true"));
    run.assert_code(2);
    assert!(run.stderr.contains("detect needs a range"), "{}", run.stderr);
    let run = run_dagship(repo.path(), &["detect", "--event", "push"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--before"), "{}", run.stderr);
}

#[test]
fn yaml_bomb_is_refused_quickly() {
    let bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nfilters: { x: *g }\n";
    let started = std::time::Instant::now();
    assert_config_error(bomb, &["dagship.yml"]);
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
}

#[test]
fn platform_settings_are_checked_where_they_apply() {
    assert_config_error(
        "environments:\n  prod:\n    platform: composer\n    bucket: gs://prod-dags\n    mwaa: { environment_name: x }\n",
        &["environments.prod.mwaa", "`mwaa` settings need `platform: mwaa`"],
    );
    assert_config_error(
        "environments:\n  prod:\n    platform: mwaa\n    bucket: s3://prod-dags\n    mwaa: { environment_name: \"1 bad\" }\n",
        &["environments.prod.mwaa.environment_name", "is not an MWAA environment name"],
    );
    assert_config_error(
        "environments:\n  prod:\n    platform: mwaa\n    bucket: s3://prod-dags\n    mwaa: { environment_name: x, keys: { plugins: dags/plugins.zip } }\n",
        &["environments.prod.mwaa.keys.plugins", "inside `dags/`"],
    );
    assert_config_error(
        "environments:\n  prod:\n    platform: composer\n    bucket: gs://prod-dags\n    verify: { airflow_url: \"https://x\", auth: bearer }\n",
        &["environments.prod.verify.token_env", "`auth: bearer` needs `token_env`"],
    );
    assert_config_error(
        "environments:\n  prod:\n    platform: composer\n    bucket: gs://prod-dags\n    verify: { airflow_url: \"https://x\", timeout: soon }\n",
        &["environments.prod.verify.timeout", "expected a duration"],
    );
}
