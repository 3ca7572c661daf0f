//! dbt against the target environment, with the real dbt-core + dbt-duckdb the test script installs: state
//! from the bucket (moto S3 and the local backend), slim compile with deferral, the parse cache, artifacts
//! published on deploy, and the errors a user meets.
use crate::common;

use common::buckets::Backend;
use common::dbt::{DbtProject, PROJECT_DIR};

fn edit_customer_orders(project: &DbtProject) {
    project.repo.checkout_new("feature", "main");
    project.repo.write(
        &format!("{PROJECT_DIR}/models/marts/customer_orders.sql"),
        "select customer_id, count(*) as orders, sum(amount) as total\nfrom {{ ref('stg_orders') }}\ngroup by 1\n",
    );
    project.repo.commit("edit customer_orders");
}

#[test]
fn without_state_the_whole_project_compiles_and_says_so() {
    let project = DbtProject::new(Backend::Local, "");
    let outputs = project.repo.scratch().join("github_output");
    std::fs::write(&outputs, "").unwrap();
    let run = common::run_command(
        project.command(&["dbt", "compile", "--env", "prod", "--format", "json"]).env("GITHUB_OUTPUT", &outputs),
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["mode"], "full");
    assert_eq!(report["state"]["found"], false);
    assert_eq!(report["target"], "dev", "pull request checks compile with dbt_check_target");
    assert_eq!(DbtProject::names(&report, "modified_models"), ["customer_orders", "customer_summary", "stg_orders"]);
    assert_eq!(report["dbt_changed"], true);
    assert!(run.stderr.contains("compiled the whole project"), "{}", run.stderr);
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains("dbt_changed<<"), "{written}");
    assert!(written.contains("[\"customer_orders\",\"customer_summary\",\"stg_orders\"]"), "{written}");
    assert!(written.contains("\nfull\n"), "dbt_mode output: {written}");
}

#[test]
fn an_edited_model_selects_it_and_its_children_and_defers_its_parent_to_the_environment() {
    let project = DbtProject::new(Backend::S3, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let keys = project.bucket.keys();
    for key in
        ["data/target/manifest.json", "data/target/run_results.json", "data/target/parse-cache/partial_parse.msgpack"]
    {
        assert!(keys.contains(&key.to_string()), "{key} not published: {keys:?}");
    }

    edit_customer_orders(&project);
    project.clean_target();
    let report = project.compile_json(&[]);
    assert_eq!(report["mode"], "slim");
    assert_eq!(report["state"]["found"], true);
    assert!(report["state"]["version"].as_str().is_some_and(|etag| !etag.is_empty()), "{report}");
    assert_eq!(DbtProject::names(&report, "modified_models"), ["customer_orders"]);
    assert_eq!(DbtProject::names(&report, "downstream_models"), ["customer_summary"]);
    assert_eq!(report["total_models"], 3);
    assert_eq!(report["parse_cache"], serde_json::json!({"source": "bucket", "outcome": {"status": "used"}}));

    // The unselected parent resolves to the environment's relation (schema `analytics` in the prod database),
    // not to the check target's (`analytics_dev`).
    let compiled =
        std::fs::read_to_string(project.file("target/compiled/shop/models/marts/customer_orders.sql")).unwrap();
    assert!(compiled.contains("\"warehouse_prod\".\"analytics\".\"stg_orders\""), "{compiled}");
    assert!(!compiled.contains("analytics_dev"), "{compiled}");
}

#[test]
fn a_deleted_model_is_reported_and_does_not_break_the_selection() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    project.repo.checkout_new("feature", "main");
    project.repo.remove(&format!("{PROJECT_DIR}/models/marts/customer_summary.sql"));
    project.repo.commit("drop customer_summary");
    let report = project.compile_json(&[]);
    assert_eq!(report["mode"], "slim");
    assert_eq!(report["deleted_models"], serde_json::json!(["customer_summary"]));
    assert_eq!(DbtProject::names(&report, "modified_models"), Vec::<String>::new());
    assert_eq!(report["dbt_changed"], true, "a deletion is a dbt change");
}

