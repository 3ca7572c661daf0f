//! Checks made before dbt runs, so that a missing executable, an unsupported version or a missing profile is a
//! clear message (exit 2) instead of a Python traceback half-way through a check.
use std::path::{Path, PathBuf};

use super::{DbtError, Settings};

/// dbt-core versions whose CLI and artifacts dagship knows (`--favor-state`, `--log-format-file`, manifest v12).
const OLDEST_SUPPORTED: (u32, u32) = (1, 8);

/// The executable's path and, when it can be read cheaply, the installed dbt-core version.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub executable: PathBuf,
    pub version: Option<String>,
}

pub fn check(settings: &Settings) -> Result<Preflight, DbtError> {
    let executable = locate(&settings.dbt.executable, &settings.repo_root).ok_or_else(|| {
        DbtError::Setup(format!(
            "dbt executable `{}` not found on PATH; install dbt and the adapter your profile uses (`pip install \
             dbt-core {}`) or set `dbt.executable` in dagship.yml",
            settings.dbt.executable,
            adapter_packages(settings)
        ))
    })?;
    let python = python_behind(&executable);
    let version = python.as_deref().and_then(installed_version);
    if let Some(version) = &version {
        check_version(version)?;
    }
    let adapters = check_profile(settings)?;
    if let Some(python) = &python {
        check_adapters(python, &executable, &adapters)?;
    }
    Ok(Preflight { executable, version })
}

