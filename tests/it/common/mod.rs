//! Test helpers: real git repositories in temp dirs, built with a small builder, and a runner for the
//! `dagship` binary. Every failing command prints its arguments, cwd, stdout and stderr.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub mod actions;
pub mod buckets;
pub mod dbt;
pub mod fault_proxy;
pub mod github;
pub mod moto;
pub mod mwaa_fake;
pub mod project;
pub mod rewrite_proxy;

/// Environment that isolates git from the machine's config and makes commit ids reproducible.
pub fn isolated_git_env(command: &mut Command) -> &mut Command {
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS")
}

fn check(command: &mut Command, cwd: &Path) -> Output {
    let output = command.output().unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    if !output.status.success() {
        panic!(
            "command failed: {command:?}\ncwd: {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            cwd.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// A git repository in a temp dir. Commits get increasing fixed dates, so ids are the same every run.
pub struct Repo {
    dir: TempDir,
    path: PathBuf,
    commits: Cell<u32>,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        let repo = Repo { dir, path, commits: Cell::new(0) };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A clone of `origin` made with extra `git clone` arguments (e.g. `--depth 1 --branch feature`).
    pub fn clone_from(origin: &Repo, args: &[&str]) -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("clone");
        let url = format!("file://{}", origin.path().display());
        let mut command = Command::new("git");
        isolated_git_env(&mut command).arg("clone").arg("-q").args(args).arg(&url).arg(&path);
        check(&mut command, dir.path());
        Repo { dir, path, commits: Cell::new(1000) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A scratch folder next to the repository (for output files).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let mut command = Command::new("git");
        isolated_git_env(&mut command).arg("-C").arg(&self.path).args(args);
        String::from_utf8(check(&mut command, &self.path).stdout).unwrap().trim_end().to_string()
    }

    pub fn write(&self, path: &str, content: &str) -> &Self {
        let full = self.path.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
        self
    }

    pub fn remove(&self, path: &str) -> &Self {
        self.git(&["rm", "-q", "-r", "--", path]);
        self
    }

    pub fn rename(&self, from: &str, to: &str) -> &Self {
        if let Some(parent) = Path::new(to).parent() {
            std::fs::create_dir_all(self.path.join(parent)).unwrap();
        }
        self.git(&["mv", "--", from, to]);
        self
    }

    /// Commits everything in the work tree and returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        let number = self.commits.get() + 1;
        self.commits.set(number);
        let date = format!("{} +0000", 1_700_000_000 + u64::from(number) * 60);
        self.git(&["add", "-A"]);
        let mut command = Command::new("git");
        isolated_git_env(&mut command)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .arg("-C")
            .arg(&self.path)
            .args(["commit", "-q", "--allow-empty", "-m", message]);
        check(&mut command, &self.path);
        self.head()
    }

    /// Writes the files and commits them.
    pub fn commit_files(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            self.write(path, content);
        }
        self.commit(message)
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn checkout_new(&self, branch: &str, start: &str) -> &Self {
        self.git(&["checkout", "-q", "-b", branch, start]);
        self
    }

    pub fn checkout(&self, branch: &str) -> &Self {
        self.git(&["checkout", "-q", branch]);
        self
    }
}

/// What one `dagship` run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A killed process has no exit code: -1.
    pub fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Changed paths as `status path` strings, sorted as dagship sorts them.
    pub fn file_list(&self) -> Vec<String> {
        self.json()["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| {
                let status = file["status"].as_str().unwrap();
                match file.get("old_path") {
                    Some(old) => format!("{status} {} <- {}", file["path"].as_str().unwrap(), old.as_str().unwrap()),
                    None => format!("{status} {}", file["path"].as_str().unwrap()),
                }
            })
            .collect()
    }
}

/// Variable prefixes a runner, a laptop or the test script may have set that change what dagship does: each test
/// sets what it means to, so the suite behaves the same under GitHub Actions, on a laptop and here.
const AMBIENT_PREFIXES: &[&str] =
    &["GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_", "AWS_", "GOOGLE_", "CLOUDSDK_", "STORAGE_EMULATOR", "DAGSHIP_"];

pub fn dagship_command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dagship"));
    isolated_git_env(&mut command).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if AMBIENT_PREFIXES.iter().any(|prefix| name.to_string_lossy().starts_with(prefix)) {
            command.env_remove(name);
        }
    }
    command
}

pub fn run_dagship(cwd: &Path, args: &[&str]) -> Run {
    run_command(dagship_command(cwd).args(args))
}

pub fn run_command(command: &mut Command) -> Run {
    Run::from_output(command.output().expect("run dagship"))
}

/// Waits for a spawned dagship to exit and collects what it printed.
pub fn finish(child: std::process::Child) -> Run {
    Run::from_output(child.wait_with_output().unwrap())
}

/// Waits for an event the test can observe (never a fixed sleep as synchronisation).
pub fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub const ZEROS: &str = "0000000000000000000000000000000000000000";

/// The config most detect tests use.
pub const CONFIG: &str = r#"
dags_dir: orchestration/dags
filters:
  dbt: ["orchestration/dags/dbt/**"]
  orchestration: ["orchestration/**", "!**/*.md"]
  new_python:
    paths: ["**/*.py"]
    change_types: [added]
jobs:
  roots: ["jobs/**"]
  marker: tests
  ignore: ["jobs/ml_jobs/_template"]
environments:
  stg: { platform: composer, bucket: "gs://stg-bucket", branches: [main] }
"#;

const AIRFLOW_PYTHON_VARIABLE: &str = "DAGSHIP_TEST_AIRFLOW_PYTHON";

/// The venv python with Airflow; the tests fail without it, they never skip.
pub fn airflow_python() -> String {
    let python = std::env::var(AIRFLOW_PYTHON_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{AIRFLOW_PYTHON_VARIABLE} is not set: run the tests through scripts/test.sh, which installs \
             apache-airflow (scripts/airflow-venv.sh) and exports it"
        )
    });
    assert!(Path::new(&python).is_file(), "{AIRFLOW_PYTHON_VARIABLE}={python} is not a file");
    python
}

/// Copies a folder tree (the examples repository into a test repository).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// How a watched run went: the run, its wall time and dagship's own peak memory (VmHWM, in KiB; children not
/// counted).
pub struct Watched {
    pub run: Run,
    pub took: std::time::Duration,
    pub peak_kib: u64,
}

/// Runs `command`, sampling its peak memory and killing it after `limit`: a dagship that never stops fails
/// the test instead of hanging it.
pub fn run_watched(command: &mut Command, limit: std::time::Duration) -> Watched {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("run dagship");
    // Drained while it runs: a chatty run must not block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|line| line.starts_with("VmHWM:"))
        {
            let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    };
    Watched { run, took: started.elapsed(), peak_kib }
}

/// A figure the README's Reliability table quotes, printed as `figure: ...` so that scripts/reliability.sh collects
/// every figure from one run of the tests (`--nocapture`).
pub fn figure(text: &str) {
    eprintln!("figure: {text}");
}

/// `on_backends!(case: local => Backend::Local, s3 => Backend::S3)`: one test per backend, named
/// `case::local`, `case::s3`, ..., each calling the module's function `case(backend)`.
macro_rules! on_backends {
    ($case:ident: $($backend_mod:ident => $backend:expr),+) => {
        mod $case {
            use super::*;
            $(
                #[test]
                fn $backend_mod() {
                    super::$case($backend)
                }
            )+
        }
    };
}
