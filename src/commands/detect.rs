//! `dagship detect`: range -> changed files -> filters -> jobs -> matrix -> outputs.
use std::collections::BTreeSet;
use std::io::Write;

use super::{config_path, env_path, load_config, write_step_outputs};
use crate::cli::{Cli, DetectArgs, EventKind, OutputFormat};
use crate::config::Config;
use crate::context::{self, FetchPolicy, Range, RangeRequest};
use crate::detect::filters::FilterSet;
use crate::detect::{ParsedDiff, parse_name_status};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce, escape_controls};
use crate::matrix::{self, JobFinder};
use crate::report::{DetectReport, render_detect_markdown, render_detect_text};

pub fn run(cli: &Cli, args: &DetectArgs) -> Result<ExitCode> {
    let git = Git::discover(&cli.repo)?;
    let config = load_config(&config_path(cli, Some(&git)), cli.strict)?.config;
    let (report, range) = detect(&git, &config, args)?;

    // One buffered writer: the JSON of a 10,000-file change is megabytes, and stdout is line-buffered.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        OutputFormat::Json => report.write_json(&mut stdout),
        OutputFormat::Text => stdout.write_all(render_detect_text(&report, &range.description).as_bytes()),
    };
    written.and_then(|()| stdout.flush()).map_err(|source| Error::Write { path: "stdout".into(), source })?;
    write_step_outputs(&report.outputs())?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_detect_markdown(&report, &range.description))?;
    }
    Ok(ExitCode::Ok)
}

/// The whole detect stage as a function of the repository, the config and the flags.
pub fn detect(git: &Git, config: &Config, args: &DetectArgs) -> Result<(DetectReport, Range)> {
    let policy = FetchPolicy { remote: args.remote.clone(), allowed: !args.no_fetch };
    let default_branch = args.default_branch.as_deref().or(config.default_branch.as_deref());
    let range = match &args.since_deploy {
        Some(environment) => since_deploy(git, config, args, environment, default_branch, &policy)?,
        None => context::resolve(git, &range_request(args)?, default_branch, &policy)?,
    };
    for notice in &range.notices {
        announce(Level::Notice, notice);
    }

    let finder = JobFinder::new(&config.jobs)?;
    let filters = FilterSet::compile(&config.filters).map_err(Error::Usage)?;
    // The diff and the job listing are independent git calls: run them side by side.
    let (diff, tree) = std::thread::scope(|scope| {
        let tree = scope.spawn(|| git.list_tree(&range.head, &finder.tree_folders()));
        let diff = git.diff_name_status(&range.base, &range.head, config.detect.find_copies);
        (diff, tree.join().expect("the tree listing thread does not panic"))
    });
    let (diff_output, diff_warnings) = diff?;
    let tree = tree?;
    if !diff_warnings.trim().is_empty() {
        announce(Level::Warning, &format!("git diff: {}", diff_warnings.trim()));
    }
    let ParsedDiff { files, non_utf8_paths } =
        parse_name_status(&diff_output).map_err(|err| Error::Usage(err.to_string()))?;
    for path in &non_utf8_paths {
        announce(
            Level::Warning,
            &format!("file name is not valid UTF-8, shown with U+FFFD: {}", escape_controls(path)),
        );
    }

    // Job folders only need comparing with changed paths, which were decoded the same lossy way (and warned about).
    let tree_paths: Vec<String> = tree
        .split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(|raw| String::from_utf8_lossy(raw).into_owned())
        .collect();
    let all_jobs: BTreeSet<String> = finder.discover(tree_paths.iter().map(String::as_str));
    let whole_run = args.all || (args.event == Some(EventKind::Push) && config.jobs.all_on_push);
    let jobs = if whole_run { all_jobs.into_iter().collect() } else { matrix::touched_jobs(&all_jobs, &files) };
    let matrix = matrix::build(&jobs, config.jobs.chunk)?;

    let report = DetectReport {
        base: range.base.clone(),
        head: range.head.clone(),
        filters: filters.apply(&files),
        files,
        has_jobs: !jobs.is_empty(),
        jobs,
        matrix,
    };
    Ok((report, range))
}

/// The range from the environment's last deploy to head; every file when that deploy is unknown.
fn since_deploy(
    git: &Git,
    config: &Config,
    args: &DetectArgs,
    environment: &str,
    default_branch: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Range> {
    let head = args.head.clone().unwrap_or_else(|| "HEAD".into());
    let request = super::deploy::request(git.root(), config, environment, None);
    let full = |why: String| -> Result<Range> {
        let mut range = context::resolve(git, &RangeRequest::Full { head: head.clone() }, default_branch, policy)?;
        range.notices.push(why);
        Ok(range)
    };
    let Some(marker) = super::runtime()?.block_on(crate::deploy::last_deploy(&request))? else {
        return full(format!("{environment} has no deploy marker yet: every file counts as changed"));
    };
    // A shallow clone (actions/checkout's default) lacks the marker's commit: deepen as a push's range does.
    let (_, fetched) = context::find_commit(git, &marker.commit, policy)?;
    let explicit = RangeRequest::Explicit { base: marker.commit.clone(), head: head.clone(), merge_base: false };
    match context::resolve(git, &explicit, default_branch, policy) {
        Ok(mut range) => {
            range.description = format!("since the last deploy to {environment} ({})", range.description);
            range.notices.splice(0..0, fetched);
            Ok(range)
        }
        Err(err) => full(format!(
            "the last deploy to {environment} was commit {}, which is not in this history ({err}): every file counts \
             as changed",
            marker.commit
        )),
    }
}

/// Turns the flags into a range request, refusing combinations that would be ambiguous.
fn range_request(args: &DetectArgs) -> Result<RangeRequest> {
    let head = args.head.clone().unwrap_or_else(|| "HEAD".into());
    if args.all {
        return Ok(RangeRequest::Full { head });
    }
    match (args.event, &args.base) {
        (None, Some(base)) => Ok(RangeRequest::Explicit { base: base.clone(), head, merge_base: args.merge_base }),
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
