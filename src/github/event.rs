//! The GitHub Actions run a `dagship ci` step belongs to, as plain values: the runner's `GITHUB_*` variables,
//! the event payload `GITHUB_EVENT_PATH` names and the action's `INPUT_*` variables. Everything is validated
//! here, before any remote call, so a hostile payload (a branch named `$(id)`, a number too large, a field of
//! the wrong type) stops the run with an error naming the field, and nothing downstream ever sees it.
use std::path::PathBuf;

use serde_json::Value;

/// How `dagship ci` runs: picked from the event (`auto`) or forced by the `command` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiCommand {
    /// pull_request: check; push: deploy the branch's chain; workflow_dispatch: deploy the chosen environment.
    Auto,
    /// Only detect (filters, jobs, matrix), for any event.
    Detect,
    /// Deploy; refused for pull request events.
    Deploy,
}

/// The action's inputs, from `INPUT_*` variables (GitHub keeps dashes in the names: `INPUT_DRY-RUN`) with a
/// manual run's own `inputs` as the fallback.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub command: Option<CiCommand>,
    pub config: Option<PathBuf>,
    pub environment: Option<String>,
    /// None: the event decides (pull requests never write, pushes do).
    pub dry_run: Option<bool>,
    pub full: bool,
    pub allow_deletes: Option<usize>,
    /// A manual run may deploy an environment its branch does not deploy to (`allow-any-branch: true`).
    pub allow_any_branch: bool,
}

impl Inputs {
    /// Whether the inputs ask for a write to a bucket.
    pub fn ask_for_deploy(&self) -> bool {
        self.command == Some(CiCommand::Deploy) || self.dry_run == Some(false)
    }
}

