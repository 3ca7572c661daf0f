//! `dags_check.requirements`: the team's Airflow, providers and DAG imports, installed into a venv that dagship
//! keeps in its cache folder, keyed by the content of the requirements file and of the files it names with
//! `-c`/`-r` (Airflow's constraints). This is how the DAG check runs inside the Action's container, where no
//! earlier step of the job can install anything: the image carries uv, which installs Airflow in seconds.
//! Without uv on PATH (a laptop), `python3 -m venv` and pip do the same, slower.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::DagsError;
use crate::hash::Md5;
use crate::notice::{Level, announce};

/// Written last: a venv without it is a half-finished install and is made again.
const READY_MARKER: &str = ".dagship-ready";
/// Bumped when the way venvs are made changes, so old ones are not reused.
const LAYOUT_VERSION: &str = "1";
/// The interpreter the venv is made from.
const BASE_PYTHON: &str = "python3";
/// Installer output lines kept in an error.
const TAIL_LINES: usize = 30;

/// The venv's Python for `requirements` (relative to `root`), installing it first when the cache has none.
pub fn requirements_python(root: &Path, requirements: &str) -> Result<PathBuf, DagsError> {
    let file = root.join(requirements);
    let content = std::fs::read(&file).map_err(|err| {
        DagsError::Setup(format!(
            "cannot read dags_check.requirements `{requirements}` ({err}): commit a requirements file with \
             apache-airflow (the version your environment runs), its providers and the packages the DAGs import"
        ))
    })?;
    let folder = file.parent().unwrap_or(root).to_path_buf();
    let venv = cache_dir().join("venvs").join(cache_key(&folder, &content));
    let python = venv.join("bin").join("python");
    if venv.join(READY_MARKER).is_file() && python.exists() {
        return Ok(python);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(|err| DagsError::io(&venv, err))?;
    }
    let parent = venv.parent().unwrap_or(&venv);
    std::fs::create_dir_all(parent).map_err(|err| DagsError::io(parent, err))?;
    let installer = if on_path("uv") { "uv" } else { "pip" };
    announce(
        Level::Notice,
        &format!(
            "installing dags_check.requirements `{requirements}` into the cached venv {} with {installer} (once per \
             content of the file and its constraints)",
            venv.display()
        ),
    );
    let uv = installer == "uv";
    let mut create = Command::new(if uv { "uv" } else { BASE_PYTHON });
    if uv {
        create.args(["venv", "--quiet", "--python", BASE_PYTHON]);
    } else {
        create.args(["-m", "venv"]);
    }
    create.arg(&venv);
    let mut install = Command::new(if uv { Path::new("uv") } else { python.as_path() });
    if uv {
        install.args(["pip", "install", "--quiet", "--python"]).arg(&python);
    } else {
        install.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]);
    }
    install.arg("-r").arg(&file);
    for mut step in [create, install] {
        // Relative `-c`/`-r` paths in the file are relative to its folder.
        step.current_dir(&folder).stdin(Stdio::null());
        let output = step.output().map_err(|err| {
            DagsError::Setup(format!(
                "cannot run {installer} to install dags_check.requirements `{requirements}`: {err}"
            ))
        })?;
        if !output.status.success() {
            return Err(DagsError::Setup(install_failure(requirements, installer, &output)));
        }
    }
    std::fs::write(venv.join(READY_MARKER), requirements).map_err(|err| DagsError::io(&venv, err))?;
    Ok(python)
}

/// `DAGSHIP_CACHE_DIR`, else `$XDG_CACHE_HOME/dagship`, else `~/.cache/dagship`. In the Action's container HOME is
/// /github/home, which lives as long as the job (cache it with actions/cache across jobs).
fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    var("DAGSHIP_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("dagship")))
        .or_else(|| var("HOME").map(|dir| dir.join(".cache").join("dagship")))
        .unwrap_or_else(|| std::env::temp_dir().join("dagship-cache"))
}

/// The cache key: the requirements, the local files they name with `-c`/`-r` (one level), the base Python.
fn cache_key(folder: &Path, content: &[u8]) -> String {
    let mut material = format!("{LAYOUT_VERSION}\0{BASE_PYTHON}\0").into_bytes();
    material.extend_from_slice(content);
    for named in named_files(&String::from_utf8_lossy(content)) {
        material.push(0);
        material.extend_from_slice(named.as_bytes());
        material.push(0);
        material.extend(std::fs::read(folder.join(&named)).unwrap_or_default());
    }
    Md5::of_bytes(&material).to_hex()
}

/// The local paths after `-c`, `-r`, `--constraint` and `--requirement` (URLs are part of the content already).
fn named_files(requirements: &str) -> Vec<String> {
    requirements
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = ["--constraint", "--requirement", "-c", "-r"]
                .iter()
                .find_map(|flag| line.strip_prefix(flag))?
                .trim_start_matches('=')
                .trim();
            (!rest.is_empty() && !rest.contains("://")).then(|| rest.to_string())
        })
        .collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn install_failure(requirements: &str, installer: &str, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    format!(
        "{installer} could not install dags_check.requirements `{requirements}` ({}): fix the requirements (pin \
         apache-airflow to your environment's version and add `-c` with Airflow's constraints file); its output:\n\
         {tail}",
        output.status
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_and_nested_files_are_part_of_the_key_urls_are_not_read() {
        let text = "apache-airflow==3.1.8\n-c constraints.txt\n--requirement=dags.txt\n-c https://x/c.txt\n";
        assert_eq!(named_files(text), vec!["constraints.txt".to_string(), "dags.txt".to_string()]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("constraints.txt"), "a==1\n").unwrap();
        let before = cache_key(dir.path(), text.as_bytes());
        std::fs::write(dir.path().join("constraints.txt"), "a==2\n").unwrap();
        assert_ne!(before, cache_key(dir.path(), text.as_bytes()), "a changed constraint must make a new venv");
    }
}
