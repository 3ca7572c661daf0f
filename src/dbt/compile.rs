//! The pull request check: compile what changed against the environment's state (slim CI), or the whole project
//! when the environment has no state yet, and read the selection from the compile's own artifacts (a separate
//! `dbt ls` would pay a whole parse again).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::annotations::{Annotation, annotations_from};
use super::artifacts::{Manifest, RunResults};
use super::logs::PartialParse;
use super::preflight::Preflight;
use super::process::{self, Finished};
use super::state::{Downloaded, PARSE_CACHE_FILE, StateSource};
use super::{DbtError, Settings};

/// A selection this large a share of the project usually means env-dependent configs, not real changes.
const EXPLODED_SHARE: f64 = 0.5;
/// Below this many models a large share is normal.
const EXPLODED_MIN_MODELS: usize = 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Compile everything even when the environment has state.
    pub full: bool,
    /// Skip the configured `dbt.checks`.
    pub skip_checks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only the selection (`state:modified+` by default), deferring the rest to the environment.
    Slim,
    /// The whole project: no state, or `--full`.
    Full,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Slim => "slim",
            Mode::Full => "full",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ParseCacheUse {
    /// `dbt.parse_cache: false`.
    Disabled,
    /// Neither the bucket nor the local target folder had one.
    None,
    /// A parse cache was already in the local target folder; dbt decided on it.
    Local { outcome: PartialParse },
    /// The environment's published parse cache was used or refused by dbt.
    Bucket { outcome: PartialParse },
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectedModel {
    pub name: String,
    pub unique_id: String,
    /// The model's file from the repository root.
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandReport {
    pub command: String,
    pub seconds: f64,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompileReport {
    pub environment: String,
    pub target: String,
    pub dbt_version: Option<String>,
    pub mode: Mode,
    pub state: StateSource,
    pub parse_cache: ParseCacheUse,
    pub exposures_pulled: usize,
    /// The selection arguments passed to dbt; empty for a full compile.
    pub selection: Vec<String>,
    pub total_models: usize,
    /// The models whose files or configs changed compared with the environment's state (dbt's
    /// `state:modified`), sorted by name. A full compile has no state to compare with: every model is listed.
    pub modified_models: Vec<SelectedModel>,
    /// The models selected only as children of modified ones (the `+` of `state:modified+`), sorted by name.
    pub downstream_models: Vec<SelectedModel>,
    /// Models in the environment's manifest that the project no longer has.
    pub deleted_models: Vec<String>,
    /// Whether any model was selected or deleted (always true for a full compile of a non-empty project).
    pub dbt_changed: bool,
    /// The selection covers most of a large project: probably env-dependent configs (see the warning).
    pub exploded: bool,
    pub commands: Vec<CommandReport>,
    /// The manifest the compile wrote (the pull request's project), for the impact on DAGs.
    #[serde(skip)]
    pub manifest_path: PathBuf,
}

impl CompileReport {
    /// Models the compile covered: the modified ones and their children.
    pub fn selected_count(&self) -> usize {
        self.modified_models.len() + self.downstream_models.len()
    }
}

/// Runs the check: deps, compile (slim or full), the configured checks. `state` was fetched by the caller and
/// `exposures_pulled` files were copied into the project.
pub fn compile(
    settings: &Settings,
    preflight: Preflight,
    state: &Downloaded,
    exposures_pulled: usize,
    options: CompileOptions,
) -> Result<CompileReport, DbtError> {
    let mut commands = Vec::new();
    let mut parse_cache = place_parse_cache(settings, state)?;
    deps(settings, &preflight, &mut commands)?;

    let state_dir = state.state_dir().filter(|_| !options.full);
    let mode = if state_dir.is_some() { Mode::Slim } else { Mode::Full };
    let selection = match state_dir {
        Some(dir) => slim_selection(settings, dir),
        None => Vec::new(),
    };
    let mut args = base_args("compile", &settings.check_target, &settings.target_path, settings);
    args.extend(selection.iter().cloned());
    // Compiling needs no up-front listing of every relation in the target's schemas (deferral with
    // --favor-state does not consult it): 0.2 s on DuckDB, seconds on a remote warehouse.
    args.push("--no-populate-cache".into());
    args.extend(settings.dbt.args.iter().cloned());
    let compiled = run_checked(settings, &preflight, &args, &mut commands)?;

    let manifest = Manifest::read(&settings.target_path.join("manifest.json"))?;
    let run_results = RunResults::read(&settings.target_path.join("run_results.json"))?;
    let selected = selected_models(settings, &manifest, &run_results);
    let deleted_models = match state_dir {
        Some(dir) => deleted_models(&manifest, &dir.join("manifest.json")),
        None => Vec::new(),
    };
    let total_models = manifest.models().count();
    let exploded = mode == Mode::Slim
        && total_models >= EXPLODED_MIN_MODELS
        && selected.len() as f64 > EXPLODED_SHARE * total_models as f64;
    let nothing_selected = mode == Mode::Slim && selected.is_empty();
    // Before the checks: a `build` check would change nothing here, but its failure must not hide the split.
    let (modified_models, downstream_models) = match state_dir {
        Some(dir) => split_modified(settings, &preflight, dir, selected, &mut commands)?,
        None => (selected, Vec::new()),
    };

    if !options.skip_checks && !nothing_selected {
        for check in &settings.dbt.checks {
            let target = check.target.as_deref().unwrap_or(&settings.check_target);
            let mut args = base_args(&check.command, target, &settings.target_path, settings);
            args.extend(selection.iter().cloned());
            args.extend(check.args.iter().cloned());
            run_checked(settings, &preflight, &args, &mut commands)?;
        }
    }

    if let ParseCacheUse::Local { outcome } | ParseCacheUse::Bucket { outcome } = &mut parse_cache {
        *outcome = compiled.facts.partial_parse.clone();
    }
    Ok(CompileReport {
        environment: settings.environment.clone(),
        target: settings.check_target.clone(),
        dbt_version: compiled.facts.dbt_version.clone().or(preflight.version),
        mode,
        state: state.source.clone(),
        parse_cache,
        exposures_pulled,
        selection,
        total_models,
        dbt_changed: !modified_models.is_empty() || !downstream_models.is_empty() || !deleted_models.is_empty(),
        modified_models,
        downstream_models,
        deleted_models,
        exploded,
        commands,
        manifest_path: settings.target_path.join("manifest.json"),
    })
}

// Which of a slim compile's models changed themselves and which were only selected as their children: dbt's own
// `state:modified` (a `dbt ls` against the same state, reusing the compile's parse), intersected with the
// compile's selection. dagship does not re-implement dbt's state comparison (bodies, configs, macros, contracts).

/// The selected models split into (modified, downstream): a model is modified when `state:modified` names it.
fn split_modified(
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

/// `<command> --target T --vars V --target-path P`: the arguments every dbt call of an environment shares.
pub(super) fn base_args(command: &str, target: &str, target_path: &Path, settings: &Settings) -> Vec<String> {
    let mut args: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    args.extend(["--target".into(), target.to_string(), "--vars".into(), settings.vars_argument()]);
    args.extend(["--target-path".into(), target_path.display().to_string()]);
    args
}

fn slim_selection(settings: &Settings, state_dir: &Path) -> Vec<String> {
    let mut args = Vec::new();
    match &settings.dbt.selector {
        Some(selector) => args.extend(["--selector".into(), selector.clone()]),
        None => {
            args.push("--select".into());
            args.extend(settings.dbt.select.iter().cloned());
            if !settings.dbt.exclude.is_empty() {
                args.push("--exclude".into());
                args.extend(settings.dbt.exclude.iter().cloned());
            }
        }
    }
    args.extend(["--defer".into(), "--state".into(), state_dir.display().to_string(), "--favor-state".into()]);
    args
}

/// `dbt deps` when the project has packages; it installs from package-lock.yml when there is one.
pub(super) fn deps(
    settings: &Settings,
    preflight: &Preflight,
    commands: &mut Vec<CommandReport>,
) -> Result<(), DbtError> {
    if settings.has_packages() {
        let args = vec!["deps".to_string(), "--target".into(), settings.check_target.clone()];
        run_checked(settings, preflight, &args, commands)?;
    }
    Ok(())
}

/// Runs a dbt command, records it, and turns a failure into an error carrying dbt's messages.
pub(super) fn run_checked(
    settings: &Settings,
    preflight: &Preflight,
    args: &[String],
    commands: &mut Vec<CommandReport>,
) -> Result<Finished, DbtError> {
    let title = format!("dbt {} ({})", args.first().map_or("", String::as_str), settings.environment);
    let finished = process::run(settings, &preflight.executable, args, &title)?;
    commands.push(CommandReport {
        command: finished.command_line.clone(),
        seconds: finished.took.as_secs_f64(),
        ok: finished.succeeded(),
    });
    if finished.succeeded() {
        return Ok(finished);
    }
    let errors = if finished.facts.errors.is_empty() {
        vec![last_lines(&finished.output, 20)]
    } else {
        finished.facts.errors.clone()
    };
    let annotations: Vec<Annotation> = annotations_from(&errors, &settings.project_relative);
    Err(DbtError::Failed {
        command: finished.command_line,
        code: finished.code,
        first_error: annotations.first().map(|annotation| headline(&annotation.message)),
        annotations,
    })
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// The line that goes into the error (and so the PR comment): dbt's first line is often only a category
/// ("Compilation Error", "Database Error in model x (models/x.sql)"), the cause is on the next one: keep both.
fn headline(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next() {
        Some(cause) if first.contains("Error") && first.split_whitespace().count() <= 12 => format!("{first}: {cause}"),
        _ => first.to_string(),
    }
}

/// Puts the environment's parse cache where dbt looks for it, unless the local target folder already has one
/// (a laptop's own parse is closer to its working tree than any deploy's). The outcome is the compile's to tell.
fn place_parse_cache(settings: &Settings, state: &Downloaded) -> Result<ParseCacheUse, DbtError> {
    if !settings.dbt.parse_cache {
        return Ok(ParseCacheUse::Disabled);
    }
    let local = settings.target_path.join(PARSE_CACHE_FILE);
    if local.is_file() {
        return Ok(ParseCacheUse::Local { outcome: PartialParse::Unknown });
    }
    let Some(downloaded) = &state.parse_cache else { return Ok(ParseCacheUse::None) };
    std::fs::create_dir_all(&settings.target_path).map_err(|err| DbtError::io(&settings.target_path, err))?;
    std::fs::copy(downloaded, &local).map_err(|err| DbtError::io(&local, err))?;
    Ok(ParseCacheUse::Bucket { outcome: PartialParse::Unknown })
}

/// The models among the nodes the compile covered, sorted by name.
fn selected_models(settings: &Settings, manifest: &Manifest, run_results: &RunResults) -> Vec<SelectedModel> {
    let mut models: Vec<SelectedModel> = run_results
        .results
        .iter()
        .filter_map(|result| {
            let node = manifest.nodes.get(&result.unique_id).filter(|node| node.resource_type == "model")?;
            Some(SelectedModel {
                name: node.name.clone(),
                unique_id: result.unique_id.clone(),
                path: repo_path(settings, node.original_file_path.as_str()),
            })
        })
        .collect();
    models.sort_by(|a, b| (&a.name, &a.unique_id).cmp(&(&b.name, &b.unique_id)));
    models.dedup_by(|a, b| a.unique_id == b.unique_id);
    models
}

/// Models the environment has that the project no longer does. An unreadable state manifest deletes nothing.
fn deleted_models(manifest: &Manifest, state_manifest: &Path) -> Vec<String> {
    let Ok(previous) = Manifest::read(state_manifest) else { return Vec::new() };
    let current: BTreeSet<&String> = manifest.models().map(|(id, _)| id).collect();
    let mut deleted: Vec<String> =
        previous.models().filter(|(id, _)| !current.contains(id)).map(|(_, node)| node.name.clone()).collect();
    deleted.sort();
    deleted
}

fn repo_path(settings: &Settings, project_path: &str) -> String {
    let path: PathBuf = Path::new(&settings.project_relative).join(project_path);
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::{headline, listed_ids};

    #[test]
    fn the_error_keeps_dbts_cause_after_its_category() {
        assert_eq!(
            headline("Compilation Error\n  Model 'model.shop.x' (models/x.sql) depends on a node named 'gone'"),
            "Compilation Error: Model 'model.shop.x' (models/x.sql) depends on a node named 'gone'"
        );
        assert_eq!(headline("Database Error\n  connection refused\n  more"), "Database Error: connection refused");
        assert_eq!(headline("a plain message"), "a plain message");
    }

    #[test]
    fn ids_come_from_json_lines_only() {
        let output = "12:00:01  Running with dbt=1.11\n{\"unique_id\": \"model.shop.a\"}\n{\"name\": \"x\"}\n";
        assert_eq!(listed_ids(output).into_iter().collect::<Vec<_>>(), ["model.shop.a"]);
    }
}
