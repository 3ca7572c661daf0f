//! The detect stage: a range -> changed files -> filters -> jobs -> matrix, as one `DetectReport`. The same
//! function serves `dagship detect`, the pull request check and the deploy flow of `ci`.
use std::collections::BTreeSet;

use super::engine_request;
use crate::detect::filters::FilterSet;
use crate::detect::matrix::{self, JobFinder};
use crate::detect::range::{self, FetchPolicy, Range, RangeRequest};
use crate::detect::report::DetectReport;
use crate::detect::{ParsedDiff, parse_name_status};
use crate::error::{Error, Result};
use crate::git::Git;
use crate::notice::{Level, announce, escape_controls};
use crate::workspace::Workspace;

/// Which changes to look at, in domain terms.
#[derive(Debug, Clone)]
pub enum Since {
    /// A revision range: explicit, a pull request's, a push's, or every file.
    Range(RangeRequest),
    /// Since the environment's last deploy (its marker); every file when that deploy is unknown.
    LastDeploy { environment: String, head: String },
}

#[derive(Debug, Clone)]
pub struct DetectRequest {
    pub since: Since,
    pub fetch: FetchPolicy,
    /// The repository's default branch, when the event says it (else the config's).
    pub default_branch: Option<String>,
    /// Every job in the matrix, whatever changed (`--all`, a full run).
    pub all_jobs: bool,
}

impl DetectRequest {
    /// A request with the usual fetch policy (deepen and fetch from `origin`) and no default branch.
    pub fn new(since: Since) -> DetectRequest {
        DetectRequest {
            since,
            fetch: FetchPolicy { remote: "origin".into(), allowed: true },
            default_branch: None,
            all_jobs: false,
        }
    }

    /// Every file and every job at HEAD.
    pub fn everything() -> DetectRequest {
        DetectRequest { all_jobs: true, ..DetectRequest::new(Since::Range(RangeRequest::Full { head: "HEAD".into() })) }
    }
}

/// The whole detect stage as a function of the workspace and the request.
pub fn detect(workspace: &Workspace, request: &DetectRequest) -> Result<(DetectReport, Range)> {
    let git = workspace.git("detect")?;
    let config = &workspace.config;
    let policy = &request.fetch;
    let default_branch = request.default_branch.as_deref().or(config.default_branch.as_deref());
    let range = match &request.since {
        Since::LastDeploy { environment, head } => {
            since_deploy(workspace, git, environment, head, default_branch, policy)?
        }
        Since::Range(range_request) => range::resolve(git, range_request, default_branch, policy)?,
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
    let push = matches!(request.since, Since::Range(RangeRequest::Push { .. }));
    let whole_run = request.all_jobs || (push && config.jobs.all_on_push);
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
    workspace: &Workspace,
    git: &Git,
    environment: &str,
    head: &str,
    default_branch: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Range> {
    let request = engine_request(workspace, environment, None)?;
    let full = |why: String| -> Result<Range> {
        let mut range = range::resolve(git, &RangeRequest::Full { head: head.to_string() }, default_branch, policy)?;
        range.notices.push(why);
        Ok(range)
    };
    let Some(marker) = super::runtime()?.block_on(crate::deploy::last_deploy(&request))? else {
        return full(format!("{environment} has no deploy marker yet: every file counts as changed"));
    };
    // A shallow clone (actions/checkout's default) lacks the marker's commit: deepen as a push's range does.
    let (_, fetched) = range::find_commit(git, &marker.commit, policy)?;
    let explicit = RangeRequest::Explicit { base: marker.commit.clone(), head: head.to_string(), merge_base: false };
    match range::resolve(git, &explicit, default_branch, policy) {
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
