//! The deploy plan as a tree of folders, for the pull request comment and the step summary: a Mermaid picture
//! of the folders a deploy would touch with what it would upload (+), replace (~) and delete (-) under each, and
//! every file in a collapsed block. Both are capped so a plan of thousands of files stays readable and inside
//! GitHub's comment limit.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::code_span;
use super::impact::mermaid_label;
use crate::deploy::{Change, Plan};

/// Adds one change to a folder's counts.
type Tally = fn(&mut Counts);

/// Folders drawn before the rest become one "and N more folders" node.
pub const FOLDERS_SHOWN: usize = 40;
/// Files listed in the collapsed block before the rest are counted.
pub const FILES_SHOWN: usize = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub uploads: usize,
    pub replacements: usize,
    pub deletions: usize,
}

impl Counts {
    fn describe(&self) -> String {
        format!("+{} ~{} -{}", self.uploads, self.replacements, self.deletions)
    }
}

/// Every folder holding a change, with its ancestors, and what changes under it (its subfolders included).
pub fn folder_counts(plan: &Plan) -> BTreeMap<String, Counts> {
    let mut folders: BTreeMap<String, Counts> = BTreeMap::new();
    for phase in &plan.phases {
        let lists: [(&[Change], Tally); 3] = [
            (&phase.uploads, |counts| counts.uploads += 1),
            (&phase.replacements, |counts| counts.replacements += 1),
            (&phase.deletions, |counts| counts.deletions += 1),
        ];
        for (changes, count) in lists {
            for change in changes {
                let mut folder = change.key.as_str();
                while let Some((parent, _)) = folder.rsplit_once('/') {
                    count(folders.entry(parent.to_string()).or_default());
                    folder = parent;
                }
            }
        }
    }
    folders
}

/// The tree as a top-down flowchart: the bucket, then the folders by depth (shallow first, so a capped tree
/// keeps its trunk), each labelled with its counts.
pub fn render_plan_tree_mermaid(plan: &Plan) -> String {
    let folders = folder_counts(plan);
    let mut order: Vec<&String> = folders.keys().collect();
    order.sort_by_key(|folder| (folder.matches('/').count(), folder.as_str()));
    let mut out = String::from("flowchart LR\n");
    out.push_str("  classDef folder fill:#f6f8fa,stroke:#59636e\n");
    out.push_str("  classDef deletes fill:#ffebe9,stroke:#cf222e\n");
    out.push_str("  classDef more fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:3\n");
    let _ = writeln!(out, "  root[\"{}\"]:::folder", mermaid_label(&plan.bucket));
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for (index, folder) in order.iter().take(FOLDERS_SHOWN).enumerate() {
        let id = format!("f{index}");
        let counts = folders[*folder];
        let (parent, name) = folder.rsplit_once('/').unwrap_or(("", folder.as_str()));
        let class = if counts.deletions > 0 { "deletes" } else { "folder" };
        let _ = writeln!(out, "  {id}[\"{}/ {}\"]:::{class}", mermaid_label(name), counts.describe());
        let parent_id = ids.get(parent).cloned().unwrap_or_else(|| "root".to_string());
        let _ = writeln!(out, "  {parent_id} --> {id}");
        ids.insert(folder.as_str(), id);
    }
    if order.len() > FOLDERS_SHOWN {
        let _ = writeln!(
            out,
            "  f_more[\"... and {}\"]:::more",
            crate::plural::plural(order.len() - FOLDERS_SHOWN, "more folder")
        );
        let _ = writeln!(out, "  root --> f_more");
    }
    out
}

/// The section: the picture and the files in a collapsed block. Empty when the plan changes nothing.
pub fn render_plan_tree_markdown(plan: &Plan) -> String {
    let changes: Vec<(&str, &str)> = plan
        .phases
        .iter()
        .flat_map(|phase| {
            let signs = [("+", &phase.uploads), ("~", &phase.replacements), ("-", &phase.deletions)];
            signs.into_iter().flat_map(|(sign, list)| list.iter().map(move |change| (sign, change.key.as_str())))
        })
        .collect();
    if changes.is_empty() {
        return String::new();
    }
    let mut md = String::new();
    let _ = writeln!(md, "```mermaid\n{}```\n", render_plan_tree_mermaid(plan));
    let _ = writeln!(
        md,
        "<details><summary>{} to upload (+), replace (~) or delete (-)</summary>\n",
        crate::plural::plural(changes.len(), "file")
    );
    let mut sorted = changes;
    sorted.sort_by(|a, b| a.1.cmp(b.1));
    for (sign, key) in sorted.iter().take(FILES_SHOWN) {
        let _ = writeln!(md, "- {sign} {}", code_span(key));
    }
    if sorted.len() > FILES_SHOWN {
        let _ = writeln!(
            md,
            "- ... and {} more in the JSON report (`dagship plan --format json`)",
            sorted.len() - FILES_SHOWN
        );
    }
    let _ = writeln!(md, "\n</details>");
    md
}
