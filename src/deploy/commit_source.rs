//! The source of a deploy is a commit, never the work tree: the files of the deployed folders are read from the
//! commit's tree with git, into a private staging folder, which is all the rest of the deploy reads. The mirrored
//! folders' files are written there only when needed (src/deploy/commit_files.rs); what decides what is deployed
//! (the exclude file, dbt_project.yml) and what MWAA packs (plugins, requirements) is written at once.
//! So git-ignored and untracked files (a `.env`, a token in `.git/config`) are never deployed, and the marker's
//! commit is exactly what the bucket holds.
//!
//! Symlinks are resolved inside the commit's tree, the way a checkout would see them: a link (or a mapped folder
//! that is a link) whose target leaves the repository, is absolute, or reaches into `.git` is refused, and so is a
//! submodule under a deployed folder (its files are not in the commit). Two links to one folder are fine; a loop
//! is refused. Git LFS pointers are replaced by the work tree's file only when its SHA-256 is the pointer's.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::DeployError;
use super::commit_files::{CommitFiles, refuse, write_blobs};
use super::exclude::Excludes;
use super::work_tree::WorkTreeCheck;
use crate::git::Git;

/// The most symlinks one path may pass through before it counts as a loop (Linux's own limit).
const MAX_LINK_HOPS: usize = 40;

/// What to stage: folders and single files, relative to the repository root.
pub struct SourceSpec<'a> {
    pub repo_root: &'a Path,
    /// The revision to deploy; `None` deploys HEAD.
    pub revision: Option<&'a str>,
    /// Mirrored folders: their files, excludes applied, read from git when a plan or an upload needs them.
    pub folders: Vec<String>,
    /// Folders written into the staging folder at once, excludes applied (the MWAA plugins folder, which is
    /// zipped; the DAG check's folders, which Python imports).
    pub written: Vec<String>,
    /// Single files read as they are (MWAA requirements and startup script).
    pub files: Vec<String>,
    pub exclude_from: Option<&'a str>,
    /// The dbt project folder: its `target-path` and `log-path` are never deployed from a mirrored folder.
    pub dbt_project_dir: Option<&'a str>,
}

/// A commit's deployable files, staged in a temporary folder laid out like the repository.
pub struct StagedSource {
    pub commit: String,
    dir: tempfile::TempDir,
    pub excludes: Arc<Excludes>,
    /// Files left out by the exclude rules, per staged folder.
    pub excluded: BTreeMap<String, usize>,
    /// Tracked files under the deployed paths whose work-tree state differs from the commit, and files there git
    /// does not track (never deployed). Only looked at when the commit is HEAD: another commit is never the work
    /// tree's. Running while the deploy goes on (src/deploy/work_tree.rs).
    pub work_tree: WorkTreeCheck,
    /// The mirrored folders' files by blob id, read on demand (none for files staged some other way).
    pub(super) files: Option<Arc<CommitFiles>>,
}

impl StagedSource {
    /// Files staged some other way than from git (a ledger record's object versions, src/deploy/restore.rs):
    /// the commit they are, with no work-tree comparison (the commit is not checked out).
    pub(super) fn from_dir(commit: String, dir: tempfile::TempDir, excludes: Arc<Excludes>) -> StagedSource {
        // No blob ids: nothing here came from git, so every file is read from the folder and hashed.
        StagedSource { commit, dir, excludes, excluded: BTreeMap::new(), work_tree: WorkTreeCheck::none(), files: None }
    }

