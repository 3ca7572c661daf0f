//! What a deploy publishes to the environment's state prefix, staged in a temporary folder that the deploy
//! engine mirrors (with delete) like any other phase: manifest.json, run_results.json, catalog.json when docs
//! are generated, dbt_packages/, and the parse cache pull request checks reuse.
use std::path::Path;

use tempfile::TempDir;

use super::compile::{base_args, deps, run_checked};
use super::preflight;
use super::state::{PARSE_CACHE_DIR, PARSE_CACHE_FILE, PARSE_CACHE_META, ParseCacheMeta};
use super::{DbtError, Settings};

/// Where a deploy's dbt artifacts come from (leaving the state prefix alone is the caller's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactsMode {
    /// Run dbt (deps, compile or docs generate, and a parse for the check target) and publish the result.
    Build,
    /// Publish what the project's target folder already holds (an earlier step ran dbt).
    Existing,
}

/// The artifacts dbt leaves in the target folder that the environment's state is made of.
const ARTIFACTS: &[&str] = &["manifest.json", "run_results.json", "catalog.json"];

/// Builds (or takes) the artifacts and stages them in a temporary folder (deleted on drop) that the deploy
/// mirrors to the state prefix.
pub fn stage_for_deploy(settings: &Settings, mode: ArtifactsMode) -> Result<TempDir, DbtError> {
    let dir = temp_dir("dagship-dbt-publish-")?;
    // Where a parse made for the check target lands; dropped once its cache is staged.
    let parse_dir = temp_dir("dagship-dbt-parse-")?;
    let mut commands = Vec::new();
    let mut parse_cache = None;
    if mode == ArtifactsMode::Build {
        let preflight = preflight::check(settings)?;
        deps(settings, &preflight, &mut commands)?;
        let command = if settings.dbt.docs { "docs generate" } else { "compile" };
        let args = base_args(command, &settings.target, &settings.target_path, settings);
        let built = run_checked(settings, &preflight, &args, &mut commands)?;
        if settings.dbt.parse_cache {
            // dbt reuses a parse only for the same target, vars and profile values: make it with the check's.
            let (source, version) = if settings.check_target == settings.target {
                (settings.target_path.join(PARSE_CACHE_FILE), built.facts.dbt_version)
            } else {
                let args = base_args("parse", &settings.check_target, parse_dir.path(), settings);
                let parsed = run_checked(settings, &preflight, &args, &mut commands)?;
                (parse_dir.path().join(PARSE_CACHE_FILE), parsed.facts.dbt_version)
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
    if let Some((source, meta)) = parse_cache {
        let cache_dir = dir.path().join(PARSE_CACHE_DIR);
        std::fs::create_dir_all(&cache_dir).map_err(|err| DbtError::io(&cache_dir, err))?;
        copy_file(&source, &cache_dir.join(PARSE_CACHE_FILE))?;
        let meta_path = cache_dir.join(PARSE_CACHE_META);
        let json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
        std::fs::write(&meta_path, json).map_err(|err| DbtError::io(&meta_path, err))?;
    }
    Ok(dir)
}

fn temp_dir(prefix: &str) -> Result<TempDir, DbtError> {
    tempfile::Builder::new().prefix(prefix).tempdir().map_err(|err| DbtError::io(&std::env::temp_dir(), err))
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