/// What happened, reduced to what dagship needs from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// pull_request, pull_request_target, pull_request_review, pull_request_review_comment.
    PullRequest {
        number: u64,
        base_ref: String,
        from_fork: bool,
        /// An `edited` action that changed the base branch (`changes.base` in the payload).
        base_changed: bool,
    },
    /// A merge queue's group into `base_ref`: checked like a pull request, without a comment.
    MergeGroup {
        base_ref: String,
    },
    Push(Push),
    /// A manual run on `branch` (None when run on a tag).
    Dispatch {
        branch: Option<String>,
    },
    /// A `workflow_run`: whether the run that triggered it may lead to a deploy.
    WorkflowRun {
        /// The triggering run's event, when the payload names it.
        triggering_event: Option<String>,
        /// Its head repository is not this one (or is gone).
        from_fork: bool,
        /// The branch of GITHUB_REF (the default branch's run).
        branch: Option<String>,
    },
    /// Any other event, on `branch` (from GITHUB_REF; None for a tag or no ref): nothing to do unless the
    /// inputs ask for something.
    Other {
        branch: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub target: RefTarget,
    /// The commit the ref pointed at before; all zeros for a new branch.
    pub before: String,
    /// The push deleted the ref.
    pub deleted: bool,
    /// The push rewrote the branch (`before` may be gone from every clone).
    pub forced: bool,
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefTarget {
    Branch(String),
    Tag(String),
}

/// Everything `dagship ci` reads from the runner.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub event_name: String,
    /// `owner/name`.
    pub repository: String,
    pub sha: String,
    pub api_url: String,
    /// The run's page, for deployment statuses and comments.
    pub run_url: Option<String>,
    pub token: Option<String>,
    /// The payload's `action` (`opened`, `closed`, `checks_requested`...), when it has one.
    pub action: Option<String>,
    pub inputs: Inputs,
    pub trigger: Trigger,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "{0} is not set: `dagship ci` reads the GitHub Actions run from the runner's variables; run it as a step \
         of a workflow (or set GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY and GITHUB_SHA)"
    )]
    MissingVariable(&'static str),
    #[error("{name} is {problem}")]
    BadVariable { name: String, problem: String },
    #[error("cannot read the event payload {}: {source}", path.display())]
    ReadPayload {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload {} is not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the {event} event payload {}: `{field}` {problem}", path.display())]
    Payload { event: String, path: PathBuf, field: String, problem: String },
    #[error("input `{name}` is {problem}")]
    Input { name: String, problem: String },
}

/// Reads the run from the process environment.
pub fn from_env() -> Result<RunContext, EventError> {
    read(&|name: &str| std::env::var_os(name))
}

/// Reads the run through `lookup` (the process environment, or a map in tests).
pub fn read(lookup: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Result<RunContext, EventError> {
    let var = |name: &'static str| -> Result<Option<String>, EventError> {
        match lookup(name) {
            None => Ok(None),
            Some(value) => value
                .into_string()
                .map(|text| Some(text.trim().to_string()).filter(|text| !text.is_empty()))
                .map_err(|_| EventError::BadVariable { name: name.into(), problem: "not valid UTF-8".into() }),
        }
    };
    let required = |name: &'static str| var(name)?.ok_or(EventError::MissingVariable(name));

    let event_name = required("GITHUB_EVENT_NAME")?;
    if !event_name.chars().all(|c| c.is_ascii_lowercase() || c == '_') || event_name.len() > 64 {
        return Err(EventError::BadVariable {
            name: "GITHUB_EVENT_NAME".into(),
            problem: "not an event name (lowercase letters and `_`)".into(),
        });
    }
    let repository = required("GITHUB_REPOSITORY")?;
    check_repository(&repository)
        .map_err(|problem| EventError::BadVariable { name: "GITHUB_REPOSITORY".into(), problem })?;
    let sha = required("GITHUB_SHA")?;
    check_sha(&sha).map_err(|problem| EventError::BadVariable { name: "GITHUB_SHA".into(), problem })?;
    let api_url = var("GITHUB_API_URL")?.unwrap_or_else(|| "https://api.github.com".into());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(EventError::BadVariable { name: "GITHUB_API_URL".into(), problem: "not an http(s) URL".into() });
    }
    let run_url = match (var("GITHUB_SERVER_URL")?, var("GITHUB_RUN_ID")?) {
        (Some(server), Some(run)) if run.chars().all(|c| c.is_ascii_digit()) => {
            Some(format!("{}/{repository}/actions/runs/{run}", server.trim_end_matches('/')))
        }
        _ => None,
    };
    let token = input(lookup, "github-token")?.or(var("GITHUB_TOKEN")?);

    let path = PathBuf::from(required("GITHUB_EVENT_PATH")?);
    let text =
        std::fs::read_to_string(&path).map_err(|source| EventError::ReadPayload { path: path.clone(), source })?;
    let payload: Value =
        serde_json::from_str(&text).map_err(|source| EventError::NotJson { path: path.clone(), source })?;
    let fields = Fields { event: &event_name, path: &path, payload: &payload };
    if !payload.is_object() {
        return Err(fields.error("", "must be a JSON object (the whole payload)"));
    }

    let action = match fields.get("action") {
        None | Some(Value::Null) => None,
        Some(Value::String(action))
            if action.len() <= 64 && action.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
        {
            Some(action.clone())
        }
        Some(_) => return Err(fields.error("action", "must be an action name (lowercase letters and `_`)")),
    };
    let trigger = match event_name.as_str() {
        name if is_pull_request_event(name) => pull_request(&fields)?,
        "merge_group" => merge_group(&fields)?,
        "push" => Trigger::Push(push(&fields)?),
        "workflow_dispatch" => Trigger::Dispatch { branch: dispatch_branch(&fields, var("GITHUB_REF")?)? },
        "workflow_run" => workflow_run(&fields, &repository, other_branch(var("GITHUB_REF")?))?,
        _ => Trigger::Other { branch: other_branch(var("GITHUB_REF")?) },
    };
    let inputs = inputs(lookup, &fields)?;
    Ok(RunContext { event_name, repository, sha, api_url, run_url, token, action, inputs, trigger })
}

/// Events that run on a pull request's code or for it: they never deploy.
pub fn is_pull_request_event(name: &str) -> bool {
    name.starts_with("pull_request")
}

