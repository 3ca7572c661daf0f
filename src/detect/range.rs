//! Which revision range a run looks at: from explicit revisions or from the event (pull request, push,
//! manual run), deepening shallow clones until the range is exact. It never silently diffs a wrong range:
//! either it finds the commits the range needs, or it fails naming the missing one.
use crate::error_kind::ErrorKind;
use crate::git::{Git, GitError};

/// What the caller asks for.
#[derive(Debug, Clone)]
pub enum RangeRequest {
    /// `base..head` as given; with `merge_base`, from the merge-base of the two (three-dot).
    Explicit { base: String, head: String, merge_base: bool },
    /// A pull request into `base_ref`: from the merge-base with that branch to head (three-dot).
    PullRequest { base_ref: String, head: String },
    /// A push that moved the branch from `before` (all zeros when the branch is new) to head. `forced`: the
    /// push rewrote the branch, so `before` may be gone from every clone; otherwise a `before` missing from the
    /// whole history is an error naming it (a typo), never guessed to be a force push.
    Push { before: String, head: String, forced: bool },
    /// Every file at head, as added.
    Full { head: String },
    /// No range given (a bare `dagship detect` on a laptop): from head's merge-base with the default branch.
    DefaultBranch { head: String },
}

/// Where missing history may be fetched from.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub remote: String,
    pub allowed: bool,
}

/// The resolved range: two commit ids (`base` may be the empty tree) and what was done or assumed to get them.
#[derive(Debug, Clone)]
pub struct Range {
    pub base: String,
    pub head: String,
    pub description: String,
    pub notices: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(
        "cannot find branch `{branch}`: neither `{remote}/{branch}` nor a local `{branch}` exists{}",
        if *fetched { " even after fetching it" } else { "; fetch it, or allow dagship to (drop --no-fetch)" }
    )]
    MissingBranch { branch: String, remote: String, fetched: bool },
    #[error("{}", missing_history_message(.0))]
    MissingHistory(MissingHistory),
    #[error(
        "the commit before the push, {before}, is not in this repository{}: check the value (a typo?), or say the \
         push was a force push (--forced; `dagship ci` reads it from the payload) to compare with the default branch",
        if *still_shallow { " (the clone is shallow and dagship may not fetch: drop --no-fetch)" } else { "" }
    )]
    MissingBefore { before: String, still_shallow: bool },
    #[error(
        "cannot tell the default branch: pass --default-branch, set `default_branch` in dagship.yml, or run \
         `git remote set-head {remote} --auto`"
    )]
    NoDefaultBranch { remote: String },
}

#[derive(Debug)]
pub struct MissingHistory {
    pub what: String,
    pub commits: (String, String),
    pub still_shallow: bool,
}

fn missing_history_message(missing: &MissingHistory) -> String {
    let (a, b) = &missing.commits;
    let cause = if missing.still_shallow {
        "the clone is shallow and dagship was not allowed to fetch more (use `fetch-depth: 0` in actions/checkout, \
         or drop --no-fetch)"
    } else {
        "the histories are unrelated even with the full history fetched"
    };
    format!("cannot find {} of {a} and {b}: {cause}", missing.what)
}

impl RangeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RangeError::Git(err) => err.kind(),
            _ => ErrorKind::Usage,
        }
    }
}

/// First `--deepen` step; each further step doubles it, then the clone is unshallowed.
const FIRST_DEEPEN: u32 = 64;
const LAST_DEEPEN: u32 = 4096;

/// Fetches more history of a shallow clone, step by step: deeper (doubling), then all of it.
struct Deepener<'a> {
    git: &'a Git,
    policy: &'a FetchPolicy,
    /// Refspecs to keep fresh while deepening (the base branch); the whole shallow boundary deepens anyway.
    refspecs: Vec<String>,
    next_depth: u32,
    fetched_commits: u32,
    notices: Vec<String>,
}

impl<'a> Deepener<'a> {
    fn new(git: &'a Git, policy: &'a FetchPolicy, refspecs: Vec<String>) -> Self {
        Deepener { git, policy, refspecs, next_depth: FIRST_DEEPEN, fetched_commits: 0, notices: Vec::new() }
    }

