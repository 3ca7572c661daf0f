//! One adapter per subcommand: clap arguments -> workspace and domain request -> a flow -> the edges (stdout,
//! step summary, step outputs). Adapters never import each other; what two of them share lives in `flow/`,
//! `report/` or `github/edges.rs` (docs/architecture.md).
mod ci;
mod completions;
mod config_check;
mod dags;
mod dbt;
mod deploy;
mod detect;
mod doctor;
mod history;
mod impact;
mod init;
mod man;

use crate::cli::{Cli, Command, ConfigCommand, DagsCommand, DbtCommand};
use crate::error::Result;
use crate::exit_code::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Init(args) => init::run(&cli, args),
        Command::Doctor(args) => doctor::run(&cli, args),
        Command::Config(ConfigCommand::Check { format }) => config_check::run(&cli, *format),
        Command::Detect(args) => detect::run(&cli, args),
        Command::Plan(args) => deploy::plan(&cli, args),
        Command::Deploy(args) => deploy::deploy(&cli, args),
        Command::Unlock(args) => deploy::unlock(&cli, args),
        Command::History(args) => history::history(&cli, args),
        Command::Rollback(args) => history::rollback(&cli, args),
        Command::Drift(args) => history::drift(&cli, args),
        Command::Status(args) => history::status(&cli, args),
        Command::Dbt(DbtCommand::Compile(args)) => dbt::compile(&cli, args),
        Command::Dags(DagsCommand::Check(args)) => dags::check(&cli, args),
        Command::Impact(args) => impact::run(&cli, args),
        Command::Ci => ci::run(&cli),
        Command::Completions { shell } => completions::run(*shell),
        Command::Man => man::run(),
    }
}
