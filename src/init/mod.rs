//! `dagship init`: read the repository (scan.rs), then write a commented dagship.yml (config_text.rs) and the
//! three workflows (workflows.rs) for Composer or MWAA. An existing file is never replaced without `force`:
//! every target is checked before the first write, so a refusal writes nothing.
mod config_text;
mod scan;
mod workflows;

use std::path::{Path, PathBuf};

use crate::error_kind::ErrorKind;
pub use scan::{Layout, scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Composer,
    Mwaa,
}

impl Provider {
    fn platform_name(self) -> &'static str {
        match self {
            Provider::Composer => "composer",
            Provider::Mwaa => "mwaa",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Provider::Composer => "Composer (gs://)",
            Provider::Mwaa => "MWAA (s3://)",
        }
    }

    fn placeholder_bucket(self) -> &'static str {
        match self {
            Provider::Composer => "gs://your-composer-bucket",
            Provider::Mwaa => "s3://your-mwaa-bucket",
        }
    }

    fn scheme(self) -> &'static str {
        match self {
            Provider::Composer => "gs://",
            Provider::Mwaa => "s3://",
        }
    }
}

/// One environment to write: its name and bucket URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub bucket: String,
    /// No bucket was given: the URL is a placeholder to replace.
    pub placeholder: bool,
}

pub struct InitRequest {
    pub root: PathBuf,
    pub provider: Provider,
    /// `NAME=BUCKET_URL` pairs as given; none writes one `prod` environment with a placeholder bucket.
    pub environments: Vec<String>,
    pub default_branch: String,
    pub force: bool,
}

#[derive(Debug)]
pub struct InitReport {
    pub layout: Layout,
    /// The files written, relative to the root, each with whether it replaced an existing one.
    pub written: Vec<(String, bool)>,
    pub environments: Vec<Target>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Input(String),
    #[error("{file} already exists; nothing was written: pass --force to replace it (and the other files init writes)")]
    Exists { file: String },
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl InitError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InitError::Input(_) => ErrorKind::Usage,
            InitError::Exists { .. } => ErrorKind::Refused,
            InitError::Io { .. } => ErrorKind::Usage,
        }
    }
}

/// Parses `NAME=BUCKET_URL`: a name dagship.yml can hold as a key, a URL of the provider's scheme.
fn parse_target(text: &str, provider: Provider) -> Result<Target, InitError> {
    let (name, bucket) = text.split_once('=').ok_or_else(|| {
        InitError::Input(format!(
            "--env `{text}`: expected NAME=BUCKET_URL, like prod={}/",
            provider.placeholder_bucket()
        ))
    })?;
    let valid_name =
        !name.is_empty() && name.chars().all(|char| char.is_ascii_alphanumeric() || char == '_' || char == '-');
    if !valid_name {
        return Err(InitError::Input(format!(
            "--env `{text}`: the environment name `{name}` must be letters, digits, `_` or `-`"
        )));
    }
    if !bucket.starts_with(provider.scheme()) && !bucket.starts_with("file://") {
        return Err(InitError::Input(format!(
            "--env `{text}`: a {} environment's bucket starts with {} (or file:// for a local folder)",
            provider.title(),
            provider.scheme()
        )));
    }
    Ok(Target { name: name.to_string(), bucket: bucket.to_string(), placeholder: false })
}

fn targets(request: &InitRequest) -> Result<Vec<Target>, InitError> {
    if request.environments.is_empty() {
        return Ok(vec![Target {
            name: "prod".into(),
            bucket: request.provider.placeholder_bucket().into(),
            placeholder: true,
        }]);
    }
    let mut targets: Vec<Target> = Vec::new();
    for text in &request.environments {
        let target = parse_target(text, request.provider)?;
        if targets.iter().any(|known| known.name == target.name) {
            return Err(InitError::Input(format!("--env `{}` is given twice", target.name)));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// The files init writes, relative to the root, with their content.
fn files(layout: &Layout, request: &InitRequest, targets: &[Target]) -> Vec<(String, String)> {
    let names: Vec<String> = targets.iter().map(|target| target.name.clone()).collect();
    vec![
        ("dagship.yml".into(), config_text::dagship_yml(layout, request.provider, targets, &request.default_branch)),
        (workflows::PULL_REQUEST_FILE.into(), workflows::pull_request(layout, request.provider)),
        (workflows::DEPLOY_FILE.into(), workflows::deploy(request.provider, &request.default_branch, &names[0])),
        (workflows::MANUAL_FILE.into(), workflows::manual(request.provider, &names)),
    ]
}

pub fn init(request: &InitRequest) -> Result<InitReport, InitError> {
    let targets = targets(request)?;
    let layout = scan(&request.root);
    let files = files(&layout, request, &targets);
    let exists = |relative: &str| request.root.join(relative).symlink_metadata().is_ok();
    if let Some((file, _)) = files.iter().find(|(file, _)| !request.force && exists(file)) {
        return Err(InitError::Exists { file: file.clone() });
    }
    let mut written = Vec::new();
    for (relative, content) in &files {
        let replaced = exists(relative);
        write(&request.root.join(relative), content)?;
        written.push((relative.clone(), replaced));
    }
    Ok(InitReport { layout, written, environments: targets })
}

fn write(path: &Path, content: &str) -> Result<(), InitError> {
    let io = |source| InitError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // A replaced file is removed first, so a symlink is replaced, never written through.
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(path).map_err(io)?;
    }
    std::fs::write(path, content).map_err(io)
}
