//! What a deploy publishes to the environment's state prefix, staged in a temporary folder that the deploy
//! engine mirrors (with delete) like any other phase: manifest.json, run_results.json, catalog.json when docs
//! are generated, dbt_packages/, and the parse cache pull request checks reuse.
use std::path::Path;

use tempfile::TempDir;

use super::compile::{CommandReport, base_args, deps, run_checked};
use super::preflight;
use super::state::{PARSE_CACHE_DIR, PARSE_CACHE_FILE, PARSE_CACHE_META, ParseCacheMeta};
use super::{DbtError, Settings};

/// Where a deploy's dbt artifacts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactsMode {
    /// Run dbt (deps, compile or docs generate, and a parse for the check target) and publish the result.
    Build,
    /// Publish what the project's target folder already holds (an earlier step ran dbt).
    Existing,
    /// Leave the state prefix as it is.
    Skip,
}

/// The staged state folder (deleted on drop) and the dbt commands that made it.
pub struct Staged {
    pub dir: TempDir,
    pub commands: Vec<CommandReport>,
    /// Whether a parse cache for pull request checks is part of it.
    pub parse_cache: bool,
}

/// The artifacts dbt leaves in the target folder that the environment's state is made of.
const ARTIFACTS: &[&str] = &["manifest.json", "run_results.json", "catalog.json"];

/// Builds (or takes) the artifacts and stages them. `mode` is `Build` or `Existing`.
pub fn stage_for_deploy(settings: &Settings, mode: ArtifactsMode) -> Result<Staged, DbtError> {
    let dir = tempfile::Builder::new()
        .prefix("dagship-dbt-publish-")
        .tempdir()
        .map_err(|err| DbtError::io(&std::env::temp_dir(), err))?;
    let mut commands = Vec::new();
    let mut parse_cache = None;
    if mode == ArtifactsMode::Build {
        let preflight = preflight::check(settings)?;
        deps(settings, &preflight, &mut commands)?;
        let command = if settings.dbt.docs { "docs generate" } else { "compile" };
        let built = run_checked(settings, &preflight, &base_args(command, &settings.target, settings), &mut commands)?;
        if settings.dbt.parse_cache {
            // dbt reuses a parse only for the same target, vars and profile values: make it with the check's.
            let parse_dir = dir.path().join(".parse");
            let (source, version) = if settings.check_target == settings.target {
                (settings.target_path.join(PARSE_CACHE_FILE), built.facts.dbt_version)
            } else {
                let mut args = base_args("parse", &settings.check_target, settings);
                let position = args.iter().position(|arg| arg == "--target-path").expect("base args set it");
                args[position + 1] = parse_dir.display().to_string();
                let parsed = run_checked(settings, &preflight, &args, &mut commands)?;
                (parse_dir.join(PARSE_CACHE_FILE), parsed.facts.dbt_version)
            };
            let meta = ParseCacheMeta {
                dbt_version: version.or(preflight.version),
                target: settings.check_target.clone(),
                vars: serde_json::Value::Object(settings.vars.clone()),
            };
            parse_cache = source.is_file().then_some((source, meta));
        }
    }
    let manifest = settings.target_path.join("manifest.json");
    if !manifest.is_file() {
        return Err(DbtError::Setup(format!(
            "{}: no manifest to publish; run dbt first or deploy with `--dbt-artifacts build`",
            manifest.display()
        )));
    }
    for name in ARTIFACTS {
        let source = settings.target_path.join(name);
        if source.is_file() {
            copy_file(&source, &dir.path().join(name))?;
        }
    }
    if settings.packages_path.is_dir() {
        copy_tree(&settings.packages_path, &dir.path().join("dbt_packages"), 0)?;
    }
    let has_cache = parse_cache.is_some();
    if let Some((source, meta)) = parse_cache {
        let cache_dir = dir.path().join(PARSE_CACHE_DIR);
        std::fs::create_dir_all(&cache_dir).map_err(|err| DbtError::io(&cache_dir, err))?;
        copy_file(&source, &cache_dir.join(PARSE_CACHE_FILE))?;
        let meta_path = cache_dir.join(PARSE_CACHE_META);
        let json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
        std::fs::write(&meta_path, json).map_err(|err| DbtError::io(&meta_path, err))?;
    }
    let scratch = dir.path().join(".parse");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|err| DbtError::io(&scratch, err))?;
    }
    Ok(Staged { dir, commands, parse_cache: has_cache })
}

fn copy_file(from: &Path, to: &Path) -> Result<(), DbtError> {
    std::fs::copy(from, to).map(|_| ()).map_err(|err| DbtError::io(from, err))
}

/// Copies a folder, following symlinks (`dbt deps` links local packages), at most 32 levels deep so a
/// symlink loop ends.
fn copy_tree(from: &Path, to: &Path, depth: usize) -> Result<(), DbtError> {
    if depth > 32 {
        return Err(DbtError::Setup(format!("{}: nested too deep (a symlink loop?)", from.display())));
    }
    std::fs::create_dir_all(to).map_err(|err| DbtError::io(to, err))?;
    for entry in std::fs::read_dir(from).map_err(|err| DbtError::io(from, err))? {
        let entry = entry.map_err(|err| DbtError::io(from, err))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target, depth + 1)?;
        } else if source.is_file() {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}
