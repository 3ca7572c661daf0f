//! The MWAA step of a deploy, for people (text) and for the step summary (Markdown).
use crate::platform::mwaa::{ArtifactAction, MwaaReport, UpdateOutcome};

use super::{code_span, escape_markdown};

fn action_text(action: ArtifactAction) -> &'static str {
    match action {
        ArtifactAction::Unchanged => "unchanged",
        ArtifactAction::Uploaded => "uploaded",
        ArtifactAction::Reused => "already uploaded",
        ArtifactAction::WouldUpload => "would upload",
    }
}

fn update_text(report: &MwaaReport) -> String {
    let name = &report.environment_name;
    match report.update {
        UpdateOutcome::NotNeeded => format!("MWAA environment {name}: no update needed"),
        UpdateOutcome::WouldUpdate => format!("MWAA environment {name}: would be updated"),
        UpdateOutcome::Requested => format!("MWAA environment {name}: update requested (it runs in the background)"),
        UpdateOutcome::Completed => format!("MWAA environment {name}: updated"),
    }
}

fn version(version: Option<&String>) -> &str {
    version.map_or("-", String::as_str)
}

pub fn render_mwaa_text(report: &MwaaReport) -> String {
    let mut text = format!("{} (was {})\n", update_text(report), report.status);
    for artifact in &report.artifacts {
        text.push_str(&format!(
            "  {:<16} {:<16} version {} -> {}\n",
            artifact.key,
            action_text(artifact.action),
            version(artifact.running_version.as_ref()),
            version(artifact.new_version.as_ref()),
        ));
    }
    text
}

pub fn render_mwaa_markdown(report: &MwaaReport) -> String {
    let mut markdown = format!(
        "**{}**\n\n| file | action | running version | new version |\n| --- | --- | --- | --- |\n",
        escape_markdown(&update_text(report))
    );
    for artifact in &report.artifacts {
        markdown.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code_span(&artifact.key),
            action_text(artifact.action),
            escape_markdown(version(artifact.running_version.as_ref())),
            escape_markdown(version(artifact.new_version.as_ref())),
        ));
    }
    markdown
}
