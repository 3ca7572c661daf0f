//! Config errors and warnings. Each names the file, the line and column, the key path and what is expected.
use std::fmt;
use std::path::PathBuf;

use super::KeyPath;

/// Where in the config file a problem is: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} not found: create it (see the README's \"Configuration\" section) or pass --config FILE",
        path.display()
    )]
    NotFound { path: PathBuf },
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Warnings (unknown keys, a `/dags` bucket URL) refused under `dagship ci` and `--strict`, one per line.
    #[error("{}", render_strict(warnings))]
    Strict { warnings: Vec<ConfigWarning> },
    /// A problem with one value: its place, its key path, what is wrong and what would be right.
    #[error("{}", render_invalid(path, position, key_path, message))]
    Invalid { path: PathBuf, position: Option<Position>, key_path: KeyPath, message: String },
}

fn render_invalid(path: &std::path::Path, position: &Option<Position>, key_path: &KeyPath, message: &str) -> String {
    let place = match position {
        Some(position) => format!("{}:{}:{}", path.display(), position.line, position.column),
        None => path.display().to_string(),
    };
    format!("{place}: {key_path}: {message}")
}

fn render_strict(warnings: &[ConfigWarning]) -> String {
    let lines: Vec<String> = warnings.iter().map(ConfigWarning::to_string).collect();
    let count = crate::plural::plural(warnings.len(), "problem");
    format!(
        "{}\n{count} in the config: `dagship ci` and `--strict` refuse what other commands warn about",
        lines.join("\n")
    )
}

/// Something in the config that dagship ignores: worth fixing, not worth failing for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub path: PathBuf,
    pub position: Option<Position>,
    pub key_path: KeyPath,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_invalid(&self.path, &self.position, &self.key_path, &self.message))
    }
}
