//! The pull request comment as a reader sees it: the comment of examples/' demo pull request (scripts/demo.sh's
//! edits, checked by a real `dagship ci` run with dbt on DuckDB and Airflow) rendered in headless Chromium with
//! the pinned `mermaid` package (scripts/mermaid-tools.sh installs both; the test script exports
//! DAGSHIP_TEST_MERMAID_DIR and DAGSHIP_TEST_CHROMIUM). Every ```mermaid block must parse and draw; a screenshot
//! of the rendered comment is kept in the target folder (docs/demo-comment.png is a copy of it).
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use common::actions::{REPOSITORY, TOKEN, pull_request, run_ci};
use common::github::GitHub;
use common::{Repo, copy_tree};

const MERMAID_DIR_VARIABLE: &str = "DAGSHIP_TEST_MERMAID_DIR";
const CHROMIUM_VARIABLE: &str = "DAGSHIP_TEST_CHROMIUM";

/// The installed npm packages and the Chromium executable; the tests fail without them, they never skip.
fn render_tools() -> (PathBuf, PathBuf) {
    let variable = |name: &str| {
        let value = std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the tests through scripts/test.sh, which installs Chromium and the mermaid \
                 npm package (scripts/mermaid-tools.sh) and exports it"
            )
        });
        PathBuf::from(value)
    };
    let modules = variable(MERMAID_DIR_VARIABLE);
    assert!(
        modules.join("node_modules/mermaid").is_dir(),
        "{MERMAID_DIR_VARIABLE}={} has no mermaid",
        modules.display()
    );
    let chromium = variable(CHROMIUM_VARIABLE);
    assert!(chromium.is_file(), "{CHROMIUM_VARIABLE}={} is not a file", chromium.display());
    (modules, chromium)
}

/// Where the rendered pictures are kept: `target/tmp/comment-pictures/<name>.png`.
fn pictures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("comment-pictures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The examples repository, checked with the test Airflow instead of a venv built from its requirements file.
fn examples_repo() -> Repo {
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    let config = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    let requirements = config.lines().find(|line| line.trim_start().starts_with("requirements:")).unwrap();
    let config = config.replace(requirements, &format!("  python: \"{}\"", common::airflow_python()));
    repo.write("dagship.yml", &config);
    repo.commit("the example repository");
    repo
}

fn with_dbt(repo: &Repo) -> Command {
    let mut command = common::dagship_command(repo.path());
    command.env("PATH", common::dbt::path_with_dbt()).env("DO_NOT_TRACK", "1");
    command
}

/// scripts/demo.sh's pull request: main deployed to the local bucket (so the environment has dbt state and a
/// ledger), then a branch editing a DAG, a staging model and a job, checked by `dagship ci`. Returns the comment.
pub fn demo_comment() -> String {
    let repo = examples_repo();
    common::run_command(with_dbt(&repo).args(["deploy", "--env", "local"])).assert_code(0);
    repo.checkout_new("feature/orders", "main");
    let append = |path: &str, text: &str| {
        let before = std::fs::read_to_string(repo.path().join(path)).unwrap();
        repo.write(path, &format!("{before}{text}"));
    };
    append("orchestration/dags/daily_orders.py", "\n# retries added in the demo pull request\n");
    append("orchestration/dags/dbt_project/models/staging/stg_orders.sql", "\n-- demo edit\n");
    append("jobs/etl_jobs/external/brevo/main.py", "\n# demo edit\n");
    // As scripts/demo.sh: only the tracked files (the deploy left dbt's target folder in the work tree).
    repo.git(&["commit", "-q", "-am", "Edit orders DAG, staging model and brevo job"]);
    let head = repo.head();

    let github = GitHub::start();
    github.accept_new_comment(7, 1);
    let mut command = with_dbt(&repo);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "pull_request", &pull_request(7, "main", Some(REPOSITORY)), &github.uri(), &head);
    ci.run.assert_code(0);
    let posted = github.bodies("POST", &format!("/repos/{REPOSITORY}/issues/7/comments"));
    assert_eq!(posted.len(), 1, "one sticky comment; stderr:\n{}", ci.run.stderr);
    posted[0]["body"].as_str().unwrap().to_string()
}

/// The ```mermaid blocks of a Markdown document, in order.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown.split("```mermaid\n").skip(1).map(|rest| rest.split("```").next().unwrap().to_string()).collect()
}

/// Renders each `(name, markdown)` in one Chromium (scripts/mermaid/render.mjs); returns its exit code and its
/// report (`{name: {screenshot, diagrams: [{ok, error}]}}`).
fn render(documents: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let (modules, chromium) = render_tools();
    let out = pictures_dir();
    let mut command = Command::new("node");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mermaid/render.mjs"))
        .arg(&modules)
        .arg(&chromium)
        .arg(&out);
    for (name, markdown) in documents {
        let file = out.join(format!("{name}.md"));
        std::fs::write(&file, markdown).unwrap();
        command.arg(format!("{name}={}", file.display()));
    }
    let run = common::run_command(&mut command);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("render.mjs printed no report ({err}); stderr:\n{}", run.stderr));
    (run.code, report)
}

#[test]
fn the_demo_comments_mermaid_blocks_render_in_chromium_and_a_broken_block_fails() {
    let comment = demo_comment();
    let blocks = mermaid_blocks(&comment);
    assert!(!blocks.is_empty(), "the demo comment draws its lineage:\n{comment}");
    // A block mermaid cannot parse (an unclosed node): the same renderer must refuse it.
    let broken = format!("## broken\n\n```mermaid\n{}  x[[[ --> \n```\n", blocks[0]);
    let (code, report) = render(&[("demo-comment", &comment), ("broken", &broken)]);

    let demo = report["demo-comment"]["diagrams"].as_array().unwrap();
    assert_eq!(demo.len(), blocks.len(), "every block rendered: {report}");
    for (diagram, block) in demo.iter().zip(&blocks) {
        assert_eq!(diagram["ok"], true, "mermaid refused:\n{block}\n{diagram}");
    }
    let screenshot = PathBuf::from(report["demo-comment"]["screenshot"].as_str().unwrap());
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} is a real picture", screenshot.display());
    eprintln!("the demo comment, rendered: {}", screenshot.display());

    // The README shows the demo's lineage as this run draws it.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let lineage = blocks.last().unwrap();
    assert!(readme.contains(&format!("```mermaid\n{lineage}```")), "README.md lacks the demo's lineage:\n{lineage}");

    let broken = &report["broken"]["diagrams"][0];
    assert_eq!(broken["ok"], false, "{report}");
    assert!(broken["error"].as_str().unwrap().contains("Parse error"), "{broken}");
    assert_eq!(code, 1, "a diagram that does not render fails the renderer");
}
