//! What a pull request changes, from models to the DAGs that run them, with the real dbt (DuckDB) and Airflow the
//! test script installs: modified vs downstream vs deleted models, the DAGs and tasks whose dbt selection covers
//! them (Bash, cosmos and KubernetesPod styles; a runtime selection reported as unresolved), and the pictures.
use crate::common;

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

/// A BashOperator running `dbt build --select stg_orders+` after `dbt deps`.
const BASH_DAG: &str = r#"from datetime import datetime

from airflow import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG(dag_id="shop_bash", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:
    BashOperator(task_id="build_orders", bash_command="cd /opt/shop && dbt deps && dbt build --select stg_orders+")
    BashOperator(task_id="notify", bash_command="echo done")
"#;

/// An astronomer-cosmos task group rendering the marts folder.
const COSMOS_DAG: &str = r#"import os
from datetime import datetime

from airflow import DAG
from cosmos import DbtTaskGroup, LoadMode, ProfileConfig, ProjectConfig, RenderConfig

PROJECT = os.path.join(os.path.dirname(__file__), "shop")

with DAG(dag_id="shop_cosmos", start_date=datetime(2024, 1, 1), schedule="0 6 * * *") as dag:
    DbtTaskGroup(
        group_id="marts",
        project_config=ProjectConfig(dbt_project_path=PROJECT),
        profile_config=ProfileConfig(
            profile_name="shop", target_name="dev", profiles_yml_filepath=os.path.join(PROJECT, "profiles.yml")
        ),
        render_config=RenderConfig(load_method=LoadMode.CUSTOM, select=["path:models/marts"]),
    )
"#;

/// Pods running dbt: one on a tag no changed model has, one on a downstream mart (through `sh -c`).
const K8S_DAG: &str = r#"from datetime import datetime

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

with DAG(dag_id="shop_k8s", start_date=datetime(2024, 1, 1), schedule="@hourly") as dag:
    KubernetesPodOperator(task_id="calendar", image="shop-dbt:1", cmds=["dbt"], arguments=["run", "--select", "tag:calendar"])
    KubernetesPodOperator(
        task_id="summary", image="shop-dbt:1", cmds=["sh", "-c"], arguments=["dbt deps && dbt run -s customer_summary"]
    )
"#;

/// Selections only known when the tasks run: a command built by Python, a template filled from the run's conf.
const RUNTIME_DAG: &str = r#"from datetime import datetime

from airflow import DAG
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import task

with DAG(dag_id="shop_runtime", start_date=datetime(2024, 1, 1), schedule=None) as dag:

    @task.bash
    def chosen(**context):
        return "dbt run --select " + context["params"].get("models", "stg_orders")

    chosen()
    BashOperator(task_id="from_conf", bash_command="dbt build --select {{ dag_run.conf['models'] }}")
"#;

/// The dbt project, the four DAG files and an unrelated model with the `calendar` tag, deployed to `prod`; then
/// a pull request changes the staging model only.
fn project_with_dags() -> (DbtProject, String) {
    let project = DbtProject::new(Backend::Local, &format!("dags_check:\n  python: \"{}\"", common::airflow_python()));
    project
        .repo
        .write(
            &format!("{PROJECT_DIR}/models/calendar/dim_dates.sql"),
            "{{ config(tags=['calendar']) }}\nselect 1 as day\n",
        )
        .write("dags/shop_bash.py", BASH_DAG)
        .write("dags/shop_cosmos.py", COSMOS_DAG)
        .write("dags/shop_k8s.py", K8S_DAG)
        .write("dags/shop_runtime.py", RUNTIME_DAG);
    project.repo.commit("DAGs running dbt");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    edit_stg_orders(&project);
    let head = project.repo.head();
    (project, head)
}

fn task_ids(dag: &serde_json::Value) -> Vec<String> {
    dag["tasks"].as_array().unwrap().iter().map(|task| task["task_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_staging_change_names_exactly_the_dags_and_tasks_that_run_it_and_the_runtime_one_as_unresolved() {
    let (project, _) = project_with_dags();
    let run = project.run(&["impact", "--base", "origin/main", "--format", "json"]);
    run.assert_code(0);
    let report = run.json();
    let impact = &report["impact"];
    assert_eq!(impact["modified"], serde_json::json!(["stg_orders"]), "{impact}");
    assert_eq!(impact["downstream"], serde_json::json!(["customer_orders", "customer_summary"]), "{impact}");
    assert_eq!(impact["deferred"], serde_json::json!(["raw_orders"]), "the seed comes from the environment: {impact}");
    assert_eq!(impact["dbt_dags"], 4, "{impact}");
    let dags = impact["dags"].as_array().unwrap();
    let ids: Vec<&str> = dags.iter().map(|dag| dag["dag_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shop_bash", "shop_cosmos", "shop_k8s"], "{impact}");

    let bash = &dags[0];
    assert_eq!(bash["file"], "dags/shop_bash.py");
    assert_eq!(bash["schedule"], "@daily");
    assert_eq!(task_ids(bash), ["build_orders"], "`notify` runs no dbt");
    assert_eq!(bash["tasks"][0]["operator"], "BashOperator");
    assert_eq!(bash["tasks"][0]["commands"], serde_json::json!(["build --select stg_orders+"]));
    assert_eq!(bash["tasks"][0]["modified"], serde_json::json!(["stg_orders"]));
    assert_eq!(bash["tasks"][0]["downstream"], serde_json::json!(["customer_orders", "customer_summary"]));

    let cosmos = &dags[1];
    assert_eq!(cosmos["schedule"], "0 6 * * *");
    assert_eq!(task_ids(cosmos), ["marts"], "the cosmos task group, by its group id");
    assert_eq!(cosmos["tasks"][0]["operator"], "DbtTaskGroup");
    assert_eq!(cosmos["tasks"][0]["modified"], serde_json::json!([]));
    assert_eq!(cosmos["tasks"][0]["downstream"], serde_json::json!(["customer_orders", "customer_summary"]));

    let k8s = &dags[2];
    assert_eq!(task_ids(k8s), ["summary"], "the `tag:calendar` pod runs no changed model: {k8s}");
    assert_eq!(k8s["tasks"][0]["operator"], "KubernetesPodOperator");
    assert_eq!(k8s["tasks"][0]["downstream"], serde_json::json!(["customer_summary"]));

    let unresolved = impact["unresolved"].as_array().unwrap();
    assert_eq!(unresolved.len(), 1, "{impact}");
    assert_eq!(unresolved[0]["dag_id"], "shop_runtime");
    let reasons: Vec<(&str, &str)> = unresolved[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| (task["task_id"].as_str().unwrap(), task["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|(id, why)| *id == "chosen" && why.contains("built when the task runs")), "{reasons:?}");
    assert!(reasons.iter().any(|(id, why)| *id == "from_conf" && why.contains("{{")), "{reasons:?}");
}

#[test]
fn the_pull_request_check_outputs_the_impacted_dags_and_draws_the_lineage() {
    let (project, head) = project_with_dags();
    let payload = common::actions::pull_request(7, "main", Some(common::actions::REPOSITORY));
    // No token: the check runs and writes its outputs and summary; no comment is posted.
    let ci = common::actions::run_ci(project.command(&[]), "pull_request", &payload, "http://127.0.0.1:9", &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("modified_models"), r#"["stg_orders"]"#);
    assert_eq!(ci.output("downstream_models"), r#"["customer_orders","customer_summary"]"#);
    assert_eq!(ci.output("impacted_dags"), r#"["shop_bash","shop_cosmos","shop_k8s"]"#);
    let summary = &ci.summary;
    assert!(summary.contains("### Impact: models to DAGs"), "{summary}");
    assert!(
        summary.contains("| `shop_bash` | `@daily` | build\\_orders | `dbt build --select stg_orders+` |"),
        "{summary}"
    );
    assert!(summary.contains("`shop_runtime` / chosen (dags/shop\\_runtime.py)"), "unresolved, named: {summary}");
    // The impact section's picture (the plan's folder tree comes before it).
    let impact_section = summary.split("### Impact").nth(1).expect("an impact section");
    let mermaid =
        impact_section.split("```mermaid\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a picture");
    for line in [
        "p0[\"raw_orders\"]:::deferred",
        "p0 --> m0",
        "m0[\"stg_orders\"]:::modified",
        "d0[\"customer_orders\"]:::downstream",
        "d1[\"customer_summary\"]:::downstream",
        "g0[\"shop_bash\"]:::dag",
        "g1[\"shop_cosmos\"]:::dag",
        "g2[\"shop_k8s\"]:::dag",
        "m0 --> d0",
        "d0 --> d1",
        "d1 -.-> g0",
        "d1 -.-> g1",
        "d1 -.-> g2",
    ] {
        assert!(mermaid.lines().any(|text| text.trim() == line), "`{line}` missing from:\n{mermaid}");
    }
    assert!(!mermaid.contains("shop_runtime"), "an unresolved DAG is not drawn as impacted: {mermaid}");
}

#[test]
fn a_large_change_is_drawn_capped_with_a_count_of_what_was_left_out() {
    let project = DbtProject::new(Backend::Local, &format!("dags_check:\n  python: \"{}\"", common::airflow_python()));
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    project.repo.checkout_new("feature", "main");
    for index in 0..34 {
        project.repo.write(
            &format!("{PROJECT_DIR}/models/staging/stg_extra_{index:02}.sql"),
            "select * from {{ ref('stg_orders') }}\n",
        );
    }
    project.repo.commit("34 new models");
    let run = project.run(&["impact", "--env", "prod", "--format", "mermaid"]);
    run.assert_code(0);
    let mermaid = &run.stdout;
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    let modified_nodes = mermaid.lines().filter(|line| line.contains(":::modified")).count();
    assert_eq!(modified_nodes, 30, "{mermaid}");
    assert!(mermaid.contains("m_more[\"... and 4 more modified models\"]:::more"), "{mermaid}");
    assert!(mermaid.contains("m0[\"stg_extra_00\"]:::modified"), "sorted by name: {mermaid}");
    assert!(!mermaid.contains("stg_extra_30"), "past the cap: {mermaid}");
}

/// dagship's reading of dbt's selection syntax agrees with dbt itself (`dbt ls`) on every form it resolves.
#[test]
fn selections_resolve_to_the_same_models_as_dbt_ls() {
    let project = DbtProject::new(Backend::Local, "");
    project.repo.write(
        &format!("{PROJECT_DIR}/models/calendar/dim_dates.sql"),
        "{{ config(tags=['calendar']) }}\nselect 1 as day\n",
    );
    let dbt = |args: &[&str]| {
        let output = std::process::Command::new(common::dbt::dbt_bin_dir().join("dbt"))
            .args(args)
            .current_dir(project.file(""))
            .env("DAGSHIP_DUCKDB_DIR", project.repo.scratch())
            .env("DO_NOT_TRACK", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "dbt {args:?}: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8(output.stdout).unwrap()
    };
    dbt(&["parse", "--quiet"]);
    let manifest = dagship::dbt::Manifest::read(&project.file("target/manifest.json")).unwrap();
    let graph = dagship::impact::Graph::new(&manifest);
    let cases: &[(&str, &str)] = &[
        ("stg_orders", ""),
        ("stg_orders+", ""),
        ("stg_orders+1", ""),
        ("+customer_summary", ""),
        ("1+customer_summary", ""),
        ("@customer_orders", ""),
        ("tag:calendar", ""),
        ("path:models/marts", ""),
        ("models/staging/stg_orders.sql", ""),
        ("shop.marts.*", ""),
        ("marts", ""),
        ("customer_*", ""),
        ("config.materialized:table", ""),
        ("config.materialized:view,path:models", ""),
        ("package:shop", ""),
        ("stg_orders customer_summary", ""),
        ("path:models", "tag:calendar"),
        ("+customer_summary", "stg_orders"),
    ];
    for (select, exclude) in cases {
        let mut args =
            vec!["ls", "--quiet", "--resource-type", "model", "--output", "json", "--output-keys", "unique_id"];
        args.extend(["--select", select]);
        if !exclude.is_empty() {
            args.extend(["--exclude", exclude]);
        }
        let listed: std::collections::BTreeSet<String> = dbt(&args)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|value| value["unique_id"].as_str().unwrap().to_string())
            .collect();
        let words = |text: &str| text.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let ours = graph.select_models(&words(select), &words(exclude)).unwrap();
        assert_eq!(ours, listed, "--select {select} --exclude {exclude}");
        assert!(!listed.is_empty(), "{select}: a case that selects nothing proves little");
    }
}

fn simple_dag(dag_id: &str, tasks: &str) -> String {
    format!(
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.providers.standard.operators.empty import \
         EmptyOperator\n\nwith DAG(dag_id=\"{dag_id}\", start_date=datetime(2024, 1, 1), schedule=None):\n{tasks}"
    )
}

#[test]
fn the_pull_request_check_names_the_dag_ids_added_removed_and_changed_against_the_base() {
    let repo = common::Repo::new();
    repo.write("dagship.yml", &format!("dags_dir: dags\ndags_check:\n  python: \"{}\"\n", common::airflow_python()))
        .write("dags/a.py", &simple_dag("moved", "    EmptyOperator(task_id=\"t\")\n"))
        .write("dags/c.py", &simple_dag("gone", "    EmptyOperator(task_id=\"t\")\n"))
        .write("dags/e.py", &simple_dag("kept", "    EmptyOperator(task_id=\"t\")\n"))
        .write("dags/untouched.py", &simple_dag("untouched", "    EmptyOperator(task_id=\"t\")\n"));
    repo.commit("DAGs");
    repo.checkout_new("feature", "main");
    repo.rename("dags/a.py", "dags/b.py").remove("dags/c.py");
    repo.write("dags/d.py", &simple_dag("fresh", "    EmptyOperator(task_id=\"t\")\n")).write(
        "dags/e.py",
        &simple_dag("kept", "    EmptyOperator(task_id=\"t\")\n    EmptyOperator(task_id=\"u\")\n"),
    );
    let head = repo.commit("move, drop, add, edit");
    let payload = common::actions::pull_request(3, "main", Some(common::actions::REPOSITORY));
    let ci = common::actions::run_ci(
        common::dagship_command(repo.path()),
        "pull_request",
        &payload,
        "http://127.0.0.1:9",
        &head,
    );
    ci.run.assert_code(0);
    assert_eq!(ci.output("dags_added"), r#"["fresh"]"#);
    assert_eq!(ci.output("dags_removed"), r#"["gone"]"#);
    let summary = &ci.summary;
    assert!(summary.contains("### DAGs: 1 added, 1 removed, 2 changed"), "{summary}");
    assert!(summary.contains("- changed `moved` (dags/b.py, was in dags/a.py)"), "{summary}");
    assert!(summary.contains("- changed `kept` (dags/e.py)"), "{summary}");
    assert!(summary.contains("- removed `gone` (dags/c.py)"), "{summary}");
    assert!(!summary.contains("untouched"), "an unchanged file is not imported nor listed: {summary}");
}

#[test]
fn a_new_dag_id_that_an_unchanged_file_already_defines_fails_the_check() {
    let repo = common::Repo::new();
    repo.write("dagship.yml", &format!("dags_dir: dags\ndags_check:\n  python: \"{}\"\n", common::airflow_python()))
        .write("dags/nightly.py", &simple_dag("nightly", "    EmptyOperator(task_id=\"t\")\n"));
    repo.commit("DAGs");
    repo.checkout_new("feature", "main");
    repo.write("dags/nightly_copy.py", &simple_dag("nightly", "    EmptyOperator(task_id=\"t\")\n"));
    let head = repo.commit("copy a DAG without renaming it");
    let payload = common::actions::pull_request(4, "main", Some(common::actions::REPOSITORY));
    let ci = common::actions::run_ci(
        common::dagship_command(repo.path()),
        "pull_request",
        &payload,
        "http://127.0.0.1:9",
        &head,
    );
    ci.run.assert_code(1);
    assert_eq!(ci.output("dags_added"), r#"["nightly"]"#);
    let stderr = &ci.run.stderr;
    for file in ["dags/nightly.py", "dags/nightly_copy.py"] {
        assert!(
            stderr.contains(&format!("::error file={file},line=5::DAG id `nightly` is defined by more than one file")),
            "{stderr}"
        );
    }
    assert!(ci.summary.contains("New DAG id `nightly` is already defined by another file"), "{}", ci.summary);
}

/// When the environment's last deploy record holds the DAG ids it runs (the ledger's `dags` map), the added and
/// removed ids are what the deploy would change there, not what the pull request changed from its base commit:
/// an id the environment still runs from an older deploy shows as removed.
#[test]
fn dag_ids_are_compared_with_the_environments_last_deploy_record_when_it_holds_them() {
    let repo = common::Repo::new();
    repo.write(
        "dagship.yml",
        &format!(
            "dags_dir: dags\ndags_check:\n  python: \"{}\"\nenvironments:\n  local: {{ platform: local, bucket: \
             \"file://.dagship/bucket\", branches: [main] }}\n",
            common::airflow_python()
        ),
    )
    .write(".gitignore", ".dagship/\n")
    .write("dags/a.py", &simple_dag("a", "    EmptyOperator(task_id=\"t\")\n"))
    .write("dags/b.py", &simple_dag("b", "    EmptyOperator(task_id=\"t\")\n"));
    repo.commit("DAGs");
    common::run_dagship(repo.path(), &["deploy", "--env", "local"]).assert_code(0);
    // The record as a deploy that ran the DAG check would write it: b.py also defined `b_legacy` then.
    let history = repo.path().join(".dagship/bucket/.dagship/history");
    let record_file = std::fs::read_dir(&history).unwrap().next().unwrap().unwrap().path();
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&record_file).unwrap()).unwrap();
    record["dags"] = serde_json::json!({"dags/a.py": ["a"], "dags/b.py": ["b", "b_legacy"]});
    std::fs::write(&record_file, record.to_string()).unwrap();
    let record_id = record["id"].as_str().unwrap().to_string();

    repo.checkout_new("feature", "main");
    repo.write("dags/b.py", &simple_dag("b", "    EmptyOperator(task_id=\"u\")\n"))
        .write("dags/c.py", &simple_dag("c", "    EmptyOperator(task_id=\"t\")\n"));
    let head = repo.commit("edit b, add c");
    let payload = common::actions::pull_request(5, "main", Some(common::actions::REPOSITORY));
    let ci = common::actions::run_ci(
        common::dagship_command(repo.path()),
        "pull_request",
        &payload,
        "http://127.0.0.1:9",
        &head,
    );
    ci.run.assert_code(0);
    assert_eq!(ci.output("dags_added"), r#"["c"]"#);
    assert_eq!(ci.output("dags_removed"), r#"["b_legacy"]"#, "the base commit never had it; the environment does");
    let summary = &ci.summary;
    assert!(
        summary.contains(&format!("compared with what the environment runs (its last deploy record `{record_id}`)")),
        "{summary}"
    );
    assert!(summary.contains("- removed `b_legacy` (dags/b.py)"), "{summary}");
}
