//! The optional `dags_check:` section of dagship.yml: how `dagship dags check` runs the user's Python + Airflow.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::KeyPath;
use super::key_path::Problem;
use super::validate::check_relative_dir;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DagsCheckConfig {
    /// The Python interpreter that has Airflow installed (a name on PATH or a path, relative paths from the
    /// repository root).
    pub python: String,
    /// A requirements file (relative to the repository root: Airflow, providers, the DAGs' imports, and `-c`
    /// Airflow's constraints) that dagship installs into a cached venv and checks with, instead of `python`.
    pub requirements: Option<String>,
    /// Folders (relative to the repository root) put first on PYTHONPATH, after the plugins folder.
    pub pythonpath: Vec<String>,
    /// Environment variables for the check (AIRFLOW_VAR_*, AIRFLOW_CONN_*, ...), on top of dagship's own.
    pub env: BTreeMap<String, String>,
    /// Files importing slower than this get a warning, like "5s".
    pub slow_import_threshold: String,
    /// A file still importing after this fails with a timeout, like "60s" (Airflow's dagbag_import_timeout).
    pub file_timeout: String,
    /// AIRFLOW_HOME for the check (relative to the repository root); a fresh temp folder when unset, so the
    /// check never reads or writes ~/airflow.
    pub airflow_home: Option<String>,
    /// `dagship ci` runs the check on a pull request's changed DAG files. Turn it off when the Action's
    /// container has no Airflow and the check runs as its own step (`dagship dags check`) in a job that has.
    pub pull_requests: bool,
    /// `dagship deploy` and `ci`'s deploys import the staged commit's DAGs first: an import error refuses the
    /// deploy, and the DAG ids per file go into the deploy's ledger record (what pull requests compare with).
    pub before_deploy: bool,
}

impl Default for DagsCheckConfig {
    fn default() -> Self {
        DagsCheckConfig {
            python: "python3".into(),
            requirements: None,
            pythonpath: Vec::new(),
            env: BTreeMap::new(),
            slow_import_threshold: "5s".into(),
            file_timeout: "60s".into(),
            airflow_home: None,
            pull_requests: true,
            before_deploy: false,
        }
    }
}

impl DagsCheckConfig {
    pub fn slow_import_threshold(&self) -> Duration {
        humantime::parse_duration(&self.slow_import_threshold).unwrap_or(Duration::from_secs(5))
    }

    pub fn file_timeout(&self) -> Duration {
        humantime::parse_duration(&self.file_timeout).unwrap_or(Duration::from_secs(60))
    }

    /// The checks serde cannot express; `at` is the section's key path.
    pub(super) fn validate(&self, at: KeyPath) -> Result<(), Problem> {
        if self.python.trim().is_empty() || self.python.chars().any(char::is_control) {
            return Err(Problem {
                key_path: at.key("python"),
                message: "expected a Python interpreter with Airflow installed, like `python3` or `.venv/bin/python`"
                    .into(),
            });
        }
        for (index, folder) in self.pythonpath.iter().enumerate() {
            check_relative_dir(folder, at.key("pythonpath").index(index))?;
        }
        if let Some(file) = &self.requirements {
            check_relative_dir(file, at.key("requirements"))?;
        }
        if let Some(home) = &self.airflow_home {
            check_relative_dir(home, at.key("airflow_home"))?;
        }
        for name in self.env.keys() {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Problem {
                    key_path: at.key("env").key(name.as_str()),
                    message: format!(
                        "`{}` is not an environment variable name: use letters, digits and `_`",
                        name.escape_debug()
                    ),
                });
            }
        }
        for (key, value) in
            [("slow_import_threshold", &self.slow_import_threshold), ("file_timeout", &self.file_timeout)]
        {
            let parsed = humantime::parse_duration(value).map_err(|err| Problem {
                key_path: at.key(key),
                message: format!("{err}; expected a duration like \"5s\", \"90s\" or \"2m\""),
            })?;
            // Airflow's import timeout counts whole seconds (SIGALRM); a zero timeout would fail every file.
            if key == "file_timeout" && parsed < Duration::from_secs(1) {
                return Err(Problem {
                    key_path: at.key(key),
                    message: format!("`{value}` is too short: a file needs at least \"1s\" to import"),
                });
            }
        }
        Ok(())
    }
}