fn pull_request(fields: &Fields) -> Result<Trigger, EventError> {
    let number_field = "pull_request.number";
    let number = match fields.get(number_field) {
        Some(Value::Number(number)) => number.as_u64().filter(|n| (1..=u64::from(u32::MAX)).contains(n)),
        None => return Err(fields.error(number_field, "is missing")),
        Some(_) => return Err(fields.error(number_field, "must be a number")),
    }
    .ok_or_else(|| fields.error(number_field, &format!("must be a pull request number (1 to {})", u32::MAX)))?;
    let base_ref = fields.string("pull_request.base.ref")?;
    check_branch(&base_ref).map_err(|problem| fields.error("pull_request.base.ref", &problem))?;
    let base_repo = fields.string("pull_request.base.repo.full_name")?;
    // A deleted fork has `head.repo: null`: treat it as a fork, the safe side.
    let from_fork = match fields.get("pull_request.head.repo") {
        Some(Value::Null) | None => true,
        Some(Value::Object(_)) => fields.string("pull_request.head.repo.full_name")? != base_repo,
        Some(_) => return Err(fields.error("pull_request.head.repo", "must be an object or null")),
    };
    let base_changed = fields.get("changes.base").is_some_and(|changes| !changes.is_null());
    Ok(Trigger::PullRequest { number, base_ref, from_fork, base_changed })
}

/// A merge queue group: `merge_group.base_ref` is the full ref of the branch the queue merges into.
fn merge_group(fields: &Fields) -> Result<Trigger, EventError> {
    let field = "merge_group.base_ref";
    let full_ref = fields.string(field)?;
    match ref_target(&full_ref).map_err(|problem| fields.error(field, &problem))? {
        RefTarget::Branch(base_ref) => Ok(Trigger::MergeGroup { base_ref }),
        RefTarget::Tag(_) => Err(fields.error(field, "must be a branch (refs/heads/...)")),
    }
}

/// A `workflow_run`: what triggered the run it follows, and from which repository. Missing fields count as a
/// fork's pull request, the side that never deploys.
fn workflow_run(fields: &Fields, repository: &str, branch: Option<String>) -> Result<Trigger, EventError> {
    let triggering_event = match fields.get("workflow_run.event") {
        Some(Value::String(event)) => Some(event.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(fields.error("workflow_run.event", "must be a string")),
    };
    let from_fork = match fields.get("workflow_run.head_repository.full_name") {
        Some(Value::String(name)) => !name.eq_ignore_ascii_case(repository),
        _ => true,
    };
    Ok(Trigger::WorkflowRun { triggering_event, from_fork, branch })
}

/// The branch of GITHUB_REF, when it names one (a run of any other event).
fn other_branch(github_ref: Option<String>) -> Option<String> {
    match ref_target(&github_ref?) {
        Ok(RefTarget::Branch(branch)) => Some(branch),
        _ => None,
    }
}

fn push(fields: &Fields) -> Result<Push, EventError> {
    let full_ref = fields.string("ref")?;
    let target = ref_target(&full_ref).map_err(|problem| fields.error("ref", &problem))?;
    let before = fields.string("before")?;
    check_sha(&before).map_err(|problem| fields.error("before", &problem))?;
    let deleted = match fields.get("deleted") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(deleted)) => *deleted,
        Some(_) => return Err(fields.error("deleted", "must be true or false")),
    };
    let forced = match fields.get("forced") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(forced)) => *forced,
        Some(_) => return Err(fields.error("forced", "must be true or false")),
    };
    let default_branch = match fields.get("repository.default_branch") {
        None | Some(Value::Null) => None,
        Some(Value::String(branch)) => {
            check_branch(branch).map_err(|problem| fields.error("repository.default_branch", &problem))?;
            Some(branch.clone())
        }
        Some(_) => return Err(fields.error("repository.default_branch", "must be a string")),
    };
    Ok(Push { target, before, deleted, forced, default_branch })
}

/// A manual run's branch, from the payload's `ref` (GITHUB_REF when the payload has none).
fn dispatch_branch(fields: &Fields, github_ref: Option<String>) -> Result<Option<String>, EventError> {
    let full_ref = match fields.get("ref") {
        Some(Value::String(full_ref)) => full_ref.clone(),
        None | Some(Value::Null) => github_ref.ok_or_else(|| fields.error("ref", "is missing (and GITHUB_REF too)"))?,
        Some(_) => return Err(fields.error("ref", "must be a string")),
    };
    match ref_target(&full_ref).map_err(|problem| fields.error("ref", &problem))? {
        RefTarget::Branch(branch) => Ok(Some(branch)),
        RefTarget::Tag(_) => Ok(None),
    }
}

fn ref_target(full_ref: &str) -> Result<RefTarget, String> {
    let (name, target): (&str, fn(String) -> RefTarget) = if let Some(branch) = full_ref.strip_prefix("refs/heads/") {
        (branch, RefTarget::Branch)
    } else if let Some(tag) = full_ref.strip_prefix("refs/tags/") {
        (tag, RefTarget::Tag)
    } else {
        return Err(format!("must be refs/heads/<branch> or refs/tags/<tag>, got `{}`", shown(full_ref)));
    };
    check_branch(name)?;
    Ok(target(name.to_string()))
}

