//! What kind of failure an error is. Lower errors (git, store, deploy, dbt, dags, platform, range) expose a
//! kind; `error::exit_code` is the one map from kinds to exit codes. A leaf, so the engines classify their
//! failures without knowing the command line's exit codes (docs/architecture.md, "Errors and exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A check failed: dbt, a DAG import, Airflow's view of a deployed DAG.
    ChecksFailed,
    /// Bad usage or bad input: flags, config, revisions, not a git repository, a missing tool.
    Usage,
    /// A safety rule refused the operation before anything remote was written.
    Refused,
    /// A remote or infrastructure failure, or a deploy that lost its lock part-way.
    Remote,
    /// Cancelled by SIGINT or SIGTERM.
    Cancelled,
}
