//! Which range detect picks for each event, on real git histories (including shallow clones over file://).
use crate::common;

use common::{CONFIG, Repo, ZEROS, run_dagship};

/// main: base commit; feature: one change; main moves on with another change.
fn diverged() -> Repo {
    let repo = Repo::new();
    repo.commit_files(&[("dagship.yml", CONFIG), ("a.py", "a"), ("b.py", "b")], "base");
    repo.checkout_new("feature", "main").commit_files(&[("a.py", "a2")], "feature change");
    repo.checkout("main").commit_files(&[("b.py", "b2")], "main moves on");
    repo.checkout("feature");
    repo
}

#[test]
fn pull_request_diffs_from_the_merge_base_but_explicit_range_is_two_dot() {
    let repo = diverged();
    let pr = run_dagship(repo.path(), &["detect", "--event", "pull_request", "--base-ref", "main", "--format", "json"]);
    pr.assert_code(0);
    assert_eq!(pr.file_list(), vec!["modified a.py"]);
    assert_eq!(pr.json()["base"], repo.git(&["merge-base", "main", "feature"]));
    // GitHub's other spelling for pull requests from forks, passed through from `github.event_name`.
    let target = run_dagship(
        repo.path(),
        &["detect", "--event", "pull_request_target", "--base-ref", "main", "--format", "json"],
    );
    assert_eq!(target.file_list(), vec!["modified a.py"]);

    let two_dot = run_dagship(repo.path(), &["detect", "--base", "main", "--head", "feature", "--format", "json"]);
    two_dot.assert_code(0);
    assert_eq!(two_dot.file_list(), vec!["modified a.py", "modified b.py"]);

    let three_dot = run_dagship(
        repo.path(),
        &["detect", "--base", "main", "--head", "feature", "--merge-base", "--format", "json"],
    );
    assert_eq!(three_dot.file_list(), vec!["modified a.py"]);
}

