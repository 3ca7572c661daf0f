//! The check as a library call: the config and the repository in, a report out. `dagship dags check` and the
//! pull request flow (`dagship ci`) both call `check`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{CheckRequest, DagsError, DagsReport, RunFacts, Scope, build_report, run_checker};
use crate::config::Config;

/// Imports the DAGs folder (or, with `only`, the listed repository-relative files inside it) with the
/// configured Python + Airflow.
pub fn check(root: &Path, config: &Config, only: Option<&[String]>) -> Result<DagsReport, DagsError> {
    check_with(root, config, only, None)
}

/// `check` with the interpreter overridden (`--python`).
pub fn check_with(
    root: &Path,
    config: &Config,
    only: Option<&[String]>,
    python: Option<&str>,
) -> Result<DagsReport, DagsError> {
    let settings = &config.dags_check;
    let dags_folder = root.join(&config.dags_dir);
    if !dags_folder.is_dir() {
        return Err(DagsError::Setup(format!(
            "the DAGs folder `{}` (dags_dir in dagship.yml) does not exist in {}",
            config.dags_dir,
            root.display()
        )));
    }
    let plugins_folder = config.plugins_dir.as_ref().map(|dir| root.join(dir)).filter(|dir| dir.is_dir());
    // Composer and MWAA put the plugins folder on sys.path; so does the check, before the configured folders.
    let mut pythonpath: Vec<PathBuf> = plugins_folder.iter().cloned().collect();
    pythonpath.extend(settings.pythonpath.iter().map(|dir| root.join(dir)));
    // --python wins; then the venv of dags_check.requirements (installed once per content); then dags_check.python.
    let python = match (python, &settings.requirements) {
        (Some(python), _) => python.to_string(),
        (None, Some(requirements)) => super::venv::requirements_python(root, requirements)?.display().to_string(),
        (None, None) => settings.python.clone(),
    };
    let files = only.map(|paths| dag_files(root, &config.dags_dir, paths));
    let request = CheckRequest {
        root: root.to_path_buf(),
        dags_folder: dags_folder.clone(),
        dags_dir: config.dags_dir.trim_end_matches('/').to_string(),
        python: python.clone(),
        pythonpath,
        plugins_folder,
        env: settings.env.clone(),
        airflow_home: settings.airflow_home.as_ref().map(|home| root.join(home)),
        file_timeout: settings.file_timeout(),
        files,
    };
    let started = Instant::now();
    let output = run_checker(&request)?;
    let facts = RunFacts {
        root,
        dags_folder: &dags_folder,
        dags_dir: &request.dags_dir,
        python: &python,
        scope: if only.is_some() { Scope::Changed } else { Scope::All },
        slow_import_threshold: settings.slow_import_threshold(),
        file_timeout: request.file_timeout,
        took: started.elapsed(),
    };
    Ok(build_report(output, &facts))
}

/// `check` of a commit's DAG files rather than the work tree's: the DAGs and plugins folders and
/// `dags_check.pythonpath` staged from `commit` by git (src/deploy/commit_source.rs), imported with the
/// repository's interpreter. A pull request's base versions and a deploy's staged commit are checked this way.
pub fn check_at_commit(
    root: &Path,
    config: &Config,
    commit: &str,
    only: Option<&[String]>,
) -> Result<DagsReport, DagsError> {
    let mut folders = vec![config.dags_dir.clone()];
    folders.extend(config.plugins_dir.clone());
    folders.extend(config.dags_check.pythonpath.iter().cloned());
    let staged = crate::deploy::stage_folders(root, commit, folders)
        .map_err(|err| DagsError::Setup(format!("cannot stage the DAG files of commit {commit}: {err}")))?;
    let python = interpreter(root, config)?;
    check_with(staged.root(), config, only, Some(&python))
}

/// The interpreter the repository's check uses, resolved from the repository (a staged commit has no venv nor
/// requirements file of its own).
fn interpreter(root: &Path, config: &Config) -> Result<String, DagsError> {
    let settings = &config.dags_check;
    let python = match &settings.requirements {
        Some(requirements) => super::venv::requirements_python(root, requirements)?,
        None if settings.python.contains('/') => root.join(&settings.python),
        None => settings.python.clone().into(),
    };
    Ok(python.display().to_string())
}

/// The files of `paths` Airflow could parse: inside the DAGs folder, `.py` or `.zip`, still present (a deleted
/// file has nothing to import).
fn dag_files(root: &Path, dags_dir: &str, paths: &[String]) -> Vec<PathBuf> {
    let prefix = format!("{}/", dags_dir.trim_end_matches('/'));
    let mut files: Vec<PathBuf> = paths
        .iter()
        .filter(|path| path.starts_with(&prefix) && (path.ends_with(".py") || path.ends_with(".zip")))
        .map(|path| root.join(path))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files.dedup();
    files
}
