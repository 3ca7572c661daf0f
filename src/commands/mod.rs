//! One function per subcommand: each runs the flow's stages in order and hands the result to the edges.
mod ci;
mod ci_check;
mod ci_deploy;
mod config_check;
mod dags;
mod dbt;
mod deploy;
mod detect;
mod impact;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, ConfigCommand, DagsCommand, DbtCommand};
use crate::config::{self, Loaded};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::output::write_outputs;
use crate::github::workflow::{Level, announce};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Config(ConfigCommand::Check { format }) => config_check::run(&cli, *format),
        Command::Detect(args) => detect::run(&cli, args),
        Command::Plan(args) => deploy::plan(&cli, args),
        Command::Deploy(args) => deploy::deploy(&cli, args),
        Command::Unlock(args) => deploy::unlock(&cli, args),
        Command::Dbt(DbtCommand::Compile(args)) => dbt::compile(&cli, args),
        Command::Dags(DagsCommand::Check(args)) => dags::check(&cli, args),
        Command::Impact(args) => impact::run(&cli, args),
        Command::Ci => ci::run(&cli),
    }
}

/// The config path: `--config`, else dagship.yml at the repository root.
fn config_path(cli: &Cli, git: Option<&Git>) -> PathBuf {
    match (&cli.config, git) {
        (Some(path), _) => path.clone(),
        (None, Some(git)) => git.root().join(config::DEFAULT_FILE_NAME),
        (None, None) => cli.repo.join(config::DEFAULT_FILE_NAME),
    }
}

/// Loads the config and prints its warnings once.
fn load_config(path: &Path) -> Result<Loaded> {
    let loaded = config::load(path)?;
    for warning in &loaded.warnings {
        announce(Level::Warning, &warning.to_string());
    }
    Ok(loaded)
}

/// The async runtime the storage commands block on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| crate::error::Error::Usage(format!("cannot start the async runtime: {err}")))
}

pub(super) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

/// Writes step outputs when `GITHUB_OUTPUT` is set; large values spill under `RUNNER_TEMP`.
pub(super) fn write_step_outputs<Name: AsRef<str>>(outputs: &[(Name, String)]) -> Result<()> {
    if let Some(output_file) = env_path("GITHUB_OUTPUT") {
        let spill_dir = env_path("RUNNER_TEMP").unwrap_or_else(std::env::temp_dir);
        write_outputs(&output_file, &spill_dir, outputs)?;
    }
    Ok(())
}

pub(super) fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Write { path: "stdout".into(), source })
}
