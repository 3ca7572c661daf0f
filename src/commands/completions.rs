//! `dagship completions <shell>`: the shell completion script clap_complete generates from the CLI definition.
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::github::edges::Edges;

pub fn run(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    Edges::from_env().print_with(|out| {
        clap_complete::generate(shell, &mut command, "dagship", out);
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}
