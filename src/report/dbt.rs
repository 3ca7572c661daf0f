//! Renderings of a dbt check: text for terminals and logs, Markdown for the step summary and PR comment.
use std::fmt::Write;

use super::{code_span, escape_markdown};
use crate::dbt::{CompileReport, Mode, ParseCacheUse, PartialParse};
use crate::plural::plural;

/// At most this many models per list in text and Markdown; JSON always has them all.
const LIST_LIMIT: usize = 50;

/// One line on where the state came from, e.g. "gs://b/data/target/manifest.json (version 17)".
pub fn describe_state(report: &CompileReport) -> String {
    match (&report.state.found, &report.state.version) {
        (true, Some(version)) => format!("{} (version {version})", report.state.manifest),
        (true, None) => report.state.manifest.clone(),
        (false, _) => match &report.state.unusable {
            Some(problem) => format!("unusable: {} is {problem}", report.state.manifest),
            None => format!("none: no {}", report.state.manifest),
        },
    }
}

pub fn describe_parse_cache(use_: &ParseCacheUse) -> String {
    let outcome = |outcome: &PartialParse| match outcome {
        PartialParse::Used => "reused".to_string(),
        PartialParse::Rejected(reason) => format!("refused by dbt ({reason}); full parse"),
        PartialParse::NotFound => "not found; full parse".to_string(),
        PartialParse::Unknown => "outcome unknown".to_string(),
    };
    match use_ {
        ParseCacheUse::Disabled => "disabled".into(),
        ParseCacheUse::None => "none published; full parse".into(),
        ParseCacheUse::Local { outcome: result } => format!("local target folder: {}", outcome(result)),
        ParseCacheUse::Bucket { outcome: result } => format!("from the environment: {}", outcome(result)),
    }
}

fn describe_mode(report: &CompileReport) -> &'static str {
    match (report.mode, report.state.found) {
        (Mode::Slim, _) => "slim (changed models and their children, the rest deferred to the environment)",
        (Mode::Full, true) => "full (asked for)",
        (Mode::Full, false) if report.state.unusable.is_some() => "full (the environment's dbt state is unusable)",
        (Mode::Full, false) => "full (the environment has no dbt state yet)",
    }
}

pub fn render_compile_text(report: &CompileReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "dbt check against {} (target {})", report.environment, report.target);
    let _ = writeln!(text, "mode: {}", describe_mode(report));
    let _ = writeln!(text, "state: {}", describe_state(report));
    let _ = writeln!(text, "parse cache: {}", describe_parse_cache(&report.parse_cache));
    let _ = writeln!(text, "selected: {} of {}", report.selected_count(), plural(report.total_models, "model"));
    for (label, models) in [("modified", &report.modified_models), ("downstream", &report.downstream_models)] {
        if models.is_empty() {
            continue;
        }
        let _ = writeln!(text, "{label}: {}", models.len());
        for model in models.iter().take(LIST_LIMIT) {
            let _ = writeln!(text, "  {} ({})", model.name, model.path);
        }
        if models.len() > LIST_LIMIT {
            let _ = writeln!(text, "  ... and {} more", models.len() - LIST_LIMIT);
        }
    }
    if !report.deleted_models.is_empty() {
        let _ = writeln!(text, "deleted: {}", report.deleted_models.join(", "));
    }
    for command in &report.commands {
        let _ = writeln!(text, "{:>7.1}s  {}", command.seconds, command.command);
    }
    text
}

pub fn render_compile_markdown(report: &CompileReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### dbt: {} (target {})\n", code_span(&report.environment), code_span(&report.target));
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let _ = writeln!(md, "| mode | {} |", describe_mode(report));
    let _ = writeln!(md, "| state | {} |", code_span(&describe_state(report)));
    let _ = writeln!(md, "| parse cache | {} |", escape_markdown(&describe_parse_cache(&report.parse_cache)));
    let _ = writeln!(md, "| selected | {} of {} |", report.selected_count(), plural(report.total_models, "model"));
    let _ = writeln!(md, "| modified | {} |", report.modified_models.len());
    let _ = writeln!(md, "| downstream | {} |", report.downstream_models.len());
    let _ = writeln!(md, "| deleted | {} |", report.deleted_models.len());
    let seconds: f64 = report.commands.iter().map(|command| command.seconds).sum();
    let _ = writeln!(md, "| dbt time | {seconds:.1} s |");
    // Each list's summary: the noun its count takes, then what the list holds.
    let modified_label = match report.mode {
        Mode::Slim => ("modified model", ": changed in this pull request"),
        Mode::Full => ("model", " compiled: no state to compare with, so all count as modified"),
    };
    let lists = [
        (modified_label, &report.modified_models),
        (("downstream model", ": selected as their children, unchanged"), &report.downstream_models),
    ];
    for ((noun, label), models) in lists {
        if models.is_empty() {
            continue;
        }
        let _ = writeln!(md, "\n<details><summary>{}{label}</summary>\n", plural(models.len(), noun));
        for model in models.iter().take(LIST_LIMIT) {
            let _ = writeln!(md, "- {} ({})", code_span(&model.name), escape_markdown(&model.path));
        }
        if models.len() > LIST_LIMIT {
            let _ = writeln!(md, "- ... and {} more", models.len() - LIST_LIMIT);
        }
        let _ = writeln!(md, "\n</details>");
    }
    if !report.deleted_models.is_empty() {
        let mut names: Vec<String> =
            report.deleted_models.iter().take(LIST_LIMIT).map(|name| code_span(name)).collect();
        if report.deleted_models.len() > LIST_LIMIT {
            names.push(format!("and {} more", report.deleted_models.len() - LIST_LIMIT));
        }
        let _ = writeln!(md, "\nDeleted models: {}", names.join(", "));
    }
    if report.exploded {
        let _ = writeln!(md, "\n> [!WARNING]\n> {}", escape_markdown(EXPLODED_HINT));
    }
    md
}

/// The advice when `state:modified` selects most of a large project.
pub const EXPLODED_HINT: &str = "state:modified selected most of the project: configs that render differently per \
    environment (database, schema, env_var) make every model look modified. Set `flags: \
    {state_modified_compare_more_unrendered_values: true}` in dbt_project.yml to compare them unrendered.";