#[test]
fn a_dbt_syntax_error_is_annotated_on_its_file_and_fails_the_check() {
    let project = DbtProject::new(Backend::Local, "");
    project.repo.write(&format!("{PROJECT_DIR}/models/marts/broken.sql"), "select 1\n{{ ref('stg_orders' }}\n");
    let run = common::run_command(project.command(&["dbt", "compile", "--env", "prod"]).env("GITHUB_ACTIONS", "true"));
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!("::error file={PROJECT_DIR}/models/marts/broken.sql,line=2::Compilation Error")),
        "{}",
        run.stderr
    );
    // dbt's own log is inside a collapsible group, with workflow commands switched off while it prints.
    assert!(run.stderr.contains("::group::dbt compile (prod)"), "{}", run.stderr);
    assert!(run.stderr.contains("::stop-commands::"), "{}", run.stderr);
    // The error line (what the PR comment shows) keeps dbt's cause, not only its category.
    let error = run.stderr.lines().find(|line| line.starts_with("error: `")).unwrap_or_default();
    assert!(error.contains("Compilation Error in model broken (models/marts/broken.sql): "), "{}", run.stderr);
}

#[test]
fn a_missing_dbt_executable_is_a_usage_error() {
    let project = DbtProject::new(Backend::Local, "  executable: dbt-not-installed-here");
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(2);
    assert!(run.stderr.contains("dbt executable `dbt-not-installed-here` not found on PATH"), "{}", run.stderr);
    assert!(run.stderr.contains("pip install"), "the message says how to install dbt: {}", run.stderr);
}

#[test]
fn a_missing_profile_target_is_a_usage_error_naming_it() {
    let project = DbtProject::new(Backend::Local, "");
    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    project.repo.write("dagship.yml", &config.replace("dbt_check_target: dev", "dbt_check_target: ci"));
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(2);
    assert!(run.stderr.contains("profile `shop` has no target `ci`"), "{}", run.stderr);
    assert!(project.bucket.keys().is_empty(), "nothing written");
}

#[test]
fn an_adapter_missing_next_to_dbt_is_a_usage_error_naming_the_package_before_dbt_runs() {
    let project = DbtProject::new(Backend::Local, "");
    let profiles = format!("{PROJECT_DIR}/profiles.yml");
    let text = std::fs::read_to_string(project.repo.path().join(&profiles)).unwrap();
    // The test dbt has only dbt-duckdb: a Snowflake team's profile on that install.
    project.repo.write(&profiles, &text.replace("type: duckdb", "type: snowflake"));
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(2);
    assert!(run.stderr.contains("uses the adapter `snowflake`, which is not installed"), "{}", run.stderr);
    assert!(run.stderr.contains("`dbt-snowflake`"), "the message names the package: {}", run.stderr);
    assert!(!run.stderr.contains("\\n"), "no escaped newline in the message: {}", run.stderr);
    assert!(project.bucket.keys().is_empty(), "nothing written");
}

#[test]
fn a_refused_parse_cache_falls_back_to_a_full_parse_and_says_why() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    edit_customer_orders(&project);
    // The check now runs with other vars than the deploy parsed with: dbt must refuse the cache.
    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    project.repo.write("dagship.yml", &config.replace("ENV_SHORT_NAME: prod", "ENV_SHORT_NAME: ci"));
    project.clean_target();
    let report = project.compile_json(&[]);
    assert_eq!(report["parse_cache"]["source"], "bucket");
    assert_eq!(report["parse_cache"]["outcome"]["status"], "rejected", "{report}");
    assert_eq!(DbtProject::names(&report, "modified_models"), ["customer_orders"]);
    assert_eq!(DbtProject::names(&report, "downstream_models"), ["customer_summary"]);
}

