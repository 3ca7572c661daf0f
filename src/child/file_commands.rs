//! The runner's file-command files ($GITHUB_OUTPUT, $GITHUB_ENV, $GITHUB_PATH, $GITHUB_STATE,
//! $GITHUB_STEP_SUMMARY): a line appended there sets a step output, an environment variable (`LD_PRELOAD` for
//! every later step) or a PATH entry. A child never gets their paths, but it runs as the same user and could
//! find them (in the Action's container they sit in /github/file_commands). So their content is taken before a
//! child starts and put back after the child and its process group are gone: whatever a child wrote there is
//! undone, and the caller says so.
use std::path::PathBuf;

const VARIABLES: [&str; 5] = ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"];
/// dagship writes these files at the end of a run: while children run they hold little. A bigger file is
/// compared by length only.
const MAX_KEPT_BYTES: u64 = 16 << 20;

/// The file-command files as they were before a child started.
pub struct Snapshot {
    files: Vec<(&'static str, PathBuf, State)>,
}

#[derive(PartialEq)]
enum State {
    Missing,
    Content(Vec<u8>),
    Length(u64),
}

fn state(path: &PathBuf) -> State {
    match std::fs::metadata(path) {
        Err(_) => State::Missing,
        Ok(meta) if meta.len() > MAX_KEPT_BYTES => State::Length(meta.len()),
        Ok(_) => std::fs::read(path).map(State::Content).unwrap_or(State::Missing),
    }
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let files = VARIABLES
            .iter()
            .filter_map(|variable| {
                let path = PathBuf::from(std::env::var_os(variable)?);
                let state = state(&path);
                Some((*variable, path, state))
            })
            .collect();
        Snapshot { files }
    }

    /// Puts every file back as it was; returns the variables whose files a child had changed.
    pub fn restore(&self) -> Vec<&'static str> {
        let mut changed = Vec::new();
        for (variable, path, before) in &self.files {
            let now = state(path);
            if now == *before {
                continue;
            }
            changed.push(*variable);
            match before {
                State::Missing => {
                    let _ = std::fs::remove_file(path);
                }
                State::Content(bytes) => {
                    let _ = std::fs::write(path, bytes);
                }
                State::Length(length) => {
                    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) {
                        let _ = file.set_len(*length);
                    }
                }
            }
        }
        changed
    }
}
