//! `dagship dags check` for people: a text listing for the log and a Markdown table for the step summary and
//! the pull request comment.
use std::fmt::Write;

use super::escape_markdown;
use crate::dags::{DagFile, DagsReport, FileStatus, Scope, SkipReason};
use crate::plural::plural;

/// Table rows shown before the rest are counted in one line (failed and slow files are always shown).
const ROWS_SHOWN: usize = 50;
/// Tracebacks shown in full in the Markdown; the rest are in the JSON report and the annotations.
const TRACEBACKS_SHOWN: usize = 20;

fn headline(report: &DagsReport) -> String {
    let summary = &report.summary;
    let mut line = format!(
        "{}, {} ({}), {}, {}, {} slow",
        plural(summary.files, "file"),
        plural(summary.dags, "DAG"),
        plural(summary.tasks, "task"),
        plural(summary.import_errors, "import error"),
        plural(summary.duplicates, "duplicate DAG id"),
        summary.slow
    );
    if report.scope == Scope::Changed {
        line.push_str(" (changed files only)");
    }
    let _ = write!(
        line,
        "; Airflow {}, Python {}, {:.1}s",
        report.airflow_version, report.python_version, report.took_seconds
    );
    line
}

fn status_word(file: &DagFile) -> String {
    match file.status {
        FileStatus::Ok if file.slow => "slow".into(),
        FileStatus::Ok => "ok".into(),
        FileStatus::Error => "error".into(),
        FileStatus::Timeout => "timeout".into(),
        FileStatus::Skipped => match file.skip_reason {
            Some(SkipReason::Airflowignore) => "skipped (.airflowignore)".into(),
            Some(SkipReason::NoDagHeuristic) => "skipped (no `airflow`/`dag` in it)".into(),
            None => "skipped".into(),
        },
    }
}

fn error_location(file: &DagFile) -> String {
    match file.errors.first().and_then(|error| error.line) {
        Some(line) => format!("{}:{line}", file.path),
        None => file.path.clone(),
    }
}

pub fn render_dags_text(report: &DagsReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "DAG import check of {}: {}", report.dags_dir, if report.ok { "passed" } else { "FAILED" });
    for file in &report.files {
        let _ = writeln!(
            text,
            "{:>7.2}s  {:<8} {}  {}",
            file.seconds,
            status_word(file).split(' ').next().unwrap_or_default(),
            file.path,
            file.dag_ids.join(", ")
        );
        for error in &file.errors {
            let _ = writeln!(
                text,
                "           {}: {}",
                error_location(file),
                error.message.lines().next().unwrap_or_default()
            );
        }
    }
    for duplicate in &report.duplicates {
        let paths: Vec<&str> = duplicate.files.iter().map(|site| site.path.as_str()).collect();
        let _ = writeln!(text, "duplicate DAG id {}: {}", duplicate.dag_id, paths.join(", "));
    }
    let _ = writeln!(text, "{}", headline(report));
    text
}

pub fn render_dags_markdown(report: &DagsReport) -> String {
    let mut md = String::new();
    let verdict = if report.ok { "passed" } else { "failed" };
    let _ = writeln!(md, "### DAG import check: {verdict}\n");
    let _ = writeln!(md, "{}\n", escape_markdown(&headline(report)));
    if !report.files.is_empty() {
        let _ = writeln!(md, "| file | status | DAGs | import time |\n| --- | --- | --- | ---: |");
        let notable = |file: &&DagFile| file.status != FileStatus::Ok || file.slow;
        let mut shown = 0;
        for file in &report.files {
            if shown >= ROWS_SHOWN && !notable(&file) {
                continue;
            }
            shown += 1;
            let ids: Vec<String> = file.dag_ids.iter().map(|id| escape_markdown(id)).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} s |",
                escape_markdown(&file.path),
                escape_markdown(&status_word(file)),
                ids.join(", "),
                file.seconds
            );
        }
        if shown < report.files.len() {
            let _ =
                writeln!(md, "\n... and {} that imported cleanly.", plural(report.files.len() - shown, "more file"));
        }
    }
    if !report.duplicates.is_empty() {
        let _ = writeln!(md, "\n**Duplicate DAG ids** (Airflow keeps one and fails the others):\n");
        for duplicate in &report.duplicates {
            let paths: Vec<String> = duplicate.files.iter().map(|site| escape_markdown(&site.path)).collect();
            let _ = writeln!(md, "- {}: {}", escape_markdown(&duplicate.dag_id), paths.join(", "));
        }
    }
    let failed = report.files.iter().filter(|file| !file.errors.is_empty());
    for file in failed.take(TRACEBACKS_SHOWN) {
        for error in &file.errors {
            let first = error.message.lines().next().unwrap_or_default();
            let _ = writeln!(
                md,
                "\n<details><summary>{}: {}</summary>\n",
                escape_markdown(&error_location(file)),
                escape_markdown(first)
            );
            let fence = fence_for(&error.traceback);
            let _ = writeln!(md, "{fence}text\n{}\n{fence}\n\n</details>", error.traceback.trim_end());
        }
    }
    md
}

/// A code fence longer than any run of backticks in `text`, so a traceback cannot close it early.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::fence_for;

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
