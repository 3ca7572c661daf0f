//! The one sink for what a run tells the outside: stdout, the step summary (`$GITHUB_STEP_SUMMARY`) and the
//! step outputs (`$GITHUB_OUTPUT`). Commands write their reports here in that order; without the variables (a
//! laptop run) the summary and outputs are skipped. Output names come from `output_keys`, values from
//! `report::outputs`.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use super::output::WriteError;
use super::output::write_outputs;

/// Where this run's stdout, step summary and step outputs go.
pub struct Edges {
    summary_file: Option<PathBuf>,
    output_file: Option<PathBuf>,
    /// Where outputs over GitHub's 1 MB limit spill.
    spill_dir: PathBuf,
}

impl Edges {
    /// The files the Actions runner names in the environment.
    pub fn from_env() -> Edges {
        Edges {
            summary_file: env_path("GITHUB_STEP_SUMMARY"),
            output_file: env_path("GITHUB_OUTPUT"),
            spill_dir: env_path("RUNNER_TEMP").unwrap_or_else(std::env::temp_dir),
        }
    }

    pub fn print(&self, text: &str) -> Result<(), WriteError> {
        self.print_with(|out| out.write_all(text.as_bytes()))
    }

    /// Writes to stdout through one buffered writer: the JSON of a 10,000-file change is megabytes, and stdout is
    /// line-buffered.
    pub fn print_with(&self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), WriteError> {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        write(&mut stdout).and_then(|()| stdout.flush()).map_err(|source| WriteError { path: "stdout".into(), source })
    }

    /// Appends a Markdown section to the step summary, when there is one.
    pub fn summary(&self, markdown: &str) -> Result<(), WriteError> {
        match &self.summary_file {
            Some(file) => append_summary(file, markdown),
            None => Ok(()),
        }
    }

    /// Writes step outputs, when there is an output file; large values spill under `RUNNER_TEMP`.
    pub fn outputs<Name: AsRef<str>>(&self, outputs: &[(Name, String)]) -> Result<(), WriteError> {
        match &self.output_file {
            Some(file) => write_outputs(file, &self.spill_dir, outputs),
            None => Ok(()),
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

/// Appends a redacted Markdown section and a newline.
fn append_summary(summary_file: &Path, markdown: &str) -> Result<(), WriteError> {
    let write_error = |source| WriteError { path: summary_file.to_path_buf(), source };
    let mut file = OpenOptions::new().create(true).append(true).open(summary_file).map_err(write_error)?;
    file.write_all(crate::redact::redact(markdown).as_bytes()).map_err(write_error)?;
    file.write_all(b"\n").map_err(write_error)
}
