//! `dagship dags check`: which files (all, changed since a base, or listed), the check, then annotations,
//! the report, the step summary and the step outputs.
use crate::cli::{Cli, DagsCheckArgs, OutputFormat};
use crate::dags;
use crate::detect::range::{self, FetchPolicy, RangeRequest};
use crate::detect::{Status, parse_name_status};
use crate::error::{Error, Result};
use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::edges::Edges;
use crate::notice::{Level, announce};
use crate::report::{outputs, render_dags_markdown, render_dags_text};
use crate::workspace::Workspace;

pub fn check(cli: &Cli, args: &DagsCheckArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref())?;
    let only = match (&args.files, &args.base) {
        (Some(files), _) => Some(files.clone()),
        (None, Some(base)) if args.changed_only => Some(changed_files(workspace.git("--changed-only")?, base)?),
        _ => None,
    };
    let report = dags::check_with(&workspace.root, &workspace.config, only.as_deref(), args.python.as_deref())
        .inspect_err(dags::annotate_failure)?;
    dags::annotate_report(&report);
    let edges = Edges::from_env();
    match args.format {
        OutputFormat::Json => {
            edges.print(&(serde_json::to_string_pretty(&report).expect("reports serialize") + "\n"))?
        }
        OutputFormat::Text => edges.print(&render_dags_text(&report))?,
    }
    edges.summary(&render_dags_markdown(&report))?;
    edges.outputs(&outputs::dags(&report))?;
    Ok(if report.ok { ExitCode::Ok } else { ErrorKind::ChecksFailed.into() })
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
    let range = range::resolve(git, &request, None, &policy)?;
    for notice in &range.notices {
        announce(Level::Notice, notice);
    }
    let (diff, _) = git.diff_name_status(&range.base, &range.head, false)?;
    let parsed = parse_name_status(&diff).map_err(|err| Error::Usage(err.to_string()))?;
    Ok(parsed.files.into_iter().filter(|file| file.status != Status::Deleted).map(|file| file.path).collect())
}
