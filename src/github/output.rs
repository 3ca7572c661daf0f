//! Writes step outputs to `$GITHUB_OUTPUT` in the multi-line form `name<<DELIMITER`, with a fresh random
//! delimiter per value that the value does not contain, so no file name can end a value or forge an output.
//! Values over GitHub's 1 MB limit go to a file, and the output `<name>_file` holds its path instead.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::notice::{Level, announce};
use crate::random::random_hex;

/// A file (or stdout) dagship could not write.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// GitHub fails a step whose outputs exceed 1 MB; stay well clear of it per value.
pub const MAX_OUTPUT_BYTES: usize = 1_000_000;

/// Appends the outputs to the file `$GITHUB_OUTPUT` names. `spill_dir` receives values that are too large.
pub fn write_outputs<Name: AsRef<str>>(
    output_file: &Path,
    spill_dir: &Path,
    outputs: &[(Name, String)],
) -> Result<(), WriteError> {
    let mut text = String::new();
    for (name, value) in outputs {
        let name = name.as_ref();
        // Outputs can carry what a pull request's code printed (dbt errors, DAG import messages).
        let value = &crate::redact::redact(value);
        if value.len() > MAX_OUTPUT_BYTES {
            let spilled = spill(spill_dir, name, value)?;
            announce(
                Level::Warning,
                &format!(
                    "output `{name}` is {} bytes, over GitHub's 1 MB limit: it was written to {} and the output \
                     `{name}_file` holds that path",
                    value.len(),
                    spilled.display()
                ),
            );
            push_output(&mut text, &format!("{name}_file"), &spilled.to_string_lossy());
        } else {
            push_output(&mut text, name, value);
        }
    }
    let write_error = |source| WriteError { path: output_file.to_path_buf(), source };
    let mut file = OpenOptions::new().create(true).append(true).open(output_file).map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)
}

fn push_output(text: &mut String, name: &str, value: &str) {
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{}", random_hex());
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
}

fn spill(dir: &Path, name: &str, value: &str) -> Result<PathBuf, WriteError> {
    let path = dir.join(format!("dagship-{name}-{}.json", random_hex()));
    std::fs::write(&path, value).map_err(|source| WriteError { path: path.clone(), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_newlines_and_delimiter_lookalikes_stay_one_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        let hostile = "a\nEOF\nhacked=true\n::set-output name=x::y".to_string();
        write_outputs(&file, dir.path(), &[("files", hostile.clone())]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap();
        let delimiter = first.strip_prefix("files<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() == "ghadelimiter_".len() + 32);
        assert_eq!(text, format!("files<<{delimiter}\n{hostile}\n{delimiter}\n"));
    }

    #[test]
    fn oversized_values_spill_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        let big = "x".repeat(MAX_OUTPUT_BYTES + 1);
        write_outputs(&file, dir.path(), &[("matrix", big.clone())]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("matrix_file<<"));
        let spilled_path = text.lines().nth(1).unwrap();
        assert_eq!(std::fs::read_to_string(spilled_path).unwrap(), big);
    }
}
