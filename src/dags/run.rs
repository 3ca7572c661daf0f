//! Running the checker: the script to a temp file, the interpreter started with arguments (never a shell) in
//! an environment built for it (crate::child: no token, no file-command paths, no cloud credentials), Airflow
//! pointed at a throwaway home, stdout and stderr drained together in bounded lines, and a watchdog that stops
//! an import Airflow's own per-file timeout could not stop.
//!
//! Progress does not come from the output a DAG file can print to: the checker appends `index<TAB>file` to a
//! progress file of its own before each import. A DAG file runs inside the checker's process, so no channel
//! is out of its reach (an fd, a nonce or a file can all be found from within); what makes the watchdog safe is
//! that progress only counts when it moves to the next index, and there are at most as many indexes as files
//! to import. A DAG forging progress can skip ahead, never stay alive: the whole check ends within
//! (files + 1) x (file timeout + grace).
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{CHECKER_SOURCE, DagsError, FileStatus, SkipReason};
use crate::child::{self, Purpose, Snapshot};
use crate::notice::escape_controls;
use crate::redact::{keep_start, redact};

/// The checker's exit code when Airflow cannot be imported.
const NO_AIRFLOW_EXIT: i32 = 3;
/// Output lines kept to explain a crash, and the characters shown of each.
const TAIL_LINES: usize = 40;
const TAIL_LINE_BYTES: usize = 300;
/// The progress file is read up to this size; a DAG writing more gains nothing.
const MAX_PROGRESS_BYTES: u64 = 1 << 20;
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
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub dbt_tasks: Vec<super::dbt_tasks::CheckedDbtTask>,
}

#[derive(Debug, Deserialize)]
pub struct CheckedError {
    pub message: String,
    pub line: Option<u32>,
    pub traceback: String,
    pub timeout: bool,
}

/// What the drain threads share with the watchdog.
struct Output {
    tail: VecDeque<String>,
    /// Readers still reading (each ends at its stream's end).
    open_streams: usize,
}

/// The checker's progress as the watchdog accepts it.
struct Progress {
    file: PathBuf,
    /// Bytes of the progress file read so far.
    read: u64,
    /// The next index that counts; indexes never go back.
    next: usize,
    /// Indexes past this are forged: the checker has no more files.
    max_files: usize,
    /// The file being imported, relative to the DAGs folder.
    current: Option<String>,
    last_progress: Instant,
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
    let progress_file = scratch.path().join("progress");
    std::fs::write(&progress_file, "").map_err(|err| DagsError::io(&progress_file, err))?;
    let airflow_home = match &request.airflow_home {
        Some(home) => home.clone(),
        None => {
            let home = scratch.path().join("airflow-home");
            std::fs::create_dir(&home).map_err(|err| DagsError::io(&home, err))?;
            home
        }
    };

    let mut command = Command::new(interpreter(&request.root, &request.python));
    child::contain(&mut command, Purpose::DagCheck, &[], &child_env(request, &airflow_home));
    // -B: no __pycache__ next to the DAGs, which a deploy from the same checkout would upload.
    command
        .arg("-B")
        .arg(&script)
        .arg(&request_file)
        .arg(&result_file)
        .arg(&progress_file)
        .current_dir(&request.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let file_commands = Snapshot::take();
    let mut child = command.spawn().map_err(|err| DagsError::NoInterpreter {
        python: request.python.clone(),
        reason: if err.kind() == std::io::ErrorKind::NotFound { "not found".into() } else { err.to_string() },
    })?;

    let limit = request.file_timeout + WATCHDOG_GRACE;
    let output = Arc::new(Mutex::new(Output { tail: VecDeque::new(), open_streams: 2 }));
    let mut progress = Progress {
        file: progress_file,
        read: 0,
        next: 0,
        max_files: importable_files(request),
        current: None,
        last_progress: Instant::now(),
    };
    // Detached readers, not scoped ones: a process a DAG file started in the background (and moved out of the
    // checker's process group) can keep the pipes open after the checker exits; the check must not wait for it.
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let output = Arc::clone(&output);
        std::thread::spawn(move || drain(stream, &output));
    }
    let spinner = crate::progress::spinner("importing DAGs");
    let waited = watch(&mut child, &output, &mut progress, limit, &spinner);
    drop(spinner);
    let tampered = file_commands.restore();
    if !tampered.is_empty() {
        let files = tampered.iter().map(|name| format!("${name}")).collect::<Vec<String>>().join(", ");
        return Err(DagsError::Tampered { files });
    }
    let output = quote_output(&output.lock().expect("no drain thread panics").tail);
    let file = progress.current.map(|name| format!("{}/{name}", request.dags_dir));
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
            let detail = escape_controls(&keep_start(&redact(setup.message.trim()), 2000).replace('\n', "; "));
            Err(DagsError::NoAirflow { python: request.python.clone(), detail })
        }
        Some(result) if status.success() => Ok(result),
        _ => Err(DagsError::Crashed { status: status.to_string(), file, output }),
    }
}

