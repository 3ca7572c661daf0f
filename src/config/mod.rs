//! `dagship.yml`: its types and defaults (here), parsing with file:line:column and key paths in every error
//! (`parse`), and the checks serde cannot express (`validate`).
mod bucket_name;
mod dags_check;
mod duration;
mod error;
mod find;
mod key_path;
mod locate;
mod parse;
mod platform;
mod prefixes;
mod suggest;
mod types;
mod validate;

pub use bucket_name::{bucket_name_problem, dags_folder_hint};
pub use error::{ConfigError, ConfigWarning};
pub use find::{ALTERNATIVE_FILE_NAMES, Found, find_config};
pub use key_path::{KeyPath, Segment};
pub use parse::{load, parse_str};
pub use platform::{AirflowApi, MwaaConfig, MwaaKeys, VerifyAuth, VerifyConfig};
pub use prefixes::RECORDS_PREFIX;
pub use types::*;

/// The file name dagship looks for at the repository root.
pub const DEFAULT_FILE_NAME: &str = "dagship.yml";

/// A config that parsed and validated, with the warnings (unknown keys) found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

impl Loaded {
    /// Strict mode (`dagship ci`, `--strict`): any warning is an error, so a misspelt key cannot pass unnoticed.
    pub fn strict(self) -> Result<Loaded, ConfigError> {
        if self.warnings.is_empty() { Ok(self) } else { Err(ConfigError::Strict { warnings: self.warnings }) }
    }
}