    /// The staging folder: the repository's layout, holding only the commit's deployable files.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Normalises a repository-relative folder as dagship.yml may write it (`./dags/`, `.`) to git's form (`dags`, ``).
pub fn normalize(folder: &str) -> String {
    folder.split('/').filter(|part| !part.is_empty() && *part != ".").collect::<Vec<_>>().join("/")
}

/// Reads the commit's tree and stages what the deploy needs. Blocking: run it off the async threads.
pub fn stage(spec: &SourceSpec, generated: impl FnOnce(&Path) -> Vec<String>) -> Result<StagedSource, DeployError> {
    let git = Git::discover(spec.repo_root).map_err(|err| {
        DeployError::Input(format!("{err}. dagship deploys the tree of a commit, so it needs the repository"))
    })?;
    let head = git
        .require_commit("HEAD", "the repository has no commit yet: commit the files to deploy")
        .map_err(git_error)?;
    let commit = match spec.revision {
        Some(revision) => git
            .require_commit(revision, "name a commit of this repository (fetch it first in a shallow clone)")
            .map_err(git_error)?,
        None => head.clone(),
    };
    let tree = Tree::read(&git, &commit)?;
    let dir = tempfile::Builder::new()
        .prefix("dagship-source-")
        .tempdir()
        .map_err(|err| DeployError::Input(format!("cannot make a staging folder: {err}")))?;
    // Written at once: what decides what is deployed, and the folders that must be whole on disk.
    let mut written: Vec<(String, String)> = Vec::new();
    let mut files = CommitFiles::new(git.clone(), spec.repo_root, dir.path());

    // The exclude file and dbt_project.yml come from the commit too: they decide what is deployed.
    if let Some(exclude_from) = spec.exclude_from {
        let path = normalize(exclude_from);
        match tree.resolve(&path)? {
            Resolved::File(oid) => written.push((path, oid)),
            _ => {
                return Err(DeployError::Input(format!(
                    "`deploy.exclude_from` names `{exclude_from}`, which commit {} does not hold: commit the file \
                     or remove the key",
                    short(&commit)
                )));
            }
        }
    }
    if let Some(project) = spec.dbt_project_dir {
        let path = join(&normalize(project), "dbt_project.yml");
        if let Ok(Resolved::File(oid)) = tree.resolve(&path) {
            written.push((path, oid));
        }
    }
    write_blobs(&git, dir.path(), spec.repo_root, &std::mem::take(&mut written))?;
    let excludes = Arc::new(Excludes::load(dir.path(), spec.exclude_from, &generated(dir.path()))?);

    let mut excluded = BTreeMap::new();
    let lazy = spec.folders.iter().map(|folder| (folder, true));
    for (folder, is_lazy) in lazy.chain(spec.written.iter().map(|folder| (folder, false))) {
        let folder = normalize(folder);
        let folder_files = match tree.resolve(&folder)? {
            Resolved::Dir(resolved) => tree.files_under(&folder, &resolved)?,
            Resolved::File(_) => {
                return Err(DeployError::Input(format!(
                    "`{folder}` is a file in commit {}, but dagship.yml maps it as a folder",
                    short(&commit)
                )));
            }
            Resolved::Missing => continue,
        };
        std::fs::create_dir_all(dir.path().join(&folder))
            .map_err(|err| DeployError::Input(format!("staging `{folder}`: {err}")))?;
        let mut left_out = 0;
        for (relative, oid) in folder_files {
            let path = join(&folder, &relative);
            if excludes.excludes(&path) {
                left_out += 1;
            } else if is_lazy {
                files.add_file(path, oid);
            } else {
                written.push((path, oid));
            }
        }
        if is_lazy {
            files.add_folder(&folder);
        }
        excluded.insert(folder, left_out);
    }
    for file in &spec.files {
        let path = normalize(file);
        if let Resolved::File(oid) = tree.resolve(&path)? {
            written.push((path, oid));
        }
    }
    write_blobs(&git, dir.path(), spec.repo_root, &written)?;

    let work_tree = if commit == head {
        let mut pathspecs: Vec<String> =
            spec.folders.iter().chain(&spec.written).chain(&spec.files).map(|path| normalize(path)).collect();
        pathspecs.extend(spec.exclude_from.map(normalize));
        pathspecs.extend(spec.dbt_project_dir.map(normalize));
        pathspecs.iter_mut().filter(|path| path.is_empty()).for_each(|path| *path = ".".into());
        WorkTreeCheck::start(git, pathspecs)
    } else {
        WorkTreeCheck::none()
    };
    Ok(StagedSource { commit, dir, excludes, excluded, work_tree, files: Some(Arc::new(files)) })
}

fn git_error(err: crate::git::GitError) -> DeployError {
    DeployError::Input(err.to_string())
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn join(folder: &str, relative: &str) -> String {
    if folder.is_empty() { relative.to_string() } else { format!("{folder}/{relative}") }
}

/// A path resolved inside the commit's tree.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    File(String),
    /// A folder, by its real path (`` for the root).
    Dir(String),
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
    Submodule,
}

/// A commit's tree, with its symlinks' targets read.
struct Tree {
    entries: BTreeMap<String, (Kind, String)>,
    links: HashMap<String, String>,
    /// Paths that are not UTF-8 (lossily shown): refused when a deployed folder holds one.
    non_utf8: Vec<String>,
}

impl Tree {
    fn read(git: &Git, commit: &str) -> Result<Tree, DeployError> {
        let mut entries = BTreeMap::new();
        let mut non_utf8 = Vec::new();
        for entry in git.tree_entries(commit).map_err(git_error)? {
            let kind = match entry.mode.as_str() {
                "120000" => Kind::Symlink,
                "160000" => Kind::Submodule,
                _ => Kind::File,
            };
            match String::from_utf8(entry.path) {
                Ok(path) => {
                    entries.insert(path, (kind, entry.oid));
                }
                Err(err) => non_utf8.push(String::from_utf8_lossy(err.as_bytes()).into_owned()),
            }
        }
        let link_oids: Vec<String> =
            entries.values().filter(|(kind, _)| *kind == Kind::Symlink).map(|(_, oid)| oid.clone()).collect();
        let mut targets: HashMap<String, String> = HashMap::new();
        git.read_blobs(&link_oids, |oid, body| {
            let mut target = String::new();
            body.read_to_string(&mut target)?;
            targets.insert(oid.to_string(), target);
            Ok(())
        })
        .map_err(git_error)?;
        let links = entries
            .iter()
            .filter(|(_, (kind, _))| *kind == Kind::Symlink)
            .map(|(path, (_, oid))| (path.clone(), targets.get(oid).cloned().unwrap_or_default()))
            .collect();
        Ok(Tree { entries, links, non_utf8 })
    }

    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return !self.entries.is_empty();
        }
        let prefix = format!("{path}/");
        self.entries.range(prefix.clone()..).next().is_some_and(|(key, _)| key.starts_with(&prefix))
    }

    /// Follows symlinks component by component, as the kernel would in a checkout of this commit.
    fn resolve(&self, path: &str) -> Result<Resolved, DeployError> {
        let mut resolved: Vec<String> = Vec::new();
        let mut pending: std::collections::VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut hops = 0;
        while let Some(part) = pending.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if resolved.pop().is_none() {
                        return Err(refuse(path, "a symlink leads outside the repository"));
                    }
                    continue;
                }
                _ => resolved.push(part),
            }
            let current = resolved.join("/");
            if resolved.len() == 1 && resolved[0] == ".git" {
                return Err(refuse(path, "it reaches into `.git`, which is never deployed"));
            }
            match self.entries.get(&current) {
                Some((Kind::Symlink, _)) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(refuse(path, "a symlink loop"));
                    }
                    let target = &self.links[&current];
                    if target.starts_with('/') {
                        return Err(refuse(
                            path,
                            &format!("a symlink to the absolute path {target}, outside the repository's tree"),
                        ));
                    }
                    resolved.pop();
                    let mut next: std::collections::VecDeque<String> = target.split('/').map(str::to_string).collect();
                    next.extend(pending);
                    pending = next;
                }
                Some((Kind::Submodule, _)) => {
                    return Err(refuse(path, "a git submodule: its files are not in this commit"));
                }
                Some((Kind::File, oid)) if pending.iter().all(|part| part.is_empty() || part == ".") => {
                    return Ok(Resolved::File(oid.clone()));
                }
                Some((Kind::File, _)) => return Ok(Resolved::Missing),
                None if self.is_dir(&current) => {}
                None => return Ok(Resolved::Missing),
            }
        }
        let current = resolved.join("/");
        if self.is_dir(&current) { Ok(Resolved::Dir(current)) } else { Ok(Resolved::Missing) }
    }

    /// The files a checkout would show under `shown` (whose real path is `real`), by path relative to it.
    fn files_under(&self, shown: &str, real: &str) -> Result<Vec<(String, String)>, DeployError> {
        let mut files = Vec::new();
        let mut open = Vec::new();
        self.collect(shown, real, "", &mut open, &mut files)?;
        if let Some(bad) = self.non_utf8.iter().find(|path| shown.is_empty() || path.starts_with(&format!("{shown}/")))
        {
            return Err(refuse(bad, "the name is not valid UTF-8; bucket keys must be, rename the file"));
        }
        Ok(files)
    }

    fn collect(
        &self,
        shown: &str,
        real: &str,
        relative: &str,
        open: &mut Vec<String>,
        files: &mut Vec<(String, String)>,
    ) -> Result<(), DeployError> {
        if open.iter().any(|folder| folder == real) {
            return Err(refuse(&join(shown, relative), "a symlink loop leads back to this folder"));
        }
        open.push(real.to_string());
        let prefix = if real.is_empty() { String::new() } else { format!("{real}/") };
        let below: Vec<(&String, &(Kind, String))> =
            self.entries.range(prefix.clone()..).take_while(|(key, _)| key.starts_with(&prefix)).collect();
        for (path, (kind, oid)) in below {
            let inner = &path[prefix.len()..];
            let relative_path = if relative.is_empty() { inner.to_string() } else { format!("{relative}/{inner}") };
            match kind {
                Kind::File => files.push((relative_path, oid.clone())),
                Kind::Submodule => {
                    return Err(refuse(
                        &join(shown, &relative_path),
                        "a git submodule: its files are not in this commit",
                    ));
                }
                Kind::Symlink => match self.resolve(path)? {
                    Resolved::File(oid) => files.push((relative_path, oid)),
                    Resolved::Dir(target) => self.collect(shown, &target, &relative_path, open, files)?,
                    Resolved::Missing => {
                        return Err(refuse(
                            &join(shown, &relative_path),
                            "a broken symlink (its target is not in the commit)",
                        ));
                    }
                },
            }
        }
        open.pop();
        Ok(())
    }
}
