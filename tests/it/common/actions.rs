//! A simulated GitHub Actions runner for `dagship ci`: the `GITHUB_*` variables a runner sets, an event payload
//! file, fresh `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files, and a parser for the outputs file that fails on
//! anything that is not a well-formed `name<<DELIMITER` block.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{Run, ZEROS, run_command};

pub const REPOSITORY: &str = "octo/shop";
pub const TOKEN: &str = "ghs_s3cr3tTokenValue0123456789abcdefABCDEF";

/// One `dagship ci` run and what it left in the runner's files.
pub struct CiRun {
    pub run: Run,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
}

impl CiRun {
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output `{name}`; outputs: {:?}\nstderr:\n{}", self.outputs, self.run.stderr))
    }
}

/// Runs `command` (a dagship command in the repository, without arguments) as `dagship ci` for `event_name`
/// with `payload` as the raw text of the event file. `api_url` is the GitHub API (a wiremock server).
pub fn run_ci(command: Command, event_name: &str, payload: &str, api_url: &str, head: &str) -> CiRun {
    run_ci_at(command, event_name, payload, api_url, head, None)
}

/// `run_ci` with GITHUB_REF set (the branch a schedule or workflow_run runs on).
pub fn run_ci_at(
    command: Command,
    event_name: &str,
    payload: &str,
    api_url: &str,
    head: &str,
    github_ref: Option<&str>,
) -> CiRun {
    let dir = tempfile::tempdir().unwrap();
    run_ci_with(dir.path(), command, event_name, payload, api_url, head, github_ref)
}

/// `run_ci` with the runner's files (event.json, github_output, step_summary) in `dir`.
pub fn run_ci_in(dir: &Path, command: Command, event_name: &str, payload: &str, api_url: &str, head: &str) -> CiRun {
    run_ci_with(dir, command, event_name, payload, api_url, head, None)
}

fn run_ci_with(
    dir: &Path,
    mut command: Command,
    event_name: &str,
    payload: &str,
    api_url: &str,
    head: &str,
    github_ref: Option<&str>,
) -> CiRun {
    let event_path = dir.join("event.json");
    let output_path = dir.join("github_output");
    let summary_path = dir.join("step_summary");
    std::fs::write(&event_path, payload).unwrap();
    std::fs::write(&output_path, "").unwrap();
    std::fs::write(&summary_path, "").unwrap();
    command
        .arg("ci")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event_name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_SHA", head)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_API_URL", api_url)
        .env("GITHUB_OUTPUT", &output_path)
        .env("GITHUB_STEP_SUMMARY", &summary_path)
        .env("RUNNER_TEMP", dir)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_REF");
    if let Some(github_ref) = github_ref {
        command.env("GITHUB_REF", github_ref);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("INPUT_") {
            command.env_remove(name);
        }
    }
    let run = run_command(&mut command);
    let raw = std::fs::read_to_string(&output_path).unwrap();
    let outputs = parse_outputs(&raw);
    let summary = std::fs::read_to_string(&summary_path).unwrap();
    CiRun { run, outputs, summary }
}

/// Parses `$GITHUB_OUTPUT` the way the runner does for the heredoc form, strictly: every line belongs to a
/// `name<<DELIMITER` ... `DELIMITER` block, and a name appears once.
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (name, delimiter) =
            line.split_once("<<").unwrap_or_else(|| panic!("output line outside a block: {line:?}\n{text}"));
        assert!(delimiter.starts_with("ghadelimiter_"), "unexpected delimiter {delimiter:?}");
        let mut value = Vec::new();
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("unterminated output {name}\n{text}"));
            if line == delimiter {
                break;
            }
            value.push(line);
        }
        // Later values win, as on the runner.
        outputs.insert(name.to_string(), value.join("\n"));
    }
    outputs
}

/// A pull_request payload; `head_repo` None stands for a deleted fork (`head.repo: null`).
pub fn pull_request(number: u64, base_ref: &str, head_repo: Option<&str>) -> String {
    let head_repo = head_repo.map_or(Value::Null, |name| json!({ "full_name": name, "fork": name != REPOSITORY }));
    json!({
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": { "ref": "feature", "sha": ZEROS, "repo": head_repo },
            "base": { "ref": base_ref, "repo": { "full_name": REPOSITORY } }
        },
        "repository": { "full_name": REPOSITORY, "default_branch": "main" }
    })
    .to_string()
}

pub fn push(full_ref: &str, before: &str, after: &str, forced: bool) -> String {
    json!({
        "ref": full_ref,
        "before": before,
        "after": after,
        "created": before == ZEROS,
        "deleted": false,
        "forced": forced,
        "repository": { "full_name": REPOSITORY, "default_branch": "main", "fork": false }
    })
    .to_string()
}

pub fn dispatch(full_ref: &str, inputs: Value) -> String {
    json!({ "ref": full_ref, "inputs": inputs, "repository": { "full_name": REPOSITORY, "default_branch": "main" } })
        .to_string()
}
