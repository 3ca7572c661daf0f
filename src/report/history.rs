//! Renderings of the deploy ledger (`history`), drift (`drift`, `plan`) and `status`.
use serde::Serialize;

use super::markdown::{code_span, escape_markdown};
use crate::deploy::ledger::{Kind, Outcome, Record};
use crate::deploy::{Drift, drift_kind_name};

/// The JSON of `dagship history`: the records without their object sets (each can hold thousands), with a count.
pub fn history_json(records: &[Record]) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            let mut value = serde_json::to_value(record).expect("records serialize");
            if let Some(object) = value.as_object_mut() {
                object.remove("objects");
                object.insert("object_count".into(), record.objects.len().into());
            }
            value
        })
        .collect();
    serde_json::Value::Array(entries)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn kind(record: &Record) -> &'static str {
    match record.kind {
        Kind::Deploy => "deploy",
        Kind::Rollback => "rollback",
    }
}

fn outcome(record: &Record) -> &'static str {
    match record.outcome {
        Outcome::Deployed => "deployed",
        Outcome::Refused => "refused",
        Outcome::Failed => "failed",
    }
}

fn changes(record: &Record) -> String {
    let summary = &record.summary;
    format!("+{} ~{} -{}", summary.uploads, summary.replacements, summary.deletions)
}

pub fn render_history_text(environment: &str, records: &[Record]) -> String {
    if records.is_empty() {
        return format!("{environment}: no deploy recorded yet\n");
    }
    let mut text = String::new();
    for record in records {
        text.push_str(&format!(
            "{}  {}  {:<8} {:<8} {}  {:<14} {:>7.1}s  {}{}\n",
            record.id,
            record.time,
            kind(record),
            outcome(record),
            short(&record.commit),
            changes(record),
            record.duration_seconds,
            record.actor.as_deref().unwrap_or("-"),
            record.rollback_to.as_ref().map(|to| format!("  (restored {to})")).unwrap_or_default(),
        ));
    }
    text
}

pub fn render_history_markdown(environment: &str, records: &[Record]) -> String {
    let mut text = format!("### Deploy history of {}\n\n", code_span(environment));
    if records.is_empty() {
        text.push_str("No deploy recorded yet.\n");
        return text;
    }
    text.push_str("| when | kind | outcome | commit | uploads | replacements | deletions | duration | who | id |\n");
    text.push_str("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n");
    for record in records {
        let who = match (&record.actor, &record.run_url) {
            (Some(actor), Some(url)) => format!("[{}]({url})", escape_markdown(actor)),
            (Some(actor), None) => escape_markdown(actor),
            (None, Some(url)) => format!("[run]({url})"),
            (None, None) => "-".into(),
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1}s | {who} | {} |\n",
            record.time,
            kind(record),
            outcome(record),
            code_span(short(&record.commit)),
            record.summary.uploads,
            record.summary.replacements,
            record.summary.deletions,
            record.duration_seconds,
            code_span(&record.id),
        ));
    }
    text
}

pub fn render_drift_text(environment: &str, drift: Option<&Drift>) -> String {
    let Some(drift) = drift else {
        return format!("{environment}: no deploy recorded yet: nothing to compare the bucket with\n");
    };
    let mut text = format!(
        "{environment}: {} drifted since deploy {} (commit {})\n",
        crate::plural::plural(drift.objects.len(), "object"),
        drift.since,
        short(&drift.since_commit)
    );
    for object in &drift.objects {
        let at = object.changed_at.as_deref().map(|at| format!("  ({at})")).unwrap_or_default();
        text.push_str(&format!("  {:<8} {}{at}\n", drift_kind_name(object.kind), object.key));
    }
    if let Some(who) = &drift.who {
        text.push_str(&format!("who: {who}\n"));
    }
    text
}

pub fn render_drift_markdown(environment: &str, drift: Option<&Drift>) -> String {
    let mut text = format!("### Drift of {}\n\n", code_span(environment));
    match drift {
        None => text.push_str("No deploy recorded yet: nothing to compare the bucket with.\n"),
        Some(drift) if drift.is_empty() => text.push_str(&format!(
            "The bucket holds what deploy {} (commit {}) left.\n",
            code_span(&drift.since),
            code_span(short(&drift.since_commit))
        )),
        Some(drift) => {
            text.push_str(&format!(
                "{} changed outside dagship since deploy {} (commit {}):\n\n| change | object | when |\n| --- \
                 | --- | --- |\n",
                crate::plural::plural(drift.objects.len(), "object"),
                code_span(&drift.since),
                code_span(short(&drift.since_commit))
            ));
            for object in &drift.objects {
                let at = object.changed_at.as_deref().unwrap_or("");
                text.push_str(&format!("| {} | {} | {at} |\n", drift_kind_name(object.kind), code_span(&object.key)));
            }
            if let Some(who) = &drift.who {
                text.push_str(&format!("\nWho: {who}.\n"));
            }
        }
    }
    text
}

/// One environment in `dagship status`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentStatus {
    pub environment: String,
    pub branches: Vec<String>,
    pub deployed_commit: Option<String>,
    pub deployed_at: Option<String>,
    /// Commits the first branch has that the deployed commit has not (None when either is not in the repository).
    pub commits_ahead: Option<usize>,
    /// None when the environment has no deploy to compare with.
    pub drift: Option<bool>,
    /// Who holds the lock, described; None when free.
    pub lock: Option<String>,
    /// Why something could not be read (the bucket unreachable...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |value| value.to_string())
}

fn yes_no(value: Option<bool>) -> String {
    match value {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

pub fn render_status_text(statuses: &[EnvironmentStatus]) -> String {
    let mut text = String::new();
    for status in statuses {
        text.push_str(&format!(
            "{}: branch {}, deployed {} at {}, {} ahead, drift {}, lock {}{}\n",
            status.environment,
            if status.branches.is_empty() { "-".into() } else { status.branches.join(",") },
            or_dash(status.deployed_commit.as_deref().map(short)),
            or_dash(status.deployed_at.as_deref()),
            status.commits_ahead.map_or_else(|| "- commits".into(), |ahead| crate::plural::plural(ahead, "commit")),
            yes_no(status.drift),
            status.lock.as_deref().unwrap_or("free"),
            status.error.as_ref().map(|err| format!(" (error: {err})")).unwrap_or_default(),
        ));
    }
    text
}

pub fn render_status_markdown(statuses: &[EnvironmentStatus]) -> String {
    let mut text = String::from(
        "### Environments\n\n| environment | branch | deployed commit | deployed at | ahead | drift | lock |\n\
         | --- | --- | --- | --- | ---: | --- | --- |\n",
    );
    for status in statuses {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            code_span(&status.environment),
            status.branches.iter().map(|branch| code_span(branch)).collect::<Vec<_>>().join(", "),
            status.deployed_commit.as_deref().map_or_else(|| "-".into(), |commit| code_span(short(commit))),
            or_dash(status.deployed_at.as_deref()),
            or_dash(status.commits_ahead),
            yes_no(status.drift),
            status.lock.as_deref().map_or_else(|| "free".into(), escape_markdown),
        ));
    }
    text
}
