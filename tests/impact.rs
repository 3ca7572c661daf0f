//! What a pull request changes, from models to the DAGs that run them, with the real dbt (DuckDB) and Airflow the
//! test script installs: modified vs downstream vs deleted models, the DAGs and tasks whose dbt selection covers
//! them (Bash, cosmos and KubernetesPod styles; a runtime selection reported as unresolved), and the pictures.
mod common;

use common::buckets::Backend;
use common::dbt::{DbtProject, PROJECT_DIR};

fn edit_stg_orders(project: &DbtProject) {
    project.repo.checkout_new("feature", "main");
    project.repo.write(
        &format!("{PROJECT_DIR}/models/staging/stg_orders.sql"),
        "select order_id, customer_id, amount * 1 as amount from {{ ref('raw_orders') }}\n",
    );
    project.repo.commit("edit stg_orders");
}

#[test]
fn modified_models_are_only_the_changed_ones_and_their_children_are_downstream() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    edit_stg_orders(&project);
    project.repo.remove(&format!("{PROJECT_DIR}/models/marts/customer_summary.sql"));
    project.repo.commit("drop customer_summary");
    let outputs = project.repo.scratch().join("github_output");
    std::fs::write(&outputs, "").unwrap();
    let run = common::run_command(
        project.command(&["dbt", "compile", "--env", "prod", "--format", "json"]).env("GITHUB_OUTPUT", &outputs),
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["mode"], "slim");
    assert_eq!(DbtProject::names(&report, "modified_models"), ["stg_orders"]);
    assert_eq!(DbtProject::names(&report, "downstream_models"), ["customer_orders"]);
    assert_eq!(report["deleted_models"], serde_json::json!(["customer_summary"]));
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains("\n[\"stg_orders\"]\n"), "modified_models output: {written}");
    assert!(written.contains("downstream_models<<"), "{written}");
    assert!(written.contains("\n[\"customer_orders\"]\n"), "downstream_models output: {written}");
}
