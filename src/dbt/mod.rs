//! dbt as a subprocess: the user's dbt and adapter run the commands; dagship resolves the environment, fetches
//! its state from the bucket, chooses the selection, reads dbt's artifacts and logs, and stages what deploys
//! publish. Nothing here talks to a warehouse itself.
mod annotations;
mod artifacts;
mod compile;
mod exposures;
mod logs;
mod preflight;
mod process;
mod publish;
mod settings;
mod state;
mod target;

pub use annotations::{Annotation, annotations_from};
pub use artifacts::{DependsOn, Manifest, Node, RunResults};
pub use compile::{CommandReport, CompileOptions, CompileReport, Mode, ParseCacheUse, SelectedModel, compile};
pub use exposures::{BUCKET_EXPOSURES_DIR, ExposurePull, pull_exposures};
pub use logs::{LogFacts, PartialParse};
pub use preflight::{Preflight, check as preflight, profiles_file};
pub use publish::{ArtifactsMode, stage_for_deploy};
pub use settings::Settings;
pub use state::{Downloaded, PARSE_CACHE_DIR, PARSE_CACHE_FILE, PARSE_CACHE_META, StateSource, download};

use crate::error_kind::ErrorKind;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DbtError {
    /// dbt cannot run as configured: no executable, an unsupported version, no profile, no project.
    #[error("{0}")]
    Setup(String),
    /// A dbt command ran and failed; its output was shown in a log group and its errors annotated.
    #[error("`{command}` failed with exit code {code}{}", first_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Failed { command: String, code: i32, first_error: Option<String>, annotations: Vec<Annotation> },
    /// dbt's artifacts are missing or unreadable after a command that should have written them.
    #[error("{0}")]
    Artifact(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DbtError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DbtError::Setup(_) => ErrorKind::Usage,
            DbtError::Failed { .. } | DbtError::Artifact(_) => ErrorKind::ChecksFailed,
            DbtError::Store(err) => err.kind(),
            DbtError::Io { .. } => ErrorKind::Remote,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> DbtError {
        DbtError::Io { path: path.display().to_string(), source }
    }
}
