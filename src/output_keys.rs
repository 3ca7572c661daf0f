//! The name of every step output dagship writes (`$GITHUB_OUTPUT`), each defined once. The values are built in
//! `report::outputs`; the README's outputs table documents them. A leaf: config validation reads
//! `DETECT_KEYS` to refuse a filter named like one of them.

// detect (besides one `true`/`false` output per filter, named after it)
pub const BASE: &str = "base";
pub const HEAD: &str = "head";
pub const CHANGES: &str = "changes";
pub const JOBS: &str = "jobs";
pub const MATRIX: &str = "matrix";
pub const HAS_JOBS: &str = "has_jobs";
pub const CHANGED_FILES_COUNT: &str = "changed_files_count";
/// Output names detect writes itself; a filter may not take one of them.
pub const DETECT_KEYS: &[&str] = &[BASE, HEAD, CHANGES, JOBS, MATRIX, HAS_JOBS, CHANGED_FILES_COUNT];

// plan and deploy
pub const PLAN_UPLOADS: &str = "plan_uploads";
pub const PLAN_DELETIONS: &str = "plan_deletions";
pub const PLAN_JSON: &str = "plan_json";
pub const MWAA_UPDATE: &str = "mwaa_update";
pub const DEPLOYED: &str = "deployed";
pub const DEPLOYED_ENVIRONMENTS: &str = "deployed_environments";
pub const MWAA_UPDATED: &str = "mwaa_updated";

// dbt compile
pub const DBT_CHANGED: &str = "dbt_changed";
pub const MODIFIED_MODELS: &str = "modified_models";
pub const DOWNSTREAM_MODELS: &str = "downstream_models";
pub const DELETED_MODELS: &str = "deleted_models";
pub const DBT_MODE: &str = "dbt_mode";
pub const DBT_STATE: &str = "dbt_state";

// dags check
pub const DAGS_OK: &str = "dags_ok";
pub const DAG_IMPORT_ERRORS: &str = "dag_import_errors";
pub const DAG_IDS: &str = "dag_ids";
pub const DAGS_ADDED: &str = "dags_added";
pub const DAGS_REMOVED: &str = "dags_removed";

// impact
pub const IMPACTED_DAGS: &str = "impacted_dags";

// drift
pub const DRIFT: &str = "drift";

// ci
pub const MODE: &str = "mode";
pub const ENVIRONMENT: &str = "environment";
