//! Composer and MWAA specifics beyond copying files. MWAA loads plugins only from one `plugins.zip` object,
//! so the plugins folder is packed into a zip whose bytes depend on nothing but the files' names and contents;
//! that zip, the requirements and the startup script are deployed by object version (`mwaa`). After a deploy,
//! `airflow` asks Airflow's REST API whether the new DAG files imported.
pub mod airflow;
pub mod mwaa;
mod plugins_zip;

use crate::error_kind::ErrorKind;

pub use plugins_zip::{PluginsZipError, build_plugins_zip};

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A config or repository problem (unknown environment name, missing file); nothing was written.
    #[error("{0}")]
    Input(String),
    /// The platform is not in a state to deploy to; nothing was written.
    #[error("refusing to deploy: {0}")]
    Refused(String),
    /// A request to the platform failed.
    #[error("{0}")]
    Remote(String),
    /// A request failed, said in one line (which credentials or network, and the fix); the SDK's raw chain is
    /// printed under it with `--verbose`.
    #[error("{message}{}", crate::verbose::raw_detail(.detail))]
    RemoteExplained { message: String, detail: String },
    /// The deploy worked but Airflow reports the deployed DAG files broken.
    #[error("{0}")]
    ChecksFailed(String),
}

impl PlatformError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PlatformError::Input(_) => ErrorKind::Usage,
            PlatformError::Refused(_) => ErrorKind::Refused,
            PlatformError::Remote(_) | PlatformError::RemoteExplained { .. } => ErrorKind::Remote,
            PlatformError::ChecksFailed(_) => ErrorKind::ChecksFailed,
        }
    }
}
