//! The top-level error: one variant per stage, each naming the thing that failed and what to do.
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::context::RangeError;
use crate::dags::DagsError;
use crate::dbt::DbtError;
use crate::deploy::DeployError;
use crate::exit_code::ExitCode;
use crate::git::GitError;
use crate::matrix::MatrixError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Dbt(#[from] DbtError),
    #[error(transparent)]
    Dags(#[from] DagsError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Event(#[from] crate::github::event::EventError),
    /// The deploy wrote the bucket, then a later step (the post-deploy verify) failed: `report` says what was
    /// written, so `ci` reports `deployed=true` with the failure.
    #[error("{source}")]
    AfterDeploy { report: Box<crate::deploy::DeployReport>, source: Box<Error> },
    /// A safety rule refused the run before anything remote was written (exit 3).
    #[error("{0}")]
    Refused(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Matrix(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Git(err) => err.exit_code(),
            Error::Range(err) => err.exit_code(),
            Error::Deploy(err) => err.exit_code(),
            Error::Dbt(err) => err.exit_code(),
            Error::Dags(err) => err.exit_code(),
            Error::Write { .. } => ExitCode::Remote,
            Error::Event(_) => ExitCode::Usage,
            Error::Refused(_) => ExitCode::Refused,
            Error::AfterDeploy { source, .. } => source.exit_code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text printed for a failed run: the error and its causes, one per line.
pub fn render(err: &Error) -> String {
    let mut text = format!("error: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // thiserror's `transparent` repeats the inner message; print each distinct cause once.
        if !text.ends_with(&cause_text) {
            text.push_str(&format!("\n  caused by: {cause_text}"));
        }
        source = cause.source();
    }
    defuse_workflow_commands(&text)
}

/// An error can quote user input (an environment name, a file name, a child's stderr) holding a newline and
/// `::error::...`: on its own line the Actions runner would run it as a workflow command. Such lines get a `> `
/// in front (the runner only reads commands at the start of a line). Found by tests/it/hostile_input.rs.
fn defuse_workflow_commands(text: &str) -> String {
    text.split('\n')
        .map(|line| if line.trim_start().starts_with("::") { format!("> {line}") } else { line.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::defuse_workflow_commands;

    #[test]
    fn lines_that_would_start_a_workflow_command_are_defused() {
        assert_eq!(
            defuse_workflow_commands("error: no environment `x\n::error::forged`\n  ::warning::y\nplain"),
            "error: no environment `x\n> ::error::forged`\n>   ::warning::y\nplain"
        );
    }
}
