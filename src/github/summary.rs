//! Appends Markdown to `$GITHUB_STEP_SUMMARY`, redacted (a report can quote what a pull request's code printed
//! or raised, and GitHub masks secrets in logs only).
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::Error;

pub fn append_summary(summary_file: &Path, markdown: &str) -> Result<(), Error> {
    let write_error = |source| Error::Write { path: summary_file.to_path_buf(), source };
    let mut file = OpenOptions::new().create(true).append(true).open(summary_file).map_err(write_error)?;
    file.write_all(crate::redact::redact(markdown).as_bytes()).map_err(write_error)?;
    file.write_all(b"\n").map_err(write_error)
}
