//! Reading a mapped local folder: every file with its size and MD5, refusing what cannot be deployed
//! safely (names that are not UTF-8, symlinks leaving the repository, symlink loops).
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::DeployError;
use super::blob_cache::{BlobDigest, BlobDigests, Known};
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

/// Lists `folder` (relative to `repo_root`, a staging folder) and hashes its files on a few threads, except those
/// whose blob `known` has a digest for (never read). Excludes were applied when the folder was staged
/// (`commit_source`); the caller records their count.
pub fn read_tree(repo_root: &Path, folder: &str, known: Option<&Known>) -> Result<SourceTree, DeployError> {
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
    let files = hash_all(folder, found, known)?;
    Ok(SourceTree { exists: true, files, excluded: 0 })
}

fn refuse(path: &Path, why: &str) -> DeployError {
    DeployError::UnsafeSource(format!("{}: {why}", path.display()))
}

/// Hashes files on up to 4 threads: a 7,000-file DAGs folder is read in well under a second.
fn hash_all(
    folder: &str,
    found: Vec<(String, PathBuf)>,
    known: Option<&Known>,
) -> Result<BTreeMap<String, LocalFile>, DeployError> {
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
                            let repo_path =
                                if folder.is_empty() { relative.clone() } else { format!("{folder}/{relative}") };
                            let (blob, digest) = known.map_or((None, None), |known| known.lookup(&repo_path));
                            let (md5, size) = match digest {
                                Some(digest) => (digest.md5, digest.size),
                                None => Md5::of_file(path)
                                    .map_err(|err| DeployError::Input(format!("{}: {err}", path.display())))?,
                            };
                            let blob = blob.map(str::to_string);
                            Ok((relative.clone(), LocalFile { path: path.clone(), size, md5, content: None, blob }))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("hashing thread panicked")).collect()
    });
    let mut files = BTreeMap::new();
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

#[cfg(test)]
mod blob_cache_tests {
    use std::collections::HashMap;

    use super::*;
    use crate::hash::Md5;

    /// A staging folder with `dags/known.py` and `dags/new.py`, whose blobs are `b-known` and `b-new`.
    fn staged() -> (tempfile::TempDir, HashMap<String, String>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        std::fs::write(dir.path().join("dags/known.py"), "known\n").unwrap();
        std::fs::write(dir.path().join("dags/new.py"), "new\n").unwrap();
        let blobs = [("dags/known.py", "b-known"), ("dags/new.py", "b-new")]
            .map(|(path, blob)| (path.to_string(), blob.to_string()))
            .into_iter()
            .collect();
        (dir, blobs)
    }

    #[test]
    fn a_file_whose_blob_has_a_recorded_digest_is_not_read_and_the_others_are_hashed() {
        let (dir, blobs) = staged();
        // A digest no file here has: taken as is, the file was not read.
        let recorded = BlobDigest { md5: Md5::of_bytes(b"what the last deploy hashed"), size: 27 };
        let digests: BlobDigests = [("b-known".to_string(), recorded)].into_iter().collect();
        let tree = read_tree(dir.path(), "dags", Some(&Known { blobs: &blobs, digests: &digests })).unwrap();
        let known = &tree.files["known.py"];
        assert_eq!((known.md5, known.size, known.blob.as_deref()), (recorded.md5, 27, Some("b-known")));
        let new = &tree.files["new.py"];
        assert_eq!((new.md5, new.size, new.blob.as_deref()), (Md5::of_bytes(b"new\n"), 4, Some("b-new")));
        // What the next marker records: both blobs, each with the digest this deploy used.
        let next = blob_digests(std::slice::from_ref(&tree));
        assert_eq!(next["b-known"], recorded);
        assert_eq!(next["b-new"], BlobDigest { md5: Md5::of_bytes(b"new\n"), size: 4 });
    }

    #[test]
    fn a_file_with_no_blob_is_always_hashed_and_never_recorded() {
        let (dir, mut blobs) = staged();
        blobs.remove("dags/known.py"); // as for a Git LFS file or the staged dbt state
        let wrong = BlobDigest { md5: Md5::of_bytes(b"wrong"), size: 6 };
        let digests: BlobDigests = [("b-known".to_string(), wrong)].into_iter().collect();
        let tree = read_tree(dir.path(), "dags", Some(&Known { blobs: &blobs, digests: &digests })).unwrap();
        assert_eq!(tree.files["known.py"].md5, Md5::of_bytes(b"known\n"));
        assert!(!blob_digests(&[tree]).contains_key("b-known"));
    }
}
