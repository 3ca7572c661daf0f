//! One environment's deploy as text (stdout) and Markdown (the step summary): its plan, what was written, and on
//! MWAA what happened to the environment.
use super::{render_mwaa_markdown, render_mwaa_text, render_plan_markdown, render_plan_text};
use crate::deploy::DeployReport;

/// The plan, then what the deploy did.
pub fn render_deploy_text(report: &DeployReport) -> String {
    render_plan_text(&report.plan) + &render_deploy_outcome(report)
}

/// What the deploy did, without its plan: a deploy prints its plan before the writes (src/flow/show.rs), and
/// this after them.
pub fn render_deploy_outcome(report: &DeployReport) -> String {
    let mut text = String::new();
    if report.dry_run {
        text.push_str("dry run: nothing written\n");
    } else if report.up_to_date {
        text.push_str(&format!(
            "{} is up to date with commit {}: nothing written\n",
            report.environment, report.commit
        ));
    } else {
        if let Some(previous) = &report.took_over_lock_from {
            text.push_str(&format!("took over a stale lock held by {}\n", previous.describe()));
        }
        let deployed = crate::style::paint(crate::style::Stream::Stdout, crate::style::Tone::Success, "deployed");
        text.push_str(&format!("{deployed} commit {} to {} ({})\n", report.commit, report.environment, report.bucket));
    }
    if let Some(mwaa) = &report.mwaa {
        text.push_str(&render_mwaa_text(mwaa));
    }
    text
}

/// The plan's section and, on MWAA, the environment's, one after the other.
pub fn render_deploy_markdown(report: &DeployReport) -> String {
    let mut markdown = render_plan_markdown(&report.plan);
    if let Some(mwaa) = &report.mwaa {
        markdown.push('\n');
        markdown.push_str(&render_mwaa_markdown(mwaa));
    }
    markdown
}
