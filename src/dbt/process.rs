//! Running one dbt command: arguments as a list (never through a shell), the project folder as working
//! directory, stdout and stderr drained together and echoed live (inside a collapsible `::group::` in Actions,
//! with workflow commands switched off so a model name cannot forge one), and dbt's JSON log read afterwards.
//! dbt runs a pull request's models and macros: it gets an environment built for it (crate::child), its output
//! is read in bounded lines and kept bounded, and what it printed is redacted before dagship keeps it.
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::logs::{self, LogFacts};
use super::{DbtError, Settings};
use crate::child::{self, Purpose, Snapshot};
use crate::notice::Group;

/// A dbt command that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// The command as a user would type it, for messages.
    pub command_line: String,
    pub code: i32,
    /// stdout and stderr, interleaved in arrival order: the last [`KEPT_OUTPUT_BYTES`] of it, redacted.
    pub output: String,
    pub facts: LogFacts,
    pub took: Duration,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.code == 0
    }
}

/// The end of dbt's output kept for messages (the whole output is echoed to the log as it comes).
pub const KEPT_OUTPUT_BYTES: usize = 256 * 1024;

/// Runs `dbt <args>` for `settings` and waits for it. A non-zero exit is returned, not an error: the caller
/// decides what it means. Only a dbt that cannot start at all is an error.
pub fn run(settings: &Settings, executable: &Path, args: &[String], title: &str) -> Result<Finished, DbtError> {
    let log_dir = tempfile::Builder::new()
        .prefix("dagship-dbt-log-")
        .tempdir()
        .map_err(|err| DbtError::io(&std::env::temp_dir(), err))?;
    let mut full_args: Vec<String> = args.to_vec();
    full_args.extend(["--no-use-colors".into(), "--log-format-file".into(), "json".into(), "--log-path".into()]);
    full_args.push(log_dir.path().display().to_string());
    if let Some(profiles_dir) = &settings.profiles_dir {
        full_args.extend(["--profiles-dir".into(), profiles_dir.display().to_string()]);
    }
    let command_line = format!("dbt {}", args.join(" "));

    let started = Instant::now();
    let mut command = Command::new(executable);
    child::contain(&mut command, Purpose::Dbt, &named_variables(settings), &settings.env);
    let file_commands = Snapshot::take();
    let mut child = command
        .args(&full_args)
        .current_dir(&settings.project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| DbtError::Setup(format!("cannot run {}: {err}", executable.display())))?;

    let echo = Echo::open(title);
    let output = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let status = std::thread::scope(|scope| {
        scope.spawn(|| drain(stdout, &output, &echo));
        scope.spawn(|| drain(stderr, &output, &echo));
        let status = child.wait();
        // What dbt left running in the background would hold the pipes open and keep the readers waiting.
        child::stop_group(child.id());
        status
    })
    .map_err(|err| DbtError::Setup(format!("waiting for {command_line}: {err}")))?;
    echo.close();
    let tampered = file_commands.restore();
    if !tampered.is_empty() {
        let files = tampered.iter().map(|name| format!("${name}")).collect::<Vec<String>>().join(", ");
        // Never legitimate: a model, macro or package tried to set step outputs or environment variables.
        return Err(DbtError::Failed {
            command: command_line,
            code: status.code().unwrap_or(-1),
            first_error: Some(format!(
                "it wrote to the runner's file-command files ({files}); their content was restored and the check \
                 fails"
            )),
            annotations: Vec::new(),
        });
    }

    let took = started.elapsed();
    let facts = logs::read(&log_dir.path().join("dbt.log"));
    let output = crate::redact::redact(&std::mem::take(&mut *output.lock().expect("no reader panics")));
    Ok(Finished { command_line, code: status.code().unwrap_or(-1), output, facts, took })
}

fn drain(stream: impl Read, output: &Mutex<String>, echo: &Echo) {
    child::lines::for_each_line(stream, |line| {
        echo.line(&line);
        let mut output = output.lock().expect("no reader panics");
        output.push_str(&line);
        output.push('\n');
        // Keep the end, in steps, so a chatty dbt neither grows memory nor copies the buffer on every line.
        if output.len() > 2 * KEPT_OUTPUT_BYTES {
            let mut cut = output.len() - KEPT_OUTPUT_BYTES;
            while !output.is_char_boundary(cut) {
                cut += 1;
            }
            output.drain(..cut);
        }
    });
}

/// The variables dbt's YAML reads with `env_var()`: profiles.yml (credentials) and dbt_project.yml.
fn named_variables(settings: &Settings) -> Vec<String> {
    let files = [super::preflight::profiles_file(settings), Some(settings.project_dir.join("dbt_project.yml"))];
    let mut names: Vec<String> = files
        .into_iter()
        .flatten()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .flat_map(|text| child::env::env_var_names(&text))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Where dbt's output goes while it runs: stderr (stdout is dagship's own report), grouped in Actions.
struct Echo {
    group: Group,
}

impl Echo {
    fn open(title: &str) -> Echo {
        Echo { group: Group::open(title) }
    }

    fn line(&self, line: &str) {
        eprintln!("{}", crate::redact::redact(line));
    }

    fn close(&self) {
        self.group.close();
    }
}
