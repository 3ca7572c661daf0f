//! The top-level error: one variant per stage, each naming the thing that failed and what to do; and the one
//! map from it to a kind of failure (`Error::kind`), which `exit_code` turns into the exit code. Lower errors
//! expose their own kind; nothing below this file knows exit codes (docs/architecture.md, "Errors and exit
//! codes").
use crate::config::ConfigError;
use crate::dags::DagsError;
use crate::dbt::DbtError;
use crate::deploy::DeployError;
use crate::detect::matrix::MatrixError;
use crate::detect::range::RangeError;
use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::git::GitError;
use crate::github::edges::WriteError;
use crate::platform::PlatformError;

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
    /// Airflow's view of the DAG files a deploy wrote (the post-deploy verify).
    #[error(transparent)]
    Verify(PlatformError),
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
    #[error(transparent)]
    Write(#[from] WriteError),
    /// `dagship init`: bad flags, or a file it would replace without --force.
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
}

impl Error {
    /// What kind of failure this is: the one place a top-level error is classified.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Matrix(_) | Error::Usage(_) | Error::Event(_) => ErrorKind::Usage,
            Error::Git(err) => err.kind(),
            Error::Range(err) => err.kind(),
            Error::Deploy(err) => err.kind(),
            Error::Dbt(err) => err.kind(),
            Error::Dags(err) => err.kind(),
            Error::Verify(err) => err.kind(),
            Error::Write(_) => ErrorKind::Remote,
            Error::Refused(_) => ErrorKind::Refused,
            Error::Init(err) => err.kind(),
            Error::AfterDeploy { source, .. } => source.kind(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        self.kind().into()
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
