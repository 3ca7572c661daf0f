//! The impact of a pull request's model changes, for people: text for terminals, Markdown for the step summary
//! and the sticky comment, and a Mermaid flowchart (modified -> downstream -> DAGs) that GitHub renders.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::{code_span, escape_markdown};
use crate::impact::Impact;
use crate::plural::plural;

/// Rows listed before the rest are counted in one line.
const ROWS_SHOWN: usize = 50;
/// Tables longer than this are folded into a `<details>` block.
const ROWS_OPEN: usize = 10;
/// Nodes drawn per column of the picture before the rest become one "and N more" node: a diagram larger than
/// this is unreadable, and GitHub refuses very large ones.
pub const MERMAID_MODELS_SHOWN: usize = 30;
pub const MERMAID_DAGS_SHOWN: usize = 20;

fn task_name(task_id: &Option<String>) -> String {
    task_id.clone().unwrap_or_else(|| "(the whole DAG)".into())
}

pub fn render_impact_text(impact: &Impact) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "models: {} modified, {} downstream, {} deleted",
        impact.modified.len(),
        impact.downstream.len(),
        impact.deleted.len()
    );
    for (label, names) in [
        ("modified", &impact.modified),
        ("downstream", &impact.downstream),
        ("deleted", &impact.deleted),
        ("deferred (from the environment)", &impact.deferred),
    ] {
        if !names.is_empty() {
            let _ = writeln!(text, "  {label}: {}", names.join(", "));
        }
    }
    let _ = writeln!(text, "impacted DAGs: {} of {} that run dbt", impact.dags.len(), impact.dbt_dags);
    for dag in &impact.dags {
        let schedule = dag.schedule.as_deref().unwrap_or("no schedule");
        let _ = writeln!(text, "  {} ({}, {schedule})", dag.dag_id, dag.file);
        for task in &dag.tasks {
            let models: Vec<&str> = task.modified.iter().chain(&task.downstream).map(String::as_str).collect();
            let _ = writeln!(text, "    {} [{}]: {}", task_name(&task.task_id), task.operator, models.join(", "));
        }
    }
    for file in &impact.unimported_files {
        let _ = writeln!(text, "not imported, not assessed: {file}");
    }
    for dag in &impact.unresolved {
        for task in &dag.tasks {
            let _ = writeln!(
                text,
                "unresolved: {} / {} ({}): {}",
                dag.dag_id,
                task_name(&task.task_id),
                dag.file,
                task.reason
            );
        }
    }
    text
}

