//! The files of a commit's mirrored folders, read from git only when something needs their bytes. Staging
//! records each deployable file's blob id (`git ls-tree`, excludes applied); a plan then takes the MD5 of every
//! blob a past deploy hashed from the marker (src/deploy/blob_cache.rs) without reading it, and only the other
//! files (new or changed since the last deploy, Git LFS files) are written into the staging folder and hashed.
//! Before the writes, the files the plan uploads are written too ([`CommitFiles::materialize`]). So a re-sync of
//! an unchanged 7,000-file tree creates no file at all: writing them was most of a no-op's time (the kernel's
//! inode allocation for each new file), and grew with the repository, not with the change.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DeployError;
use super::blob_cache::BlobDigests;
use super::source::{self, LocalFile, SourceTree};
use crate::git::Git;

const LFS_POINTER_START: &[u8] = b"version https://git-lfs.github.com/spec/v1\n";

/// The mirrored folders' files of one commit, by repository path, and where they go when read.
pub struct CommitFiles {
    git: Git,
    work_tree: PathBuf,
    /// The staging folder (the repository's layout).
    root: PathBuf,
    /// Repository path -> blob id, for every deployable file of the mirrored folders (excludes applied).
    files: BTreeMap<String, String>,
    /// The mirrored folders the commit holds (a folder whose files are all excluded is still here).
    folders: BTreeSet<String>,
}

impl CommitFiles {
    pub(super) fn new(git: Git, work_tree: &Path, root: &Path) -> CommitFiles {
        CommitFiles {
            git,
            work_tree: work_tree.to_path_buf(),
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            folders: BTreeSet::new(),
        }
    }

    pub(super) fn add_folder(&mut self, folder: &str) {
        self.folders.insert(folder.to_string());
    }

    pub(super) fn add_file(&mut self, path: String, blob: String) {
        self.files.insert(path, blob);
    }

    /// The files under `folder` (a normalised repository path, `` for the root), keyed relative to it. A file
    /// whose blob `digests` names is taken at that digest unread (a blob id names its bytes: `git cat-file`
    /// writes them verbatim, and a Git LFS pointer's blob is never recorded); every other file is written into
    /// the staging folder and hashed there.
    pub fn tree(&self, folder: &str, digests: &BlobDigests) -> Result<SourceTree, DeployError> {
        if !self.folders.contains(folder) {
            return Ok(SourceTree::default());
        }
        let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
        let mut files = BTreeMap::new();
        let mut unread: Vec<(String, String)> = Vec::new();
        for (path, blob) in self.files.range(prefix.clone()..).take_while(|(path, _)| path.starts_with(&prefix)) {
            let relative = path[prefix.len()..].to_string();
            match digests.get(blob) {
                Some(digest) => {
                    let file = LocalFile {
                        path: self.root.join(path),
                        size: digest.size,
                        md5: digest.md5,
                        content: None,
                        blob: Some(blob.clone()),
                    };
                    files.insert(relative, file);
                }
                None => unread.push((path.clone(), blob.clone())),
            }
        }
        let lfs = self.write(&unread)?;
        let found =
            unread.iter().map(|(path, _)| (path[prefix.len()..].to_string(), self.root.join(path))).collect::<Vec<_>>();
        for (relative, mut file) in source::hash_files(found)? {
            let path = format!("{prefix}{relative}");
            file.blob = (!lfs.contains(&path)).then(|| self.files[&path].clone());
            files.insert(relative, file);
        }
        Ok(SourceTree { exists: true, files, excluded: 0 })
    }

    /// Writes the files at these staging paths that are not there yet: those the plan uploads whose digest came
    /// from the marker. Paths outside the staging folder (the staged dbt state) are left alone.
    pub fn materialize<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Result<(), DeployError> {
        let wanted: Vec<(String, String)> = paths
            .into_iter()
            .filter(|path| !path.exists())
            .filter_map(|path| path.strip_prefix(&self.root).ok())
            .filter_map(|relative| {
                let relative = relative.to_str()?.to_string();
                let blob = self.files.get(&relative)?.clone();
                Some((relative, blob))
            })
            .collect();
        self.write(&wanted).map(|_| ())
    }

    /// Writes `(repository path, blob)` pairs into the staging folder through one `git cat-file --batch`, and
    /// returns the paths that were Git LFS files (their work-tree copy written instead, see [`stage_lfs`]).
    fn write(&self, wanted: &[(String, String)]) -> Result<HashSet<String>, DeployError> {
        write_blobs(&self.git, &self.root, &self.work_tree, wanted)
    }
}

/// Writes `(repository path, blob)` pairs into `root` with one `git cat-file --batch` (a blob several paths hold
/// is read once). A blob that is a Git LFS pointer stands for the work tree's file, written when its SHA-256 is
/// the pointer's. Returns the paths that were LFS files.
pub(super) fn write_blobs(
    git: &Git,
    root: &Path,
    work_tree: &Path,
    wanted: &[(String, String)],
) -> Result<HashSet<String>, DeployError> {
    let mut by_blob: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut seen = HashSet::new();
    for (path, blob) in wanted {
        if seen.insert(path.as_str()) {
            by_blob.entry(blob.as_str()).or_default().push(path.as_str());
        }
    }
    let blobs: Vec<String> = by_blob.keys().map(|blob| blob.to_string()).collect();
    let mut pointers: Vec<(String, Vec<u8>)> = Vec::new();
    git.read_blobs(&blobs, |blob, body| {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)?;
        for path in &by_blob[blob] {
            if bytes.starts_with(LFS_POINTER_START) && bytes.len() < 1024 {
                pointers.push((path.to_string(), bytes.clone()));
            } else {
                write_file(&root.join(path), &bytes)?;
            }
        }
        Ok(())
    })
    .map_err(|err| DeployError::Input(err.to_string()))?;
    let mut lfs = HashSet::new();
    for (path, pointer) in pointers {
        stage_lfs(root, work_tree, &path, &pointer)?;
        lfs.insert(path);
    }
    Ok(lfs)
}

