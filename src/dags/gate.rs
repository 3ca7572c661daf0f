//! The DAG check as a deploy's gate (`dags_check.before_deploy`): what refuses the deploy, one line per broken
//! file or duplicate id, and what the deploy's ledger record keeps when nothing does (the DAG ids per file, which
//! a pull request's check compares its own with: src/dags/diff.rs `against_deployed`).
use std::collections::BTreeMap;

use super::{DagsReport, FileStatus};

/// The DAG ids each imported file defines (repository path -> ids, sorted); files defining none are left out.
pub fn ids_by_file(report: &DagsReport) -> BTreeMap<String, Vec<String>> {
    report
        .files
        .iter()
        .filter(|file| file.status == FileStatus::Ok && !file.dag_ids.is_empty())
        .map(|file| {
            let mut ids = file.dag_ids.clone();
            ids.sort_unstable();
            (file.path.clone(), ids)
        })
        .collect()
}

/// Why the report fails a deploy: each file that did not import with its first error and line, each DAG id
/// defined in more than one file. Empty when the report is ok.
pub fn failures(report: &DagsReport) -> Vec<String> {
    let mut reasons: Vec<String> = report
        .files
        .iter()
        .filter(|file| matches!(file.status, FileStatus::Error | FileStatus::Timeout))
        .map(|file| {
            let first = file.errors.first();
            let line = first.and_then(|error| error.line).map(|line| format!(":{line}")).unwrap_or_default();
            let message = first.map_or("did not import", |error| error.message.as_str());
            format!("DAG import error in {}{line}: {message}", file.path)
        })
        .collect();
    reasons.extend(report.duplicates.iter().map(|duplicate| {
        let files: Vec<&str> = duplicate.files.iter().map(|site| site.path.as_str()).collect();
        format!("duplicate DAG id `{}` in {}", duplicate.dag_id, files.join(", "))
    }));
    reasons
}