pub fn render_impact_markdown(impact: &Impact) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### Impact: models to DAGs\n");
    let _ = writeln!(
        md,
        "Models: {} modified, {} downstream, {} deleted, built on {} from the environment (deferred); run by \
         **{}** (of {} running dbt){}.\n",
        impact.modified.len(),
        impact.downstream.len(),
        impact.deleted.len(),
        plural(impact.deferred.len(), "parent"),
        plural(impact.dags.len(), "DAG"),
        impact.dbt_dags,
        if impact.unresolved.is_empty() {
            String::new()
        } else {
            format!("; {} choosing their models only when they run", plural(impact.unresolved.len(), "DAG"))
        }
    );
    let total = impact.dags.iter().map(|dag| dag.tasks.len()).sum::<usize>();
    // A long table folds away: the headline above and the picture below already say what it holds.
    let folded = total > ROWS_OPEN;
    if folded {
        let _ = writeln!(md, "<details><summary>{} running the models</summary>\n", plural(total, "task"));
    }
    if !impact.dags.is_empty() {
        let _ = writeln!(
            md,
            "| DAG | schedule | task | runs | modified | downstream |\n| --- | --- | --- | --- | --- | --- |"
        );
        let rows = impact.dags.iter().flat_map(|dag| dag.tasks.iter().map(move |task| (dag, task)));
        for (dag, task) in rows.take(ROWS_SHOWN) {
            let spans = |names: &[String]| names.iter().map(|name| code_span(name)).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                code_span(&dag.dag_id),
                dag.schedule.as_deref().map(code_span).unwrap_or_else(|| "none".into()),
                escape_markdown(&task_name(&task.task_id)),
                task.commands
                    .iter()
                    .map(|command| code_span(&format!("dbt {command}")))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                spans(&task.modified),
                spans(&task.downstream)
            );
        }
        if total > ROWS_SHOWN {
            let _ = writeln!(md, "\n... and {} in the JSON report.", plural(total - ROWS_SHOWN, "more task"));
        }
    }
    if folded {
        let _ = writeln!(md, "\n</details>");
    }
    if !impact.unresolved.is_empty() {
        let _ = writeln!(md, "\n**Unresolved** (the selection is only known when the task runs; not guessed):\n");
        for dag in impact.unresolved.iter().take(ROWS_SHOWN) {
            for task in &dag.tasks {
                let _ = writeln!(
                    md,
                    "- {} / {} ({}): {}",
                    code_span(&dag.dag_id),
                    escape_markdown(&task_name(&task.task_id)),
                    escape_markdown(&dag.file),
                    escape_markdown(&task.reason)
                );
            }
        }
    }
    if !impact.unimported_files.is_empty() {
        let files: Vec<String> = impact.unimported_files.iter().map(|file| escape_markdown(file)).collect();
        let _ = writeln!(md, "\n> [!WARNING]\n> Not imported, so not assessed: {}", files.join(", "));
    }
    if !impact.modified.is_empty() || !impact.downstream.is_empty() {
        let columns = [
            (impact.deferred.len(), MERMAID_MODELS_SHOWN),
            (impact.modified.len(), MERMAID_MODELS_SHOWN),
            (impact.downstream.len(), MERMAID_MODELS_SHOWN),
            (impact.dags.len(), MERMAID_DAGS_SHOWN),
        ];
        let left_out: usize = columns.iter().map(|(count, cap)| count.saturating_sub(*cap)).sum();
        if left_out > 0 {
            let drawn: usize = columns.iter().map(|(count, cap)| (*count).min(*cap)).sum();
            let _ = writeln!(
                md,
                "\n<details><summary>Lineage: {} drawn, {left_out} left out (counted in the picture)</summary>",
                plural(drawn, "node")
            );
        }
        let _ = writeln!(md, "\n```mermaid\n{}```", render_impact_mermaid(impact));
        if left_out > 0 {
            let _ = writeln!(md, "\n</details>");
        }
    }
    md
}

/// A Mermaid id or label: only characters that cannot end a label, a node or the code block.
pub(super) fn mermaid_label(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || "_-. /:@+".contains(c) { c } else { '_' }).collect()
}

