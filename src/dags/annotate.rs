//! The report as GitHub annotations: import errors and duplicate ids as errors on their file and line, slow
//! imports and Python warnings raised by a file as warnings.
use super::{DagsError, DagsReport, FileStatus};
use crate::notice::{Level, annotate};

/// Python warnings annotated per file at most: GitHub shows 10 warnings per step anyway.
const WARNINGS_PER_FILE: usize = 3;

pub fn annotate_report(report: &DagsReport) {
    for file in &report.files {
        for error in &file.errors {
            annotate(Level::Error, Some(&file.path), error.line, &format!("DAG import error: {}", error.message));
        }
        if file.slow {
            annotate(
                Level::Warning,
                Some(&file.path),
                None,
                &format!(
                    "slow DAG import: {:.1}s, over dags_check.slow_import_threshold ({}s); the scheduler pays this on \
                     every parse, move work out of the module's top level",
                    file.seconds, report.slow_import_threshold_seconds
                ),
            );
        }
        if file.status == FileStatus::Ok {
            for (line, message) in
                file.warnings.iter().filter_map(|warning| own_warning(&file.path, warning)).take(WARNINGS_PER_FILE)
            {
                annotate(Level::Warning, Some(&file.path), Some(line), message);
            }
        }
    }
    for duplicate in &report.duplicates {
        for site in &duplicate.files {
            let others: Vec<&str> = duplicate
                .files
                .iter()
                .filter(|other| other.path != site.path)
                .map(|other| other.path.as_str())
                .collect();
            let elsewhere = if others.is_empty() {
                "more than once in this file".to_string()
            } else {
                format!("also in {}", others.join(", "))
            };
            annotate(
                Level::Error,
                Some(&site.path),
                site.line,
                &format!(
                    "duplicate DAG id `{}`: defined {elsewhere}; Airflow keeps one and fails the other",
                    duplicate.dag_id
                ),
            );
        }
    }
}

/// A file that killed or hung the checker, as an error on that file.
pub fn annotate_failure(err: &DagsError) {
    if let Some(file) = err.file() {
        let what = match err {
            DagsError::Hung { .. } => "hung: it ignored Airflow's import timeout",
            _ => "stopped the Python interpreter",
        };
        annotate(Level::Error, Some(file), None, &format!("DAG import {what}"));
    }
}

/// A captured warning `file:line: Category: message` raised by `path` itself, as (line, `Category: message`).
fn own_warning<'a>(path: &str, warning: &'a str) -> Option<(u32, &'a str)> {
    let (location, message) = warning.split_once(": ")?;
    let (file, line) = location.rsplit_once(':')?;
    (file == path || file.ends_with(&format!("/{path}"))).then_some(())?;
    Some((line.parse().ok()?, message))
}

#[cfg(test)]
mod tests {
    use super::own_warning;

    #[test]
    fn warnings_of_the_file_itself() {
        let warning = "dags/a.py:5: DeprecatedImportWarning: use the provider";
        assert_eq!(own_warning("dags/a.py", warning), Some((5, "DeprecatedImportWarning: use the provider")));
        assert_eq!(own_warning("dags/b.py", warning), None);
        assert_eq!(own_warning("dags/a.py", "/venv/airflow/x.py:3: DeprecationWarning: x"), None);
    }
}
