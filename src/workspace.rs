//! The repository a command runs in, resolved once: its root (the git work tree when there is one), the git
//! handle and the loaded config, with the config's warnings printed once. Commands build one and hand it to the
//! flows; nothing below re-discovers the repository or re-reads dagship.yml.
use std::path::{Path, PathBuf};

use crate::config::{self, Config, Environment};
use crate::error::{Error, Result};
use crate::git::Git;
use crate::notice::{Level, announce};
use crate::store::StoreUrl;

pub struct Workspace {
    /// The git work tree's top folder, else the folder the command was pointed at.
    pub root: PathBuf,
    pub git: Option<Git>,
    pub config: Config,
    /// The dagship.yml that was read.
    pub config_file: PathBuf,
}

impl Workspace {
    /// A workspace that needs a git repository (detect, ci): not being in one is the error. `strict` (`dagship
    /// ci`, `--strict`) makes the config's warnings errors.
    pub fn open_repository(repo: &Path, config_file: Option<&Path>, strict: bool) -> Result<Workspace> {
        let git = Git::discover(repo)?;
        Self::load(git.root().to_path_buf(), Some(git), config_file, strict)
    }

    /// A workspace that works outside git too (plan, deploy of a folder, dbt, dags, config check).
    pub fn open(repo: &Path, config_file: Option<&Path>, strict: bool) -> Result<Workspace> {
        let git = Git::discover(repo).ok();
        let root = git.as_ref().map_or_else(|| repo.to_path_buf(), |git| git.root().to_path_buf());
        Self::load(root, git, config_file, strict)
    }

    fn load(root: PathBuf, git: Option<Git>, config_file: Option<&Path>, strict: bool) -> Result<Workspace> {
        let config_file = config_path(&root, config_file);
        let config = load_config(&config_file, strict)?.config;
        Ok(Workspace { root, git, config, config_file })
    }

    /// The git repository; `why` says which option needs it.
    pub fn git(&self, why: &str) -> Result<&Git> {
        self.git
            .as_ref()
            .ok_or_else(|| Error::Usage(format!("{why} needs a git repository; {} is not in one", self.root.display())))
    }

    /// The named environment of the config, or a usage error that lists the known ones.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.config.environment(name).map_err(Error::Usage)
    }

    /// The named environment with its bucket URL parsed: the one place a bucket URL becomes a `StoreUrl`
    /// (relative `file://` paths are inside the repository).
    pub fn target(&self, name: &str) -> Result<Target<'_>> {
        let settings = self.environment(name)?;
        let url = StoreUrl::parse(&settings.bucket, &self.root)
            .map_err(|err| Error::Usage(format!("environments.{name}.bucket: {err}")))?;
        Ok(Target { settings, url })
    }
}

/// An environment resolved for the engines: its settings and its parsed bucket URL.
pub struct Target<'a> {
    pub settings: &'a Environment,
    pub url: StoreUrl,
}

/// The config path: `--config` (or the action's `config` input), else dagship.yml (or a spelling
/// `config::find_config` accepts, with a notice) at the repository root.
pub fn config_path(root: &Path, config_file: Option<&Path>) -> PathBuf {
    if let Some(path) = config_file {
        return path.to_path_buf();
    }
    let found = config::find_config(root);
    if let Some(notice) = &found.notice {
        announce(Level::Notice, notice);
    }
    found.path
}

/// Loads the config and prints its warnings once; `strict` (`dagship ci`, `--strict`) makes them errors.
pub fn load_config(path: &Path, strict: bool) -> Result<config::Loaded> {
    let loaded = config::load(path)?;
    if strict {
        return Ok(loaded.strict()?);
    }
    for warning in &loaded.warnings {
        announce(Level::Warning, &warning.to_string());
    }
    Ok(loaded)
}