/// The adapters (profile `type`s) the targets dagship passes need must be importable next to dbt-core: dbt's own
/// error comes late and as a traceback ("Could not find adapter type snowflake!").
fn check_adapters(python: &str, executable: &Path, adapters: &[(String, String)]) -> Result<(), DbtError> {
    let script = "import importlib.util, sys\nfor name in sys.argv[1:]:\n    \
                  print(name if importlib.util.find_spec('dbt.adapters.' + name) is None else '')";
    let names: Vec<&str> = adapters.iter().map(|(_, adapter)| adapter.as_str()).collect();
    let Ok(output) = std::process::Command::new(python).arg("-c").arg(script).args(&names).output() else {
        return Ok(());
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = stdout.lines().filter(|line| !line.is_empty()).collect();
    let Some((target, adapter)) = adapters.iter().find(|(_, adapter)| missing.contains(&adapter.as_str())) else {
        return Ok(());
    };
    let image = std::env::var("DAGSHIP_DBT_ADAPTER")
        .map(|installed| {
            format!(
                " This image of the Action carries `{installed}`: use the image published for your adapter (README, \
                 \"Pick your dbt adapter\") or run dagship on the runner with the setup action."
            )
        })
        .unwrap_or_default();
    Err(DbtError::Setup(format!(
        "the dbt target `{target}` uses the adapter `{adapter}`, which is not installed next to dbt ({}): install \
         `dbt-{adapter}` into that Python.{image}",
        executable.display()
    )))
}

/// `dbt-duckdb` for a profile whose targets are DuckDB: the packages the targets dagship passes need, read from
/// the profile (a placeholder when it cannot be read).
fn adapter_packages(settings: &Settings) -> String {
    let mut packages: Vec<String> =
        check_profile(settings).unwrap_or_default().into_iter().map(|(_, adapter)| format!("dbt-{adapter}")).collect();
    packages.dedup();
    if packages.is_empty() { "dbt-<adapter of your profile>".into() } else { packages.join(" ") }
}

/// A name is looked up on PATH; anything with a `/` is a path (relative to the repository root).
fn locate(command: &str, repo_root: &Path) -> Option<PathBuf> {
    if command.contains('/') {
        let path = repo_root.join(command);
        return path.is_file().then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var).map(|dir| dir.join(command)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The Python behind a console script (its shebang); None for wrappers that are not Python scripts.
fn python_behind(executable: &Path) -> Option<String> {
    let head = std::fs::read(executable).ok()?;
    let first_line = head.split(|byte| *byte == b'\n').next()?;
    let shebang = std::str::from_utf8(first_line).ok()?.strip_prefix("#!")?;
    let mut words = shebang.split_whitespace();
    let mut interpreter = words.next()?;
    if interpreter.ends_with("/env") {
        interpreter = words.find(|word| !word.starts_with('-'))?;
    }
    interpreter.contains("python").then(|| interpreter.to_string())
}

/// `dbt --version` takes two seconds (it imports every adapter and asks PyPI for news); the Python behind a
/// console script answers from package metadata in 50 ms.
fn installed_version(python: &str) -> Option<String> {
    let output = std::process::Command::new(python)
        .args(["-c", "import importlib.metadata as m; print(m.version('dbt-core'))"])
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The folders dbt looks for profiles.yml in, in its order.
fn profile_dirs(settings: &Settings) -> Vec<PathBuf> {
    match &settings.profiles_dir {
        Some(dir) => vec![dir.clone()],
        None => std::env::var_os("DBT_PROFILES_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain([settings.project_dir.clone()])
            .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".dbt")))
            .collect(),
    }
}

/// The profiles.yml dbt will read, when there is one.
pub fn profiles_file(settings: &Settings) -> Option<PathBuf> {
    profile_dirs(settings).iter().map(|dir| dir.join("profiles.yml")).find(|file| file.is_file())
}

pub fn check_version(version: &str) -> Result<(), DbtError> {
    let mut parts = version.split('.').map(|part| part.chars().take_while(char::is_ascii_digit).collect::<String>());
    let major: u32 = parts.next().and_then(|part| part.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|part| part.parse().ok()).unwrap_or(0);
    if (major, minor) < OLDEST_SUPPORTED || major >= 2 {
        return Err(DbtError::Setup(format!(
            "dbt-core {version} is not supported: dagship runs dbt-core 1.{}..1.x (tested with 1.11); install one, \
             e.g. `pip install 'dbt-core~=1.11.0'`",
            OLDEST_SUPPORTED.1
        )));
    }
    Ok(())
}

/// The profile named by dbt_project.yml must exist with the targets dagship will pass, in the profiles.yml dbt
/// will read (`--profiles-dir`, DBT_PROFILES_DIR, the project folder, then ~/.dbt, as dbt looks).
/// Returns the (target, adapter type) pairs of the targets dagship passes.
fn check_profile(settings: &Settings) -> Result<Vec<(String, String)>, DbtError> {
    let candidates = profile_dirs(settings);
    let Some(file) = profiles_file(settings) else {
        let looked: Vec<String> = candidates.iter().map(|dir| dir.display().to_string()).collect();
        return Err(DbtError::Setup(format!(
            "no profiles.yml found (looked in {}); set `dbt.profiles_dir` in dagship.yml or DBT_PROFILES_DIR",
            looked.join(", ")
        )));
    };
    let text = std::fs::read_to_string(&file).map_err(|err| DbtError::Setup(format!("{}: {err}", file.display())))?;
    let profiles: serde_json::Value =
        yaml_serde::from_str(&text).map_err(|err| DbtError::Setup(format!("{}: {err}", file.display())))?;
    let Some(profile) = profiles.get(&settings.profile) else {
        return Err(DbtError::Setup(format!(
            "{}: no profile `{}` (the `profile` of dbt_project.yml); add it or point `dbt.profiles_dir` elsewhere",
            file.display(),
            settings.profile
        )));
    };
    let mut adapters = Vec::new();
    if let Some(outputs) = profile.get("outputs").and_then(|outputs| outputs.as_object()) {
        for target in [&settings.target, &settings.check_target] {
            if let Some(adapter) = outputs.get(target.as_str()).and_then(|output| output.get("type")?.as_str()) {
                adapters.push((target.to_string(), adapter.to_string()));
            }
            if !outputs.contains_key(target.as_str()) {
                let known: Vec<&str> = outputs.keys().map(String::as_str).collect();
                return Err(DbtError::Setup(format!(
                    "{}: profile `{}` has no target `{target}` (environment `{}`); its targets: {}",
                    file.display(),
                    settings.profile,
                    settings.environment,
                    known.join(", ")
                )));
            }
        }
    }
    Ok(adapters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_outside_the_supported_range_are_refused() {
        assert!(check_version("1.11.16").is_ok());
        assert!(check_version("1.8.0rc1").is_ok());
        assert!(check_version("1.7.9").is_err());
        assert!(check_version("2.0.0-preview.1").is_err());
        assert!(check_version("garbage").is_err());
    }
}
