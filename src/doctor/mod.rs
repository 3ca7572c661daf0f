//! `dagship doctor`: one check per thing a first run needs, each passed, failed (with the fix) or skipped (with
//! why), in the order a new user would fix them: the config, the git history, dbt, Airflow, then per environment
//! the bucket URL, read (and with `write`, write) access, MWAA's status and the Airflow API. Each check calls
//! the code the real run uses (config loading, dbt's preflight, the store, the MWAA and Airflow clients), so a
//! pass here means the same call passes there.
mod local;
mod remote;

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{self, Config};
use crate::git::Git;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, like `bucket read`.
    pub check: String,
    /// The environment it was checked for, when it is per environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub status: Status,
    /// What was found: a version, a URL, the error.
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: &str, detail: impl Into<String>) -> Check {
        Check { check: check.into(), environment: None, status: Status::Pass, detail: detail.into(), fix: None }
    }

    fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            environment: None,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(check: &str, detail: impl Into<String>) -> Check {
        Check { check: check.into(), environment: None, status: Status::Skip, detail: detail.into(), fix: None }
    }

    fn of(mut self, environment: &str) -> Check {
        self.environment = Some(environment.to_string());
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub passed: bool,
    pub checks: Vec<Check>,
}

pub struct DoctorRequest {
    /// The repository root (the git work tree, else the folder given).
    pub root: PathBuf,
    pub git: Option<Git>,
    pub config_file: PathBuf,
    /// Check only this environment; all when unset.
    pub environment: Option<String>,
    /// Also write (and remove) a scratch object under dagship's prefix in each bucket.
    pub write: bool,
}

pub fn doctor(request: &DoctorRequest) -> DoctorReport {
    let mut checks = Vec::new();
    let config = load_config(request, &mut checks);
    if let Some(config) = &config {
        checks.push(local::git_history(request.git.as_ref(), config));
        let environments = environments(config, request.environment.as_deref(), &mut checks);
        checks.extend(local::dbt(&request.root, config, &environments));
        checks.push(local::airflow(&request.root, config));
        if !environments.is_empty() {
            checks.extend(remote::environments(&request.root, config, &environments, request.write));
        }
    }
    let passed = checks.iter().all(|check| check.status != Status::Fail);
    DoctorReport { passed, checks }
}

/// The config as strict mode sees it. A config that only fails strictly (unknown keys, a `/dags` URL) is still
/// used for the other checks, so one run shows every problem.
fn load_config(request: &DoctorRequest, checks: &mut Vec<Check>) -> Option<Config> {
    const CHECK: &str = "config";
    let shown = request.config_file.display().to_string();
    match config::load(&request.config_file) {
        Err(err) => {
            let fix = if request.config_file.exists() {
                "fix the key named above; `dagship config check` prints the resolved config"
            } else {
                "run `dagship init` to write one from the repository, or pass --config"
            };
            checks.push(Check::fail(CHECK, err.to_string(), fix));
            None
        }
        Ok(loaded) if loaded.warnings.is_empty() => {
            checks.push(Check::pass(CHECK, format!("{shown}: valid under --strict")));
            Some(loaded.config)
        }
        Ok(loaded) => {
            let config = loaded.config.clone();
            let problems = loaded.strict().err().map(|err| err.to_string()).unwrap_or_default();
            checks.push(Check::fail(CHECK, problems, "fix each key named above: `dagship ci` refuses them"));
            Some(config)
        }
    }
}

/// The environments to check: the one asked for, else all.
fn environments(config: &Config, only: Option<&str>, checks: &mut Vec<Check>) -> Vec<String> {
    match only {
        Some(name) => match config.environment(name) {
            Ok(_) => vec![name.to_string()],
            Err(message) => {
                checks.push(Check::fail("environment", message, "pass one of the environments of dagship.yml"));
                Vec::new()
            }
        },
        None if config.environments.is_empty() => {
            checks.push(Check::fail(
                "environment",
                "dagship.yml defines no `environments`",
                "add one (`dagship init --env NAME=BUCKET_URL` writes it)",
            ));
            Vec::new()
        }
        None => config.environments.keys().cloned().collect(),
    }
}
