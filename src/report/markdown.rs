//! Markdown for `$GITHUB_STEP_SUMMARY` and PR comments. File names are escaped so they cannot break a table,
//! open HTML or inject links.
use std::fmt::Write;

use crate::detect::report::DetectReport;

/// How many file names the summary lists per filter before it says "and N more".
const FILES_SHOWN: usize = 20;

pub fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            c if c.is_control() => escaped.push_str(&c.escape_unicode().to_string()),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` as an inline code span: shown literally (Markdown escapes would show their backslashes inside one), with
/// a fence longer than any backtick run in it, `|` escaped so it cannot split a table cell (GFM honours that
/// escape in code spans) and control characters blanked so it stays on one line.
pub fn code_span(text: &str) -> String {
    let clean: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().replace('|', "\\|");
    let longest_run = clean.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

pub fn render_detect_markdown(report: &DetectReport, range_description: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### dagship: changes\n");
    let _ = writeln!(
        out,
        "{} changed files, {}..{} ({})\n",
        report.files.len(),
        &report.base[..report.base.len().min(12)],
        &report.head[..report.head.len().min(12)],
        escape_markdown(range_description)
    );
    if !report.filters.is_empty() {
        let _ = writeln!(out, "| filter | changed | files |\n| --- | --- | --- |");
        for (name, result) in &report.filters {
            let mut files: Vec<String> =
                result.files.iter().take(FILES_SHOWN).map(|file| escape_markdown(file)).collect();
            if result.files.len() > FILES_SHOWN {
                files.push(format!("and {} more", result.files.len() - FILES_SHOWN));
            }
            let changed = if result.changed { "yes" } else { "no" };
            let _ = writeln!(out, "| {} | {changed} | {} |", escape_markdown(name), files.join("<br>"));
        }
        out.push('\n');
    }
    if report.jobs.is_empty() {
        let _ = writeln!(out, "No job with tests is touched: the test matrix is empty.");
    } else {
        let _ = writeln!(out, "**Test matrix** ({} jobs):\n", report.jobs.len());
        for job in &report.jobs {
            let _ = writeln!(out, "- {}", escape_markdown(job));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_table_breakers_html_and_newlines() {
        assert_eq!(code_span("customer_orders"), "`customer_orders`");
        assert_eq!(code_span("a`b|c\nd"), "``a`b\\|c d``");
        assert_eq!(escape_markdown("a|b<script>\n[x](y)"), "a\\|b&lt;script&gt;\\u{a}\\[x\\]\\(y\\)");
    }
}