    /// Fetches the next step; false when there is nothing more to fetch (or fetching is not allowed).
    fn deepen(&mut self) -> Result<bool, GitError> {
        if !self.policy.allowed || !self.git.is_shallow()? {
            return Ok(false);
        }
        let mut args = if self.next_depth <= LAST_DEEPEN {
            vec![format!("--deepen={}", self.next_depth)]
        } else {
            vec!["--unshallow".to_string()]
        };
        args.push(self.policy.remote.clone());
        args.extend(self.refspecs.iter().cloned());
        let _spinner = crate::progress::spinner(format!("fetching more history of the shallow clone ({})", args[0]));
        self.git.fetch(&args)?;
        if self.next_depth <= LAST_DEEPEN {
            self.fetched_commits += self.next_depth;
            self.next_depth *= 2;
        } else {
            self.notices.push("fetched the whole history of the shallow clone".into());
        }
        Ok(true)
    }

    fn shallow(&self) -> Result<bool, GitError> {
        self.git.is_shallow()
    }

    fn finish(mut self) -> Vec<String> {
        if self.fetched_commits > 0 {
            self.notices.insert(
                0,
                format!(
                    "shallow clone: fetched up to {} of history",
                    crate::plural::plural(self.fetched_commits as usize, "more commit")
                ),
            );
        }
        self.notices
    }

    /// The merge-base of two commits, deepening until it shows up.
    fn merge_base(&mut self, a: &str, b: &str) -> Result<String, RangeError> {
        loop {
            if let Some(found) = self.git.merge_base(a, b)? {
                return Ok(found);
            }
            if !self.deepen()? {
                return Err(RangeError::MissingHistory(MissingHistory {
                    what: "a merge-base (common ancestor)".into(),
                    commits: (a.to_string(), b.to_string()),
                    still_shallow: self.shallow()?,
                }));
            }
        }
    }
}

