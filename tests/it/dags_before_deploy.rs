//! `dags_check.before_deploy`: a deploy imports the commit's DAGs first, refuses on an import error with nothing
//! written, and keeps the DAG ids per file in its ledger record, which a pull request's check then compares with.
use crate::common;

use common::actions::{REPOSITORY, pull_request, push, run_ci};
use common::{Repo, airflow_python, dagship_command, run_dagship};
use serde_json::{Value, json};

fn dag(dag_ids: &[&str]) -> String {
    let dags: String = dag_ids
        .iter()
        .map(|id| {
            format!(
                "with DAG(dag_id=\"{id}\", start_date=datetime(2024, 1, 1), schedule=None):\n    \
                 EmptyOperator(task_id=\"t\")\n"
            )
        })
        .collect();
    format!(
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.providers.standard.operators.empty import \
         EmptyOperator\n\n{dags}"
    )
}

/// A repository deploying `dags/` to a file:// bucket inside it; `before_deploy` and `python` as given.
fn repo(before_deploy: Option<bool>, python: &str) -> Repo {
    let key = before_deploy.map(|on| format!("  before_deploy: {on}\n")).unwrap_or_default();
    let repo = Repo::new();
    repo.write(
        "dagship.yml",
        &format!(
            "dags_dir: dags\ndags_check:\n  python: \"{python}\"\n{key}environments:\n  local: {{ platform: local, \
             bucket: \"file://.dagship/bucket\", branches: [main] }}\n"
        ),
    )
    .write(".gitignore", ".dagship/\n");
    repo
}

fn records(repo: &Repo) -> Vec<Value> {
    let history = repo.path().join(".dagship/bucket/.dagship/history");
    let Ok(entries) = std::fs::read_dir(&history) else { return Vec::new() };
    entries.map(|entry| serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap()).collect()
}

/// Every file under the bucket folder (objects, lock, marker, ledger alike).
fn bucket_files(repo: &Repo) -> Vec<String> {
    let root = repo.path().join(".dagship/bucket");
    if !root.exists() {
        return Vec::new();
    }
    walk(&root).into_iter().map(|path| path.strip_prefix(&root).unwrap().display().to_string()).collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_deploy_with_before_deploy_records_the_dag_ids_per_file_and_pull_requests_compare_with_them() {
    let repo = repo(Some(true), &airflow_python());
    repo.write("README.md", "x\n");
    let first = repo.commit("start");
    repo.write("dags/a.py", &dag(&["a"])).write("dags/b.py", &dag(&["b", "b_extra"]));
    let head = repo.commit("DAGs");
    // The deploy path of `dagship ci`: a push to the mapped branch.
    let ci = run_ci(
        dagship_command(repo.path()),
        "push",
        &push("refs/heads/main", &first, &head, false),
        "http://127.0.0.1:9",
        &head,
    );
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed"), "true", "{}", ci.run.stderr);
    let records = records(&repo);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["dags"], json!({"dags/a.py": ["a"], "dags/b.py": ["b", "b_extra"]}));
    let record_id = records[0]["id"].as_str().unwrap().to_string();

    repo.checkout_new("feature", "main");
    repo.write("dags/b.py", &dag(&["b"])).write("dags/c.py", &dag(&["c"]));
    let head = repo.commit("drop b_extra, add c");
    let payload = pull_request(5, "main", Some(REPOSITORY));
    let ci = run_ci(dagship_command(repo.path()), "pull_request", &payload, "http://127.0.0.1:9", &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("dags_added"), r#"["c"]"#);
    assert_eq!(ci.output("dags_removed"), r#"["b_extra"]"#);
    assert!(
        ci.summary.contains(&format!("compared with what the environment runs (its last deploy record `{record_id}`)")),
        "{}",
        ci.summary
    );
}

#[test]
fn a_dag_import_error_refuses_a_before_deploy_deploy_with_nothing_written() {
    let repo = repo(Some(true), &airflow_python());
    repo.write("dags/good.py", &dag(&["good"]))
        .write("dags/broken.py", "from airflow import DAG\nimport not_a_module_anywhere\n");
    repo.commit("DAGs");
    let run = run_dagship(repo.path(), &["deploy", "--env", "local"]);
    run.assert_code(3);
    assert!(run.stderr.contains("refusing to deploy to local (nothing written)"), "{}", run.stderr);
    assert!(run.stderr.contains("DAG import error in dags/broken.py:2: ModuleNotFoundError"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("not_a_module_anywhere").count(), 1, "listed once: {}", run.stderr);
    assert_eq!(bucket_files(&repo), Vec::<String>::new(), "no object, lock, marker or record");
}

#[test]
fn without_before_deploy_a_deploy_runs_no_airflow_and_records_no_dag_ids() {
    // An interpreter that does not exist and a DAG that would not import: neither matters to the deploy.
    let repo = repo(None, "/nonexistent/python3");
    repo.write("dags/broken.py", "from airflow import DAG\nimport not_a_module_anywhere\n");
    repo.commit("DAGs");
    let run = run_dagship(repo.path(), &["deploy", "--env", "local"]);
    run.assert_code(0);
    assert!(!run.stderr.contains("DAG check"), "{}", run.stderr);
    assert!(bucket_files(&repo).contains(&"dags/broken.py".to_string()), "{:?}", bucket_files(&repo));
    let records = records(&repo);
    assert_eq!(records.len(), 1);
    assert!(records[0].get("dags").is_none(), "{}", records[0]);
}