fn inputs(lookup: &dyn Fn(&str) -> Option<std::ffi::OsString>, fields: &Fields) -> Result<Inputs, EventError> {
    // A manual run's own inputs (`github.event.inputs`) count when the action's input is empty, so a workflow
    // can leave `with:` out. Their values are strings or booleans depending on the runner's version.
    let dispatch = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|name| match fields.payload.pointer(&format!("/inputs/{name}")) {
            Some(Value::String(text)) => Some(text.trim().to_string()).filter(|text| !text.is_empty()),
            Some(Value::Bool(flag)) => Some(flag.to_string()),
            _ => None,
        })
    };
    refuse_lookalike_dry_run(fields)?;
    let command = match input(lookup, "command")?.as_deref() {
        None | Some("auto") => None,
        Some("detect") => Some(CiCommand::Detect),
        Some("deploy") => Some(CiCommand::Deploy),
        Some(other) => {
            return Err(EventError::Input {
                name: "command".into(),
                problem: format!("`{}`: use auto, detect or deploy", shown(other)),
            });
        }
    };
    let environment = input(lookup, "environment")?.or_else(|| dispatch(&["environment"]));
    if let Some(environment) = &environment {
        let valid = environment.len() <= 100
            && environment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(EventError::Input {
                name: "environment".into(),
                problem: format!("`{}`: not an environment name (letters, digits, `_ - .`)", shown(environment)),
            });
        }
    }
    let allow_deletes = match input(lookup, "allow-deletes")? {
        None => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| EventError::Input {
            name: "allow-deletes".into(),
            problem: format!("`{}`: must be a whole number", shown(&text)),
        })?),
    };
    let flag = |action_name: &str, dispatch_names: &[&str]| -> Result<Option<bool>, EventError> {
        match input(lookup, action_name)? {
            Some(text) => boolean(action_name, &text).map(Some),
            None => dispatch_flag(fields, dispatch_names),
        }
    };
    Ok(Inputs {
        command,
        config: input(lookup, "config")?.map(PathBuf::from),
        environment,
        dry_run: flag("dry-run", &["dry_run", "dry-run"])?,
        full: flag("full", &["full"])?.unwrap_or(false),
        allow_deletes,
        allow_any_branch: flag("allow-any-branch", &["allow_any_branch", "allow-any-branch"])?.unwrap_or(false),
    })
}

/// A manual run's boolean input: absent is None; anything but `true`/`false` (a number, an empty string, a
/// word) is an error, so a malformed `dry_run` can never fall through to a real deploy.
fn dispatch_flag(fields: &Fields, names: &[&str]) -> Result<Option<bool>, EventError> {
    for name in names {
        match fields.payload.pointer(&format!("/inputs/{name}")) {
            None | Some(Value::Null) => continue,
            Some(Value::Bool(flag)) => return Ok(Some(*flag)),
            Some(Value::String(text)) => return boolean(name, text.trim()).map(Some),
            Some(other) => {
                return Err(EventError::Input {
                    name: (*name).into(),
                    problem: format!("`{}`: must be true or false", shown(&other.to_string())),
                });
            }
        }
    }
    Ok(None)
}

/// A manual run's input that looks like `dry_run` but is not spelled so (`dryrun`, `dry_rum`, `dryRun`) would be
/// ignored and the run would deploy for real: refused, naming it.
fn refuse_lookalike_dry_run(fields: &Fields) -> Result<(), EventError> {
    let Some(Value::Object(inputs)) = fields.payload.get("inputs") else { return Ok(()) };
    for name in inputs.keys() {
        let folded: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
        if folded.contains("dry") && name != "dry_run" && name != "dry-run" {
            return Err(EventError::Input {
                name: shown(name),
                problem: "not an input dagship reads: a dry run is asked with `dry_run` (or `dry-run`); rename \
                          the workflow_dispatch input so a dry run cannot silently become a real deploy"
                    .into(),
            });
        }
    }
    Ok(())
}

