//! The GitHub REST calls `dagship ci` makes, through octocrab: the sticky pull request comment and deployments
//! with their statuses. Responses are read as plain JSON and only the fields used are taken, so a GitHub
//! Enterprise server or an API change in an unused field cannot break a run. Every failure here is reported by
//! the caller as a warning: a check or a deploy never fails because GitHub could not be told about it.
use octocrab::Octocrab;
use serde_json::{Value, json};

/// GitHub's limit on an issue comment's body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// The author of comments made with the Actions `GITHUB_TOKEN`.
const ACTIONS_BOT: &str = "github-actions[bot]";
/// Pages of 100 comments read while looking for the sticky one; a pull request with more is exotic.
const MAX_COMMENT_PAGES: u32 = 30;

#[derive(Debug, thiserror::Error)]
#[error("GitHub API: {0}")]
pub struct ApiError(String);

impl From<octocrab::Error> for ApiError {
    fn from(err: octocrab::Error) -> Self {
        // octocrab's own Display of an HTTP error is just the variant name; say the status and GitHub's message.
        let text = match &err {
            octocrab::Error::GitHub { source, .. } => format!("HTTP {}: {}", source.status_code, source.message),
            octocrab::Error::Hyper { source, .. } => format!("connection failed: {source}"),
            octocrab::Error::Service { source, .. } => format!("request failed: {source}"),
            octocrab::Error::Serde { source, .. } => format!("unexpected response: {source}"),
            other => other.to_string(),
        };
        ApiError(text)
    }
}

/// What happened to the sticky comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentAction {
    Created,
    Updated,
}

/// A deployment's state, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
}

impl DeploymentState {
    fn name(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
        }
    }
}

/// One repository's API, authenticated with a token.
pub struct GitHubApi {
    client: Octocrab,
    /// `owner/name`, validated by the event reader (letters, digits, `_ - .`), so it is safe in a route.
    repository: String,
}

impl GitHubApi {
    /// A client for `api_url` (GITHUB_API_URL: api.github.com, a GitHub Enterprise server, or a test server).
    /// Call it inside a Tokio runtime.
    pub fn new(api_url: &str, token: &str, repository: &str) -> Result<GitHubApi, ApiError> {
        let client = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(ApiError::from)?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .build()
            .map_err(ApiError::from)?;
        Ok(GitHubApi { client, repository: repository.to_string() })
    }

    /// Updates the comment of pull request `number` that starts with `marker` and was written by the token's own
    /// identity, or creates one. Anyone can write a comment holding the marker; editing theirs would let them
    /// choose where dagship's report lands (and hide it in their thread), so only our own comments count.
    pub async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<CommentAction, ApiError> {
        let repository = &self.repository;
        let body = json!({ "body": body });
        let author = self.own_login().await;
        match self.find_comment(number, marker, &author).await? {
            Some(id) => {
                let route = format!("/repos/{repository}/issues/comments/{id}");
                let _: Value = self.client.patch(route, Some(&body)).await?;
                Ok(CommentAction::Updated)
            }
            None => {
                let route = format!("/repos/{repository}/issues/{number}/comments");
                let _: Value = self.client.post(route, Some(&body)).await?;
                Ok(CommentAction::Created)
            }
        }
    }

    /// The login comments made with this token carry. `GET /user` answers for a personal access token (classic
    /// or fine-grained) and a GitHub App's user token; an installation token is refused there, and the Actions
    /// `GITHUB_TOKEN` (the action's default `github-token`) comments as `github-actions[bot]`, a login no person
    /// can register. With another app's installation token nothing matches, so each run adds a comment: more
    /// noise, never an edit of someone else's comment.
    async fn own_login(&self) -> String {
        match self.client.get::<Value, _, ()>("/user", None::<&()>).await {
            Ok(user) => match user.get("login").and_then(Value::as_str) {
                Some(login) => return login.to_string(),
                None => eprintln!("GET /user gave no login: looking for comments of {ACTIONS_BOT} only"),
            },
            Err(err) => {
                eprintln!(
                    "GET /user refused ({}): an Actions token, comments are by {ACTIONS_BOT}",
                    ApiError::from(err)
                )
            }
        }
        ACTIONS_BOT.to_string()
    }

    /// The id of the first comment by `author` whose body starts with `marker`, reading every page.
    async fn find_comment(&self, number: u64, marker: &str, author: &str) -> Result<Option<u64>, ApiError> {
        let route = format!("/repos/{}/issues/{number}/comments", self.repository);
        for page in 1..=MAX_COMMENT_PAGES {
            let comments: Vec<Value> = self.client.get(&route, Some(&[("per_page", 100), ("page", page)])).await?;
            let found = comments.iter().find(|comment| {
                let by_us = comment.pointer("/user/login").and_then(Value::as_str) == Some(author);
                by_us && comment.get("body").and_then(Value::as_str).is_some_and(|body| body.starts_with(marker))
            });
            if let Some(comment) = found {
                return comment
                    .get("id")
                    .and_then(Value::as_u64)
                    .map(Some)
                    .ok_or_else(|| ApiError("a comment without a numeric `id`".into()));
            }
            if comments.len() < 100 {
                break;
            }
        }
        Ok(None)
    }

    /// Creates a deployment of `sha` to `environment` and returns its id. No merge of the default branch and no
    /// required status contexts: the workflow already decided to deploy this exact commit.
    pub async fn create_deployment(&self, sha: &str, environment: &str, description: &str) -> Result<u64, ApiError> {
        let route = format!("/repos/{}/deployments", self.repository);
        let body = json!({
            "ref": sha,
            "environment": environment,
            "description": description,
            "auto_merge": false,
            "required_contexts": [],
            "task": "deploy",
        });
        let created: Value = self.client.post(route, Some(&body)).await?;
        created.get("id").and_then(Value::as_u64).ok_or_else(|| {
            let message = created.get("message").and_then(Value::as_str).unwrap_or("no `id` in the response");
            ApiError(format!("the deployment was not created: {message}"))
        })
    }

    /// Adds a status to deployment `id`, linking the run's log.
    pub async fn set_deployment_status(
        &self,
        id: u64,
        state: DeploymentState,
        log_url: Option<&str>,
        description: &str,
    ) -> Result<(), ApiError> {
        let route = format!("/repos/{}/deployments/{id}/statuses", self.repository);
        let mut body = json!({ "state": state.name(), "description": truncate(description, 140) });
        if let Some(log_url) = log_url {
            body["log_url"] = json!(log_url);
        }
        let _: Value = self.client.post(route, Some(&body)).await?;
        Ok(())
    }
}

/// GitHub refuses a deployment status description over 140 characters.
fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars - 1) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
