//! The CLI explains itself: `--help` ends with examples and the exit codes, and completions are generated for
//! the shells clap_complete knows.
use crate::common;

use common::{Repo, run_dagship};

#[test]
fn help_ends_with_the_exit_code_table() {
    let repo = Repo::new();
    let run = run_dagship(repo.path(), &["--help"]);
    run.assert_code(0);
    assert!(run.stdout.contains("\nExamples:\n  dagship config check --strict"), "{}", run.stdout);
    let table = run.stdout.split("Exit codes:\n").nth(1).expect("an exit-code table");
    let codes: Vec<&str> = table.lines().map(|line| line.split_whitespace().next().unwrap_or("")).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "130"], "{table}");
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let repo = Repo::new();
    for (shell, marker) in [("bash", "_dagship()"), ("zsh", "#compdef dagship"), ("fish", "complete -c dagship")] {
        let run = run_dagship(repo.path(), &["completions", shell]);
        run.assert_code(0);
        assert!(run.stdout.contains(marker), "{shell}: {}", &run.stdout[..run.stdout.len().min(300)]);
        assert!(run.stdout.contains("strict"), "{shell}: the global flags are completed");
    }
    run_dagship(repo.path(), &["completions", "tcsh"]).assert_code(2);
}