/// A Git LFS pointer stands for a file git does not hold: the work tree's copy is deployed when its SHA-256 is
/// the one the pointer names, and the deploy is refused otherwise (deploying the pointer would replace the data
/// with 130 bytes of text).
fn stage_lfs(root: &Path, work_tree: &Path, path: &str, pointer: &[u8]) -> Result<(), DeployError> {
    let expected = String::from_utf8_lossy(pointer)
        .lines()
        .find_map(|line| line.strip_prefix("oid sha256:").map(str::to_string))
        .ok_or_else(|| refuse(path, "a Git LFS pointer without a sha256 oid"))?;
    let bytes = std::fs::read(work_tree.join(path)).unwrap_or_default();
    let actual: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    if actual != expected {
        return Err(refuse(
            path,
            "a Git LFS file whose content is not in the work tree (or differs from the commit): run `git lfs pull` \
             (actions/checkout: `lfs: true`), then deploy again",
        ));
    }
    write_file(&root.join(path), &bytes).map_err(|err| DeployError::Input(format!("staging {path}: {err}")))
}

/// A source file or folder that cannot be deployed safely (exit 3, nothing written).
pub(super) fn refuse(path: &str, why: &str) -> DeployError {
    DeployError::UnsafeSource(format!("`{path}`: {why}"))
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::deploy::blob_cache::BlobDigest;
    use crate::hash::Md5;

    /// A repository with `dags/known.py` and `dags/new.py` committed, and an empty staging folder.
    fn repository() -> (tempfile::TempDir, tempfile::TempDir, CommitFiles) {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("dags")).unwrap();
        std::fs::write(repo.path().join("dags/known.py"), "known\n").unwrap();
        std::fs::write(repo.path().join("dags/new.py"), "new\n").unwrap();
        for args in
            [&["init", "-q"][..], &["add", "-A"], &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]]
        {
            let status = Command::new("git").arg("-C").arg(repo.path()).args(args).status().unwrap();
            assert!(status.success(), "git {args:?}");
        }
        let git = Git::discover(repo.path()).unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut files = CommitFiles::new(git.clone(), repo.path(), staging.path());
        files.add_folder("dags");
        for entry in git.tree_entries("HEAD").unwrap() {
            files.add_file(String::from_utf8(entry.path).unwrap(), entry.oid);
        }
        (repo, staging, files)
    }

    #[test]
    fn a_file_whose_blob_has_a_recorded_digest_is_neither_written_nor_read_and_the_others_are_hashed() {
        let (_repo, staging, files) = repository();
        let known_blob = files.files["dags/known.py"].clone();
        // A digest no file here has: taken as is, so the file was not read.
        let recorded = BlobDigest { md5: Md5::of_bytes(b"what the last deploy hashed"), size: 27 };
        let digests: BlobDigests = [(known_blob.clone(), recorded)].into_iter().collect();
        let tree = files.tree("dags", &digests).unwrap();
        let known = &tree.files["known.py"];
        assert_eq!((known.md5, known.size, known.blob.as_deref()), (recorded.md5, 27, Some(known_blob.as_str())));
        assert!(!staging.path().join("dags/known.py").exists(), "a file with a recorded digest is not staged");
        let new = &tree.files["new.py"];
        assert_eq!((new.md5, new.size), (Md5::of_bytes(b"new\n"), 4));
        assert_eq!(new.blob.as_deref(), Some(files.files["dags/new.py"].as_str()));
        assert_eq!(std::fs::read_to_string(staging.path().join("dags/new.py")).unwrap(), "new\n");
        // What the next marker records: both blobs, each with the digest this deploy used.
        let next = source::blob_digests(std::slice::from_ref(&tree));
        assert_eq!(next[&known_blob], recorded);
        assert_eq!(next.len(), 2);
    }

    #[test]
    fn materialize_writes_the_blob_of_an_unread_file_and_leaves_other_paths_alone() {
        let (_repo, staging, files) = repository();
        let digests: BlobDigests =
            files.files.values().map(|blob| (blob.clone(), BlobDigest { md5: Md5::of_bytes(b"x"), size: 1 })).collect();
        let tree = files.tree("dags", &digests).unwrap();
        assert!(!staging.path().join("dags/known.py").exists());
        let outside = std::env::temp_dir().join("dagship-not-staged-by-materialize");
        files.materialize([tree.files["known.py"].path.as_path(), outside.as_path()]).unwrap();
        assert_eq!(std::fs::read_to_string(staging.path().join("dags/known.py")).unwrap(), "known\n");
        assert!(!staging.path().join("dags/new.py").exists(), "only the named files are written");
        assert!(!outside.exists());
    }

    #[test]
    fn a_folder_the_commit_lacks_is_an_absent_tree() {
        let (_repo, _staging, files) = repository();
        let tree = files.tree("plugins", &BlobDigests::new()).unwrap();
        assert!(!tree.exists && tree.files.is_empty());
    }
}
