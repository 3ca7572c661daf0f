//! Running the checker: the script to a temp file, the interpreter started with arguments (never a shell),
//! Airflow pointed at a throwaway home, stdout and stderr drained together, and a watchdog that stops an
//! import Airflow's own per-file timeout could not stop.
use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{CHECKER_SOURCE, DagsError, FileStatus, SkipReason};
use crate::github::workflow::escape_controls;

/// The line the checker prints to stderr before each file (see checker.py).
const PROGRESS_PREFIX: &str = "dagship-dags-check: importing ";
/// The checker's exit code when Airflow cannot be imported.
const NO_AIRFLOW_EXIT: i32 = 3;
/// Output lines kept to explain a crash.
const TAIL_LINES: usize = 40;
/// How long the readers may still read after the checker exited.
const READERS_GRACE: Duration = Duration::from_secs(2);
/// Time without progress, on top of the per-file timeout, before the watchdog stops the checker: Python and
/// Airflow start-up (seconds on a busy runner) happens before the first progress line.
const WATCHDOG_GRACE: Duration = Duration::from_secs(60);

/// Everything one checker run needs; paths are absolute.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub root: PathBuf,
    pub dags_folder: PathBuf,
    /// The DAGs folder relative to the root, to name files in messages.
    pub dags_dir: String,
    pub python: String,
    /// Put first on PYTHONPATH (the plugins folder, then `dags_check.pythonpath`).
    pub pythonpath: Vec<PathBuf>,
    pub plugins_folder: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub airflow_home: Option<PathBuf>,
    pub file_timeout: Duration,
    /// Only these files (absolute); the whole folder when None.
    pub files: Option<Vec<PathBuf>>,
}

/// The checker's RESULT.json.
#[derive(Debug, Deserialize)]
pub struct CheckerOutput {
    pub setup_error: Option<SetupError>,
    #[serde(default)]
    pub airflow_version: String,
    #[serde(default)]
    pub python_version: String,
    #[serde(default)]
    pub startup_seconds: f64,
    #[serde(default)]
    pub files: Vec<CheckedFile>,
}

#[derive(Debug, Deserialize)]
pub struct SetupError {
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct CheckedFile {
    /// Absolute, as Airflow listed it.
    pub path: String,
    pub status: FileStatus,
    pub skip_reason: Option<SkipReason>,
    pub dags: Vec<CheckedDag>,
    pub seconds: f64,
    pub errors: Vec<CheckedError>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct CheckedDag {
    pub dag_id: String,
    pub tasks: usize,
}

#[derive(Debug, Deserialize)]
pub struct CheckedError {
    pub message: String,
    pub line: Option<u32>,
    pub traceback: String,
    pub timeout: bool,
}

/// What the drain threads share with the watchdog.
struct Progress {
    tail: VecDeque<String>,
    /// The file being imported, relative to the DAGs folder.
    current: Option<String>,
    last_progress: Instant,
    /// Readers still reading (each ends at its stream's end).
    open_streams: usize,
}

/// Runs the checker on `request` and reads its result. Import errors are data in the result; only a checker
/// that cannot start, cannot import Airflow, dies or hangs is an error.
pub fn run_checker(request: &CheckRequest) -> Result<CheckerOutput, DagsError> {
    let scratch = tempfile::Builder::new()
        .prefix("dagship-dags-")
        .tempdir()
        .map_err(|err| DagsError::io(std::env::temp_dir(), err))?;
    let script = scratch.path().join("dagship_dags_checker.py");
    std::fs::write(&script, CHECKER_SOURCE).map_err(|err| DagsError::io(&script, err))?;
    let request_file = scratch.path().join("request.json");
    let files: Option<Vec<String>> =
        request.files.as_ref().map(|files| files.iter().map(|file| file.display().to_string()).collect());
    let body = serde_json::json!({ "dags_folder": request.dags_folder.display().to_string(), "files": files });
    std::fs::write(&request_file, body.to_string()).map_err(|err| DagsError::io(&request_file, err))?;
    let result_file = scratch.path().join("result.json");
    let airflow_home = match &request.airflow_home {
        Some(home) => home.clone(),
        None => {
            let home = scratch.path().join("airflow-home");
            std::fs::create_dir(&home).map_err(|err| DagsError::io(&home, err))?;
            home
        }
    };

    let mut command = Command::new(interpreter(&request.root, &request.python));
    // -B: no __pycache__ next to the DAGs, which a deploy from the same checkout would upload.
    command
        .arg("-B")
        .arg(&script)
        .arg(&request_file)
        .arg(&result_file)
        .current_dir(&request.root)
        .envs(airflow_env(request, &airflow_home))
        .env("PYTHONPATH", python_path(request))
        .envs(&request.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|err| DagsError::NoInterpreter {
        python: request.python.clone(),
        reason: if err.kind() == std::io::ErrorKind::NotFound { "not found".into() } else { err.to_string() },
    })?;

    let limit = request.file_timeout + WATCHDOG_GRACE;
    let progress = Arc::new(Mutex::new(Progress {
        tail: VecDeque::new(),
        current: None,
        last_progress: Instant::now(),
        open_streams: 2,
    }));
    // Detached readers, not scoped ones: a process a DAG file started in the background can keep the pipes
    // open after the checker exits, and the check must not wait for it.
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || drain(stream, &progress));
    }
    let waited = watch(&mut child, &progress, limit);
    let (output, current) = {
        let progress = progress.lock().expect("no drain thread panics");
        (quote_output(&progress.tail), progress.current.clone())
    };
    let file = current.map(|name| format!("{}/{name}", request.dags_dir));
    let status = match waited {
        Waited::Exited(status) => status,
        Waited::Hung => return Err(DagsError::Hung { after: limit, file, output }),
        Waited::Failed(err) => return Err(DagsError::Setup(format!("waiting for `{}`: {err}", request.python))),
    };

