//! The embedded default (examples/) is a valid repository for dagship: its config checks and its pull request
//! flow finds the right filters and jobs.
mod common;

use std::path::Path;

use common::{Repo, run_dagship};

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn examples_repository_pull_request() {
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    repo.commit("the example repository");
    let check = run_dagship(repo.path(), &["config", "check"]);
    check.assert_code(0);
    assert!(check.stderr.contains("valid (0 warnings)"), "{}", check.stderr);

    repo.checkout_new("feature", "main");
    repo.write("orchestration/dags/dbt_project/models/staging/stg_orders.sql", "select 1 as order_id")
        .write("jobs/etl_jobs/external/brevo/main.py", "def export(limit): return limit")
        .write("jobs/ml_jobs/_template/main.py", "# template edit")
        .write("jobs/ml_jobs/scoring/main.py", "# no tests, so no matrix entry");
    repo.commit("edit");
    let run =
        run_dagship(repo.path(), &["detect", "--event", "pull_request", "--base-ref", "main", "--format", "json"]);
    run.assert_code(0);
    let json = run.json();
    assert_eq!(json["filters"]["dbt"]["changed"], true);
    assert_eq!(json["filters"]["orchestration"]["changed"], true);
    assert_eq!(json["jobs"], serde_json::json!(["jobs/etl_jobs/external/brevo"]));
}
