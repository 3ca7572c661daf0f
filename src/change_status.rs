//! What git says happened to a file. A leaf: the config names statuses (a filter's `change_types`) and
//! detect reads them from the diff.
use serde::{Deserialize, Serialize};

/// What happened to a file, in the words of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    TypeChanged,
}

impl Status {
    /// The one-letter code `git diff --name-status` prints.
    pub fn letter(self) -> char {
        match self {
            Status::Added => 'A',
            Status::Modified => 'M',
            Status::Deleted => 'D',
            Status::Renamed => 'R',
            Status::Copied => 'C',
            Status::TypeChanged => 'T',
        }
    }
}
