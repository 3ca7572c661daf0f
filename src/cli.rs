//! Command-line definitions (clap derive) and nothing else: `commands` does the work.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "dagship", version, about = "CI/CD for Airflow + dbt repositories")]
pub struct Cli {
    /// The repository to work on (any folder inside it).
    #[arg(long, short = 'C', global = true, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// The config file; defaults to dagship.yml at the repository root.
    #[arg(long, global = true, value_name = "FILE", env = "DAGSHIP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the changed files, the filters they trigger and the job matrix.
    Detect(DetectArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate dagship.yml and print the resolved configuration.
    Check {
        #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
        format: ConfigFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Text,
}

/// The event a detect run stands for; it decides how the revision range is chosen.
/// Spelled as GitHub's `github.event_name`, so a workflow can pass it through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventKind {
    #[value(name = "pull_request", aliases = ["pull-request", "pull_request_target"])]
    PullRequest,
    Push,
    #[value(name = "workflow_dispatch", alias = "workflow-dispatch")]
    WorkflowDispatch,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Base revision (with --head: an explicit range, diffed as base..head).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Head revision; defaults to HEAD.
    #[arg(long, value_name = "REV")]
    pub head: Option<String>,
    /// Diff from the merge-base of --base and --head (three-dot) instead of --base itself.
    #[arg(long)]
    pub merge_base: bool,
    /// Pick the range the way this event needs it.
    #[arg(long, value_enum)]
    pub event: Option<EventKind>,
    /// pull_request: the branch the pull request targets.
    #[arg(long, value_name = "BRANCH")]
    pub base_ref: Option<String>,
    /// push: the commit the branch pointed at before the push (all zeros for a new branch).
    #[arg(long, value_name = "SHA")]
    pub before: Option<String>,
    /// The repository's default branch (new branches and force pushes diff against it).
    #[arg(long, value_name = "BRANCH")]
    pub default_branch: Option<String>,
    /// The remote to fetch missing history from in shallow clones.
    #[arg(long, default_value = "origin", value_name = "NAME")]
    pub remote: String,
    /// Never fetch: fail instead when a shallow clone lacks the history the range needs.
    #[arg(long)]
    pub no_fetch: bool,
    /// Report every file at head as added (a full run), and every job in the matrix.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
