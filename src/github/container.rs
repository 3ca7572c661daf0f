//! Inside a Docker action, the runner mounts the checkout at /github/workspace but passes the environment of
//! earlier steps as it was: google-github-actions/auth exports GOOGLE_APPLICATION_CREDENTIALS as the runner's own
//! path of the credentials file it wrote into the workspace (`/home/runner/work/repo/repo/gha-creds-*.json`),
//! which does not exist in the container. This maps such a path to the same file under GITHUB_WORKSPACE.
use std::path::{Path, PathBuf};

/// Variables holding a path to a file the runner may have written into the workspace.
const PATH_VARIABLES: [&str; 1] = ["GOOGLE_APPLICATION_CREDENTIALS"];

/// Rewrites the path variables that name a missing file to the same file under `GITHUB_WORKSPACE`, in Actions
/// only. Must run before any thread starts (it sets environment variables): `main` calls it first.
pub fn map_runner_paths_into_workspace() {
    if !crate::notice::in_actions() {
        return;
    }
    let Some(workspace) = std::env::var_os("GITHUB_WORKSPACE").filter(|value| !value.is_empty()) else { return };
    for name in PATH_VARIABLES {
        let Some(value) = std::env::var_os(name).filter(|value| !value.is_empty()) else { continue };
        if let Some(mapped) = path_in_workspace(Path::new(&value), Path::new(&workspace)) {
            eprintln!("{name} names a path of the runner's machine; in this container it is {}", mapped.display());
            // SAFETY: called at the start of `main`, before the async runtime or any other thread exists.
            unsafe { std::env::set_var(name, &mapped) };
        }
    }
}

/// `host_path` when it exists; else the file under `workspace` that has the longest tail of `host_path`'s
/// components (the runner's workspace folder is a prefix of the host path, of unknown length).
pub fn path_in_workspace(host_path: &Path, workspace: &Path) -> Option<PathBuf> {
    if host_path.exists() || !host_path.is_absolute() {
        return None;
    }
    let parts: Vec<_> = host_path.components().skip(1).collect();
    (1..parts.len()).map(|skip| workspace.join(parts[skip..].iter().collect::<PathBuf>())).find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_path_of_a_workspace_file_maps_to_the_mounted_workspace() {
        let workspace = tempfile::tempdir().unwrap();
        std::fs::create_dir(workspace.path().join("creds")).unwrap();
        std::fs::write(workspace.path().join("creds/gha-creds-1.json"), "{}").unwrap();
        let host = Path::new("/home/runner/work/shop/shop/creds/gha-creds-1.json");
        assert_eq!(path_in_workspace(host, workspace.path()), Some(workspace.path().join("creds/gha-creds-1.json")));
        // A path that exists is left alone; a file that is nowhere stays unmapped (the client's error names it).
        let existing = workspace.path().join("creds/gha-creds-1.json");
        assert_eq!(path_in_workspace(&existing, Path::new("/github/workspace")), None);
        assert_eq!(path_in_workspace(Path::new("/home/runner/other.json"), workspace.path()), None);
    }
}
