//! What a deploy must leave alone: the exclude file (gitignore syntax, relative to the folder holding it,
//! applied to uploads and deletions alike) and the protected bucket keys.
use std::path::{Path, PathBuf};

use globset::GlobSet;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::DeployError;
use crate::glob::compile_set;

/// Objects managed by Cloud Composer itself; deleting or overwriting them breaks the environment.
pub const PLATFORM_MANAGED: &[&str] = &["dags/airflow_monitoring.py", "logs/**", "airflow.cfg", "env_var.json"];

/// Never uploaded, never deleted: interpreter caches, OS litter, and dbt's `.user.yml` (a new id on every checkout,
/// so a rerun would never be a no-op), none of which Airflow needs.
const ALWAYS_EXCLUDED: &[&str] = &["__pycache__/", "*.pyc", ".DS_Store", ".user.yml"];

pub struct Excludes {
    root: PathBuf,
    file: Option<Gitignore>,
    builtin: Gitignore,
}

impl Excludes {
    /// Loads `exclude_from` (relative to `repo_root`) when configured; `generated` are repository folders that
    /// tools write into (dbt's `target/` and `logs/`), never deployed from a mirrored folder.
    pub fn load(repo_root: &Path, exclude_from: Option<&str>, generated: &[String]) -> Result<Excludes, DeployError> {
        let file = match exclude_from {
            Some(relative) => {
                let path = repo_root.join(relative);
                if !path.is_file() {
                    return Err(DeployError::Input(format!(
                        "{}: the exclude file (`deploy.exclude_from`) does not exist; create it or remove the key",
                        path.display()
                    )));
                }
                let folder = path.parent().unwrap_or(repo_root).to_path_buf();
                let mut builder = GitignoreBuilder::new(&folder);
                if let Some(err) = builder.add(&path) {
                    return Err(DeployError::Input(format!("{}: {err}", path.display())));
                }
                Some(builder.build().map_err(|err| DeployError::Input(format!("{}: {err}", path.display())))?)
            }
            None => None,
        };
        let mut builder = GitignoreBuilder::new(repo_root);
        for line in ALWAYS_EXCLUDED {
            builder.add_line(None, line).expect("built-in exclude patterns are valid");
        }
        for folder in generated {
            // Anchored at the repository root; config validation keeps these paths plain and relative.
            let line = format!("/{}/", folder.trim_matches('/'));
            builder.add_line(None, &line).map_err(|err| DeployError::Input(format!("{folder}: {err}")))?;
        }
        let builtin = builder.build().expect("built-in exclude patterns are valid");
        Ok(Excludes { root: repo_root.to_path_buf(), file, builtin })
    }

    /// Whether the repository path `relative` (a file) is excluded.
    pub fn excludes(&self, relative: &str) -> bool {
        let path = self.root.join(relative);
        if self.builtin.matched_path_or_any_parents(&path, false).is_ignore() {
            return true;
        }
        match &self.file {
            // The matcher asserts its paths lie under the exclude file's folder; others are not excluded.
            Some(file) if path.starts_with(file.path()) => file.matched_path_or_any_parents(&path, false).is_ignore(),
            _ => false,
        }
    }
}

/// Bucket keys (relative to the environment URL) that are never deleted nor overwritten.
pub struct Protected {
    set: GlobSet,
}

impl Protected {
    pub fn new(user: &[String]) -> Result<Protected, DeployError> {
        let patterns: Vec<String> =
            PLATFORM_MANAGED.iter().map(|glob| glob.to_string()).chain(user.iter().cloned()).collect();
        let set = compile_set(patterns.iter().map(String::as_str))
            .map_err(|err| DeployError::Input(format!("deploy.protect: {err}")))?;
        Ok(Protected { set })
    }

    pub fn protects(&self, key: &str) -> bool {
        self.set.is_match(key)
    }
}
