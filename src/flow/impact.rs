//! The impact as one call: the whole DAGs folder imported with the repository's Airflow (the DAGs that run a
//! model need not be among the changed files), the compile's manifest read, the two joined.
use std::path::Path;

use crate::config::Config;
use crate::dbt::{CompileReport, Manifest};
use crate::error::Result;
use crate::impact::{Impact, compute};

/// The impact of a compile's models on the DAGs of `root`. Nothing is imported when no model was selected or
/// deleted.
pub fn assess(root: &Path, config: &Config, compile: &CompileReport) -> Result<Impact> {
    let dags = if compile.selected_count() == 0 && compile.deleted_models.is_empty() {
        None
    } else {
        Some(crate::dags::check(root, config, None)?)
    };
    let manifest = match &dags {
        Some(_) => Manifest::read(&compile.manifest_path)?,
        None => Manifest::default(),
    };
    Ok(compute(
        &manifest,
        &compile.modified_models,
        &compile.downstream_models,
        &compile.deleted_models,
        dags.as_ref().map(|report| report.files.as_slice()).unwrap_or_default(),
    ))
}
