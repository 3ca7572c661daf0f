//! `dagship dags check`: import the DAGs folder with the user's own Python + Airflow (through a checker script
//! embedded in the binary) and report what Airflow's DagBag would: DAG ids per file, import errors with their
//! line and traceback, import time per file, and DAG ids defined in more than one file.
//!
//! `run` starts the checker and watches it, `build` turns its JSON into the report; this file holds the types.
mod annotate;
mod build;
mod check;
mod dbt_tasks;
mod diff;
mod gate;
mod run;
mod venv;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error_kind::ErrorKind;

pub use annotate::{annotate_failure, annotate_report};
pub use build::{RunFacts, build_report};
pub use check::{check, check_at_commit, check_with};
pub use dbt_tasks::{DagDetail, DbtInvocation, DbtRun, DbtTask};
pub use diff::{ComparedWith, DagAt, DagDiff, against_deployed, diff};
pub use gate::{failures, ids_by_file};
pub use run::{CheckRequest, run_checker};

/// The checker script, written to a temp file for each run (so the binary is all a user installs).
pub const CHECKER_SOURCE: &str = include_str!("checker.py");

/// What a check found, and the JSON `dags check --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagsReport {
    /// No import error, no timeout, no duplicate DAG id.
    pub ok: bool,
    pub airflow_version: String,
    pub python_version: String,
    /// The interpreter the check ran.
    pub python: String,
    /// The DAGs folder, relative to the repository root.
    pub dags_dir: String,
    /// `all` (the whole folder) or `changed` (only the files asked for).
    pub scope: Scope,
    pub files: Vec<DagFile>,
    pub duplicates: Vec<Duplicate>,
    pub summary: Summary,
    pub slow_import_threshold_seconds: f64,
    pub file_timeout_seconds: f64,
    /// Python and Airflow start-up before the first file, in seconds.
    pub startup_seconds: f64,
    /// The whole check, start-up included, in seconds.
    pub took_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    All,
    Changed,
}

/// One file Airflow would parse (or, for a changed-only check, one changed file it skips).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagFile {
    /// Relative to the repository root.
    pub path: String,
    pub status: FileStatus,
    pub dag_ids: Vec<String>,
    /// The file's DAGs with their schedule and the tasks that run dbt.
    pub dags: Vec<DagDetail>,
    /// Tasks across the file's DAGs.
    pub tasks: usize,
    /// Import time in seconds.
    pub seconds: f64,
    /// Imported slower than `dags_check.slow_import_threshold`.
    pub slow: bool,
    pub errors: Vec<ImportError>,
    /// Why a changed file was not imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// Python warnings raised while importing the file (deprecated imports and the like), as Airflow captures
    /// them: `file:line: Category: message`.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Ok,
    Error,
    Timeout,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Matched by `.airflowignore`.
    Airflowignore,
    /// Contains neither "airflow" nor "dag", so Airflow's safe-mode heuristic never imports it.
    NoDagHeuristic,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportError {
    /// The exception, like `ModuleNotFoundError: No module named 'x'`.
    pub message: String,
    /// The line in the DAG file the error points at (the innermost frame in the file; a SyntaxError's line).
    pub line: Option<u32>,
    pub traceback: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    pub dag_id: String,
    /// Every file defining the id, with the line naming it when it appears literally.
    pub files: Vec<DuplicateSite>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateSite {
    pub path: String,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Files imported (skipped ones not counted).
    pub files: usize,
    pub dags: usize,
    pub tasks: usize,
    /// Files that failed to import, timeouts included.
    pub import_errors: usize,
    pub timeouts: usize,
    pub duplicates: usize,
    pub slow: usize,
    pub skipped: usize,
    /// Import time summed over the files, in seconds.
    pub import_seconds: f64,
}

impl DagsReport {
    /// Every DAG id found, sorted, each once.
    pub fn dag_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.files.iter().flat_map(|file| file.dag_ids.iter().map(String::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Why a check could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum DagsError {
    #[error(
        "cannot run the Python interpreter `{python}`: {reason}. Set `dags_check.python` in dagship.yml (or pass \
         --python) to a Python that has Airflow installed, like `.venv/bin/python`"
    )]
    NoInterpreter { python: String, reason: String },
    #[error(
        "`{python}` cannot import Airflow ({detail}). Set `dags_check.requirements` in dagship.yml to a \
         requirements file with your environment's apache-airflow version, providers and `-c` Airflow's constraints \
         (dagship installs it into a cached venv; this is how the check runs in the Action's container), or install \
         Airflow into that interpreter (`{python} -m pip install \"apache-airflow==3.1.8\"` and your providers), or \
         set `dags_check.python` (or --python) to a Python that has it, or `dags_check.pull_requests: false` to run \
         the check in a job of your own"
    )]
    NoAirflow { python: String, detail: String },
    /// The interpreter died (a DAG file calling os._exit, a crash in a C extension) before writing its result.
    #[error("the DAG check stopped (exit status {status}) {}; its last output:\n{output}", describe_file(.file))]
    Crashed { status: String, file: Option<String>, output: String },
    /// An import outlived Airflow's own timeout (a blocked SIGALRM, a C call that holds the interpreter).
    #[error(
        "the DAG check made no progress for {}s {} and was stopped; its last output:\n{output}",
        .after.as_secs(), describe_file(.file)
    )]
    Hung { after: Duration, file: Option<String>, output: String },
    #[error("{0}")]
    Setup(String),
    /// A DAG file wrote to the runner's file-command files ($GITHUB_OUTPUT, $GITHUB_ENV, ...); dagship put
    /// them back. Never legitimate: the check fails.
    #[error(
        "a DAG file wrote to the runner's file-command files ({files}) during the import check, trying to set step \
         outputs or environment variables; their content was restored and the check fails"
    )]
    Tampered { files: String },
    /// The check ran and found broken DAG files (for flows that turn a report into a failed step).
    #[error("{} failed the import check (import errors, timeouts or duplicate DAG ids)", crate::plural::plural(*.0, "DAG file"))]
    Failed(usize),
    #[error("cannot use {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn describe_file(file: &Option<String>) -> String {
    match file {
        Some(file) => format!("while importing {file}"),
        None => "before importing any DAG file".into(),
    }
}

impl DagsError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DagsError {
        DagsError::Io { path: path.into(), source }
    }

    /// A file that kills or hangs the import fails the check like an import error; a missing Python or Airflow
    /// is a setup problem.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DagsError::Crashed { file: Some(_), .. }
            | DagsError::Hung { file: Some(_), .. }
            | DagsError::Failed(_)
            | DagsError::Tampered { .. } => ErrorKind::ChecksFailed,
            DagsError::NoInterpreter { .. }
            | DagsError::NoAirflow { .. }
            | DagsError::Setup(_)
            | DagsError::Crashed { file: None, .. }
            | DagsError::Hung { file: None, .. } => ErrorKind::Usage,
            DagsError::Io { .. } => ErrorKind::Remote,
        }
    }

    /// The repository-relative file a crash or hang happened in, for an annotation.
    pub fn file(&self) -> Option<&str> {
        match self {
            DagsError::Crashed { file, .. } | DagsError::Hung { file, .. } => file.as_deref(),
            _ => None,
        }
    }
}
