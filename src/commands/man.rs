//! `dagship man`: the manual page clap_mangen renders (roff) from the CLI definition, the help text and the
//! examples and exit codes `--help` ends with. One page: the subcommands are listed in it, each with its summary.
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::github::edges::Edges;

pub fn run() -> Result<ExitCode> {
    let command = Cli::command();
    Edges::from_env().print_with(|out| {
        clap_mangen::Man::new(command).render(out)?;
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}
