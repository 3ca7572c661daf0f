//! The checker's result -> the report: paths relative to the repository root, duplicate DAG ids across files,
//! slow imports, counts.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::run::{CheckedFile, CheckerOutput};
use super::{DagDetail, DagFile, DagsReport, Duplicate, DuplicateSite, FileStatus, ImportError, Scope, Summary};
use crate::redact::{keep_end, keep_start, redact};

/// Bounds on what a DAG file's errors may put in a report (and so in a comment): a message, a traceback
/// (its end is kept: it says what went wrong) and the warnings of one file.
const MAX_MESSAGE_BYTES: usize = 2_000;
const MAX_TRACEBACK_BYTES: usize = 8_000;
const MAX_WARNINGS: usize = 20;

/// What the report says about the run besides the checker's findings.
pub struct RunFacts<'a> {
    pub root: &'a Path,
    pub dags_folder: &'a Path,
    pub dags_dir: &'a str,
    pub python: &'a str,
    pub scope: Scope,
    pub slow_import_threshold: Duration,
    pub file_timeout: Duration,
    pub took: Duration,
}

pub fn build_report(output: CheckerOutput, facts: &RunFacts) -> DagsReport {
    let threshold = facts.slow_import_threshold.as_secs_f64();
    let root_prefix = format!("{}/", facts.root.display());
    let files: Vec<DagFile> =
        output.files.into_iter().map(|file| dag_file(file, facts, &root_prefix, threshold)).collect();
    let duplicates = duplicates(&files, facts.root);
    let imported = || files.iter().filter(|file| file.status != FileStatus::Skipped);
    let failed = |status| imported().filter(|file| file.status == status).count();
    let summary = Summary {
        files: imported().count(),
        dags: imported().map(|file| file.dag_ids.len()).sum(),
        tasks: imported().map(|file| file.tasks).sum(),
        import_errors: failed(FileStatus::Error) + failed(FileStatus::Timeout),
        timeouts: failed(FileStatus::Timeout),
        duplicates: duplicates.len(),
        slow: imported().filter(|file| file.slow).count(),
        skipped: files.len() - imported().count(),
        import_seconds: imported().map(|file| file.seconds).sum(),
    };
    DagsReport {
        ok: summary.import_errors == 0 && duplicates.is_empty(),
        airflow_version: output.airflow_version,
        python_version: output.python_version,
        python: facts.python.to_string(),
        dags_dir: facts.dags_dir.to_string(),
        scope: facts.scope,
        files,
        duplicates,
        summary,
        slow_import_threshold_seconds: threshold,
        file_timeout_seconds: facts.file_timeout.as_secs_f64(),
        startup_seconds: output.startup_seconds,
        took_seconds: facts.took.as_secs_f64(),
    }
}

fn dag_file(file: CheckedFile, facts: &RunFacts, root_prefix: &str, threshold: f64) -> DagFile {
    let path = relative(&file.path, facts);
    // Messages name files from the repository root, as the annotations do, not from the runner's checkout.
    // They are what a pull request's code raised: redacted, and bounded before they reach a comment.
    let clean = |text: &str| redact(&text.replace(root_prefix, ""));
    let errors = file
        .errors
        .iter()
        .map(|error| ImportError {
            message: if error.timeout {
                format!(
                    "import did not finish within {} (dags_check.file_timeout); move slow work out of the module's \
                     top level",
                    humantime::format_duration(facts.file_timeout)
                )
            } else {
                keep_start(&clean(&error.message), MAX_MESSAGE_BYTES)
            },
            line: error.line,
            traceback: keep_end(&clean(&error.traceback), MAX_TRACEBACK_BYTES),
        })
        .collect();
    DagFile {
        status: file.status,
        dag_ids: file.dags.iter().map(|dag| dag.dag_id.clone()).collect(),
        tasks: file.dags.iter().map(|dag| dag.tasks).sum(),
        dags: file
            .dags
            .into_iter()
            .map(|dag| DagDetail {
                dag_id: dag.dag_id,
                schedule: dag.schedule,
                dbt_tasks: dag.dbt_tasks.into_iter().filter_map(super::dbt_tasks::dbt_task).collect(),
            })
            .collect(),
        seconds: file.seconds,
        slow: file.status != FileStatus::Timeout && file.seconds > threshold,
        errors,
        skip_reason: file.skip_reason,
        warnings: file
            .warnings
            .iter()
            .take(MAX_WARNINGS)
            .map(|warning| keep_start(&clean(warning), MAX_MESSAGE_BYTES))
            .collect(),
        path,
    }
}

