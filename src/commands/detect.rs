//! `dagship detect`: flags -> a detect request -> the detect stage -> JSON or text, step outputs, summary.
use crate::cli::{Cli, DetectArgs, EventKind, OutputFormat};
use crate::detect::range::{FetchPolicy, RangeRequest};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::flow::detect::{DetectRequest, Since, detect};
use crate::github::edges::Edges;
use crate::report::{outputs, render_detect_markdown, render_detect_text};
use crate::workspace::Workspace;

pub fn run(cli: &Cli, args: &DetectArgs) -> Result<ExitCode> {
    let workspace = Workspace::open_repository(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let (report, range) = detect(&workspace, &request(args)?)?;
    let edges = Edges::from_env();
    match args.format {
        OutputFormat::Json => edges.print_with(|out| report.write_json(&mut &mut *out))?,
        OutputFormat::Text => edges.print(&render_detect_text(&report, &range.description))?,
    }
    edges.outputs(&outputs::detect(&report))?;
    edges.summary(&render_detect_markdown(&report, &range.description))?;
    Ok(ExitCode::Ok)
}

/// The flags as a detect request.
fn request(args: &DetectArgs) -> Result<DetectRequest> {
    let head = args.head.clone().unwrap_or_else(|| "HEAD".into());
    let since = match &args.since_deploy {
        Some(environment) => Since::LastDeploy { environment: environment.clone(), head },
        None => Since::Range(range_request(args, head)?),
    };
    Ok(DetectRequest {
        since,
        fetch: FetchPolicy { remote: args.remote.clone(), allowed: !args.no_fetch },
        default_branch: args.default_branch.clone(),
        all_jobs: args.all,
    })
}

/// Turns the flags into a range request, refusing combinations that would be ambiguous.
fn range_request(args: &DetectArgs, head: String) -> Result<RangeRequest> {
    if args.all {
        return Ok(RangeRequest::Full { head });
    }
    match (args.event, &args.base) {
        (None, Some(base)) => Ok(RangeRequest::Explicit { base: base.clone(), head, merge_base: args.merge_base }),
        // On a laptop, the question is "what did my branch change": from its merge-base with the default branch.
        (None, None) if !crate::notice::in_actions() => Ok(RangeRequest::DefaultBranch { head }),
        (None, None) => Err(Error::Usage(
            "detect needs a range: --base REV [--head REV], or --event with its details, or --all".into(),
        )),
        (Some(_), Some(_)) => Err(Error::Usage("--base and --event cannot be combined: pick one".into())),
        (Some(EventKind::PullRequest), None) => match &args.base_ref {
            Some(base_ref) => Ok(RangeRequest::PullRequest { base_ref: base_ref.clone(), head }),
            None => Err(Error::Usage("--event pull_request needs --base-ref BRANCH (the branch it targets)".into())),
        },
        (Some(EventKind::Push), None) => match &args.before {
            Some(before) => Ok(RangeRequest::Push { before: before.clone(), head, forced: args.forced }),
            None => Err(Error::Usage(
                "--event push needs --before SHA (the branch's commit before the push; all zeros for a new branch)"
                    .into(),
            )),
        },
        // A manual run without a base deploys or tests everything; the deploy marker base comes with deploys.
        (Some(EventKind::WorkflowDispatch), None) => Ok(RangeRequest::Full { head }),
    }
}
