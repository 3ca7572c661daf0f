//! The embedded default (examples/) is a valid repository for dagship: its config checks and its pull request
//! flow finds the right filters and jobs.
use crate::common;

use std::path::Path;

use common::{Repo, copy_tree, run_dagship};

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

/// The README's main job on the embedded default: deploy main (publishing dbt state), then a pull request's
/// dbt check compiles only what it changed against that state, then the merge deploys.
#[test]
fn examples_repository_dbt_check_and_deploy_to_the_local_bucket() {
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    repo.commit("the example repository");
    let dagship = |args: &[&str]| {
        let mut command = common::dagship_command(repo.path());
        command.args(args).env("PATH", common::dbt::path_with_dbt()).env("DO_NOT_TRACK", "1");
        common::run_command(&mut command)
    };
    dagship(&["deploy", "--env", "local"]).assert_code(0);
    let bucket = repo.path().join(".dagship/bucket");
    for key in ["data/target/manifest.json", "data/target/parse-cache/partial_parse.msgpack", "dags/daily_orders.py"] {
        assert!(bucket.join(key).is_file(), "{key} deployed");
    }
    assert!(!bucket.join("dags/dbt_project/target").exists(), "dbt's target folder is excluded from the DAGs");

    // The same commit again: dbt rebuilds its artifacts with new stamps, and on 2 threads lists the tests'
    // results in whichever order they finished; none of that is a change, so nothing is written.
    let results = std::fs::read(bucket.join("data/target/run_results.json")).unwrap();
    let again = dagship(&["deploy", "--env", "local"]);
    again.assert_code(0);
    assert!(again.stdout.contains("nothing written"), "{}\n{}", again.stdout, again.stderr);
    assert_eq!(std::fs::read(bucket.join("data/target/run_results.json")).unwrap(), results, "not replaced");

    repo.checkout_new("feature", "main");
    repo.write("orchestration/dags/dbt_project/models/marts/customer_orders.sql", "select 1 as customer_id\n");
    repo.commit("edit a mart");
    let check = dagship(&["dbt", "compile", "--base-ref", "main", "--format", "json"]);
    check.assert_code(0);
    let report = check.json();
    assert_eq!(report["environment"], "local");
    assert_eq!(report["mode"], "slim");
    let names: Vec<&str> =
        report["modified_models"].as_array().unwrap().iter().map(|model| model["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["customer_orders"]);
}