/// `dags_dir/<path inside the DAGs folder>`, or the path as the checker gave it when it lies elsewhere.
fn relative(path: &str, facts: &RunFacts) -> String {
    let path = Path::new(path);
    if let Ok(inside) = path.strip_prefix(facts.dags_folder) {
        return format!("{}/{}", facts.dags_dir.trim_end_matches('/'), inside.display());
    }
    match path.strip_prefix(facts.root) {
        Ok(inside) => inside.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// DAG ids defined by more than one file: Airflow keeps one of them and reports the other as an import error,
/// which depends on the order files are parsed in; the check reports every file.
fn duplicates(files: &[DagFile], root: &Path) -> Vec<Duplicate> {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for file in files {
        for dag_id in &file.dag_ids {
            by_id.entry(dag_id).or_default().push(&file.path);
        }
    }
    by_id
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(dag_id, paths)| Duplicate {
            dag_id: dag_id.to_string(),
            files: paths
                .into_iter()
                .map(|path| DuplicateSite { path: path.to_string(), line: literal_line(&root.join(path), dag_id) })
                .collect(),
        })
        .collect()
}

/// The first line holding the id as a quoted string literal, to point the annotation at it.
fn literal_line(file: &Path, dag_id: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    let quoted = [format!("\"{dag_id}\""), format!("'{dag_id}'")];
    let index = text.lines().position(|line| quoted.iter().any(|literal| line.contains(literal.as_str())))?;
    u32::try_from(index + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dags::run::{CheckedDag, CheckedError};

    fn checked(path: &str, ids: &[&str], seconds: f64) -> CheckedFile {
        CheckedFile {
            path: path.into(),
            status: FileStatus::Ok,
            skip_reason: None,
            dags: ids
                .iter()
                .map(|id| CheckedDag { dag_id: id.to_string(), tasks: 2, schedule: None, dbt_tasks: Vec::new() })
                .collect(),
            seconds,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn duplicates_slow_files_and_paths() {
        let mut broken = checked("/repo/dags/broken.py", &[], 0.1);
        broken.status = FileStatus::Timeout;
        broken.errors.push(CheckedError {
            message: "AirflowTaskTimeout: /repo/dags/broken.py".into(),
            line: Some(4),
            traceback: "File \"/repo/dags/broken.py\", line 4".into(),
            timeout: true,
        });
        let output = CheckerOutput {
            setup_error: None,
            airflow_version: "3.1.8".into(),
            python_version: "3.11.7".into(),
            startup_seconds: 2.0,
            files: vec![
                checked("/repo/dags/a.py", &["one", "shared"], 0.2),
                checked("/repo/dags/sub/b.py", &["shared"], 6.0),
                broken,
            ],
        };
        let facts = RunFacts {
            root: Path::new("/repo"),
            dags_folder: Path::new("/repo/dags"),
            dags_dir: "dags",
            python: "python3",
            scope: Scope::All,
            slow_import_threshold: Duration::from_secs(5),
            file_timeout: Duration::from_secs(30),
            took: Duration::from_secs(9),
        };
        let report = build_report(output, &facts);
        assert!(!report.ok);
        assert_eq!(report.files[1].path, "dags/sub/b.py");
        assert!(report.files[1].slow && !report.files[0].slow);
        assert_eq!(report.duplicates.len(), 1);
        assert_eq!(report.duplicates[0].dag_id, "shared");
        let sites: Vec<&str> = report.duplicates[0].files.iter().map(|site| site.path.as_str()).collect();
        assert_eq!(sites, ["dags/a.py", "dags/sub/b.py"]);
        assert_eq!(report.summary.import_errors, 1);
        assert_eq!(report.summary.timeouts, 1);
        assert_eq!(report.summary.dags, 3);
        assert!(report.files[2].errors[0].message.contains("within 30s"));
        assert_eq!(report.files[2].errors[0].traceback, "File \"dags/broken.py\", line 4");
        assert_eq!(report.dag_ids(), ["one", "shared"]);
    }
}
