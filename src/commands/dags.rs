//! `dagship dags check`: which files (all, changed since a base, or listed), the check, then annotations,
//! the report, the step summary and the step outputs.
use super::deploy::setup;
use super::{env_path, print_stdout, write_step_outputs};
use crate::cli::{Cli, DagsCheckArgs, OutputFormat};
use crate::context::{self, FetchPolicy, RangeRequest};
use crate::dags::{self, DagsReport};
use crate::detect::{Status, parse_name_status};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce};
use crate::report::{render_dags_markdown, render_dags_text};

pub fn check(cli: &Cli, args: &DagsCheckArgs) -> Result<ExitCode> {
    let (root, git, config) = setup(cli)?;
    let only = match (&args.files, &args.base) {
        (Some(files), _) => Some(files.clone()),
        (None, Some(base)) if args.changed_only => {
            let git = git.ok_or_else(|| {
                Error::Usage(format!("--changed-only needs a git repository; {} is not in one", root.display()))
            })?;
            Some(changed_files(&git, base)?)
        }
        _ => None,
    };
    let report = match dags::check_with(&root, &config, only.as_deref(), args.python.as_deref()) {
        Ok(report) => report,
        Err(err) => {
            dags::annotate_failure(&err);
            return Err(err.into());
        }
    };
    dags::annotate_report(&report);
    match args.format {
        OutputFormat::Json => {
            print_stdout(&(serde_json::to_string_pretty(&report).expect("reports serialize") + "\n"))?
        }
        OutputFormat::Text => print_stdout(&render_dags_text(&report))?,
    }
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_dags_markdown(&report))?;
    }
    write_step_outputs(&outputs(&report))?;
    Ok(report.exit_code())
}

/// Step outputs: dags_ok, dag_import_errors (a count) and dag_ids (a JSON list).
pub fn outputs(report: &DagsReport) -> Vec<(&'static str, String)> {
    vec![
        ("dags_ok", report.ok.to_string()),
        ("dag_import_errors", report.summary.import_errors.to_string()),
        ("dag_ids", serde_json::to_string(&report.dag_ids()).expect("ids serialize")),
    ]
}

/// Files added or changed between the merge-base of `base` and HEAD, and HEAD (what a pull request changed).
/// A shallow clone is deepened until the merge-base shows up, as `detect` does; `origin/<branch>` missing from
/// the clone is fetched.
fn changed_files(git: &Git, base: &str) -> Result<Vec<String>> {
    let policy = FetchPolicy { remote: "origin".into(), allowed: true };
    let head = "HEAD".to_string();
    let request = match (git.resolve_commit(base)?, base.strip_prefix("origin/")) {
        (None, Some(branch)) => RangeRequest::PullRequest { base_ref: branch.to_string(), head },
        _ => RangeRequest::Explicit { base: base.to_string(), head, merge_base: true },
    };
    let range = context::resolve(git, &request, None, &policy)?;
    for notice in &range.notices {
        announce(Level::Notice, notice);
    }
    let (diff, _) = git.diff_name_status(&range.base, &range.head, false)?;
    let parsed = parse_name_status(&diff).map_err(|err| Error::Usage(err.to_string()))?;
    Ok(parsed.files.into_iter().filter(|file| file.status != Status::Deleted).map(|file| file.path).collect())
}
