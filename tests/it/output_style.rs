//! Colour and progress are for people at a terminal: escape codes only when the stream is a terminal or colour
//! is forced (CLICOLOR_FORCE, --color always), never under NO_COLOR or --color never, never in JSON, step
//! outputs or the step summary; progress bars and spinners never off a terminal.
use crate::common;

use common::buckets::Backend;
use common::project::Project;
use common::{Run, run_command};

const ESC: char = '\u{1b}';

fn run_with(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = project.command(args);
    command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
    for (name, value) in env {
        command.env(name, value);
    }
    run_command(&mut command)
}

#[test]
fn no_escape_codes_in_a_pipe_or_under_no_color_or_color_never() {
    let project = Project::new(Backend::Local, "");
    for env in [&[][..], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")][..]] {
        let run = run_with(&project, &["deploy", "--env", "nope"], env);
        run.assert_code(2);
        assert!(run.stderr.starts_with("error: "), "{env:?}: {}", run.stderr);
        assert!(!run.stderr.contains(ESC), "{env:?}: {:?}", run.stderr);
    }
    let never = run_with(&project, &["--color", "never", "deploy", "--env", "nope"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!never.stderr.contains(ESC), "{:?}", never.stderr);
    let deployed = run_with(&project, &["deploy", "--env", "test"], &[]);
    deployed.assert_code(0);
    assert!(!deployed.stdout.contains(ESC) && !deployed.stderr.contains(ESC), "{}{}", deployed.stdout, deployed.stderr);
}

#[test]
fn forced_colour_paints_errors_warnings_and_success_but_never_json_outputs_or_the_summary() {
    let project = Project::new(Backend::Local, "");
    let error = run_with(&project, &["deploy", "--env", "nope"], &[("CLICOLOR_FORCE", "1")]);
    error.assert_code(2);
    assert!(error.stderr.starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m "), "{:?}", error.stderr);

    let config = std::fs::read_to_string(project.repo.path().join("dagship.yml")).unwrap();
    project.repo.write("dagship.yml", &format!("{config}deploy_typo: 1\n"));
    let warning = run_with(&project, &["--color", "always", "config", "check"], &[]);
    warning.assert_code(0);
    assert!(warning.stderr.contains("\u{1b}[1m\u{1b}[33mwarning:\u{1b}[0m "), "{:?}", warning.stderr);
    project.repo.write("dagship.yml", &config);

    let text = run_with(&project, &["--color", "always", "deploy", "--env", "test"], &[]);
    text.assert_code(0);
    assert!(text.stdout.contains("\u{1b}[1m\u{1b}[32mdeployed\u{1b}[0m commit"), "{:?}", text.stdout);

    project.repo.write("dags/more.py", "# more\n");
    project.repo.commit("more");
    let outputs = project.repo.scratch().join("outputs");
    let summary = project.repo.scratch().join("summary.md");
    let json = run_with(
        &project,
        &["--color", "always", "deploy", "--env", "test", "--format", "json"],
        &[("GITHUB_OUTPUT", outputs.to_str().unwrap()), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    json.assert_code(0);
    assert!(!json.stdout.contains(ESC), "{:?}", json.stdout);
    assert_eq!(json.json()["environment"], "test");
    for file in [&outputs, &summary] {
        let written = std::fs::read_to_string(file).unwrap();
        assert!(!written.is_empty() && !written.contains(ESC), "{}: {written:?}", file.display());
    }
}

/// Off a terminal a deploy prints each step's one summary line: no bar, no spinner, no carriage return.
#[test]
fn progress_and_spinners_stay_off_a_pipe() {
    let project = Project::new(Backend::Local, "");
    project.add_files(120, "v1");
    let run = run_with(&project, &["deploy", "--env", "test"], &[("CLICOLOR_FORCE", "1")]);
    run.assert_code(0);
    assert!(!run.stderr.contains('\r'), "{:?}", run.stderr);
    assert!(!run.stderr.contains("ETA") && !run.stderr.contains("hashing"), "{}", run.stderr);
    let steps: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("upload dags: ")).collect();
    assert_eq!(steps.len(), 1, "{}", run.stderr);
    assert!(steps[0].contains(" objects, "), "{}", steps[0]);
}

/// A refusal (exit 3) is told apart from a failure by its colour.
#[test]
fn forced_colour_paints_a_refusal_apart_from_an_error() {
    let project = Project::new(Backend::Local, "");
    run_with(&project, &["deploy", "--env", "test"], &[]).assert_code(0);
    project.repo.remove("dags/daily.py").remove("dags/sql/report.sql");
    project.repo.commit("every DAG deleted");
    let refused = run_with(&project, &["deploy", "--env", "test"], &[("CLICOLOR_FORCE", "1")]);
    refused.assert_code(3);
    assert!(refused.stderr.contains("\u{1b}[1m\u{1b}[35merror:\u{1b}[0m "), "{:?}", refused.stderr);
}
