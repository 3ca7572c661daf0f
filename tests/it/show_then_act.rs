//! Show, then act: a deploy prints its whole plan (dbt state included) before the first write and writes exactly
//! what it showed; on a terminal it asks before deleting; a refusal is printed once and names what it refused;
//! a re-run of the same commit writes nothing, dbt's freshly stamped artifacts included.
use std::collections::BTreeMap;
use std::process::Command;

use crate::common::actions::parse_outputs;
use crate::common::buckets::{Backend, Bucket};
use crate::common::dbt::{DbtProject, PROJECT_DIR};
use crate::common::{Repo, Run, dagship_command, run_command};

/// Uploads + replacements and deletions per phase, from a plan's JSON.
fn per_phase(plan: &serde_json::Value) -> BTreeMap<String, (usize, usize)> {
    plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|phase| {
            let count = |field: &str| phase[field].as_array().unwrap().len();
            (
                phase["phase"].as_str().unwrap().to_string(),
                (count("uploads") + count("replacements"), count("deletions")),
            )
        })
        .collect()
}

/// Objects and deletions per phase, from a deploy report's steps (`upload dags`, `delete dags`).
fn written_per_phase(report: &serde_json::Value) -> BTreeMap<String, (usize, usize)> {
    let mut written: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for step in report["steps"].as_array().unwrap() {
        let (action, phase) = step["step"].as_str().unwrap().split_once(' ').unwrap();
        let entry = written.entry(phase.to_string()).or_default();
        let objects = step["objects"].as_u64().unwrap() as usize;
        if action == "upload" { entry.0 += objects } else { entry.1 += objects }
    }
    written
}

#[test]
fn plan_shows_the_dbt_state_phase_and_the_deploy_writes_per_phase_what_was_planned() {
    let project = DbtProject::new(Backend::S3, "");
    let plan = project.run(&["plan", "--env", "prod", "--dbt-artifacts", "build", "--format", "json"]);
    plan.assert_code(0);
    let planned = per_phase(&plan.json());
    assert!(planned.get("dbt_state").is_some_and(|(writes, _)| *writes > 0), "{planned:?}");
    let deploy = project.run(&["deploy", "--env", "prod", "--format", "json"]);
    deploy.assert_code(0);
    let report = deploy.json();
    let written = written_per_phase(&report);
    let planned_nonzero: BTreeMap<_, _> = planned.into_iter().filter(|(_, counts)| *counts != (0, 0)).collect();
    assert_eq!(planned_nonzero, written, "planned (plan) vs written (deploy steps)");
    assert_eq!(
        per_phase(&report["plan"]).into_iter().filter(|(_, c)| *c != (0, 0)).collect::<BTreeMap<_, _>>(),
        written
    );
}