/// An action input: `INPUT_<NAME>` with the name uppercased and dashes kept, as the runner sets it.
fn input(lookup: &dyn Fn(&str) -> Option<std::ffi::OsString>, name: &str) -> Result<Option<String>, EventError> {
    let variable = format!("INPUT_{}", name.to_uppercase());
    match lookup(&variable) {
        None => Ok(None),
        Some(value) => value
            .into_string()
            .map(|text| Some(text.trim().to_string()).filter(|text| !text.is_empty()))
            .map_err(|_| EventError::Input { name: name.into(), problem: "not valid UTF-8".into() }),
    }
}

fn boolean(name: &str, text: &str) -> Result<bool, EventError> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        "" => Err(EventError::Input { name: name.into(), problem: "empty: must be true or false".into() }),
        other => Err(EventError::Input {
            name: name.into(),
            problem: format!("`{}`: must be true or false (lowercase, nothing else)", shown(other)),
        }),
    }
}

/// Field access by dotted path, with errors naming the event, the payload file and the field.
struct Fields<'a> {
    event: &'a str,
    path: &'a std::path::Path,
    payload: &'a Value,
}

impl Fields<'_> {
    fn get(&self, field: &str) -> Option<&Value> {
        field.split('.').try_fold(self.payload, |value, key| value.get(key))
    }

    fn string(&self, field: &str) -> Result<String, EventError> {
        match self.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(self.error(field, "is missing")),
            Some(_) => Err(self.error(field, "must be a string")),
        }
    }

    fn error(&self, field: &str, problem: &str) -> EventError {
        EventError::Payload {
            event: self.event.to_string(),
            path: self.path.to_path_buf(),
            field: field.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// Branch names dagship accepts: exactly what git accepts (`git check-ref-format --branch`), so every branch a
/// team can push is handled (`fix=1`, `feature/café`, even `$(id)`): dagship never passes a name through a shell,
/// and quotes it escaped in messages. Names git refuses (spaces, control characters, `..`, `~^:?*[\`) are
/// refused here, naming the field.
pub fn check_branch(name: &str) -> Result<(), String> {
    let forbidden = |c: char| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\');
    let problem = if name.is_empty() {
        "is empty"
    } else if name.len() > 255 {
        "is longer than 255 bytes"
    } else if name.chars().any(forbidden) {
        "holds characters git does not accept in a branch name (a space, a control character or one of `~^:?*[\\`)"
    } else if name.starts_with('-')
        || name == "@"
        || name.ends_with(['/', '.'])
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name.split('/').any(|part| part.starts_with('.') || part.ends_with(".lock") || part.is_empty())
    {
        "is not a valid git branch name"
    } else {
        return Ok(());
    };
    Err(format!("`{}` {problem}", shown(name)))
}

/// A full commit id: 40 hex digits (SHA-1) or 64 (SHA-256).
fn check_sha(sha: &str) -> Result<(), String> {
    if (sha.len() == 40 || sha.len() == 64) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("`{}` is not a full commit id (40 or 64 hex digits)", shown(sha)))
    }
}

fn check_repository(repository: &str) -> Result<(), String> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && part != "."
            && part != ".."
    };
    match repository.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(format!("`{}`, not `owner/name`", shown(repository))),
    }
}

/// A value quoted in an error: control characters escaped and long values cut, so the message stays one line.
fn shown(value: &str) -> String {
    let escaped = crate::notice::escape_controls(value);
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_git_refuses_are_refused() {
        for bad in ["main; rm -rf /", "a b", "x\ny", "-rf", "a..b", "a.lock", "a/.b", "a~1", "a:b", "@", ""] {
            assert!(check_branch(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_branch_name_git_accepts_is_accepted() {
        for good in ["main", "release/1.2", "feature/ABC-12_x", "deps+bump", "user@team/x", "fix=1", "feature/café"] {
            check_branch(good).unwrap();
        }
        // Legal for git, so legal here: no shell ever sees it.
        for legal in ["$(id)", "`id`", "a;b", "x'y\"z", "100%"] {
            check_branch(legal).unwrap();
        }
    }

    #[test]
    fn refs_split_into_branches_and_tags() {
        assert_eq!(ref_target("refs/heads/a/b").unwrap(), RefTarget::Branch("a/b".into()));
        assert_eq!(ref_target("refs/tags/v1.0").unwrap(), RefTarget::Tag("v1.0".into()));
        assert!(ref_target("refs/pull/1/merge").is_err());
    }
}