#[test]
fn deploys_publish_packages_with_delete_and_pull_exposures_first() {
    let project = DbtProject::new(Backend::Local, "  exposures_prefix: data/exposures\n  docs: true");
    project
        .repo
        .write("packages/helpers/dbt_project.yml", "name: helpers\nversion: '1.0.0'\nconfig-version: 2\n")
        .write("packages/helpers/macros/cents.sql", "{% macro cents(x) %}({{ x }} * 100){% endmacro %}\n")
        .write(&format!("{PROJECT_DIR}/packages.yml"), "packages:\n  - local: ../../packages/helpers\n");
    project.repo.commit("a local package");
    project.bucket.seed(
        "data/exposures/dashboards.yml",
        b"version: 2\nexposures:\n  - name: revenue\n    type: dashboard\n    owner: {email: a@b.c}\n    depends_on: [ref('customer_orders')]\n",
    );
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let keys = project.bucket.keys();
    assert!(keys.contains(&"data/target/dbt_packages/helpers/macros/cents.sql".to_string()), "{keys:?}");
    assert!(keys.contains(&"data/target/catalog.json".to_string()), "docs: true publishes the catalog: {keys:?}");
    assert!(
        project.file("models/exposures/_dagship_bucket_exposures/dashboards.yml").is_file(),
        "exposures pulled into their own folder of the project"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&project.bucket.objects()["data/target/manifest.json"]).unwrap();
    assert!(manifest["exposures"].get("exposure.shop.revenue").is_some(), "the published manifest has the exposure");

    // (`packages: []` would not do: dbt deps still installs what package-lock.yml names.)
    project.repo.remove(&format!("{PROJECT_DIR}/packages.yml"));
    let _ = std::fs::remove_file(project.file("package-lock.yml"));
    let _ = std::fs::remove_dir_all(project.file("dbt_packages"));
    project.repo.commit("drop the package");
    project.run(&["deploy", "--env", "prod", "--allow-deletes", "10"]).assert_code(0);
    let keys = project.bucket.keys();
    assert!(!keys.iter().any(|key| key.starts_with("data/target/dbt_packages/")), "mirrored with delete: {keys:?}");
    assert!(keys.contains(&"data/target/manifest.json".to_string()));
}

#[test]
fn a_deploy_skipping_dbt_leaves_the_state_alone_even_under_a_data_mirror() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    project.repo.write("dagship.yml", &format!("data_dir: data\n{config}")).write("data/lookup.csv", "id\n1\n");
    project.repo.commit("a data folder");
    let run = project.run(&["deploy", "--env", "prod", "--dbt-artifacts", "skip", "--format", "json"]);
    run.assert_code(0);
    assert_eq!(run.json()["plan"]["summary"]["deletions"], 0, "{}", run.stdout);
    assert!(project.bucket.keys().contains(&"data/target/manifest.json".to_string()));
}

#[test]
fn a_selection_covering_most_of_the_project_warns_with_the_unrendered_configs_hint() {
    let project = DbtProject::new(Backend::Local, "");
    // Configs that render differently per target: every such model looks modified to a check with another
    // target than the deploy's (dbt compares their rendered values unless told otherwise).
    for index in 0..24 {
        project.repo.write(
            &format!("{PROJECT_DIR}/models/marts/extra_{index:02}.sql"),
            "{{ config(schema=target.name ~ '_marts', meta={'owner': env_var('USER_' ~ target.name, 'x')}) }}\nselect 1 as id\n",
        );
    }
    project.repo.commit("many models with an env-dependent schema");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    edit_customer_orders(&project);
    project.clean_target();
    let run = project.run(&["dbt", "compile", "--env", "prod", "--format", "json"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["exploded"], true, "{report}");
    assert!(report["modified_models"].as_array().unwrap().len() > 20, "{report}");
    assert!(run.stderr.contains("state_modified_compare_more_unrendered_values"), "{}", run.stderr);
}

#[test]
fn dbt_build_output_inside_the_dags_folder_is_never_deployed() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    assert!(project.file("target/manifest.json").is_file(), "the deploy's dbt compile wrote target/");
    std::fs::create_dir_all(project.file("logs")).unwrap();
    std::fs::write(project.file("logs/dbt.log"), "a log line\n").unwrap();
    let keys = project.bucket.keys();
    let under = |folder: &str| format!("dags/{}/{folder}/", PROJECT_DIR.trim_start_matches("dags/"));
    assert!(keys.iter().any(|key| key.starts_with("dags/")), "the DAGs were deployed: {keys:?}");
    for folder in ["target", "logs"] {
        assert!(!keys.iter().any(|key| key.starts_with(&under(folder))), "{folder}/ deployed: {keys:?}");
    }
    // A second deploy (target/ and logs/ now hold files from the first) plans nothing for them either.
    let run = project.run(&["plan", "--env", "prod", "--format", "json"]);
    run.assert_code(0);
    assert!(!run.stdout.contains("/target/run_results.json\""), "{}", run.stdout);
    assert!(!run.stdout.contains("/logs/dbt.log\""), "{}", run.stdout);
}

