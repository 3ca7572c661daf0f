//! The `git` CLI as a subprocess. Paths come back NUL-separated (`-z`) so any file name survives; revisions
//! given by users go after `--end-of-options` so none can pass for a flag.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error_kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`git` was not found on PATH: install git, dagship needs it to detect changes")]
    NotInstalled,
    #[error(
        "{} is not inside a git repository: run dagship from a clone of your repository, or pass --repo DIR",
        path.display()
    )]
    NotARepository { path: PathBuf },
    #[error("unknown revision `{rev}`: {hint}")]
    UnknownRevision { rev: String, hint: String },
    #[error("`{command}` failed in {} ({status}){}", cwd.display(), stderr_suffix(stderr))]
    Failed { command: String, cwd: PathBuf, status: String, stderr: String },
    #[error("fetching history failed: `{command}` ({status}){}", stderr_suffix(stderr))]
    Fetch { command: String, status: String, stderr: String },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() { String::new() } else { format!(":\n{stderr}") }
}

impl GitError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            GitError::NotInstalled | GitError::NotARepository { .. } | GitError::UnknownRevision { .. } => {
                ErrorKind::Usage
            }
            GitError::Failed { .. } | GitError::Fetch { .. } | GitError::Spawn { .. } => ErrorKind::Remote,
        }
    }
}

/// A repository, addressed by its top-level folder.
#[derive(Debug, Clone)]
pub struct Git {
    root: PathBuf,
}

