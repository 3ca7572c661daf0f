//! A repository holding a small dbt project on DuckDB, deploying to one test bucket as environment `prod`
//! (deploys compile with target `prod`; pull request checks with target `dev`). dbt itself is the real one the
//! test script installs (DAGSHIP_TEST_DBT_BIN); without it the tests fail, they never skip.

use std::path::PathBuf;
use std::process::Command;

use super::buckets::{Backend, Bucket};
use super::{Repo, Run, dagship_command, run_command};

pub const DBT_BIN_VARIABLE: &str = "DAGSHIP_TEST_DBT_BIN";

/// The folder holding the `dbt` the test script installed.
pub fn dbt_bin_dir() -> PathBuf {
    let dir = std::env::var(DBT_BIN_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{DBT_BIN_VARIABLE} is not set: run the tests through scripts/test.sh, which installs dbt-core and \
             dbt-duckdb and exports it"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(dir.join("dbt").is_file(), "{} has no dbt executable", dir.display());
    dir
}

/// PATH with the test dbt first.
pub fn path_with_dbt() -> String {
    format!("{}:{}", dbt_bin_dir().display(), std::env::var("PATH").unwrap_or_default())
}

pub const PROJECT_DIR: &str = "dags/shop";

pub struct DbtProject {
    pub repo: Repo,
    pub bucket: Bucket,
}

impl DbtProject {
    /// The project with three chained models (stg_orders -> customer_orders -> customer_summary), a seed, and
    /// `extra_dbt_config` appended to the `dbt:` section of dagship.yml.
    pub fn new(backend: Backend, extra_dbt_config: &str) -> DbtProject {
        let bucket = Bucket::new(backend);
        let platform = backend.platform();
        let repo = Repo::new();
        let config = format!(
            "dags_dir: dags\n\
             dbt:\n  project_dir: {PROJECT_DIR}\n{extra_dbt_config}\n\
             environments:\n  prod: {{ platform: {platform}, bucket: \"{}\", dbt_target: prod, \
             dbt_check_target: dev, vars: {{ ENV_SHORT_NAME: prod }}, branches: [main] }}\n",
            bucket.url
        );
        repo.write("dagship.yml", &config)
            .write(".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n")
            .write("dags/daily.py", "# a DAG\n")
            .write(&format!("{PROJECT_DIR}/dbt_project.yml"), DBT_PROJECT)
            .write(&format!("{PROJECT_DIR}/profiles.yml"), PROFILES)
            .write(&format!("{PROJECT_DIR}/seeds/raw_orders.csv"), "order_id,customer_id,amount\n1,10,5.0\n")
            .write(&format!("{PROJECT_DIR}/models/staging/stg_orders.sql"), STG_ORDERS)
            .write(&format!("{PROJECT_DIR}/models/marts/customer_orders.sql"), CUSTOMER_ORDERS)
            .write(&format!("{PROJECT_DIR}/models/marts/customer_summary.sql"), CUSTOMER_SUMMARY);
        repo.commit("dbt project");
        DbtProject { repo, bucket }
    }

    pub fn file(&self, relative: &str) -> PathBuf {
        self.repo.path().join(PROJECT_DIR).join(relative)
    }

    /// dagship with the test dbt on PATH, the bucket's emulator configured and DuckDB files in the scratch dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = dagship_command(self.repo.path());
        command
            .args(args)
            .env("PATH", path_with_dbt())
            .env("DO_NOT_TRACK", "1")
            .env("DAGSHIP_DUCKDB_DIR", self.repo.scratch())
            .env_remove("DBT_PROFILES_DIR");
        self.bucket.configure(&mut command);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_command(&mut self.command(args))
    }

    /// `dagship dbt compile --env prod --format json`, asserting success.
    pub fn compile_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["dbt", "compile", "--env", "prod", "--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        run.assert_code(0);
        run.json()
    }

    /// Removes dbt's target folder, as in a fresh checkout.
    pub fn clean_target(&self) {
        let _ = std::fs::remove_dir_all(self.file("target"));
    }

    /// The names in a compile report's `modified_models`.
    pub fn names(report: &serde_json::Value, key: &str) -> Vec<String> {
        report[key]
            .as_array()
            .unwrap_or_else(|| panic!("no `{key}` in {report}"))
            .iter()
            .map(|model| model.get("name").unwrap_or(model).as_str().unwrap().to_string())
            .collect()
    }
}

const DBT_PROJECT: &str = "name: shop
version: '1.0.0'
config-version: 2
profile: shop
vars:
  ENV_SHORT_NAME: dev
models:
  shop:
    staging:
      +materialized: view
    marts:
      +materialized: table
";

/// DuckDB files are named warehouse_<target>: a database file must not share its name with a schema.
const PROFILES: &str = "shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: \"{{ env_var('DAGSHIP_DUCKDB_DIR') }}/warehouse_dev.duckdb\"
      schema: analytics_dev
      threads: 1
    prod:
      type: duckdb
      path: \"{{ env_var('DAGSHIP_DUCKDB_DIR') }}/warehouse_prod.duckdb\"
      schema: analytics
      threads: 1
";

const STG_ORDERS: &str = "select order_id, customer_id, amount from {{ ref('raw_orders') }}\n";
const CUSTOMER_ORDERS: &str = "select customer_id, count(*) as orders, '{{ var(\"ENV_SHORT_NAME\") }}' as env\nfrom {{ ref('stg_orders') }}\ngroup by customer_id\n";
const CUSTOMER_SUMMARY: &str = "select count(*) as customers from {{ ref('customer_orders') }}\n";