#[test]
fn push_diffs_before_to_after() {
    let repo = Repo::new();
    let first = repo.commit_files(&[("dagship.yml", CONFIG), ("a.py", "a")], "one");
    repo.commit_files(&[("b.py", "b")], "two");
    repo.commit_files(&[("c.py", "c")], "three");
    let run = run_dagship(repo.path(), &["detect", "--event", "push", "--before", &first, "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.file_list(), vec!["added b.py", "added c.py"]);
}

#[test]
fn new_branch_diffs_against_its_merge_base_with_the_default_branch() {
    let repo = diverged();
    let run = run_dagship(
        repo.path(),
        &["detect", "--event", "push", "--before", ZEROS, "--default-branch", "main", "--format", "json"],
    );
    run.assert_code(0);
    assert_eq!(run.file_list(), vec!["modified a.py"]);
}

#[test]
fn force_push_with_unreachable_before_falls_back_to_the_default_branch_and_says_so() {
    let repo = diverged();
    // The branch had a commit that the force push threw away: it exists, but is not an ancestor any more.
    let discarded = repo.commit_files(&[("discarded.py", "x")], "later rewritten");
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit_files(&[("rewritten.py", "y")], "the rewrite");
    let run = run_dagship(
        repo.path(),
        &["detect", "--event", "push", "--before", &discarded, "--default-branch", "main", "--format", "json"],
    );
    run.assert_code(0);
    assert_eq!(run.file_list(), vec!["modified a.py", "added rewritten.py"]);
    assert!(run.stderr.contains("force push"), "stderr: {}", run.stderr);

    // A `before` this clone never had (e.g. garbage-collected on the remote) takes the same way when the push
    // says it was forced (`dagship ci` reads the payload's `forced`).
    let missing = "1234567890123456789012345678901234567890";
    let run = run_dagship(
        repo.path(),
        &["detect", "--event", "push", "--before", missing, "--forced", "--default-branch", "main", "--format", "json"],
    );
    run.assert_code(0);
    assert_eq!(run.file_list(), vec!["modified a.py", "added rewritten.py"]);
    assert!(run.stderr.contains("no longer reachable"), "stderr: {}", run.stderr);
}

#[test]
fn a_before_commit_missing_from_the_repository_is_named_not_taken_for_a_force_push() {
    let repo = diverged();
    let typo = "1234567890123456789012345678901234567890";
    let run = run_dagship(
        repo.path(),
        &["detect", "--event", "push", "--before", typo, "--default-branch", "main", "--format", "json"],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("the commit before the push, {typo}, is not in this repository")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--forced"), "says how to mean a force push: {}", run.stderr);
    assert!(run.stdout.is_empty(), "no report on a guessed range: {}", run.stdout);
}

#[test]
fn since_deploy_deepens_a_shallow_clone_to_reach_the_deployed_commit() {
    let origin = Repo::new();
    let bucket = tempfile::tempdir().unwrap();
    let config = format!(
        "dags_dir: dags\nenvironments:\n  test: {{ platform: local, bucket: \"file://{}\" }}\n",
        bucket.path().display()
    );
    origin.commit_files(&[("dagship.yml", &config), ("dags/daily.py", "# daily\n")], "project");
    run_dagship(origin.path(), &["deploy", "--env", "test"]).assert_code(0);
    let deployed = origin.head();
    for index in 0..80 {
        origin.commit_files(&[(&format!("dags/d{index}.py"), "# d\n")], "more DAGs");
    }
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "main"]);
    let run = run_dagship(clone.path(), &["detect", "--since-deploy", "test", "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.json()["base"], deployed, "the deployed commit, not a full run: {}", run.stderr);
    assert_eq!(run.file_list().len(), 80);
    assert!(run.stderr.contains("shallow clone: fetched"), "{}", run.stderr);
}

#[test]
fn dags_check_changed_only_deepens_a_shallow_clone_like_detect() {
    let origin = long_history();
    origin.checkout("feature");
    let airflow = common::airflow_python();
    let config = format!("{CONFIG}dags_check:\n  python: \"{airflow}\"\n");
    origin.commit_files(
        &[
            ("dagship.yml", &config),
            ("orchestration/dags/weekly.py", "from airflow import DAG\nimport no_such_module_anywhere\n"),
        ],
        "a broken DAG",
    );
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "feature"]);
    let run =
        run_dagship(clone.path(), &["dags", "check", "--changed-only", "--base", "origin/main", "--format", "json"]);
    // The broken DAG the feature added is found and checked (exit 1), from the real merge-base.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("orchestration/dags/weekly.py"), "{}", run.stdout);
    assert!(run.stderr.contains("shallow clone: fetched"), "{}", run.stderr);
}

#[test]
fn first_commit_reports_every_file_as_added() {
    let repo = Repo::new();
    repo.commit_files(&[("dagship.yml", CONFIG), ("dags/x.py", "x"), ("jobs/j/tests/t.py", "t")], "first");
    let run = run_dagship(repo.path(), &["detect", "--event", "push", "--before", ZEROS, "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.file_list(), vec!["added dags/x.py", "added dagship.yml", "added jobs/j/tests/t.py"]);
    assert_eq!(run.json()["jobs"], serde_json::json!(["jobs/j"]));
}

/// An origin whose main has 150 commits and whose feature branch adds 120 more after forking at main~50.
fn long_history() -> Repo {
    let origin = Repo::new();
    origin.commit_files(&[("dagship.yml", CONFIG)], "config");
    for index in 0..150 {
        origin.commit_files(&[(&format!("main/{index}.txt"), "m")], "main work");
    }
    origin.checkout_new("feature", "main~50");
    for index in 0..120 {
        origin.commit_files(&[(&format!("feature/{index}.txt"), "f")], "feature work");
    }
    origin.checkout("main");
    origin
}

#[test]
fn shallow_clone_deepens_until_the_merge_base_is_found() {
    let origin = long_history();
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "feature"]);
    assert_eq!(clone.git(&["rev-parse", "--is-shallow-repository"]), "true");

    let run =
        run_dagship(clone.path(), &["detect", "--event", "pull_request", "--base-ref", "main", "--format", "json"]);
    run.assert_code(0);
    let files = run.file_list();
    assert_eq!(files.len(), 120, "only the feature's own files: {files:?}");
    assert!(files.iter().all(|file| file.starts_with("added feature/")));
    assert!(run.stderr.contains("shallow clone: fetched"), "stderr: {}", run.stderr);
    assert_eq!(run.json()["base"], origin.git(&["merge-base", "main", "feature"]));
}

#[test]
fn shallow_clone_without_fetching_fails_naming_the_commits() {
    let origin = long_history();
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "feature"]);
    clone.git(&["fetch", "-q", "--depth=1", "origin", "+refs/heads/main:refs/remotes/origin/main"]);
    let run = run_dagship(clone.path(), &["detect", "--event", "pull_request", "--base-ref", "main", "--no-fetch"]);
    run.assert_code(2);
    let main_tip = origin.git(&["rev-parse", "main"]);
    assert!(run.stderr.contains("cannot find a merge-base"), "stderr: {}", run.stderr);
    assert!(run.stderr.contains(&main_tip), "names the commit: {}", run.stderr);
    assert!(run.stderr.contains("fetch-depth: 0"), "says what to do: {}", run.stderr);
}

