//! Per-environment settings beyond the bucket: the MWAA environment a deploy updates, and the Airflow API a
//! deploy asks whether the new DAG files imported.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_or;

/// `environments.<name>.mwaa`: what MWAA runs besides the `dags/` folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MwaaConfig {
    /// The MWAA environment's name (as in `aws mwaa get-environment --name`).
    pub environment_name: String,
    /// The requirements file in the repository, uploaded to `keys.requirements`.
    pub requirements: Option<String>,
    /// The startup shell script in the repository, uploaded to `keys.startup_script`.
    pub startup_script: Option<String>,
    /// Where each file goes in the bucket, relative to the environment's bucket URL.
    pub keys: MwaaKeys,
    /// Wait for an environment update to finish before deploying the DAGs (an update takes 10 to 30 minutes).
    pub wait: bool,
    /// How long to wait for the environment to be AVAILABLE: before a deploy (when another update runs) and
    /// after our update when `wait` is on.
    pub wait_timeout: String,
    /// How often to ask for the environment's status while waiting.
    pub poll_interval: String,
}

impl Default for MwaaConfig {
    fn default() -> Self {
        MwaaConfig {
            environment_name: String::new(),
            requirements: None,
            startup_script: None,
            keys: MwaaKeys::default(),
            wait: false,
            wait_timeout: "60m".into(),
            poll_interval: "30s".into(),
        }
    }
}

impl MwaaConfig {
    pub fn wait_timeout(&self) -> Duration {
        duration_or(&self.wait_timeout, 3600)
    }

    pub fn poll_interval(&self) -> Duration {
        duration_or(&self.poll_interval, 30)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MwaaKeys {
    pub plugins: String,
    pub requirements: String,
    pub startup_script: String,
}

impl Default for MwaaKeys {
    fn default() -> Self {
        MwaaKeys {
            plugins: "plugins.zip".into(),
            requirements: "requirements.txt".into(),
            startup_script: "startup.sh".into(),
        }
    }
}

/// `environments.<name>.verify`: after a deploy, ask Airflow whether the deployed DAG files imported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyConfig {
    /// The Airflow web server URL (Composer's `airflowUri`, or any Airflow). Unset on MWAA: the API is reached
    /// through MWAA's InvokeRestApi.
    pub airflow_url: Option<String>,
    /// How to authenticate to `airflow_url`.
    pub auth: VerifyAuth,
    /// With `auth: bearer`, the environment variable holding the token.
    pub token_env: Option<String>,
    /// Which REST API: Airflow 2's `/api/v1`, Airflow 3's `/api/v2`, or `auto` (v2, then v1).
    pub api: AirflowApi,
    /// How long to wait for Airflow to parse the deployed files.
    pub timeout: String,
    /// How often to ask.
    pub poll_interval: String,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            airflow_url: None,
            auth: VerifyAuth::None,
            token_env: None,
            api: AirflowApi::Auto,
            timeout: "10m".into(),
            poll_interval: "15s".into(),
        }
    }
}

impl VerifyConfig {
    pub fn timeout(&self) -> Duration {
        duration_or(&self.timeout, 600)
    }

    pub fn poll_interval(&self) -> Duration {
        duration_or(&self.poll_interval, 15)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyAuth {
    /// No credentials (a local Airflow, or one behind a proxy that adds them).
    None,
    /// `Authorization: Bearer $<token_env>`.
    Bearer,
    /// A Google access token from Application Default Credentials (Composer).
    Google,
    /// MWAA's InvokeRestApi with the AWS credentials of the deploy.
    Mwaa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AirflowApi {
    Auto,
    V1,
    V2,
}
