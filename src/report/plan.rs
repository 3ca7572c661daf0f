//! Renderings of a deploy plan: text for terminals and logs, Markdown for the step summary and PR comment.
use std::fmt::Write;

use super::{code_span, escape_markdown};
use crate::deploy::{Plan, drift_kind_name, human_bytes};
use crate::notice::escape_controls;

/// At most this many keys per list in text and Markdown; JSON always has them all.
const LIST_LIMIT: usize = 50;

pub fn render_plan_text(plan: &Plan) -> String {
    let mut text = String::new();
    let summary = &plan.summary;
    let _ = writeln!(
        text,
        "plan for {} ({}): {}, {}, {}, {} unchanged; {} to upload",
        plan.environment,
        plan.bucket,
        crate::plural::plural(summary.uploads, "upload"),
        crate::plural::plural(summary.replacements, "replacement"),
        crate::plural::plural(summary.deletions, "deletion"),
        summary.unchanged,
        human_bytes(summary.upload_bytes)
    );
    if let Some(last) = &plan.last_deploy {
        let _ = writeln!(text, "last deploy: commit {} at {}", last.commit, last.deployed_at);
    }
    for phase in &plan.phases {
        let _ = writeln!(
            text,
            "{}: {}/ -> {} ({} unchanged{})",
            phase.phase.name(),
            phase.source,
            phase.prefix,
            phase.unchanged,
            if phase.excluded > 0 { format!(", {} excluded", phase.excluded) } else { String::new() }
        );
        let lists = [
            ("+", phase.uploads.iter().map(|c| c.key.as_str()).collect::<Vec<_>>()),
            ("~", phase.replacements.iter().map(|c| c.key.as_str()).collect()),
            ("-", phase.deletions.iter().map(|c| c.key.as_str()).collect()),
            ("kept", phase.kept.iter().map(String::as_str).collect()),
            ("protected, not uploaded", phase.protected_skipped.iter().map(String::as_str).collect()),
        ];
        for (sign, keys) in lists {
            for key in keys.iter().take(LIST_LIMIT) {
                let _ = writeln!(text, "  {sign} {}", escape_controls(key));
            }
            if keys.len() > LIST_LIMIT {
                let _ = writeln!(text, "  {sign} ... and {} more", keys.len() - LIST_LIMIT);
            }
        }
    }
    if let Some(deployed) = &plan.older_than_deployed {
        let _ = writeln!(
            text,
            "warning: commit {} is an ancestor of the deployed commit {deployed}: this puts older code back",
            plan.commit
        );
    }
    if let Some(drift) = plan.drift.as_ref().filter(|drift| !drift.is_empty()) {
        let _ = writeln!(
            text,
            "drift: {} changed outside dagship since deploy {}",
            crate::plural::plural(drift.objects.len(), "object"),
            drift.since
        );
        for object in drift.objects.iter().take(LIST_LIMIT) {
            let _ = writeln!(text, "  {} {}", drift_kind_name(object.kind), escape_controls(&object.key));
        }
    }
    // Refusals are not rendered here: `plan` says them on stderr and a refused deploy as its error, once each.
    text
}

pub fn render_plan_markdown(plan: &Plan) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### Deploy plan: {}\n", code_span(&plan.environment));
    let _ = writeln!(md, "Bucket: {}\n", code_span(&plan.bucket));
    let _ = writeln!(md, "| phase | source | prefix | uploads | replacements | deletions | unchanged |");
    let _ = writeln!(md, "| --- | --- | --- | ---: | ---: | ---: | ---: |");
    for phase in &plan.phases {
        let _ = writeln!(
            md,
            "| {} | `{}` | `{}` | {} | {} | {} | {} |",
            phase.phase.name(),
            escape_markdown(&phase.source),
            escape_markdown(&phase.prefix),
            phase.uploads.len(),
            phase.replacements.len(),
            phase.deletions.len(),
            phase.unchanged
        );
    }
    let deletions: Vec<&str> =
        plan.phases.iter().flat_map(|phase| phase.deletions.iter().map(|change| change.key.as_str())).collect();
    if !deletions.is_empty() {
        let _ = writeln!(md, "\n<details><summary>{}</summary>\n", crate::plural::plural(deletions.len(), "deletion"));
        for key in deletions.iter().take(LIST_LIMIT) {
            let _ = writeln!(md, "- {}", code_span(key));
        }
        if deletions.len() > LIST_LIMIT {
            let _ = writeln!(md, "- ... and {} more", deletions.len() - LIST_LIMIT);
        }
        let _ = writeln!(md, "\n</details>");
    }
    if let Some(deployed) = &plan.older_than_deployed {
        let _ = writeln!(
            md,
            "\n> [!WARNING]\n> Commit {} is an ancestor of the deployed commit {}: this puts older code back",
            code_span(&plan.commit),
            code_span(deployed)
        );
    }
    if let Some(drift) = plan.drift.as_ref().filter(|drift| !drift.is_empty()) {
        let _ = writeln!(
            md,
            "\n> [!WARNING]\n> {} changed in the bucket outside dagship since deploy {}\n\n<details><summary>drift</summary>\n",
            crate::plural::plural(drift.objects.len(), "object"),
            code_span(&drift.since)
        );
        for object in drift.objects.iter().take(LIST_LIMIT) {
            let _ = writeln!(md, "- {} {}", drift_kind_name(object.kind), code_span(&object.key));
        }
        let _ = writeln!(md, "\n</details>");
    }
    for refusal in &plan.refusals {
        let _ = writeln!(md, "\n> [!CAUTION]\n> Refused: {}", escape_markdown(refusal));
    }
    md
}