#[test]
fn shallow_push_deepens_to_reach_before() {
    let origin = long_history();
    let clone = Repo::clone_from(&origin, &["--depth", "1", "--branch", "feature"]);
    let before = origin.git(&["rev-parse", "feature~100"]);
    let run = run_dagship(clone.path(), &["detect", "--event", "push", "--before", &before, "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.file_list().len(), 100);
    assert_eq!(run.json()["base"], before);
}

#[test]
fn unrelated_histories_fail_clearly() {
    let repo = Repo::new();
    repo.commit_files(&[("dagship.yml", CONFIG)], "one");
    repo.git(&["checkout", "-q", "--orphan", "other"]);
    repo.commit_files(&[("x.py", "x")], "unrelated");
    let run = run_dagship(repo.path(), &["detect", "--event", "pull_request", "--base-ref", "main"]);
    run.assert_code(2);
    assert!(run.stderr.contains("unrelated"), "stderr: {}", run.stderr);
}

/// A bare `dagship detect` on a laptop answers "what did my branch change": from HEAD's merge-base with the
/// default branch (origin/HEAD, else the one of main/master that exists), and says which base it used.
#[test]
fn bare_detect_compares_with_the_default_branch_merge_base_and_names_it() {
    let repo = diverged();
    let local = run_dagship(repo.path(), &["detect", "--format", "json"]);
    local.assert_code(0);
    assert_eq!(local.file_list(), vec!["modified a.py"]);
    assert_eq!(local.json()["base"], repo.git(&["merge-base", "main", "feature"]));
    assert!(local.stderr.contains("assuming `main`"), "{}", local.stderr);
    let text = run_dagship(repo.path(), &["detect"]);
    text.assert_code(0);
    assert!(text.stdout.contains("(no range given: from its merge-base with `main`)"), "{}", text.stdout);

    // A clone knows the remote's default branch (origin/HEAD): no guess, no notice.
    repo.checkout("main");
    repo.git(&["branch", "-m", "main", "trunk"]);
    let clone = Repo::clone_from(&repo, &[]);
    clone.git(&["checkout", "-q", "feature"]);
    let cloned = run_dagship(clone.path(), &["detect"]);
    cloned.assert_code(0);
    assert!(cloned.stdout.contains("from its merge-base with `trunk`"), "{}", cloned.stdout);
    assert!(cloned.stdout.contains("\n  M  a.py\n"), "{}", cloned.stdout);
    assert!(!cloned.stderr.contains("assuming"), "{}", cloned.stderr);

    // No origin/HEAD and neither main nor master: an error with the fix, not a guess.
    let bare = run_dagship(repo.path(), &["detect"]);
    bare.assert_code(2);
    assert!(bare.stderr.contains("cannot tell the default branch: pass --default-branch"), "{}", bare.stderr);
}

/// In a workflow a range is always given: a bare detect there is a usage error, never a guess.
#[test]
fn bare_detect_in_actions_still_needs_a_range() {
    let repo = diverged();
    let run = common::run_command(common::dagship_command(repo.path()).args(["detect"]).env("GITHUB_ACTIONS", "true"));
    run.assert_code(2);
    assert!(run.stderr.contains("detect needs a range"), "{}", run.stderr);
}
