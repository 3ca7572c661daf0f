//! The sticky comment of a pull request that touches half of a 3,000-model dbt project stays under GitHub's
//! 65,536-character limit without being cut: long lists fold into `<details>` blocks and say how much they left
//! out. The project is a generated manifest (3,000 models in 30 folders, each folder one chain of 100 models on a
//! seed) rather than a dbt parse of 3,000 files: the renderers are what is measured, and a real parse took
//! 3m40s for 3,000 one-line models on these machines (load 16, 24 s of CPU).
use crate::dags::{DagDetail, DagFile, DbtInvocation, DbtRun, DbtTask, FileStatus};
use crate::dbt::{CompileReport, Manifest, Mode, ParseCacheUse, SelectedModel, StateSource};
use crate::deploy::{Change, Phase, PhasePlan, Plan, Summary};
use crate::github::api::MAX_COMMENT_CHARS;
use crate::github::comment::{compose, marker};

const MODELS: usize = 3_000;
const FOLDERS: usize = 30;
fn model_id(index: usize) -> String {
    format!("model.big.m_{index:04}")
}
/// 3,000 models: model i is in folder `area_{i % 30}` and reads model i - 30 (the first 30 read the seed).
fn manifest() -> Manifest {
    let mut nodes = serde_json::Map::new();
    nodes.insert(
        "seed.big.raw".into(),
        serde_json::json!({"resource_type": "seed", "name": "raw", "original_file_path": "seeds/raw.csv",
            "package_name": "big", "fqn": ["big", "raw"]}),
    );
    for index in 0..MODELS {
        let parent = if index < FOLDERS { "seed.big.raw".to_string() } else { model_id(index - FOLDERS) };
        let folder = format!("area_{:02}", index % FOLDERS);
        nodes.insert(
            model_id(index),
            serde_json::json!({"resource_type": "model", "name": format!("m_{index:04}"),
                "original_file_path": format!("models/{folder}/m_{index:04}.sql"), "package_name": "big",
                "fqn": ["big", folder, format!("m_{index:04}")], "depends_on": {"nodes": [parent]}}),
        );
    }
    serde_json::from_value(serde_json::json!({ "nodes": nodes })).unwrap()
}
fn selected(index: usize) -> SelectedModel {
    SelectedModel {
        name: format!("m_{index:04}"),
        unique_id: model_id(index),
        path: format!("dags/big/models/area_{:02}/m_{index:04}.sql", index % FOLDERS),
    }
}
/// Half the chains change at their root: 15 modified models, 1,485 downstream, and 120 models deleted.
fn compile_report() -> CompileReport {
    let modified: Vec<usize> = (0..FOLDERS / 2).collect();
    let mut downstream: Vec<usize> = (FOLDERS..MODELS).filter(|index| index % FOLDERS < FOLDERS / 2).collect();
    downstream.sort_by_key(|index| format!("m_{index:04}"));
    CompileReport {
        environment: "prod".into(),
        target: "dev".into(),
        dbt_version: Some("1.11.0".into()),
        mode: Mode::Slim,
        state: StateSource {
            environment: "prod".into(),
            manifest: "gs://bucket/data/target/manifest.json".into(),
            found: true,
            version: None,
            unusable: None,
            run_results: true,
        },
        parse_cache: ParseCacheUse::None,
        exposures_pulled: 0,
        selection: vec!["state:modified+".into()],
        total_models: MODELS,
        modified_models: modified.into_iter().map(selected).collect(),
        downstream_models: downstream.into_iter().map(selected).collect(),
        deleted_models: (0..120).map(|index| format!("old_model_{index:03}")).collect(),
        dbt_changed: true,
        exploded: false,
        commands: Vec::new(),
        manifest_path: Default::default(),
    }
}
/// One DAG file per folder, each DAG with four tasks building a quarter of its chain, and 30 DAGs whose
/// selection is only known when they run.
fn dag_files() -> Vec<DagFile> {
    let task = |task_id: String, select: String| DbtTask {
        task_id: Some(task_id),
        operator: "BashOperator".into(),
        run: DbtRun::Static {
            invocations: vec![DbtInvocation {
                command: "build".into(),
                select: vec![select],
                exclude: Vec::new(),
                selector: None,
            }],
        },
    };
    let file = |path: String, dags: Vec<DagDetail>| DagFile {
        path,
        status: FileStatus::Ok,
        dag_ids: dags.iter().map(|dag| dag.dag_id.clone()).collect(),
        dags,
        tasks: 4,
        seconds: 0.1,
        slow: false,
        errors: Vec::new(),
        skip_reason: None,
        warnings: Vec::new(),
    };
    let mut files = Vec::new();
    for folder in 0..FOLDERS {
        let tasks =
            (0..4).map(|quarter| task(format!("build_q{quarter}"), format!("m_{:04}+", folder + quarter * 750)));
        let dag = DagDetail {
            dag_id: format!("area_{folder:02}_daily"),
            schedule: Some("@daily".into()),
            dbt_tasks: tasks.collect(),
        };
        files.push(file(format!("dags/area_{folder:02}.py"), vec![dag]));
        let runtime = DagDetail {
            dag_id: format!("area_{folder:02}_adhoc"),
            schedule: None,
            dbt_tasks: vec![DbtTask {
                task_id: Some("chosen".into()),
                operator: "BashOperator".into(),
                run: DbtRun::Unresolved { reason: "the command is built when the task runs".into() },
            }],
        };
        files.push(file(format!("dags/area_{folder:02}_adhoc.py"), vec![runtime]));
    }
    files
}
/// The deploy: every selected model's file replaced, the deleted ones deleted, dbt's state replaced.
fn plan(compile: &CompileReport) -> Plan {
    let change = |key: String| Change { key, size: 100, md5: None, local: None, content: None };
    let phase = |phase, prefix: &str, replacements: Vec<Change>, deletions: Vec<Change>| PhasePlan {
        phase,
        source: "orchestration/dags".into(),
        prefix: prefix.into(),
        uploads: Vec::new(),
        replacements,
        deletions,
        unchanged: 1_500,
        kept: Vec::new(),
        protected_skipped: Vec::new(),
        excluded: 0,
        ignored: Vec::new(),
        source_exists: true,
        source_files: 3_000,
        remote_objects: 3_000,
        unchanged_objects: Vec::new(),
    };
    let models = compile.modified_models.iter().chain(&compile.downstream_models);
    let dags = phase(
        Phase::Dags,
        "dags/",
        models.map(|model| change(model.path.clone())).collect(),
        (0..120).map(|index| change(format!("dags/big/models/old/old_model_{index:03}.sql"))).collect(),
    );
    let state = phase(Phase::DbtState, "data/target/", vec![change("data/target/manifest.json".into())], Vec::new());
    Plan {
        environment: "prod".into(),
        bucket: "gs://bucket".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        summary: Summary { uploads: 0, replacements: 1_501, deletions: 120, unchanged: 3_000, upload_bytes: 150_100 },
        phases: vec![dags, state],
        last_deploy: None,
        uncommitted: Vec::new(),
        untracked: 0,
        refusals: Vec::new(),
        older_than_deployed: None,
        drift: None,
        blobs: Default::default(),
    }
}
#[test]
fn a_change_to_half_of_a_3000_model_project_fits_one_comment_with_counts_of_what_was_left_out() {
    let compile = compile_report();
    let impact = crate::impact::compute(
        &manifest(),
        &compile.modified_models,
        &compile.downstream_models,
        &compile.deleted_models,
        &dag_files(),
    );
    assert_eq!(impact.downstream.len(), 1_485);
    assert_eq!(impact.dags.len(), FOLDERS / 2, "the 15 folders' DAGs");
    assert_eq!(impact.unresolved.len(), FOLDERS);
    let plan = plan(&compile);
    let sections = vec![
        format!("{}\n{}", super::render_plan_markdown(&plan), super::render_plan_tree_markdown(&plan)),
        super::render_compile_markdown(&compile),
        super::render_impact_markdown(&impact),
    ];
    let body = compose(&marker("dagship.yml"), "dagship: check against `prod`", &sections, Some("https://run"));
    let chars = body.chars().count();
    println!("comment for 1,500 of 3,000 models: {chars} characters (limit {MAX_COMMENT_CHARS})");
    assert!(chars < MAX_COMMENT_CHARS, "{chars} characters");
    assert!(!body.contains("**Truncated**"), "fits without being cut:\n{body}");
    for left_out in [
        "- ... and 1435 more\n",                     // the compile's downstream list (50 shown)
        "and 70 more",                               // the deleted models (50 shown)
        "... and 1455 more downstream models",       // the lineage picture (30 drawn)
        "... and 10 more tasks in the JSON report.", // the impact table (50 of 60 rows)
        "- ... and 1521 more in the JSON report",    // the plan's files (100 listed)
        "<details><summary>60 tasks running the models</summary>",
        "<details><summary>Lineage: 61 nodes drawn, 1455 left out",
    ] {
        assert!(body.contains(left_out), "`{left_out}` missing:\n{body}");
    }
    assert_eq!(body.matches("```mermaid").count(), 2, "the plan tree and the lineage");
}
