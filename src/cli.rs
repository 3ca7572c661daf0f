//! Command-line definitions (clap derive) and nothing else: `commands` does the work.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dagship",
    version,
    about = "CI/CD for Airflow + dbt repositories",
    // Wrapped to the terminal, at most 100 columns (100 off a terminal): long lines are hard to read.
    max_term_width = 100,
    after_long_help = crate::cli_help::after_long_help()
)]
pub struct Cli {
    /// The repository to work on (any folder inside it).
    #[arg(long, short = 'C', global = true, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// The config file; defaults to dagship.yml at the repository root.
    #[arg(long, global = true, value_name = "FILE", env = "DAGSHIP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Refuse what is otherwise a warning: unknown keys in dagship.yml (each with the closest valid key) and a
    /// bucket URL ending in `/dags`. `dagship ci` is always strict.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Print errors' raw detail too (an SDK's whole credential chain) under their one-line message.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Colour the success, warning, error and refusal words: auto (on a terminal, unless NO_COLOR is set or
    /// CLICOLOR_FORCE forces it), always or never. Never in JSON, step outputs or the step summary.
    #[arg(long, global = true, value_enum, default_value_t = crate::style::ColorWhen::Auto, value_name = "WHEN")]
    pub color: crate::style::ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented dagship.yml and the three workflows (pull request check, deploy on merge, manual deploy
    /// and rollback) from what the repository holds: DAGs, dbt project, job folders. Never replaces a file
    /// without --force.
    Init(InitArgs),
    /// Check what a first run needs, each with the fix: the config (strict), git history, dbt, Airflow, each
    /// environment's bucket access, MWAA's status, the Airflow API. Exits 1 when a check failed.
    Doctor(DoctorArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the changed files, the filters they trigger and the job matrix. With no range flags (outside
    /// GitHub Actions): from HEAD's merge-base with the default branch (origin/HEAD, else main or master).
    Detect(DetectArgs),
    /// Show what a deploy to an environment would upload, replace and delete. Writes nothing.
    Plan(PlanArgs),
    /// Deploy DAGs, plugins and data to an environment's bucket: planned by content, ordered, locked.
    Deploy(DeployArgs),
    /// Remove an environment's deploy lock left by a deploy that died.
    Unlock(UnlockArgs),
    /// An environment's deploy history (its ledger), newest first.
    History(HistoryArgs),
    /// Put back the object set of an earlier deploy (by default the one before the current), from its commit, or
    /// from the bucket's object versions when the commit is gone: through the same plan, guards, lock, phases,
    /// marker and ledger as a deploy.
    Rollback(RollbackArgs),
    /// Compare the bucket with the last deploy's recorded objects: what changed outside dagship. Exits 1 when
    /// something drifted.
    Drift(DriftArgs),
    /// Every environment at a glance: branch, last deployed commit, commits ahead, drift, lock.
    Status(StatusArgs),
    /// Run dbt against an environment's state.
    #[command(subcommand)]
    Dbt(DbtCommand),
    /// Check the DAGs with the repository's own Python + Airflow.
    #[command(subcommand)]
    Dags(DagsCommand),
    /// What a change does: the modified and downstream dbt models (against an environment's state) and the DAGs
    /// and tasks that run them, found by importing the DAGs with the repository's Airflow.
    Impact(ImpactArgs),
    /// The GitHub Action: read the workflow run (event, payload, INPUT_* variables) and run its flow: a pull
    /// request check (detect, DAG check, dbt compile, deploy plan, PR comment), a push deploy, or a manual deploy.
    Ci,
    /// Print a shell completion script: `dagship completions bash > ~/.local/share/bash-completion/completions/dagship`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `dagship man > ~/.local/share/man/man1/dagship.1`, or `dagship man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The platform the environments run on: Composer (gs:// buckets) or MWAA (s3:// buckets).
    #[arg(long, value_enum, default_value_t = Provider::Composer)]
    pub provider: Provider,
    /// An environment and its bucket, like prod=gs://europe-west1-prod-bucket; repeat for more. The first deploys
    /// on merge to the default branch, the others by hand. Default: one `prod` with a placeholder bucket.
    #[arg(long = "env", short = 'e', value_name = "NAME=BUCKET_URL")]
    pub environments: Vec<String>,
    /// The branch merges deploy from (default: the remote's default branch, else the current branch).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Replace dagship.yml and the workflows when they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Composer,
    Mwaa,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this environment (default: all).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Option<String>,
    /// Also write a scratch object under dagship's prefix (`.dagship/`) in each bucket, and remove it.
    #[arg(long)]
    pub write: bool,
    /// How to print the checks: text for people, json for scripts (one entry per check).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// Import the DAGs folder like Airflow's DagBag (honouring .airflowignore): DAG ids per file, import errors
    /// with file and line, import times, duplicate DAG ids. Exits 1 on any import error or duplicate id.
    Check(DagsCheckArgs),
}

#[derive(Debug, Args)]
pub struct DagsCheckArgs {
    /// Check only the DAG files changed since --base (from their merge-base with HEAD).
    #[arg(long, requires = "base", conflicts_with = "files")]
    pub changed_only: bool,
    /// The revision --changed-only compares HEAD with, like origin/main.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Check only these files (paths from the repository root; files outside the DAGs folder are ignored).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub files: Option<Vec<String>>,
    /// The Python interpreter with Airflow (default: `dags_check.python`, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// How to print the result: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum DbtCommand {
    /// Compile what changed against an environment's dbt state from its bucket (slim CI), or the whole project
    /// when the environment has no state yet; then run the configured `dbt.checks` on the same selection.
    Compile(DbtCompileArgs),
}

#[derive(Debug, Args)]
pub struct DbtCompileArgs {
    /// The environment whose state to compile against.
    #[arg(long, short = 'e', value_name = "NAME", required_unless_present = "base_ref")]
    pub env: Option<String>,
    /// A pull request's base branch: the environment deploying from it is the one checked against.
    #[arg(long, value_name = "BRANCH", conflicts_with = "env")]
    pub base_ref: Option<String>,
    /// Compile the whole project even when the environment has state.
    #[arg(long)]
    pub full: bool,
    /// Compile only; skip the configured `dbt.checks`.
    #[arg(long)]
    pub skip_checks: bool,
    /// The dbt target (a profiles.yml output) to run dbt with, over DBT_TARGET and the environment's
    /// `dbt_target` / `dbt_check_target`.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// How to print the result: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ImpactArgs {
    /// The branch the change would merge into, like origin/main: the environment deploying from it is the one
    /// compared with.
    #[arg(long, value_name = "REF", required_unless_present = "env")]
    pub base: Option<String>,
    /// The environment whose dbt state to compare with, instead of the one --base deploys to.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Option<String>,
    /// The dbt target (a profiles.yml output) to run dbt with, over DBT_TARGET and the environment's
    /// `dbt_target` / `dbt_check_target`.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// How to print it: text, json, markdown (a comment), or mermaid (the lineage picture alone).
    #[arg(long, value_enum, default_value_t = ImpactFormat::Text)]
    pub format: ImpactFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImpactFormat {
    Text,
    Json,
    Markdown,
    Mermaid,
}

/// Where a deploy's dbt artifacts (published to the state prefix) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbtArtifacts {
    /// Run dbt deps, compile (or docs generate) and a parse for pull request checks, then publish.
    Build,
    /// Publish what the dbt project's target folder already holds.
    Existing,
    /// Leave the state prefix untouched.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The environment (a key of `environments` in dagship.yml).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
    /// Accept up to this many deletions even when over `deploy.max_delete`.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<usize>,
    /// Where the dbt artifacts come from; by default a plan leaves the dbt state out (it runs no dbt).
    #[arg(long, value_enum, default_value_t = DbtArtifacts::Skip)]
    pub dbt_artifacts: DbtArtifacts,
    /// Plan HEAD's tree even though tracked files under the deployed folders differ in the work tree.
    #[arg(long)]
    pub allow_dirty: bool,
    /// The dbt target (a profiles.yml output) to run dbt with, over DBT_TARGET and the environment's
    /// `dbt_target` / `dbt_check_target`.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Plan to replace DAGs and plugins edited in the bucket since the last deploy instead of refusing.
    #[arg(long)]
    pub overwrite_drift: bool,
    /// How to print the plan: text, json, or markdown (a pull request comment).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The environment (a key of `environments` in dagship.yml).
    #[arg(long, short = 'e', value_name = "NAME", required_unless_present = "branch")]
    pub env: Option<String>,
    /// Deploy every environment this branch deploys to, each after the ones its `after` names; stop at the first
    /// failure.
    #[arg(long, value_name = "BRANCH", conflicts_with = "env")]
    pub branch: Option<String>,
    /// Plan and check everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy HEAD's tree even though tracked files under the deployed folders differ in the work tree (the
    /// uncommitted changes are not deployed: dagship deploys commits).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Accept up to this many deletions even when over `deploy.max_delete`.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<usize>,
    /// Uploads and deletes in flight at once (default: `deploy.concurrency`, 32).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: Option<u16>,
    /// How long to wait for another deploy's lock, like 90s or 10m (default: `deploy.lock_timeout`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// Where the dbt artifacts published to the state prefix come from (when dagship.yml has `dbt`).
    #[arg(long, value_enum, default_value_t = DbtArtifacts::Build)]
    pub dbt_artifacts: DbtArtifacts,
    /// The dbt target (a profiles.yml output) to run dbt with, over DBT_TARGET and the environment's
    /// `dbt_target` / `dbt_check_target`.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Replace DAGs and plugins edited in the bucket since the last deploy (`dagship drift`) instead of refusing.
    #[arg(long)]
    pub overwrite_drift: bool,
    /// Do not ask before deleting: on a terminal (outside CI) a deploy whose plan deletes objects asks
    /// first, and anything but `y` stops it with exit code 3, nothing written.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How to print the result: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment (a key of `environments` in dagship.yml).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
    /// How many records to show.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// How to print it: text, json, or markdown (a step summary or comment).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment (a key of `environments` in dagship.yml).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
    /// The deploy to restore: a history record id, or a commit (at least 4 characters). Default: the last deploy
    /// of another commit before the current one.
    #[arg(long, value_name = "ID|COMMIT")]
    pub to: Option<String>,
    /// Plan and check everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept up to this many deletions even when over `deploy.max_delete`.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<usize>,
    /// Replace DAGs and plugins edited in the bucket since the last deploy instead of refusing.
    #[arg(long)]
    pub overwrite_drift: bool,
    /// How long to wait for another deploy's lock (default: `deploy.lock_timeout`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// Do not ask before deleting: on a terminal (outside CI) a deploy whose plan deletes objects asks
    /// first, and anything but `y` stops it with exit code 3, nothing written.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How to print the result: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The environment (a key of `environments` in dagship.yml).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
    /// How to print it: text, json, or markdown (a step summary or comment).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// How to print it: text, json, or markdown (a step summary or comment).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The environment whose lock to remove.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
    /// Remove the lock even if its deploy is alive (that deploy then stops before its next write). Without it,
    /// the lock is watched for half its TTL and refused if it is renewed meanwhile.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate dagship.yml and print the resolved configuration.
    Check {
        /// How to print the resolved configuration.
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
    /// push: the push was a force push (the payload's `forced`); a --before missing from the history is then
    /// expected, and the range starts at the merge-base with the default branch.
    #[arg(long)]
    pub forced: bool,
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
    /// Diff from the commit of the last successful deploy to this environment (its deploy marker); a full run
    /// when the environment has no marker or its commit is not in the history.
    #[arg(long, value_name = "ENV", conflicts_with_all = ["base", "event", "all"])]
    pub since_deploy: Option<String>,
    /// How to print the result: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
