//! What detect reports: statuses, filters, the job matrix, the JSON contract and the GitHub outputs.
use crate::common;

use std::collections::BTreeMap;

use common::{CONFIG, Repo, dagship_command, run_command, run_dagship};

/// A data-repo history touching every case the matrix and filters must get right.
fn data_repo() -> (Repo, String) {
    let repo = Repo::new();
    let base = repo.commit_files(
        &[
            ("dagship.yml", CONFIG),
            ("orchestration/dags/daily.py", "dag"),
            ("orchestration/dags/README.md", "docs"),
            ("orchestration/dags/dbt/models/orders.sql", "select 1"),
            ("orchestration/dags/dbt/models/old_name.sql", "select 2 -- a model long enough to be a rename"),
            ("jobs/etl_jobs/external/brevo/main.py", "brevo"),
            ("jobs/etl_jobs/external/brevo/tests/test_main.py", "t"),
            ("jobs/etl_jobs/no_tests/main.py", "no tests here"),
            ("jobs/ml_jobs/a/b/c/d/deep_job/main.py", "deep"),
            ("jobs/ml_jobs/a/b/c/d/deep_job/tests/test_deep.py", "t"),
            ("jobs/ml_jobs/_template/main.py", "template"),
            ("jobs/ml_jobs/_template/tests/test_template.py", "t"),
            ("jobs/ml_jobs/retired/main.py", "old"),
            ("jobs/ml_jobs/retired/tests/test_retired.py", "t"),
            ("jobs/untouched/tests/test_u.py", "t"),
        ],
        "base",
    );
    repo.write("orchestration/dags/daily.py", "dag v2")
        .write("orchestration/dags/README.md", "more docs")
        .write("orchestration/dags/dbt/models/orders.sql", "select 10")
        .write("jobs/etl_jobs/external/brevo/main.py", "brevo v2")
        .write("jobs/etl_jobs/no_tests/main.py", "still no tests")
        .write("jobs/ml_jobs/a/b/c/d/deep_job/src/features/new.py", "new")
        .write("jobs/ml_jobs/_template/main.py", "template v2")
        .write("orchestration/dags/with space \"quoted\" é.py", "odd name")
        .rename("orchestration/dags/dbt/models/old_name.sql", "orchestration/dags/dbt/models/new_name.sql")
        .remove("jobs/ml_jobs/retired");
    repo.commit("the change");
    (repo, base)
}

#[test]
fn json_contract_snapshot() {
    let (repo, base) = data_repo();
    let run = run_dagship(repo.path(), &["detect", "--base", &base, "--format", "json"]);
    run.assert_code(0);
    let json = run.json();
    // Field order is part of the contract.
    let keys: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  \"").and_then(|rest| rest.split_once('"')).map(|(key, _)| key))
        .collect();
    assert_eq!(keys, ["base", "head", "files", "filters", "jobs", "has_jobs", "matrix"]);
    insta::assert_json_snapshot!("detect_contract", json, { ".base" => "[base]", ".head" => "[head]" });
}

#[test]
fn matrix_has_touched_jobs_at_any_depth_minus_deleted_and_ignored_ones() {
    let (repo, base) = data_repo();
    let json = run_dagship(repo.path(), &["detect", "--base", &base, "--format", "json"]).json();
    assert_eq!(json["jobs"], serde_json::json!(["jobs/etl_jobs/external/brevo", "jobs/ml_jobs/a/b/c/d/deep_job"]));
    assert_eq!(json["has_jobs"], true);
    assert_eq!(
        json["matrix"],
        serde_json::json!({"include": [
            {"job": "jobs/etl_jobs/external/brevo", "name": "brevo"},
            {"job": "jobs/ml_jobs/a/b/c/d/deep_job", "name": "deep_job"},
        ]})
    );
}

#[test]
fn filters_apply_exclusions_and_change_types() {
    let (repo, base) = data_repo();
    let json = run_dagship(repo.path(), &["detect", "--base", &base, "--format", "json"]).json();
    let orchestration = json["filters"]["orchestration"]["files"].as_array().unwrap();
    assert!(!orchestration.iter().any(|file| file.as_str().unwrap().ends_with(".md")), "{orchestration:?}");
    assert_eq!(orchestration.len(), 4);
    assert_eq!(
        json["filters"]["new_python"]["files"],
        serde_json::json!([
            "jobs/ml_jobs/a/b/c/d/deep_job/src/features/new.py",
            "orchestration/dags/with space \"quoted\" é.py"
        ])
    );
    assert_eq!(json["filters"]["dbt"]["changed"], true);
}

