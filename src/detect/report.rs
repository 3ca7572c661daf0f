//! What the detect stage found: the output of `dagship detect --format json`, whose field order and names are
//! the stable contract in the README's "detect output" section.
use std::collections::BTreeMap;

use serde::Serialize;

use super::FileChange;
use super::filters::FilterResult;
use super::matrix::Matrix;

#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    pub base: String,
    pub head: String,
    pub files: Vec<FileChange>,
    pub filters: BTreeMap<String, FilterResult>,
    pub jobs: Vec<String>,
    pub has_jobs: bool,
    pub matrix: Matrix,
}

impl DetectReport {
    /// Writes the JSON contract, pretty-printed, followed by a newline.
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        out.write_all(b"\n")
    }
}
