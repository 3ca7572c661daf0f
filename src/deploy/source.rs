//! Reading a mapped local folder: every file with its size and MD5, refusing what cannot be deployed
//! safely (names that are not UTF-8, symlinks leaving the repository, symlink loops).
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::DeployError;
use super::blob_cache::{BlobDigest, BlobDigests};
use crate::hash::Md5;

/// One local file to deploy.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// The file to read (a symlink's target resolved).
    pub path: PathBuf,
    pub size: u64,
    pub md5: Md5,
    /// The stamp-free hash of a dbt artifact (`artifact_hash`); None for every other file.
    pub content: Option<Md5>,
    /// The git blob the file holds verbatim (none for LFS files and for what is not staged from git).
    pub blob: Option<String>,
}

/// The files of one folder, keyed by their path relative to it (`/`-separated), and the count excluded.
#[derive(Debug, Default)]
pub struct SourceTree {
    pub exists: bool,
    pub files: BTreeMap<String, LocalFile>,
    pub excluded: usize,
}

/// Lists `folder` (relative to `repo_root`, a folder laid out like the repository: the staged dbt state, a ledger
/// record's object versions) and hashes its files on a few threads. A commit's mirrored folders are read from
/// git instead (src/deploy/commit_files.rs), where excludes were applied; the caller records their count.
pub fn read_tree(repo_root: &Path, folder: &str) -> Result<SourceTree, DeployError> {
    let canonical_root =
        repo_root.canonicalize().map_err(|err| DeployError::Input(format!("{}: {err}", repo_root.display())))?;
    let start = repo_root.join(folder);
    if !start.is_dir() {
        return Ok(SourceTree::default());
    }
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut visited = HashSet::new();
    let mut pending = vec![(start, String::new())];
    while let Some((dir, relative_dir)) = pending.pop() {
        let canonical = dir.canonicalize().map_err(|err| DeployError::Input(format!("{}: {err}", dir.display())))?;
        if !visited.insert(canonical) {
            return Err(refuse(&dir, "a symlink loop leads back to this folder"));
        }
        let entries = std::fs::read_dir(&dir).map_err(|err| DeployError::Input(format!("{}: {err}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|err| DeployError::Input(format!("{}: {err}", dir.display())))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(refuse(&path, "the name is not valid UTF-8; bucket keys must be, rename the file"));
            };
            let relative = if relative_dir.is_empty() { name } else { format!("{relative_dir}/{name}") };
            let file_type =
                entry.file_type().map_err(|err| DeployError::Input(format!("{}: {err}", path.display())))?;
            let resolved = if file_type.is_symlink() {
                let target = path.canonicalize().map_err(|_| refuse(&path, "a broken symlink"))?;
                if !target.starts_with(&canonical_root) {
                    return Err(refuse(&path, &format!("a symlink to {}, outside the repository", target.display())));
                }
                target
            } else {
                path.clone()
            };
            if resolved.is_dir() {
                pending.push((path, relative));
            } else {
                found.push((relative, resolved));
            }
        }
    }
    let files = hash_files(found)?.into_iter().collect();
    Ok(SourceTree { exists: true, files, excluded: 0 })
}

fn refuse(path: &Path, why: &str) -> DeployError {
    DeployError::UnsafeSource(format!("{}: {why}", path.display()))
}

/// Hashes files (relative path, file to read) on up to 4 threads: a 7,000-file DAGs folder is read in well under
/// a second.
pub(super) fn hash_files(found: Vec<(String, PathBuf)>) -> Result<Vec<(String, LocalFile)>, DeployError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let _spinner = crate::progress::spinner(format!("hashing {}", crate::plural::plural(found.len(), "file")));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
    let chunk = found.len().div_ceil(workers).max(1);
    let results: Vec<Result<Vec<(String, LocalFile)>, DeployError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = found
            .chunks(chunk)
            .map(|slice| {
                scope.spawn(move || {
                    slice
                        .iter()
                        .map(|(relative, path)| {
                            let (md5, size) = Md5::of_file(path)
                                .map_err(|err| DeployError::Input(format!("{}: {err}", path.display())))?;
                            Ok((
                                relative.clone(),
                                LocalFile { path: path.clone(), size, md5, content: None, blob: None },
                            ))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("hashing thread panicked")).collect()
    });
    let mut files = Vec::with_capacity(found.len());
    for result in results {
        files.extend(result?);
    }
    Ok(files)
}

/// The digests of the blobs the trees' files hold, for the next deploy.
pub fn blob_digests(trees: &[SourceTree]) -> BlobDigests {
    trees
        .iter()
        .flat_map(|tree| tree.files.values())
        .filter_map(|file| Some((file.blob.clone()?, BlobDigest { md5: file.md5, size: file.size })))
        .collect()
}