/// The checker's last lines for an error message, each behind `  | ` with control characters shown (a DAG
/// file's output must not start a workflow command: the runner reads commands at the start of a line),
/// redacted and cut to a bounded width.
fn quote_output(tail: &VecDeque<String>) -> String {
    tail.iter()
        .map(|line| format!("  | {}", escape_controls(&keep_start(&redact(line), TAIL_LINE_BYTES))))
        .collect::<Vec<String>>()
        .join("\n")
}

/// How many files the checker may import: the ones asked for, or every `.py` and `.zip` under the DAGs folder
/// (what Airflow lists is a subset). Bounds the progress the watchdog accepts.
fn importable_files(request: &CheckRequest) -> usize {
    if let Some(files) = &request.files {
        return files.len();
    }
    ignore::WalkBuilder::new(&request.dags_folder)
        .standard_filters(false)
        .follow_links(true)
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|kind| kind.is_file()))
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "py" || ext == "zip"))
        .count()
}

/// A `python` with a slash is a path from the repository root; a bare name is looked up on PATH.
fn interpreter(root: &Path, python: &str) -> PathBuf {
    if python.contains('/') { root.join(python) } else { PathBuf::from(python) }
}

/// The check's own variables on top of what crate::child passes: Airflow's settings for a check (a home of
/// its own, never ~/airflow; no example DAGs; the per-file timeout; full tracebacks, since the default depth
/// of 2 frames can miss the DAG file's own frame), PYTHONPATH, then `dags_check.env`, which overrides them. No
/// database is needed: DagBag imports files without one. AIRFLOW__CORE__UNIT_TEST_MODE stays unset: it swaps
/// in Airflow's test configuration, which would override the user's own settings. Airflow logs at ERROR only:
/// its INFO chatter (alembic's plugin lines on 3.x) would crowd out a DAG file's own lines in the output a
/// crashed check quotes; import errors are the result's data, not log lines, so none is lost.
fn child_env(request: &CheckRequest, airflow_home: &Path) -> BTreeMap<String, String> {
    let path = |path: &Path| path.to_string_lossy().into_owned();
    let mut env: BTreeMap<String, String> = [
        ("AIRFLOW_HOME", path(airflow_home)),
        ("AIRFLOW__CORE__DAGS_FOLDER", path(&request.dags_folder)),
        ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", format!("{}", request.file_timeout.as_secs_f64())),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS", "True".into()),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH", "100".into()),
        ("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("PYTHONPATH", python_path(request).to_string_lossy().into_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    if let Some(plugins) = &request.plugins_folder {
        env.insert("AIRFLOW__CORE__PLUGINS_FOLDER".into(), path(plugins));
    }
    env.extend(request.env.clone());
    env
}

/// The request's folders first, then whatever PYTHONPATH the caller had.
fn python_path(request: &CheckRequest) -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = request.pythonpath.clone();
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

fn drain(stream: impl Read, output: &Mutex<Output>) {
    child::lines::for_each_line(stream, |line| {
        let mut output = output.lock().expect("no drain thread panics");
        if output.tail.len() == TAIL_LINES {
            output.tail.pop_front();
        }
        output.tail.push_back(line);
    });
    output.lock().expect("no drain thread panics").open_streams -= 1;
}

impl Progress {
    /// Reads what the checker appended since the last call; a line counts when it names the next index.
    fn update(&mut self) {
        if self.read >= MAX_PROGRESS_BYTES {
            return;
        }
        let Ok(mut file) = std::fs::File::open(&self.file) else { return };
        if file.seek(SeekFrom::Start(self.read)).is_err() {
            return;
        }
        let mut fresh = Vec::new();
        let _ = file.take(MAX_PROGRESS_BYTES - self.read).read_to_end(&mut fresh);
        // Only whole lines; a partial one is read again next time.
        let Some(end) = fresh.iter().rposition(|byte| *byte == b'\n') else { return };
        self.read += end as u64 + 1;
        for line in String::from_utf8_lossy(&fresh[..end]).lines() {
            let Some((index, name)) = line.split_once('\t') else { continue };
            if index.parse::<usize>().ok() == Some(self.next) && self.next < self.max_files {
                self.next += 1;
                self.current = Some(name.to_string());
                self.last_progress = Instant::now();
            }
        }
    }
}

enum Waited {
    Exited(std::process::ExitStatus),
    Hung,
    Failed(std::io::Error),
}

/// Waits for the child, killing it (and its process group) when no file started for `limit`.
fn watch(
    child: &mut Child,
    output: &Mutex<Output>,
    progress: &mut Progress,
    limit: Duration,
    spinner: &crate::progress::Spinner,
) -> Waited {
    loop {
        progress.update();
        if let Some(current) = &progress.current {
            spinner.set_message(format!(
                "importing DAGs: {}/{} {}",
                progress.next,
                progress.max_files,
                escape_controls(current)
            ));
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                progress.update();
                // What the checker left running would hold the pipes open.
                child::stop_group(child.id());
                // Let the readers catch the last lines, but not wait on pipes a leftover process holds.
                let deadline = Instant::now() + READERS_GRACE;
                while output.lock().expect("no drain thread panics").open_streams > 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Waited::Exited(status);
            }
            Ok(None) => {}
            Err(err) => return Waited::Failed(err),
        }
        if progress.last_progress.elapsed() > limit {
            child::stop_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            return Waited::Hung;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