#[test]
fn a_rerun_of_the_same_commit_with_dbt_writes_nothing_and_reports_not_deployed() {
    let project = DbtProject::new(Backend::S3, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    // The marker now records the artifacts' content hashes; dbt stamps new ones on the next build.
    let before = project.bucket.objects();
    let outputs = tempfile::NamedTempFile::new().unwrap();
    let mut command = project.command(&["deploy", "--env", "prod"]);
    command.env("GITHUB_OUTPUT", outputs.path());
    let rerun = run_command(&mut command);
    rerun.assert_code(0);
    assert_eq!(project.bucket.objects(), before, "the re-run wrote to the bucket");
    assert!(rerun.stdout.contains("is up to date with commit"), "{}", rerun.stdout);
    let outputs = parse_outputs(&std::fs::read_to_string(outputs.path()).unwrap());
    assert_eq!(outputs["deployed"], "false", "{outputs:?}");

    // A real model change still publishes the new manifest.
    project.repo.write(&format!("{PROJECT_DIR}/models/marts/customer_summary.sql"), "select 42 as customers\n");
    project.repo.commit("change a model");
    let changed = project.run(&["deploy", "--env", "prod", "--format", "json"]);
    changed.assert_code(0);
    let report = changed.json();
    let replaced: Vec<&str> = report["plan"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|phase| phase["phase"] == "dbt_state")
        .flat_map(|phase| phase["replacements"].as_array().unwrap())
        .map(|change| change["key"].as_str().unwrap())
        .collect();
    assert!(replaced.contains(&"data/target/manifest.json"), "{replaced:?}");
}

/// A repository with two DAGs deployed to a local bucket, then one of them removed and committed: the next
/// deploy's plan deletes `dags/b.py`.
fn deployed_then_one_dag_removed() -> (Repo, Bucket) {
    let bucket = Bucket::new(Backend::Local);
    let repo = Repo::new();
    repo.write("dagship.yml", &format!("environments:\n  prod: {{ platform: local, bucket: \"{}\" }}\n", bucket.url))
        .write("dags/a.py", "# a\n")
        .write("dags/b.py", "# b\n");
    repo.commit("two DAGs");
    run_command(dagship_command(repo.path()).args(["deploy", "--env", "prod"])).assert_code(0);
    repo.remove("dags/b.py");
    repo.commit("remove b");
    (repo, bucket)
}

/// Runs `dagship deploy --env prod` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn deploy_on_a_terminal(repo: &Repo, answer: &str, extra: &str) -> Run {
    let template = dagship_command(repo.path());
    let mut command = Command::new("script");
    let line = format!("'{}' deploy --env prod {extra}", env!("CARGO_BIN_EXE_dagship"));
    command.args(["-q", "-e", "-c", &line, "/dev/null"]).current_dir(repo.path()).env_remove("CI");
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("util-linux `script` runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap())
}

#[test]
fn on_a_terminal_a_deploy_that_deletes_asks_and_a_no_writes_nothing() {
    let (repo, bucket) = deployed_then_one_dag_removed();
    let before = bucket.objects();
    let declined = deploy_on_a_terminal(&repo, "n\n", "");
    declined.assert_code(3);
    let shown = declined.stdout.replace('\r', "");
    assert!(shown.contains("  - dags/b.py\n"), "the plan is shown before the question: {shown}");
    assert!(shown.contains("deletes 1 object from"), "{shown}");
    assert!(shown.contains("[y/N]"), "{shown}");
    assert!(shown.contains("not confirmed at the prompt"), "{shown}");
    assert_eq!(bucket.objects(), before, "a declined deploy wrote");

    let accepted = deploy_on_a_terminal(&repo, "y\n", "");
    accepted.assert_code(0);
    assert!(accepted.stdout.contains("[y/N]"), "{}", accepted.stdout);
    assert!(!bucket.objects().contains_key("dags/b.py"), "the confirmed deletion did not happen");
}

#[test]
fn yes_or_no_terminal_deploys_without_asking() {
    let (repo, bucket) = deployed_then_one_dag_removed();
    let run = deploy_on_a_terminal(&repo, "", "--yes");
    run.assert_code(0);
    assert!(!run.stdout.contains("[y/N]"), "{}", run.stdout);
    assert!(!bucket.objects().contains_key("dags/b.py"));
    // stdin not a terminal (a pipe, as in CI): no question either.
    let (repo, bucket) = deployed_then_one_dag_removed();
    let run = run_command(dagship_command(repo.path()).args(["deploy", "--env", "prod"]));
    run.assert_code(0);
    assert!(!run.stderr.contains("[y/N]"), "{}", run.stderr);
    assert!(!bucket.objects().contains_key("dags/b.py"));
}

/// The run's whole stdout and stderr with what changes from run to run replaced.
fn redacted(text: &str, repo: &Repo, bucket: &Bucket) -> String {
    let seconds = regex::Regex::new(r"in \d+\.\d+s").unwrap();
    let at = regex::Regex::new(r"at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let sha = regex::Regex::new(r"[0-9a-f]{40}").unwrap();
    let text = text.replace(&bucket.url, "[bucket]").replace(&repo.head(), "[commit]");
    let text = sha.replace_all(&text, "[earlier commit]");
    let text = seconds.replace_all(&text, "in [t]s");
    at.replace_all(&text, "at [time]").into_owned()
}

#[test]
fn deploy_output_is_the_plan_then_what_was_written() {
    let (repo, bucket) = deployed_then_one_dag_removed();
    repo.write("dags/c.py", "# c\n").write("dags/a.py", "# a, edited\n");
    repo.commit("add c, edit a");
    let run = run_command(dagship_command(repo.path()).args(["deploy", "--env", "prod", "--allow-deletes", "1"]));
    run.assert_code(0);
    insta::assert_snapshot!("deploy_plan_then_apply_stdout", redacted(&run.stdout, &repo, &bucket));
    insta::assert_snapshot!("deploy_plan_then_apply_stderr", redacted(&run.stderr, &repo, &bucket));
}

#[test]
fn a_refused_deploy_says_so_once_and_lists_the_deletions_it_refused() {
    let (repo, bucket) = deployed_then_one_dag_removed();
    let config =
        format!("environments:\n  prod: {{ platform: local, bucket: \"{}\" }}\ndeploy:\n  max_delete: 0\n", bucket.url);
    repo.write("dagship.yml", &config);
    repo.commit("no deletions allowed");
    let run = run_command(dagship_command(repo.path()).args(["deploy", "--env", "prod"]));
    run.assert_code(3);
    assert_eq!(run.stdout, "", "a refused deploy shows no plan");
    assert_eq!(run.stderr.matches("deploy.max_delete").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("`dags/b.py`"), "{}", run.stderr);
    insta::assert_snapshot!("refused_deploy_stderr", redacted(&run.stderr, &repo, &bucket));
}
