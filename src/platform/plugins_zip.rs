//! A deterministic `plugins.zip`: entries sorted by path, every timestamp 1980-01-01 00:00, permissions 0644,
//! Unix as the creating system, deflate at a fixed level, no directory entries and no extra fields. The same
//! plugins folder therefore always yields the same bytes and MD5 on any machine, checkout or clock, and MWAA is
//! updated only when a plugin really changed.
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// Files no Airflow needs, left out like the deploy's built-in excludes.
const SKIPPED_NAMES: &[&str] = &["__pycache__", ".DS_Store"];
const SKIPPED_EXTENSIONS: &[&str] = &[".pyc", ".pyo"];
/// Symlinked folders could loop; no plugins tree is this deep.
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PluginsZipError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("building plugins.zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// Packs every file under `folder` (paths relative to it, `/`-separated) into zip bytes.
pub fn build_plugins_zip(folder: &Path) -> Result<Vec<u8>, PluginsZipError> {
    let mut files = Vec::new();
    collect(folder, "", 0, &mut files)?;
    files.sort();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default())
        .system(System::Unix)
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|err| read_error(&path, err))?;
        writer.start_file(name, options)?;
        writer.write_all(&bytes).map_err(|err| read_error(&path, err))?;
    }
    Ok(writer.finish()?.into_inner())
}

fn collect(dir: &Path, prefix: &str, depth: usize, files: &mut Vec<(String, PathBuf)>) -> Result<(), PluginsZipError> {
    if depth > MAX_DEPTH {
        return Err(PluginsZipError::Read { path: dir.into(), message: "nested too deep (a symlink loop?)".into() });
    }
    for entry in std::fs::read_dir(dir).map_err(|err| read_error(dir, err))? {
        let entry = entry.map_err(|err| read_error(dir, err))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(PluginsZipError::Read { path, message: "the name is not valid UTF-8; rename it".into() });
        };
        if SKIPPED_NAMES.contains(&name.as_str()) || SKIPPED_EXTENSIONS.iter().any(|ext| name.ends_with(ext)) {
            continue;
        }
        let relative = format!("{prefix}{name}");
        // Follows symlinks: a linked plugin is packed as the file it points to.
        let meta = std::fs::metadata(&path).map_err(|err| read_error(&path, err))?;
        if meta.is_dir() {
            collect(&path, &format!("{relative}/"), depth + 1, files)?;
        } else {
            files.push((relative, path));
        }
    }
    Ok(())
}

fn read_error(path: &Path, err: std::io::Error) -> PluginsZipError {
    PluginsZipError::Read { path: path.into(), message: err.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn plugins(root: &Path, order: &[&str]) {
        for name in order {
            write(root, name, &format!("# {name}\n"));
        }
        write(root, "operators/__pycache__/slack.cpython-311.pyc", "bytecode");
    }

    #[test]
    fn the_same_folder_always_gives_the_same_bytes() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Different creation orders, times and permissions: the zip must not see any of them.
        plugins(one.path(), &["operators/slack.py", "hooks/api.py", "__init__.py"]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        plugins(two.path(), &["__init__.py", "hooks/api.py", "operators/slack.py"]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(two.path().join("hooks/api.py"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let first = build_plugins_zip(one.path()).unwrap();
        assert_eq!(first, build_plugins_zip(two.path()).unwrap());
        assert_eq!(first, build_plugins_zip(one.path()).unwrap());

        let mut archive = zip::ZipArchive::new(Cursor::new(first.clone())).unwrap();
        let names: Vec<String> =
            (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect();
        assert_eq!(names, ["__init__.py", "hooks/api.py", "operators/slack.py"], "sorted, no caches");

        write(two.path(), "hooks/api.py", "# changed\n");
        assert_ne!(first, build_plugins_zip(two.path()).unwrap(), "a content change changes the bytes");
    }
}
