//! Which file at the repository root is the config: `dagship.yml`, else one of the spellings people reach for
//! (`dagship.yaml`, `.dagship.yml`, `.dagship.yaml`), used with a notice saying so rather than a "not found".
use std::path::{Path, PathBuf};

use super::DEFAULT_FILE_NAME;

/// The other names tried, in order, when `dagship.yml` is absent.
pub const ALTERNATIVE_FILE_NAMES: &[&str] = &["dagship.yaml", ".dagship.yml", ".dagship.yaml"];

/// The config file found at `root`, and a notice when it is not `dagship.yml`.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub notice: Option<String>,
}

/// `root/dagship.yml` when it exists or when no alternative does (loading it then reports it missing).
pub fn find_config(root: &Path) -> Found {
    let default = root.join(DEFAULT_FILE_NAME);
    if default.exists() {
        return Found { path: default, notice: None };
    }
    for name in ALTERNATIVE_FILE_NAMES {
        let path = root.join(name);
        if path.is_file() {
            let notice = format!("using {name}: {DEFAULT_FILE_NAME} not found (rename the file to silence this)");
            return Found { path, notice: Some(notice) };
        }
    }
    Found { path: default, notice: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_dagship_yml_then_the_alternatives_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_config(dir.path()), Found { path: dir.path().join("dagship.yml"), notice: None });
        std::fs::write(dir.path().join(".dagship.yml"), "").unwrap();
        std::fs::write(dir.path().join("dagship.yaml"), "").unwrap();
        let found = find_config(dir.path());
        assert_eq!(found.path, dir.path().join("dagship.yaml"));
        assert_eq!(
            found.notice.as_deref(),
            Some("using dagship.yaml: dagship.yml not found (rename the file to silence this)")
        );
        std::fs::write(dir.path().join("dagship.yml"), "").unwrap();
        assert_eq!(find_config(dir.path()).notice, None);
    }
}