const REVENUE: &str = "version: 2\nexposures:\n  - name: revenue\n    type: dashboard\n    owner: {email: a@b.c}\n    depends_on: [ref('customer_orders')]\n";

#[test]
fn bucket_exposures_never_replace_the_repositorys_own() {
    let project = DbtProject::new(Backend::Local, "  exposures_prefix: data/exposures");
    // The pull request breaks its own exposure file; the bucket has a valid file of the same name, and churn.
    let broken = "version: 2\nexposures:\n  - name: revenue\n    type: dashboard\n    owner: {email: a@b.c}\n    depends_on: [ref('no_such_model')]\n";
    project.repo.write(&format!("{PROJECT_DIR}/models/exposures/dashboards.yml"), broken);
    project.repo.commit("a broken exposure");
    project.bucket.seed(
        "data/exposures/dashboards.yml",
        format!("{REVENUE}  - name: churn\n    type: dashboard\n    owner: {{email: a@b.c}}\n    depends_on: [ref('customer_summary')]\n").as_bytes(),
    );
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(1);
    assert!(run.stderr.contains("no_such_model"), "the pull request's own file is checked: {}", run.stderr);
    let committed = std::fs::read_to_string(project.file("models/exposures/dashboards.yml")).unwrap();
    assert_eq!(committed, broken, "the repository's file is never replaced");
    assert!(run.stderr.contains("exposure `revenue` is already defined"), "the conflict is reported: {}", run.stderr);
    let pulled =
        std::fs::read_to_string(project.file("models/exposures/_dagship_bucket_exposures/dashboards.yml")).unwrap();
    assert!(pulled.contains("churn") && !pulled.contains("revenue"), "{pulled}");

    // Fixed: the repository's revenue and the bucket's churn are both in the manifest.
    project.repo.write(&format!("{PROJECT_DIR}/models/exposures/dashboards.yml"), REVENUE);
    project.repo.commit("fix the exposure");
    let report = project.compile_json(&["--full"]);
    assert_eq!(report["exposures_pulled"], 1, "{report}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.file("target/manifest.json")).unwrap()).unwrap();
    for name in ["exposure.shop.revenue", "exposure.shop.churn"] {
        assert!(manifest["exposures"].get(name).is_some(), "{name} missing");
    }
}

#[test]
fn a_symlinked_exposures_folder_cannot_send_bucket_objects_outside_the_repository() {
    let project = DbtProject::new(Backend::Local, "  exposures_prefix: data/exposures");
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.file("models")).unwrap();
    std::os::unix::fs::symlink(outside.path(), project.file("models/exposures")).unwrap();
    project.bucket.seed("data/exposures/dashboards.yml", REVENUE.as_bytes());
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(2);
    assert!(run.stderr.contains("outside the repository"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside");
}

#[test]
fn a_dry_run_deploy_changes_nothing_in_the_work_tree_or_the_bucket() {
    let project = DbtProject::new(Backend::Local, "  exposures_prefix: data/exposures\n  docs: true");
    project.bucket.seed("data/exposures/dashboards.yml", REVENUE.as_bytes());
    let status = || project.repo.git(&["status", "--porcelain", "--ignored", "--untracked-files=all"]);
    let before = (status(), project.bucket.objects());
    let run = project.run(&["deploy", "--env", "prod", "--dry-run"]);
    run.assert_code(0);
    assert!(run.stderr.contains("dry run: dbt is not run"), "the output says what was skipped: {}", run.stderr);
    assert!(run.stdout.contains("dry run: nothing written"), "{}", run.stdout);
    assert_eq!((status(), project.bucket.objects()), before, "a dry run changed the work tree or the bucket");
}

#[test]
fn dbt_user_yml_is_never_deployed() {
    let project = DbtProject::new(Backend::Local, "");
    std::fs::write(project.file(".user.yml"), "id: 2b6a5d2e-0000-4000-8000-000000000001\n").unwrap();
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let keys = project.bucket.keys();
    assert!(!keys.iter().any(|key| key.ends_with(".user.yml")), "{keys:?}");
    // A fresh checkout writes a new id: the rerun is still a no-op.
    std::fs::write(project.file(".user.yml"), "id: 2b6a5d2e-0000-4000-8000-000000000002\n").unwrap();
    let run = project.run(&["plan", "--env", "prod", "--dbt-artifacts", "skip", "--format", "json"]);
    run.assert_code(0);
    assert!(!run.stdout.contains(".user.yml"), "{}", run.stdout);
}

#[test]
fn an_unusable_manifest_in_the_bucket_falls_back_to_a_full_compile_with_a_warning() {
    let project = DbtProject::new(Backend::Local, "");
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let manifest = project.bucket.objects()["data/target/manifest.json"].clone();
    edit_customer_orders(&project);
    let newer = String::from_utf8(manifest.clone()).unwrap().replace("/manifest/v12.json", "/manifest/v99.json");
    assert_ne!(newer.as_bytes(), manifest.as_slice(), "the manifest names its schema v12");
    for (bytes, problem) in [
        (manifest[..manifest.len() / 2].to_vec(), "not a complete JSON manifest"),
        (newer.into_bytes(), "manifest schema v99"),
    ] {
        project.bucket.seed("data/target/manifest.json", &bytes);
        project.clean_target();
        let run = project.run(&["dbt", "compile", "--env", "prod", "--format", "json"]);
        run.assert_code(0);
        let report = run.json();
        assert_eq!(report["mode"], "full", "{report}");
        assert!(report["state"]["unusable"].as_str().is_some_and(|text| text.contains(problem)), "{report}");
        assert!(run.stderr.contains("is unusable"), "a warning: {}", run.stderr);
        assert_eq!(
            DbtProject::names(&report, "modified_models"),
            ["customer_orders", "customer_summary", "stg_orders"]
        );
    }
}

/// The dbt target: `--target` over DBT_TARGET over the environment's `dbt_target`/`dbt_check_target`; an
/// override says so, and an unknown target is named before dbt runs.
#[test]
fn the_dbt_target_comes_from_the_flag_then_dbt_target_then_the_config() {
    let project = DbtProject::new(Backend::Local, "");
    assert_eq!(project.compile_json(&[])["target"], "dev", "the config's dbt_check_target");

    let mut command = project.command(&["dbt", "compile", "--env", "prod", "--format", "json"]);
    let from_variable = common::run_command(command.env("DBT_TARGET", "prod"));
    from_variable.assert_code(0);
    assert_eq!(from_variable.json()["target"], "prod");
    assert!(from_variable.stderr.contains("dbt target `prod` (from DBT_TARGET)"), "{}", from_variable.stderr);

    let mut command = project.command(&["dbt", "compile", "--env", "prod", "--target", "dev", "--format", "json"]);
    let from_flag = common::run_command(command.env("DBT_TARGET", "prod"));
    from_flag.assert_code(0);
    assert_eq!(from_flag.json()["target"], "dev", "the flag wins over DBT_TARGET");

    let unknown = project.run(&["dbt", "compile", "--env", "prod", "--target", "staging"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("profile `shop` has no target `staging`"), "{}", unknown.stderr);
}

/// dbt missing altogether: the hint names the adapter the profile needs (DuckDB here), not some other one.
#[test]
fn a_missing_dbt_names_the_adapter_the_profile_needs() {
    let project = DbtProject::new(Backend::Local, "  executable: dbt-not-installed-here");
    let run = project.run(&["dbt", "compile", "--env", "prod"]);
    run.assert_code(2);
    assert!(run.stderr.contains("`pip install dbt-core dbt-duckdb`"), "{}", run.stderr);
    assert!(!run.stderr.contains("bigquery"), "{}", run.stderr);
}