impl Git {
    /// Finds the repository that holds `dir`.
    pub fn discover(dir: &Path) -> Result<Git, GitError> {
        if !dir.is_dir() {
            return Err(GitError::NotARepository { path: dir.to_path_buf() });
        }
        let output = run_git(dir, ["rev-parse", "--show-toplevel"])?;
        if !output.status.success() {
            return Err(GitError::NotARepository { path: dir.to_path_buf() });
        }
        let root = String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_string();
        Ok(Git { root: PathBuf::from(root) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs git and returns its stdout; a non-zero exit is an error carrying the command and its stderr.
    fn stdout<I, S>(&self, args: I) -> Result<Vec<u8>, GitError>
    where
        I: IntoIterator<Item = S> + Clone,
        S: AsRef<OsStr>,
    {
        let output = run_git(&self.root, args.clone())?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(self.failed(args, &output))
    }

    /// Runs a git command whose exit code 1 means "no" (merge-base, rev-parse --verify --quiet).
    fn maybe<I, S>(&self, args: I) -> Result<Option<Vec<u8>>, GitError>
    where
        I: IntoIterator<Item = S> + Clone,
        S: AsRef<OsStr>,
    {
        let output = run_git(&self.root, args.clone())?;
        match output.status.code() {
            Some(0) => Ok(Some(output.stdout)),
            Some(1) => Ok(None),
            _ => Err(self.failed(args, &output)),
        }
    }

    /// The error for a git command that exited non-zero: the command, where it ran, how it ended, its stderr.
    fn failed<I, S>(&self, args: I, output: &Output) -> GitError
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        GitError::Failed {
            command: describe(args),
            cwd: self.root.clone(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The commit a revision names, or None when this repository does not have it.
    pub fn resolve_commit(&self, rev: &str) -> Result<Option<String>, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let found = self.maybe(["rev-parse", "--verify", "--quiet", "--end-of-options", spec.as_str()])?;
        Ok(found.map(|stdout| first_line(&stdout)))
    }

    /// Like `resolve_commit`, but a missing revision is an error that names it.
    pub fn require_commit(&self, rev: &str, hint: &str) -> Result<String, GitError> {
        self.resolve_commit(rev)?.ok_or_else(|| GitError::UnknownRevision { rev: rev.to_string(), hint: hint.into() })
    }

    /// Resolves several revisions with one git call (each is a process start saved on the hot path); falls
    /// back to one call each when any is missing, so the error names exactly the missing one.
    pub fn require_commits(&self, revs: &[(&str, &str)]) -> Result<Vec<String>, GitError> {
        // `--verify` takes a single revision, so the batch goes without it; every line must then be a commit id.
        let specs: Vec<String> = revs.iter().map(|(rev, _)| format!("{rev}^{{commit}}")).collect();
        let mut args = vec!["rev-parse", "--end-of-options"];
        args.extend(specs.iter().map(String::as_str));
        let output = run_git(&self.root, args.iter())?;
        if output.status.success() {
            let commits: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect();
            let all_ids = commits.iter().all(|line| !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()));
            if commits.len() == revs.len() && all_ids {
                return Ok(commits);
            }
        }
        revs.iter().map(|(rev, hint)| self.require_commit(rev, hint)).collect()
    }

    pub fn merge_base(&self, a: &str, b: &str) -> Result<Option<String>, GitError> {
        Ok(self.maybe(["merge-base", "--end-of-options", a, b])?.map(|stdout| first_line(&stdout)))
    }

    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        Ok(self.maybe(["merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant])?.is_some())
    }

    /// How many commits `to` has that `from` has not (`git rev-list --count from..to`; both must exist).
    pub fn count_ahead(&self, from: &str, to: &str) -> Result<usize, GitError> {
        let range = format!("{from}..{to}");
        Ok(first_line(&self.stdout(["rev-list", "--count", "--end-of-options", range.as_str()])?).parse().unwrap_or(0))
    }

    pub fn is_shallow(&self) -> Result<bool, GitError> {
        Ok(first_line(&self.stdout(["rev-parse", "--is-shallow-repository"])?) == "true")
    }

    /// The parents of a commit (none for a root commit).
    pub fn parents(&self, commit: &str) -> Result<Vec<String>, GitError> {
        let line = first_line(&self.stdout(["rev-list", "--parents", "-n", "1", "--end-of-options", commit])?);
        Ok(line.split(' ').skip(1).map(str::to_string).collect())
    }

    /// The id of the empty tree in this repository's hash format, to diff a first commit against.
    pub fn empty_tree(&self) -> Result<String, GitError> {
        Ok(first_line(&self.stdout(["hash-object", "-t", "tree", "--stdin"])?))
    }

    /// `refs/remotes/<remote>/HEAD` as a branch name (`main`), when the clone recorded it.
    pub fn remote_default_branch(&self, remote: &str) -> Result<Option<String>, GitError> {
        let reference = format!("refs/remotes/{remote}/HEAD");
        let found = self.maybe(["symbolic-ref", "--quiet", "--short", reference.as_str()])?;
        let prefix = format!("{remote}/");
        Ok(found.map(|stdout| first_line(&stdout)).and_then(|name| name.strip_prefix(&prefix).map(str::to_string)))
    }

    /// The branch HEAD is on (`main`), or None on a detached HEAD.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        Ok(self.maybe(["symbolic-ref", "--quiet", "--short", "HEAD"])?.map(|stdout| first_line(&stdout)))
    }

    /// Whether a remote of that name is configured.
    pub fn remote_exists(&self, remote: &str) -> Result<bool, GitError> {
        let remotes = self.stdout(["remote"])?;
        Ok(String::from_utf8_lossy(&remotes).lines().any(|line| line == remote))
    }

    /// `git fetch` with the given arguments; failure is a remote error (exit code 4).
    pub fn fetch(&self, args: &[String]) -> Result<(), GitError> {
        let mut full: Vec<&str> = vec!["fetch", "--no-tags", "--quiet"];
        full.extend(args.iter().map(String::as_str));
        let output = run_git(&self.root, full.iter())?;
        if output.status.success() {
            return Ok(());
        }
        Err(GitError::Fetch {
            command: describe(full.iter()),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// `git diff --name-status -z -M` between two commits, and what git warned on stderr (e.g. rename limits).
    pub fn diff_name_status(&self, base: &str, head: &str, find_copies: bool) -> Result<(Vec<u8>, String), GitError> {
        let mut args = vec![
            "-c",
            "core.quotepath=false",
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "--name-status",
            "-z",
            "-M",
        ];
        if find_copies {
            args.push("-C");
        }
        args.extend(["--end-of-options", base, head, "--"]);
        let output = run_git(&self.root, args.iter())?;
        if !output.status.success() {
            return Err(self.failed(args.iter(), &output));
        }
        Ok((output.stdout, String::from_utf8_lossy(&output.stderr).into_owned()))
    }

    /// Every file path in a commit's tree under the given folders (all of it when `folders` is empty),
    /// NUL-separated.
    pub fn list_tree(&self, commit: &str, folders: &[String]) -> Result<Vec<u8>, GitError> {
        let mut args: Vec<&str> = vec!["ls-tree", "-r", "-z", "--name-only", "--full-tree", commit, "--"];
        args.extend(folders.iter().map(String::as_str));
        self.stdout(args.iter())
    }
}

/// One entry of a commit's tree, as `git ls-tree -r` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// `100644`, `100755`, `120000` (symlink), `160000` (submodule).
    pub mode: String,
    pub oid: String,
    /// The path from the repository root, as git stores it (bytes: git does not require UTF-8).
    pub path: Vec<u8>,
}

impl Git {
    /// Every blob and submodule of a commit's tree, recursively (symlinks are blobs of mode 120000).
    pub fn tree_entries(&self, commit: &str) -> Result<Vec<TreeEntry>, GitError> {
        let stdout = self.stdout(["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit])?;
        let mut entries = Vec::new();
        for record in stdout.split(|byte| *byte == 0).filter(|record| !record.is_empty()) {
            // `<mode> SP <type> SP <oid> TAB <path>`
            let Some(tab) = record.iter().position(|byte| *byte == b'\t') else { continue };
            let head = String::from_utf8_lossy(&record[..tab]);
            let mut fields = head.split(' ');
            let (Some(mode), Some(_kind), Some(oid)) = (fields.next(), fields.next(), fields.next()) else { continue };
            entries.push(TreeEntry { mode: mode.to_string(), oid: oid.to_string(), path: record[tab + 1..].to_vec() });
        }
        Ok(entries)
    }

    /// Streams the contents of blobs through one `git cat-file --batch`, calling `sink` with each oid and a
    /// reader of exactly its bytes, in the order given.
    pub fn read_blobs(
        &self,
        oids: &[String],
        mut sink: impl FnMut(&str, &mut dyn std::io::Read) -> std::io::Result<()>,
    ) -> Result<(), GitError> {
        use std::io::{BufRead, BufReader, Read, Write};
        if oids.is_empty() {
            return Ok(());
        }
        let command = "git cat-file --batch".to_string();
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["cat-file", "--batch"])
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| GitError::Spawn { command: command.clone(), source })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let requests: Vec<String> = oids.to_vec();
        // Written from a thread while this one reads, so neither pipe can fill up and block the other side.
        let writer = std::thread::spawn(move || {
            for oid in requests {
                if writeln!(stdin, "{oid}").is_err() {
                    break;
                }
            }
        });
        let failed = |message: String| GitError::Failed {
            command: command.clone(),
            cwd: self.root.clone(),
            status: "stopped".into(),
            stderr: message,
        };
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut result = Ok(());
        for oid in oids {
            let mut header = String::new();
            if let Err(err) = stdout.read_line(&mut header) {
                result = Err(failed(err.to_string()));
                break;
            }
            // `<oid> blob <size>` or `<oid> missing`
            let fields: Vec<&str> = header.trim_end().split(' ').collect();
            let size = match fields.as_slice() {
                [_, "blob", size] => size.parse::<u64>().unwrap_or(0),
                _ => {
                    result = Err(failed(format!("object {oid}: {}", header.trim_end())));
                    break;
                }
            };
            let mut body = (&mut stdout).take(size);
            let sunk = sink(oid, &mut body);
            let drained = std::io::copy(&mut body, &mut std::io::sink());
            let mut newline = [0u8; 1];
            if let Err(err) = sunk.and(drained.map(|_| ())).and_then(|()| stdout.read_exact(&mut newline)) {
                result = Err(failed(format!("object {oid}: {err}")));
                break;
            }
        }
        drop(stdout);
        let _ = writer.join();
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    /// Paths under `pathspecs` whose work-tree state differs from HEAD: tracked files changed, deleted or of
    /// another type, and untracked files (ignored ones are not listed). Paths are repository-relative.
    pub fn work_tree_changes(&self, pathspecs: &[String]) -> Result<WorkTreeChanges, GitError> {
        let mut args: Vec<&str> = vec![
            "--literal-pathspecs",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=all",
            "--",
        ];
        args.extend(pathspecs.iter().map(String::as_str));
        let stdout = self.stdout(args.iter())?;
        let mut changes = WorkTreeChanges::default();
        let mut records = stdout.split(|byte| *byte == 0).filter(|record| !record.is_empty());
        while let Some(record) = records.next() {
            if record.len() < 4 {
                continue;
            }
            let (code, path) = (&record[..2], String::from_utf8_lossy(&record[3..]).into_owned());
            if code == b"??" {
                changes.untracked.push(path);
            } else {
                if code.contains(&b'R') || code.contains(&b'C') {
                    records.next(); // the rename's source path
                }
                changes.changed.push(path);
            }
        }
        Ok(changes)
    }
}

/// What `git status` says about the work tree under some folders.
#[derive(Debug, Default, Clone)]
pub struct WorkTreeChanges {
    /// Tracked files whose content, type or presence differs from HEAD (staged or not).
    pub changed: Vec<String>,
    /// Files git does not track and does not ignore.
    pub untracked: Vec<String>,
}

fn run_git<I, S>(cwd: &Path, args: I) -> Result<Output, GitError>
where
    I: IntoIterator<Item = S> + Clone,
    S: AsRef<OsStr>,
{
    Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(args.clone())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        // `output()` drains stdout and stderr concurrently, so a chatty git never blocks on a full pipe.
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => GitError::NotInstalled,
            _ => GitError::Spawn { command: describe(args), source },
        })
}

fn describe<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut text = String::from("git");
    for arg in args {
        text.push(' ');
        text.push_str(&arg.as_ref().to_string_lossy().escape_debug().to_string());
    }
    text
}

fn first_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout).lines().next().unwrap_or_default().trim().to_string()
}
