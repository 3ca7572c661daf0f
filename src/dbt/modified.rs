//! Which of a slim compile's models changed themselves and which were only selected as their children: dbt's own
//! `state:modified` (a `dbt ls` against the same state, reusing the compile's parse), intersected with the
//! compile's selection. dagship does not re-implement dbt's state comparison (bodies, configs, macros, contracts).
use std::collections::BTreeSet;
use std::path::Path;

use super::compile::{CommandReport, SelectedModel, base_args, run_checked};
use super::preflight::Preflight;
use super::{DbtError, Settings};

/// The selected models split into (modified, downstream): a model is modified when `state:modified` names it.
pub(super) fn split_modified(
    settings: &Settings,
    preflight: &Preflight,
    state_dir: &Path,
    selected: Vec<SelectedModel>,
    commands: &mut Vec<CommandReport>,
) -> Result<(Vec<SelectedModel>, Vec<SelectedModel>), DbtError> {
    if selected.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut args = base_args("ls", &settings.check_target, &settings.target_path, settings);
    args.extend(
        [
            "--resource-type",
            "model",
            "--select",
            "state:modified",
            "--state",
            &state_dir.display().to_string(),
            "--output",
            "json",
            "--output-keys",
            "unique_id",
            "--quiet",
        ]
        .map(str::to_string),
    );
    let listed = run_checked(settings, preflight, &args, commands)?;
    let modified = listed_ids(&listed.output);
    Ok(selected.into_iter().partition(|model| modified.contains(&model.unique_id)))
}

/// The unique ids `dbt ls --output json` printed, one JSON object per line; other lines are ignored (only ids
/// of the compile's own selection are used, so a line a project prints cannot add a model).
fn listed_ids(output: &str) -> BTreeSet<String> {
    #[derive(serde::Deserialize)]
    struct Listed {
        unique_id: String,
    }
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Listed>(line.trim()).ok())
        .map(|listed| listed.unique_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::listed_ids;

    #[test]
    fn ids_come_from_json_lines_only() {
        let output = "12:00:01  Running with dbt=1.11\n{\"unique_id\": \"model.shop.a\"}\n{\"name\": \"x\"}\n";
        assert_eq!(listed_ids(output).into_iter().collect::<Vec<_>>(), ["model.shop.a"]);
    }
}
