//! Strict config: a misspelt key is a warning naming its place and the closest valid key, an error under
//! `--strict` and `dagship ci`; `dagship.yaml` is used with a notice; bucket names follow the provider's rules and
//! a "DAGs folder" URL gets a hint. Every refusal exits 2 and writes nothing.
use crate::common;

use common::actions::{push, run_ci};
use common::github::GitHub;
use common::{Repo, ZEROS, dagship_command, run_dagship};

/// `environments.prod` with `branch` for `branches`, deploying to a local bucket under the repository's scratch
/// dir (so a refused deploy can be seen to have written nothing).
fn misspelt_config(bucket: &std::path::Path) -> String {
    format!(
        "dags_dir: dags\nenvironments:\n  prod:\n    platform: local\n    bucket: \"file://{}\"\n    branch: [main]\n",
        bucket.display()
    )
}

/// stderr with the repository root's path left out, so whole lines can be compared.
fn relative(repo: &Repo, stderr: &str) -> String {
    let root = repo.git(&["rev-parse", "--show-toplevel"]);
    stderr.replace(&format!("{}/", root.trim()), "")
}

fn repo_with(file_name: &str, config: &str) -> Repo {
    let repo = Repo::new();
    repo.commit_files(&[(file_name, config), ("dags/a.py", "a = 1\n")], "one");
    repo
}

const MISSPELT_LINE: &str = "dagship.yml:6:5: environments.prod.branch: unknown key; did you mean `branches`?";

#[test]
fn a_misspelt_key_is_a_warning_naming_its_place_and_the_closest_key() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = repo_with("dagship.yml", &misspelt_config(&scratch.path().join("bucket")));
    let run = run_dagship(repo.path(), &["config", "check"]);
    run.assert_code(0);
    assert_eq!(relative(&repo, &run.stderr), format!("warning: {MISSPELT_LINE}\ndagship.yml: valid (1 warning)\n"));
}

#[test]
fn strict_refuses_a_misspelt_key_in_config_check_plan_deploy_and_ci_writing_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let bucket = scratch.path().join("bucket");
    let repo = repo_with("dagship.yml", &misspelt_config(&bucket));
    let expected = format!(
        "error: {MISSPELT_LINE}\n1 problem in the config: `dagship ci` and `--strict` refuse what other commands \
         warn about\n"
    );
    for args in [
        &["config", "check", "--strict"][..],
        &["plan", "-e", "prod", "--strict"][..],
        &["deploy", "-e", "prod", "--strict"][..],
    ] {
        let run = run_dagship(repo.path(), args);
        run.assert_code(2);
        assert_eq!(relative(&repo, &run.stderr), expected, "{args:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    assert!(!bucket.exists(), "nothing written to the bucket");

    // `dagship ci` is always strict: a push to main must not pass with the environment silently unmapped.
    let github = GitHub::start();
    let head = repo.head();
    let ci = run_ci(
        dagship_command(repo.path()),
        "push",
        &push("refs/heads/main", ZEROS, &head, false),
        &github.uri(),
        &head,
    );
    ci.run.assert_code(2);
    assert!(ci.run.stderr.contains(MISSPELT_LINE), "{}", ci.run.stderr);
    assert!(!bucket.exists(), "ci wrote nothing to the bucket");
}

#[test]
fn dagship_yaml_is_used_with_a_notice() {
    let repo = repo_with("dagship.yaml", "dags_dir: dags\n");
    let run = run_dagship(repo.path(), &["config", "check"]);
    run.assert_code(0);
    assert_eq!(
        relative(&repo, &run.stderr),
        "notice: using dagship.yaml: dagship.yml not found (rename the file to silence this)\n\
         dagship.yaml: valid (0 warnings)\n"
    );
}

#[test]
fn bucket_names_break_no_provider_rule() {
    for (bucket, rule) in [
        (
            "gs://My_Bucket",
            "`My_Bucket` is not a GCS bucket name: use only lowercase letters, digits, `-`, `_` and `.`",
        ),
        (
            "s3://my_bucket",
            "`my_bucket` is not an S3 bucket name: use only lowercase letters, digits, `-` and `.` (no uppercase, no `_`)",
        ),
        ("gs://ab", "`ab` is not a GCS bucket name: it must be 3 to 63 characters long"),
    ] {
        let platform = if bucket.starts_with("gs") { "composer" } else { "mwaa" };
        let repo = repo_with(
            "dagship.yml",
            &format!("environments:\n  prod:\n    platform: {platform}\n    bucket: {bucket}\n"),
        );
        let run = run_dagship(repo.path(), &["config", "check"]);
        run.assert_code(2);
        let expected = format!("error: dagship.yml:4:5: environments.prod.bucket: {rule}");
        let stderr = relative(&repo, &run.stderr);
        assert!(stderr.starts_with(&expected), "expected {expected:?}, got:\n{stderr}");
    }
}

#[test]
fn a_dags_folder_url_gets_a_hint_and_fails_under_strict() {
    let config = "environments:\n  prod: { platform: composer, bucket: \"gs://us-central1-prod-1a2b-bucket/dags\" }\n";
    let repo = repo_with("dagship.yml", config);
    let hint = "dagship.yml:2:31: environments.prod.bucket: the URL ends in `/dags`: dagship deploys the DAGs folder \
                to `<bucket URL>/dags/`, so objects would land under `dags/dags/`; use the environment's bucket URL, \
                `gs://us-central1-prod-1a2b-bucket`";
    let run = run_dagship(repo.path(), &["config", "check"]);
    run.assert_code(0);
    let stderr = relative(&repo, &run.stderr);
    assert!(stderr.starts_with(&format!("warning: {hint}\n")), "{stderr}");
    let strict = run_dagship(repo.path(), &["config", "check", "--strict"]);
    strict.assert_code(2);
    let stderr = relative(&repo, &strict.stderr);
    assert!(stderr.starts_with(&format!("error: {hint}\n")), "{stderr}");
}
