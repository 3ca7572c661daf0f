//! Plain text for people. Every line starts with a fixed word or status letter, never with a file name,
//! and control characters in names are escaped, so a hostile name cannot pass for a workflow command.
use std::fmt::Write;

use crate::detect::FileChange;
use crate::detect::report::DetectReport;
use crate::notice::escape_controls;

pub fn render_detect_text(report: &DetectReport, range_description: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "range: {}..{} ({range_description})", short(&report.base), short(&report.head));
    let _ = writeln!(out, "changed files: {}", report.files.len());
    for change in &report.files {
        let _ = writeln!(out, "  {}", describe_change(change));
    }
    let _ = writeln!(out, "filters:");
    let width = report.filters.keys().map(String::len).max().unwrap_or(0);
    for (name, result) in &report.filters {
        let state = if result.changed {
            format!("changed ({})", plural(result.files.len(), "file"))
        } else {
            "unchanged".into()
        };
        let _ = writeln!(out, "  {name:width$}  {state}");
    }
    let _ = writeln!(out, "jobs: {}", report.jobs.len());
    for job in &report.jobs {
        let _ = writeln!(out, "  - {}", escape_controls(job));
    }
    out
}

fn describe_change(change: &FileChange) -> String {
    match &change.old_path {
        Some(old) => {
            format!("{}  {} -> {}", change.status.letter(), escape_controls(old), escape_controls(&change.path))
        }
        None => format!("{}  {}", change.status.letter(), escape_controls(&change.path)),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}