#[test]
fn empty_matrix_when_no_job_is_touched_and_all_jobs_on_push_when_configured() {
    let repo = Repo::new();
    let config = format!("{CONFIG}\n");
    let base = repo.commit_files(
        &[("dagship.yml", config.as_str()), ("jobs/a/tests/t.py", "t"), ("jobs/b/tests/t.py", "t")],
        "base",
    );
    repo.commit_files(&[("orchestration/dags/x.py", "x")], "dag only");
    let json = run_dagship(repo.path(), &["detect", "--base", &base, "--format", "json"]).json();
    assert_eq!(json["has_jobs"], false);
    assert_eq!(json["matrix"], serde_json::json!({"include": []}));

    let all_on_push = config.replace("  marker: tests", "  marker: tests\n  all_on_push: true");
    let before = repo.commit_files(&[("dagship.yml", all_on_push.as_str())], "test everything on push");
    repo.commit_files(&[("orchestration/dags/y.py", "y")], "another dag");
    let json = run_dagship(repo.path(), &["detect", "--event", "push", "--before", &before, "--format", "json"]).json();
    assert_eq!(json["jobs"], serde_json::json!(["jobs/a", "jobs/b"]));
    // A pull request still tests only what it touches.
    let json = run_dagship(repo.path(), &["detect", "--base", &before, "--format", "json"]).json();
    assert_eq!(json["jobs"], serde_json::json!([]));
}

#[test]
fn more_jobs_than_github_allows_is_an_error_unless_chunked() {
    let repo = Repo::new();
    repo.commit_files(&[("dagship.yml", CONFIG)], "config");
    for index in 0..300 {
        repo.write(&format!("jobs/j{index:03}/tests/test.py"), "t");
    }
    let head = repo.commit("300 jobs");
    let run = run_dagship(repo.path(), &["detect", "--base", "HEAD~1", "--head", &head, "--format", "json"]);
    run.assert_code(2);
    assert!(run.stderr.contains("jobs.chunk: true"), "{}", run.stderr);

    repo.write("dagship.yml", &CONFIG.replace("  marker: tests", "  marker: tests\n  chunk: true"));
    repo.commit("chunk");
    let run = run_dagship(repo.path(), &["detect", "--base", "HEAD~2", "--format", "json"]);
    run.assert_code(0);
    let include = run.json()["matrix"]["include"].as_array().unwrap().clone();
    assert_eq!(include.len(), 2);
    assert_eq!(include[0]["jobs"].as_array().unwrap().len() + include[1]["jobs"].as_array().unwrap().len(), 300);
}

/// Parses a `$GITHUB_OUTPUT` file the way the runner does: `name=value` lines and `name<<DELIM` blocks.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line.split_once('=').expect("name=value");
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

#[test]
fn hostile_file_names_cannot_forge_outputs_or_workflow_commands() {
    let repo = Repo::new();
    let base = repo.commit_files(&[("dagship.yml", CONFIG)], "config");
    let hostile = [
        "orchestration/dags/evil\nhas_jobs=true\n.py",
        "orchestration/dags/::error::pwned.py",
        "orchestration/dags/x\nghadelimiter_\n::set-output name=dbt::true",
    ];
    for name in hostile {
        repo.write(name, "boo");
    }
    repo.commit("hostile names");
    let output_file = repo.scratch().join("github_output");
    let summary_file = repo.scratch().join("summary.md");
    let run = run_command(
        dagship_command(repo.path())
            .args(["detect", "--base", &base])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file),
    );
    run.assert_code(0);
    // No stdout line, trimmed as the runner trims it, may start a workflow command.
    for line in run.stdout.lines() {
        assert!(!line.trim().starts_with("::"), "line could run a workflow command: {line:?}");
    }
    let outputs = parse_github_output(&std::fs::read_to_string(&output_file).unwrap());
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "base",
            "changed_files_count",
            "changes",
            "dbt",
            "has_jobs",
            "head",
            "jobs",
            "matrix",
            "new_python",
            "orchestration"
        ]
    );
    assert_eq!(outputs["has_jobs"], "false");
    assert_eq!(outputs["dbt"], "false");
    assert_eq!(outputs["orchestration"], "true");
    assert_eq!(outputs["changed_files_count"], "3");
    assert_eq!(outputs["changes"], r#"["new_python","orchestration"]"#);
    let summary = std::fs::read_to_string(&summary_file).unwrap();
    assert!(summary.contains("| orchestration | yes |"), "{summary}");
    assert!(!summary.contains("evil\n"), "newlines in names are escaped in the summary");
}

#[test]
fn text_format_lists_changes_for_people() {
    let (repo, base) = data_repo();
    let run = run_dagship(repo.path(), &["detect", "--base", &base]);
    run.assert_code(0);
    assert!(run.stdout.contains("changed files: 11"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("  R  orchestration/dags/dbt/models/old_name.sql -> orchestration/dags/dbt/models/new_name.sql"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  - jobs/ml_jobs/a/b/c/d/deep_job"), "{}", run.stdout);
}
