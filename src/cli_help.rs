//! What `dagship --help` shows after the flags: examples and the exit-code table, the table built from
//! `exit_code.rs` (the one place exit codes live) so the help cannot drift from the codes.
use std::fmt::Write;

use crate::exit_code::ExitCode;

const EXAMPLES: &str = "\
Examples:
  dagship config check --strict            validate dagship.yml, unknown keys are errors
  dagship detect --base origin/main        changed files, filters and the job matrix
  dagship plan -e prod                     what a deploy to prod would upload, replace and delete
  dagship deploy -e prod --dry-run         plan and check everything, write nothing
  dagship dags check --changed-only --base origin/main
  dagship completions bash > ~/.local/share/bash-completion/completions/dagship";

/// The text after the top-level flags: examples, then one line per exit code.
pub fn after_long_help() -> String {
    let mut text = format!("{EXAMPLES}\n\nExit codes:\n");
    for code in ExitCode::ALL {
        let _ = writeln!(text, "  {:>3}  {}", code as u8, code.meaning());
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    /// Every flag and argument of every subcommand says what it does.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "dagship", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn the_help_ends_with_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Examples:\n  dagship config check --strict"), "{help}");
        for code in ExitCode::ALL {
            let line = format!("  {:>3}  {}", code as u8, code.meaning());
            assert!(help.lines().any(|shown| shown == line), "{line:?} in:\n{help}");
        }
        assert!(help.trim_end().ends_with(ExitCode::Cancelled.meaning()), "the table ends the help:\n{help}");
    }
}
