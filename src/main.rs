//! The `dagship` binary: parse the command line, run it, print the error once, exit with a documented code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before any thread starts: children running a pull request's code must not read the token from
    // /proc/<dagship's pid>/environ.
    dagship::child::own_environ::wipe();
    // Before any thread starts: it may set GOOGLE_APPLICATION_CREDENTIALS (see the function).
    dagship::github::container::map_runner_paths_into_workspace();
    let cli = dagship::cli::Cli::parse();
    dagship::verbose::set(cli.verbose);
    match dagship::commands::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("{}", dagship::error::render(&err));
            err.exit_code().into()
        }
    }
}