    let result =
        std::fs::read_to_string(&result_file).ok().and_then(|text| serde_json::from_str::<CheckerOutput>(&text).ok());
    match result {
        Some(CheckerOutput { setup_error: Some(setup), .. }) if status.code() == Some(NO_AIRFLOW_EXIT) => {
            // One line: the message is printed as is, and a line of its own could start a workflow command.
            let detail = escape_controls(&setup.message.trim().replace('\n', "; "));
            Err(DagsError::NoAirflow { python: request.python.clone(), detail })
        }
        Some(result) if status.success() => Ok(result),
        _ => Err(DagsError::Crashed { status: status.to_string(), file, output }),
    }
}

/// The checker's last lines for an error message, each behind `  | ` with control characters shown: a DAG
/// file's output must not start a workflow command (the runner reads commands at the start of a line).
fn quote_output(tail: &VecDeque<String>) -> String {
    tail.iter().map(|line| format!("  | {}", escape_controls(line))).collect::<Vec<String>>().join("\n")
}

/// A `python` with a slash is a path from the repository root; a bare name is looked up on PATH.
fn interpreter(root: &Path, python: &str) -> PathBuf {
    if python.contains('/') { root.join(python) } else { PathBuf::from(python) }
}

/// Airflow's settings for a check: a home of its own (never ~/airflow), no example DAGs, the per-file timeout
/// and full tracebacks (the default depth of 2 frames can miss the DAG file's own frame). No database is
/// needed: DagBag imports files without one. AIRFLOW__CORE__UNIT_TEST_MODE stays unset: it swaps in Airflow's
/// test configuration, which would override the user's own settings. `dags_check.env` comes after these and
/// overrides them.
fn airflow_env(request: &CheckRequest, airflow_home: &Path) -> Vec<(String, OsString)> {
    let mut env = vec![
        ("AIRFLOW_HOME".to_string(), airflow_home.as_os_str().to_owned()),
        ("AIRFLOW__CORE__DAGS_FOLDER".into(), request.dags_folder.as_os_str().to_owned()),
        ("AIRFLOW__CORE__LOAD_EXAMPLES".into(), "False".into()),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT".into(), format!("{}", request.file_timeout.as_secs_f64()).into()),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS".into(), "True".into()),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH".into(), "100".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
    ];
    if let Some(plugins) = &request.plugins_folder {
        env.push(("AIRFLOW__CORE__PLUGINS_FOLDER".into(), plugins.as_os_str().to_owned()));
    }
    env
}

/// The request's folders first, then whatever PYTHONPATH the caller had.
fn python_path(request: &CheckRequest) -> OsString {
    let mut paths: Vec<PathBuf> = request.pythonpath.clone();
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

fn drain(stream: impl Read, progress: &Mutex<Progress>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let mut progress = progress.lock().expect("no drain thread panics");
        if let Some(file) = line.strip_prefix(PROGRESS_PREFIX) {
            progress.current = Some(file.to_string());
            progress.last_progress = Instant::now();
        }
        if progress.tail.len() == TAIL_LINES {
            progress.tail.pop_front();
        }
        progress.tail.push_back(line);
    }
    progress.lock().expect("no drain thread panics").open_streams -= 1;
}

enum Waited {
    Exited(std::process::ExitStatus),
    Hung,
    Failed(std::io::Error),
}

/// Waits for the child, killing it when no file started for `limit`.
fn watch(child: &mut Child, progress: &Mutex<Progress>, limit: Duration) -> Waited {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // Let the readers catch the last lines, but not wait on pipes a leftover process holds.
                let deadline = Instant::now() + READERS_GRACE;
                while progress.lock().expect("no drain thread panics").open_streams > 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Waited::Exited(status);
            }
            Ok(None) => {}
            Err(err) => return Waited::Failed(err),
        }
        let stalled = progress.lock().expect("no drain thread panics").last_progress.elapsed();
        if stalled > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Waited::Hung;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
