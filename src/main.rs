//! The `dagship` binary: parse the command line, run it, print the error once, exit with a documented code.
use std::process::ExitCode;

use clap::Parser;
use dagship::style::{self, Stream, Tone};

fn main() -> ExitCode {
    // Before any thread starts: children running a pull request's code must not read the token from
    // /proc/<dagship's pid>/environ.
    dagship::child::own_environ::wipe();
    // Before any thread starts: it may set GOOGLE_APPLICATION_CREDENTIALS (see the function).
    dagship::github::container::map_runner_paths_into_workspace();
    dagship::malloc_arenas::limit();
    let cli = dagship::cli::Cli::parse();
    dagship::verbose::set(cli.verbose);
    dagship::style::set(cli.color);
    match dagship::commands::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            let tone = match err.kind() {
                dagship::error_kind::ErrorKind::Refused => Tone::Refusal,
                _ => Tone::Error,
            };
            eprintln!("{}", style::label(Stream::Stderr, tone, "error:", &dagship::error::render(&err)));
            err.exit_code().into()
        }
    }
}
