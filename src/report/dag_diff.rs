//! The DAG ids a pull request adds, removes or changes, as a Markdown section.
use std::fmt::Write;

use super::{code_span, escape_markdown};
use crate::dags::{ComparedWith, DagAt, DagDiff};

const SHOWN: usize = 50;

pub fn render_dag_diff_markdown(diff: &DagDiff) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### DAGs: {} added, {} removed, {} changed\n",
        diff.added.len(),
        diff.removed.len(),
        diff.changed.len()
    );
    let _ = match &diff.compared_with {
        ComparedWith::BaseCommit => writeln!(md, "Added and removed: compared with the base commit.\n"),
        ComparedWith::DeployRecord { id } => writeln!(
            md,
            "Added and removed: compared with what the environment runs (its last deploy record {}).\n",
            code_span(id)
        ),
    };
    for (label, dags) in [("added", &diff.added), ("removed", &diff.removed), ("changed", &diff.changed)] {
        for dag in dags.iter().take(SHOWN) {
            let _ = writeln!(md, "- {label} {} ({})", code_span(&dag.dag_id), describe_file(dag));
        }
        if dags.len() > SHOWN {
            let _ = writeln!(md, "- ... and {} more {label}", dags.len() - SHOWN);
        }
    }
    for collision in &diff.collisions {
        let files: Vec<String> = collision.files.iter().map(|site| escape_markdown(&site.path)).collect();
        let _ = writeln!(
            md,
            "\n> [!CAUTION]\n> New DAG id {} is already defined by another file: {} (Airflow keeps one and fails the \
             other)",
            code_span(&collision.dag_id),
            files.join(", ")
        );
    }
    if !diff.unreadable_base_files.is_empty() {
        let files: Vec<String> = diff.unreadable_base_files.iter().map(|file| escape_markdown(file)).collect();
        let _ =
            writeln!(md, "\nThe base versions of {} did not import: what they defined is unknown.", files.join(", "));
    }
    md
}

fn describe_file(dag: &DagAt) -> String {
    match &dag.previous_file {
        Some(previous) => format!("{}, was in {}", escape_markdown(&dag.file), escape_markdown(previous)),
        None => escape_markdown(&dag.file),
    }
}
