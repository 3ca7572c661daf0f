//! `dagship.yml`: its types and defaults (here), parsing with file:line:column and key paths in every error
//! (`parse`), and the checks serde cannot express (`validate`).
mod dags_check;
mod duration;
mod error;
mod key_path;
mod locate;
mod parse;
mod platform;
mod prefixes;
mod types;
mod validate;

pub use error::{ConfigError, ConfigWarning};
pub use key_path::{KeyPath, Segment};
pub use parse::{load, parse_str};
pub use platform::{AirflowApi, MwaaConfig, MwaaKeys, VerifyAuth, VerifyConfig};
pub use types::*;

/// The file name dagship looks for at the repository root.
pub const DEFAULT_FILE_NAME: &str = "dagship.yml";

/// A config that parsed and validated, with the warnings (unknown keys) found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}
