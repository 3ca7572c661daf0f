//! Every exit code dagship uses, in one place (documented in the README's "Exit codes" table).
use std::process::ExitCode as StdExitCode;

use crate::error_kind::ErrorKind;

/// What a dagship run ended with. The numbers are a stable contract for workflow authors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything went as asked.
    Ok = 0,
    /// The run worked but a check failed (dbt, DAG import, tests), `dagship drift` found drift, or a `dagship
    /// doctor` check failed.
    ChecksFailed = 1,
    /// Bad usage or bad input: flags, config file, revisions, not a git repository.
    Usage = 2,
    /// A safety check refused the operation; nothing remote was written.
    Refused = 3,
    /// A remote or infrastructure failure: network, bucket, git fetch, GitHub API; or a deploy that lost its
    /// lock part-way (taken over, removed with `unlock --force`, or its lease unrenewable): it stopped before its
    /// next write and wrote no marker, and a re-run converges.
    Remote = 4,
    /// Cancelled by SIGINT or SIGTERM (128 + SIGINT, as shells report it). A deploy cancelled during its writes
    /// started no write after the signal and released its lock; its marker was written only if every write had
    /// finished. The next deploy completes it.
    Cancelled = 130,
}

impl ExitCode {
    /// Every code, in order: `--help`'s exit-code table is built from this list and `meaning`.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Ok,
        ExitCode::ChecksFailed,
        ExitCode::Usage,
        ExitCode::Refused,
        ExitCode::Remote,
        ExitCode::Cancelled,
    ];

    /// The code's meaning in a few words, for `--help` (the doc comments above say the rest).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Ok => "everything went as asked",
            ExitCode::ChecksFailed => "a check failed (dbt, DAG import, tests)",
            ExitCode::Usage => "bad usage or input: flags, config file, revisions, not a git repository",
            ExitCode::Refused => "a safety check refused the operation; nothing remote was written",
            ExitCode::Remote => "a remote failure: network, credentials, bucket, git fetch, GitHub API",
            ExitCode::Cancelled => "cancelled by SIGINT or SIGTERM",
        }
    }
}

impl From<ExitCode> for StdExitCode {
    fn from(code: ExitCode) -> Self {
        StdExitCode::from(code as u8)
    }
}

/// The one map from a failure's kind to its exit code: every error reaches the exit through here
/// (`error::Error::kind`, then this), so a kind changes its code in one place.
impl From<ErrorKind> for ExitCode {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::ChecksFailed => ExitCode::ChecksFailed,
            ErrorKind::Usage => ExitCode::Usage,
            ErrorKind::Refused => ExitCode::Refused,
            ErrorKind::Remote => ExitCode::Remote,
            ErrorKind::Cancelled => ExitCode::Cancelled,
        }
    }
}