/// The lineage as a left-to-right flowchart: the deferred parents (the environment's versions, dashed), the
/// modified models, the downstream ones, then the impacted DAGs, each column capped (the rest is one "and N more"
/// node).
pub fn render_impact_mermaid(impact: &Impact) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str("  classDef modified fill:#ffebe9,stroke:#cf222e\n");
    out.push_str("  classDef downstream fill:#fff8c5,stroke:#9a6700\n");
    out.push_str("  classDef dag fill:#ddf4ff,stroke:#0969da\n");
    out.push_str("  classDef deferred fill:#f6f8fa,stroke:#59636e,color:#59636e,stroke-dasharray:4\n");
    out.push_str("  classDef more fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:3\n");
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut column = |names: &[String], prefix: &str, class: &str, cap: usize, what: &str, out: &mut String| {
        for (index, name) in names.iter().take(cap).enumerate() {
            let id = format!("{prefix}{index}");
            let _ = writeln!(out, "  {id}[\"{}\"]:::{class}", mermaid_label(name));
            ids.insert(format!("{prefix}:{name}"), id);
        }
        if names.len() > cap {
            let _ = writeln!(
                out,
                "  {prefix}_more[\"... and {}\"]:::more",
                plural(names.len() - cap, &format!("more {what}"))
            );
        }
    };
    column(&impact.deferred, "p", "deferred", MERMAID_MODELS_SHOWN, "deferred parent", &mut out);
    column(&impact.modified, "m", "modified", MERMAID_MODELS_SHOWN, "modified model", &mut out);
    column(&impact.downstream, "d", "downstream", MERMAID_MODELS_SHOWN, "downstream model", &mut out);
    let dag_ids: Vec<String> = impact.dags.iter().map(|dag| dag.dag_id.clone()).collect();
    column(&dag_ids, "g", "dag", MERMAID_DAGS_SHOWN, "DAG", &mut out);
    let node = |name: &str| ["m", "d", "p"].iter().find_map(|prefix| ids.get(&format!("{prefix}:{name}"))).cloned();
    for (parent, child) in &impact.lineage {
        if let (Some(parent), Some(child)) = (node(parent), node(child)) {
            let _ = writeln!(out, "  {parent} --> {child}");
        }
    }
    for dag in &impact.dags {
        let Some(dag_node) = ids.get(&format!("g:{}", dag.dag_id)) else { continue };
        let mut models: Vec<&String> =
            dag.tasks.iter().flat_map(|task| task.modified.iter().chain(&task.downstream)).collect();
        models.sort();
        models.dedup();
        // One edge per DAG from each model it runs that no other model it runs depends on: the picture stays
        // readable (the lineage edges show the rest of the chain).
        let runs: std::collections::BTreeSet<&str> = models.iter().map(|name| name.as_str()).collect();
        for model in &models {
            let feeds_another =
                impact.lineage.iter().any(|(parent, child)| parent == *model && runs.contains(child.as_str()));
            if feeds_another {
                continue;
            }
            if let Some(model_node) = node(model) {
                let _ = writeln!(out, "  {model_node} -.-> {dag_node}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impact::{ImpactedDag, ImpactedTask};

    fn impact(models: usize) -> Impact {
        let modified: Vec<String> = (0..models).map(|index| format!("stg_{index}")).collect();
        Impact {
            lineage: vec![("raw".into(), "stg_0".into()), ("stg_0".into(), "mart".into())],
            deferred: vec!["raw".into()],
            downstream: vec!["mart".into()],
            deleted: Vec::new(),
            dags: vec![ImpactedDag {
                dag_id: "nightly".into(),
                file: "dags/nightly.py".into(),
                schedule: Some("@daily".into()),
                tasks: vec![ImpactedTask {
                    task_id: Some("build".into()),
                    operator: "BashOperator".into(),
                    commands: vec!["build --select stg_0+".into()],
                    modified: vec!["stg_0".into()],
                    downstream: vec!["mart".into()],
                }],
            }],
            modified,
            unresolved: Vec::new(),
            dbt_dags: 1,
            unimported_files: Vec::new(),
        }
    }

    #[test]
    fn the_picture_draws_the_chain_and_caps_each_column() {
        let small = render_impact_mermaid(&impact(1));
        assert!(small.contains("m0[\"stg_0\"]:::modified"), "{small}");
        assert!(small.contains("d0[\"mart\"]:::downstream"), "{small}");
        assert!(small.contains("g0[\"nightly\"]:::dag"), "{small}");
        assert!(small.contains("m0 --> d0"), "{small}");
        assert!(small.contains("p0[\"raw\"]:::deferred"), "a parent from the environment: {small}");
        assert!(small.contains("p0 --> m0"), "{small}");
        assert!(small.contains("d0 -.-> g0"), "the DAG hangs off the last model it runs: {small}");
        assert!(!small.contains("m0 -.-> g0"), "{small}");
        let big = render_impact_mermaid(&impact(MERMAID_MODELS_SHOWN + 7));
        assert!(big.contains("m_more[\"... and 7 more modified models\"]:::more"), "{big}");
        assert!(!big.contains(&format!("m{MERMAID_MODELS_SHOWN}[")), "{big}");
    }

    #[test]
    fn labels_cannot_break_out_of_the_diagram() {
        assert_eq!(mermaid_label("a\"]-->x[\"```"), "a__--_x_____");
    }
}
