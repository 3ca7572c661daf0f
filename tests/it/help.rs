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

#[test]
fn man_page_renders_with_every_subcommand_and_global_flag() {
    let repo = Repo::new();
    let run = run_dagship(repo.path(), &["man"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with(".ie \\n(.g .ds Aq") || run.stdout.contains(".TH dagship 1"), "{}", run.stdout);
    // Rendered by man itself (groff), as a reader sees it: the sections, the flags, the subcommands, the exit codes.
    let page = repo.scratch().join("dagship.1");
    std::fs::write(&page, &run.stdout).unwrap();
    let rendered = std::process::Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "120")
        .output()
        .expect("man is installed");
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let text = String::from_utf8_lossy(&rendered.stdout);
    for expected in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS", "--strict", "--verbose", "deploy", "completions"] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(text.contains("130"), "the exit-code table is in the page:\n{text}");
}

/// The whole of `dagship --help` and `dagship deploy --help`, as a newcomer reads them: a snapshot, so a flag
/// that loses its help, an example that goes stale or a reordered exit-code table shows up in review.
#[test]
fn help_text_snapshot() {
    let repo = Repo::new();
    for (name, args) in [("help_dagship", &["--help"][..]), ("help_deploy", &["deploy", "--help"][..])] {
        // Off a terminal clap wraps at 100 columns unless COLUMNS says otherwise: the snapshot is taken at 100.
        let run = common::run_command(common::dagship_command(repo.path()).env("COLUMNS", "100").args(args));
        run.assert_code(0);
        assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
        insta::assert_snapshot!(name, run.stdout);
    }
}