pub fn resolve(
    git: &Git,
    request: &RangeRequest,
    default_branch: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Range, RangeError> {
    match request {
        RangeRequest::Explicit { base, head, merge_base } => {
            let commits = git.require_commits(&[
                (base, "pass an existing commit, branch or tag as --base"),
                (head, "pass an existing commit, branch or tag as --head"),
            ])?;
            let (base_commit, head_commit) = (commits[0].clone(), commits[1].clone());
            if !merge_base {
                return Ok(Range {
                    base: base_commit,
                    head: head_commit,
                    description: format!("{base}..{head}"),
                    notices: Vec::new(),
                });
            }
            let mut deepener = Deepener::new(git, policy, Vec::new());
            let base = deepener.merge_base(&base_commit, &head_commit)?;
            Ok(Range {
                base,
                head: head_commit,
                description: format!("{base_commit}...{head}"),
                notices: deepener.finish(),
            })
        }
        RangeRequest::PullRequest { base_ref, head } => {
            let head_commit = git.require_commit(head, "pass an existing commit as --head")?;
            let (base_commit, refspecs) = branch_tip(git, base_ref, policy)?;
            let mut deepener = Deepener::new(git, policy, refspecs);
            let base = deepener.merge_base(&base_commit, &head_commit)?;
            Ok(Range {
                base,
                head: head_commit,
                description: format!("pull request into `{base_ref}`, from its merge-base"),
                notices: deepener.finish(),
            })
        }
        RangeRequest::Push { before, head, forced } => resolve_push(git, before, head, *forced, default_branch, policy),
        RangeRequest::DefaultBranch { head } => {
            let head_commit = git.require_commit(head, "pass an existing commit as --head")?;
            against_default_branch(git, &head_commit, default_branch, policy, Vec::new(), "no range given")
        }
        RangeRequest::Full { head } => Ok(Range {
            base: git.empty_tree()?,
            head: git.require_commit(head, "pass an existing commit as --head")?,
            description: "every file at head".into(),
            notices: Vec::new(),
        }),
    }
}

/// The commit `rev` names, deepening a shallow clone until it shows up (None when the whole history lacks it).
/// Returns the notices about what was fetched.
pub fn find_commit(git: &Git, rev: &str, policy: &FetchPolicy) -> Result<(Option<String>, Vec<String>), RangeError> {
    let mut deepener = Deepener::new(git, policy, Vec::new());
    loop {
        if let Some(commit) = git.resolve_commit(rev)? {
            return Ok((Some(commit), deepener.finish()));
        }
        if !deepener.deepen()? {
            return Ok((None, deepener.finish()));
        }
    }
}

fn resolve_push(
    git: &Git,
    before: &str,
    head: &str,
    forced: bool,
    default_branch: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Range, RangeError> {
    let head_commit = git.require_commit(head, "pass an existing commit as --head")?;
    let is_new_branch = before.is_empty() || before.bytes().all(|byte| byte == b'0');
    // Only a new branch can be a repository's first commit; a shallow clone's cut-off commit only looks like one.
    if is_new_branch && git.parents(&head_commit)?.is_empty() && !git.is_shallow()? {
        return Ok(Range {
            base: git.empty_tree()?,
            head: head_commit,
            description: "the first commit of the repository: every file is added".into(),
            notices: Vec::new(),
        });
    }
    if !is_new_branch {
        let mut deepener = Deepener::new(git, policy, Vec::new());
        // In a shallow clone `before` may be missing, or present but cut off from head: deepen before judging.
        loop {
            if let Some(before_commit) = git.resolve_commit(before)?
                && git.is_ancestor(&before_commit, &head_commit)?
            {
                return Ok(Range {
                    base: before_commit,
                    head: head_commit,
                    description: format!("push {}..{}", short(before), short(head)),
                    notices: deepener.finish(),
                });
            }
            if !deepener.deepen()? {
                break;
            }
        }
        let missing = git.resolve_commit(before)?.is_none();
        if missing && !forced {
            return Err(RangeError::MissingBefore { before: before.to_string(), still_shallow: git.is_shallow()? });
        }
        let mut notices = deepener.finish();
        notices.push(format!(
            "force push: `before` ({}) is no longer reachable from the pushed commit; comparing with the merge-base \
             of the default branch instead",
            short(before)
        ));
        return against_default_branch(git, &head_commit, default_branch, policy, notices, "force push");
    }
    against_default_branch(git, &head_commit, default_branch, policy, Vec::new(), "new branch")
}

/// A new branch or a rewritten one: compare with where it left the default branch.
fn against_default_branch(
    git: &Git,
    head: &str,
    default_branch: Option<&str>,
    policy: &FetchPolicy,
    mut notices: Vec<String>,
    why: &str,
) -> Result<Range, RangeError> {
    let branch = match default_branch {
        Some(branch) => branch.to_string(),
        None => guess_default_branch(git, &policy.remote, &mut notices)?,
    };
    let (branch_commit, refspecs) = branch_tip(git, &branch, policy)?;
    let mut deepener = Deepener::new(git, policy, refspecs);
    let base = deepener.merge_base(&branch_commit, head)?;
    notices.extend(deepener.finish());
    Ok(Range {
        base,
        head: head.to_string(),
        description: format!("{why}: from its merge-base with `{branch}`"),
        notices,
    })
}

/// The remote's HEAD branch, else `main` or `master` when exactly one of them exists (said in a notice).
fn guess_default_branch(git: &Git, remote: &str, notices: &mut Vec<String>) -> Result<String, RangeError> {
    if let Some(branch) = git.remote_default_branch(remote)? {
        return Ok(branch);
    }
    let mut candidates = Vec::new();
    for name in ["main", "master"] {
        let remote_ref = format!("refs/remotes/{remote}/{name}");
        let local_ref = format!("refs/heads/{name}");
        if git.resolve_commit(&remote_ref)?.is_some() || git.resolve_commit(&local_ref)?.is_some() {
            candidates.push(name);
        }
    }
    match candidates.as_slice() {
        [only] => {
            notices.push(format!("no default branch configured; assuming `{only}` (set `default_branch` to be sure)"));
            Ok((*only).to_string())
        }
        _ => Err(RangeError::NoDefaultBranch { remote: remote.to_string() }),
    }
}

/// The tip of a branch as the remote has it (fetching it when missing), else the local branch.
fn branch_tip(git: &Git, branch: &str, policy: &FetchPolicy) -> Result<(String, Vec<String>), RangeError> {
    let remote_ref = format!("refs/remotes/{}/{branch}", policy.remote);
    let refspec = format!("+refs/heads/{branch}:{remote_ref}");
    if let Some(commit) = git.resolve_commit(&remote_ref)? {
        return Ok((commit, vec![refspec]));
    }
    let local_ref = format!("refs/heads/{branch}");
    if let Some(commit) = git.resolve_commit(&local_ref)? {
        return Ok((commit, Vec::new()));
    }
    if policy.allowed && git.remote_exists(&policy.remote)? {
        let mut args = Vec::new();
        if git.is_shallow()? {
            args.push(format!("--depth={FIRST_DEEPEN}"));
        }
        args.extend([policy.remote.clone(), refspec.clone()]);
        git.fetch(&args)?;
        if let Some(commit) = git.resolve_commit(&remote_ref)? {
            return Ok((commit, vec![refspec]));
        }
    }
    Err(RangeError::MissingBranch { branch: branch.into(), remote: policy.remote.clone(), fetched: policy.allowed })
}

fn short(rev: &str) -> &str {
    if rev.len() > 12 && rev.bytes().all(|byte| byte.is_ascii_hexdigit()) { &rev[..12] } else { rev }
}
