//! The results of a run as plain data, and their renderings: JSON (the stable contract), text for people,
//! Markdown for the step summary, and the values of the step outputs (`outputs`). The reports themselves live
//! with the stage that makes them (`detect::report`, `deploy`, `dbt`, `dags`).
mod dag_diff;
mod dags;
mod dbt;
mod deploy;
mod doctor;
mod history;
mod impact;
mod init;
#[cfg(test)]
mod large_comment_tests;
mod markdown;
mod mwaa;
pub mod outputs;
mod plan;
mod plan_tree;
mod text;

pub use dag_diff::render_dag_diff_markdown;
pub use dags::{render_dags_markdown, render_dags_text};
pub use dbt::{EXPLODED_HINT, describe_state, render_compile_markdown, render_compile_text};
pub use deploy::{render_deploy_markdown, render_deploy_outcome, render_deploy_text};
pub use doctor::render_doctor_text;
pub use history::{
    EnvironmentStatus, history_json, render_drift_markdown, render_drift_text, render_history_markdown,
    render_history_text, render_status_markdown, render_status_text,
};
pub use impact::{render_impact_markdown, render_impact_mermaid, render_impact_text};
pub use init::render_init_text;
pub use markdown::{code_span, escape_markdown, render_detect_markdown};
pub use mwaa::{render_mwaa_markdown, render_mwaa_text};
pub use plan::{render_plan_markdown, render_plan_text};
pub use plan_tree::{render_plan_tree_markdown, render_plan_tree_mermaid};
pub use text::render_detect_text;
