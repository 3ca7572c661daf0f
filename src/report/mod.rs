//! The results of a run as plain data, and their renderings: JSON (the stable contract), text for people,
//! Markdown for the step summary, and the list of step outputs.
mod dag_diff;
mod dags;
mod dbt;
mod impact;
mod markdown;
mod mwaa;
mod plan;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::detect::FileChange;
use crate::detect::filters::FilterResult;
use crate::matrix::Matrix;

pub use dag_diff::render_dag_diff_markdown;
pub use dags::{render_dags_markdown, render_dags_text};
pub use dbt::{EXPLODED_HINT, describe_state, render_compile_markdown, render_compile_text};
pub use impact::{render_impact_markdown, render_impact_mermaid, render_impact_text};
pub use markdown::{code_span, escape_markdown, render_detect_markdown};
pub use mwaa::{render_mwaa_markdown, render_mwaa_text};
pub use plan::{render_plan_markdown, render_plan_text};
pub use text::render_detect_text;

/// The output of `dagship detect --format json`; field order and names are the contract in DESIGN.md.
#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    pub base: String,
    pub head: String,
    pub files: Vec<FileChange>,
    pub filters: BTreeMap<String, FilterResult>,
    pub jobs: Vec<String>,
    pub has_jobs: bool,
    pub matrix: Matrix,
}

impl DetectReport {
    /// Writes the JSON contract, pretty-printed, followed by a newline.
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        out.write_all(b"\n")
    }

    /// Step outputs: one boolean per filter, the list of changed filters, jobs, matrix and counts.
    pub fn outputs(&self) -> Vec<(String, String)> {
        let mut outputs: Vec<(String, String)> =
            self.filters.iter().map(|(name, result)| (name.clone(), result.changed.to_string())).collect();
        let changed: Vec<&String> =
            self.filters.iter().filter(|(_, result)| result.changed).map(|(name, _)| name).collect();
        outputs.extend([
            ("changes".to_string(), compact_json(&changed)),
            ("jobs".to_string(), compact_json(&self.jobs)),
            ("matrix".to_string(), compact_json(&self.matrix)),
            ("has_jobs".to_string(), self.has_jobs.to_string()),
            ("changed_files_count".to_string(), self.files.len().to_string()),
            ("base".to_string(), self.base.clone()),
            ("head".to_string(), self.head.clone()),
        ]);
        outputs
    }
}

/// Compact JSON for output values (one line, as `fromJSON` in a workflow expects).
fn compact_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("output values always serialize")
}
