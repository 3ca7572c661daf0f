//! Everything a dbt call for one environment needs, resolved once from dagship.yml and dbt_project.yml.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::DbtError;
use crate::config::{Config, DbtConfig};

#[derive(Debug, Clone)]
pub struct Settings {
    pub dbt: DbtConfig,
    pub repo_root: PathBuf,
    /// The project folder, absolute.
    pub project_dir: PathBuf,
    /// The project folder relative to the repository root, `/`-separated (annotations name files from the root).
    pub project_relative: String,
    /// `--profiles-dir`, when dbt's own lookup should not decide.
    pub profiles_dir: Option<PathBuf>,
    /// The profile dbt_project.yml names.
    pub profile: String,
    pub environment: String,
    /// The target deploys compile with.
    pub target: String,
    /// The target pull request checks compile with.
    pub check_target: String,
    /// `dbt.vars` overridden by the environment's `vars`, as one JSON object for `--vars`.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// `dbt.env` overridden by the environment's `dbt_env`.
    pub env: BTreeMap<String, String>,
    /// dbt's target folder (dbt_project.yml `target-path`, default `target`), absolute.
    pub target_path: PathBuf,
    /// Where `dbt deps` installs packages (`packages-install-path`, default `dbt_packages`), absolute.
    pub packages_path: PathBuf,
}

impl Settings {
    /// Resolves the dbt settings of `environment`. Errors name the key to set.
    /// `target_flag` is `--target`, which (like DBT_TARGET) overrides the environment's targets (super::target).
    pub fn resolve(
        repo_root: &Path,
        config: &Config,
        environment: &str,
        target_flag: Option<&str>,
    ) -> Result<Settings, DbtError> {
        let dbt = config.dbt.clone().ok_or_else(|| {
            DbtError::Setup("dagship.yml has no `dbt` section; add `dbt: { project_dir: <folder> }`".into())
        })?;
        let env = config.environment(environment).map_err(DbtError::Setup)?;
        let variable = std::env::var(super::target::TARGET_VARIABLE).ok();
        let chosen = super::target::choose(
            target_flag,
            variable.as_deref(),
            env.dbt_target.as_deref(),
            env.dbt_check_target.as_deref(),
            environment,
        )
        .ok_or_else(|| {
            DbtError::Setup(format!(
                "environments.{environment}.dbt_target is not set: name the profiles.yml target dbt uses for it \
                 (or pass --target, or set DBT_TARGET)"
            ))
        })?;
        // An override of a configured target is said: a check against another target than usual is no surprise.
        if env.dbt_target.is_some() && chosen.overridden {
            crate::notice::announce(
                crate::notice::Level::Notice,
                &format!(
                    "dbt target `{}` (from {}) instead of environments.{environment}.dbt_target / dbt_check_target",
                    chosen.target, chosen.source
                ),
            );
        }
        let (target, check_target) = (chosen.target, chosen.check_target);
        let project_relative = dbt.project_dir.trim_end_matches('/').to_string();
        let project_dir = repo_root.join(&project_relative);
        let project_file = project_dir.join("dbt_project.yml");
        let project = read_project_file(&project_file)?;
        let profile = project.get("profile").and_then(|value| value.as_str()).map(str::to_string).ok_or_else(|| {
            DbtError::Setup(format!(
                "{}: no `profile` key; name the profiles.yml profile to use",
                project_file.display()
            ))
        })?;
        let folder = |key: &str, default: &str| {
            project_dir.join(project.get(key).and_then(|value| value.as_str()).unwrap_or(default))
        };
        let mut vars: serde_json::Map<String, serde_json::Value> =
            dbt.vars.iter().map(|(key, value)| (key.clone(), value.clone())).collect();
        vars.extend(env.vars.iter().map(|(key, value)| (key.clone(), value.clone())));
        let mut dbt_env = dbt.env.clone();
        dbt_env.extend(env.dbt_env.clone());
        Ok(Settings {
            profiles_dir: dbt.profiles_dir.as_ref().map(|dir| repo_root.join(dir)),
            target_path: folder("target-path", "target"),
            packages_path: folder("packages-install-path", "dbt_packages"),
            dbt,
            repo_root: repo_root.to_path_buf(),
            project_dir,
            project_relative,
            profile,
            environment: environment.to_string(),
            target,
            check_target,
            vars,
            env: dbt_env,
        })
    }

    /// `--vars` as dbt reads it (JSON is YAML).
    pub fn vars_argument(&self) -> String {
        serde_json::Value::Object(self.vars.clone()).to_string()
    }

    /// The state prefix in the bucket, with a trailing `/`.
    pub fn state_prefix(&self) -> String {
        format!("{}/", self.dbt.state_prefix.trim_end_matches('/'))
    }

    /// Whether the project installs packages (`dbt deps` has work to do).
    pub fn has_packages(&self) -> bool {
        ["packages.yml", "dependencies.yml"].iter().any(|name| self.project_dir.join(name).is_file())
    }
}

fn read_project_file(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, DbtError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        DbtError::Setup(format!(
            "{}: {err}; `dbt.project_dir` must be the folder holding dbt_project.yml",
            path.display()
        ))
    })?;
    match yaml_serde::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(DbtError::Setup(format!("{}: expected a mapping at the top level", path.display()))),
        Err(err) => Err(DbtError::Setup(format!("{}: {err}", path.display()))),
    }
}
