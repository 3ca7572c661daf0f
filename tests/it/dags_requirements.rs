//! `dags_check.requirements`: dagship installs the file into a venv in its cache folder (keyed by the file's
//! content and the constraint files it names) and checks the DAGs with that venv's Python. The installs here are
//! offline (pip, no uv on the test machine's PATH); Airflow installed this way is covered in tests/it/container.rs.
use crate::common;

use std::path::Path;

use common::{Repo, Run, dagship_command, run_command};

fn repo_with_requirements(requirements: &str) -> Repo {
    let repo = Repo::new();
    repo.write(
        "dagship.yml",
        "dags_dir: dags\ndags_check:\n  requirements: requirements-dags.txt\nenvironments:\n  local: { platform: \
         local, bucket: \"file://.dagship/bucket\", branches: [main] }\n",
    )
    .write("dags/daily.py", "from airflow import DAG\n")
    .write("requirements-dags.txt", requirements)
    .write("constraints.txt", "# no pins\n");
    repo.commit("a DAG");
    repo
}

fn dags_check(repo: &Repo, cache: &Path) -> Run {
    let mut command = dagship_command(repo.path());
    // Only the venv's own tools: no uv on PATH, so the pip path is what runs.
    command.args(["dags", "check"]).env("DAGSHIP_CACHE_DIR", cache).env("PATH", "/usr/local/bin:/usr/bin:/bin");
    run_command(&mut command)
}

#[test]
fn requirements_are_installed_once_into_a_cached_venv_and_reinstalled_when_a_constraint_changes() {
    // No Airflow in the file: the venv is made, then the check says the venv cannot import Airflow.
    let repo = repo_with_requirements("-c constraints.txt\n");
    let cache = tempfile::tempdir().unwrap();
    let first = dags_check(&repo, cache.path());
    first.assert_code(2);
    assert!(first.stderr.contains("installing dags_check.requirements `requirements-dags.txt`"), "{}", first.stderr);
    assert!(first.stderr.contains("cannot import Airflow"), "{}", first.stderr);
    assert!(
        first.stderr.contains(&cache.path().join("venvs").display().to_string()),
        "the venv is named: {}",
        first.stderr
    );

    let second = dags_check(&repo, cache.path());
    second.assert_code(2);
    assert!(!second.stderr.contains("installing"), "the cached venv is reused: {}", second.stderr);

    repo.write("constraints.txt", "# now pinned differently\n");
    let third = dags_check(&repo, cache.path());
    assert!(third.stderr.contains("installing"), "a changed constraint file makes a new venv: {}", third.stderr);
    assert_eq!(std::fs::read_dir(cache.path().join("venvs")).unwrap().count(), 2);
}

#[test]
fn requirements_that_do_not_install_are_a_usage_error_naming_the_file() {
    let repo = repo_with_requirements("./no-such-package-folder\n");
    let cache = tempfile::tempdir().unwrap();
    let run = dags_check(&repo, cache.path());
    run.assert_code(2);
    assert!(run.stderr.contains("could not install dags_check.requirements `requirements-dags.txt`"), "{}", run.stderr);
    assert!(run.stderr.contains("no-such-package-folder"), "the installer's own message is kept: {}", run.stderr);
    // A half-made venv is never taken for a ready one.
    let again = dags_check(&repo, cache.path());
    assert!(again.stderr.contains("installing"), "{}", again.stderr);
}

#[test]
fn a_missing_requirements_file_is_a_usage_error_saying_what_to_put_in_it() {
    let repo = repo_with_requirements("");
    std::fs::remove_file(repo.path().join("requirements-dags.txt")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = dags_check(&repo, cache.path());
    run.assert_code(2);
    assert!(run.stderr.contains("cannot read dags_check.requirements `requirements-dags.txt`"), "{}", run.stderr);
    assert!(run.stderr.contains("apache-airflow"), "{}", run.stderr);
}
