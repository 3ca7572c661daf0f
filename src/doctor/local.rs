//! The checks that need no network: the git history, dbt and Airflow.
use std::path::Path;
use std::process::Command;

use super::Check;
use crate::config::Config;
use crate::git::Git;

/// Enough history to compare a change with the default branch: a HEAD commit, the base found, and their
/// merge-base reachable (a shallow clone without it gives wrong ranges unless dagship can deepen it).
pub fn git_history(git: Option<&Git>, config: &Config) -> Check {
    const CHECK: &str = "git history";
    let Some(git) = git else {
        return Check::fail(CHECK, "not a git repository", "run dagship inside the repository's clone");
    };
    let head = match git.resolve_commit("HEAD") {
        Ok(Some(head)) => head,
        _ => return Check::fail(CHECK, "no commit yet", "commit the repository, then run doctor again"),
    };
    let remote_default = git.remote_default_branch("origin").ok().flatten();
    let base = config.default_branch.clone().or(remote_default).unwrap_or_else(|| "main".into());
    let shallow = git.is_shallow().unwrap_or(false);
    let candidates = [format!("origin/{base}"), base.clone()];
    let resolved = candidates.iter().find_map(|rev| git.resolve_commit(rev).ok().flatten().map(|commit| (rev, commit)));
    let Some((rev, base_commit)) = resolved else {
        return Check::fail(
            CHECK,
            format!("the default branch `{base}` is not in this clone"),
            format!("fetch it (`git fetch origin {base}`), or set `default_branch` in dagship.yml"),
        );
    };
    match git.merge_base(&base_commit, &head) {
        Ok(Some(merge_base)) => {
            let depth = if shallow { "a shallow clone, deep enough" } else { "full history" };
            Check::pass(CHECK, format!("{depth}; HEAD and `{rev}` meet at {}", short(&merge_base)))
        }
        _ if shallow => Check::fail(
            CHECK,
            format!("a shallow clone: the merge-base of HEAD and `{rev}` is not in it"),
            "check out with `fetch-depth: 0` (actions/checkout), or `git fetch --unshallow`",
        ),
        _ => Check::fail(
            CHECK,
            format!("HEAD and `{rev}` share no history"),
            "set `default_branch` in dagship.yml to the branch pull requests target",
        ),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// dbt as each environment's run would find it: the executable, its version, the profile and targets, and the
/// adapter the targets need (dbt's own preflight, the one a compile runs first).
pub fn dbt(root: &Path, config: &Config, environments: &[String]) -> Vec<Check> {
    const CHECK: &str = "dbt";
    if config.dbt.is_none() {
        return vec![Check::skip(CHECK, "no `dbt` section in dagship.yml")];
    }
    environments
        .iter()
        .map(|environment| {
            let settings = match crate::dbt::Settings::resolve(root, config, environment, None) {
                Ok(settings) => settings,
                Err(err) => {
                    return Check::fail(CHECK, err.to_string(), "fix the `dbt` key named above").of(environment);
                }
            };
            match crate::dbt::preflight(&settings) {
                Ok(found) => {
                    let version =
                        found.version.map_or_else(|| "version unknown".into(), |version| format!("dbt-core {version}"));
                    let targets = if settings.target == settings.check_target {
                        format!("target `{}`", settings.target)
                    } else {
                        format!("targets `{}` and `{}`", settings.target, settings.check_target)
                    };
                    Check::pass(
                        CHECK,
                        format!(
                            "{version} at {}; profile `{}` with {targets}",
                            found.executable.display(),
                            settings.profile
                        ),
                    )
                    .of(environment)
                }
                Err(err) => {
                    let fix = dbt_fix(&settings);
                    Check::fail(CHECK, err.to_string(), fix).of(environment)
                }
            }
        })
        .collect()
}

/// The install line for the adapter the environment's target uses (read from the profile dbt will read), so a
/// DuckDB project is told to install dbt-duckdb.
fn dbt_fix(settings: &crate::dbt::Settings) -> String {
    let adapter = crate::dbt::profiles_file(settings)
        .and_then(|file| std::fs::read_to_string(file).ok())
        .and_then(|text| yaml_serde::from_str::<serde_json::Value>(&text).ok())
        .and_then(|profiles| {
            let outputs = profiles.get(&settings.profile)?.get("outputs")?;
            Some(outputs.get(&settings.target)?.get("type")?.as_str()?.to_string())
        });
    match adapter {
        Some(adapter) => format!(
            "install dbt with the adapter of target `{}`: `pip install dbt-core dbt-{adapter}` (or set \
             `dbt.executable`); then check the profile and target named above",
            settings.target
        ),
        None => "install dbt-core and your adapter (`pip install dbt-core dbt-<adapter>`) or set `dbt.executable`; \
                 then check the profile and target named above"
            .into(),
    }
}

/// Airflow importable by the Python the DAG check uses, with its version.
pub fn airflow(root: &Path, config: &Config) -> Check {
    const CHECK: &str = "airflow";
    let settings = &config.dags_check;
    if let Some(requirements) = &settings.requirements {
        let text = std::fs::read_to_string(root.join(requirements)).unwrap_or_default();
        let pin = text.lines().map(str::trim).find(|line| line.starts_with("apache-airflow"));
        return match pin {
            Some(pin) => Check::pass(
                CHECK,
                format!(
                    "`{pin}` from dags_check.requirements `{requirements}`, installed into a cached venv by the DAG check"
                ),
            ),
            None => Check::fail(
                CHECK,
                format!("dags_check.requirements `{requirements}` is missing or pins no apache-airflow"),
                "commit a requirements file with `apache-airflow==<your environment's version>` and its providers",
            ),
        };
    }
    let python = if settings.python.contains('/') {
        root.join(&settings.python).display().to_string()
    } else {
        settings.python.clone()
    };
    let fix = "point `dags_check.python` at a Python with your Airflow, or set `dags_check.requirements` to a file \
               pinning apache-airflow (dagship installs it)";
    // A fresh AIRFLOW_HOME: importing Airflow must not create or read ~/airflow.
    let home = tempfile::tempdir().ok();
    let mut command = Command::new(&python);
    command.args(["-c", "import airflow; print(airflow.__version__)"]);
    if let Some(home) = &home {
        command.env("AIRFLOW_HOME", home.path());
    }
    match command.output() {
        Err(err) => Check::fail(CHECK, format!("cannot run `{python}` (dags_check.python): {err}"), fix),
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_string();
            Check::pass(CHECK, format!("Airflow {version} importable by `{python}`"))
        }
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no output").trim();
            Check::fail(CHECK, format!("`{python}` cannot import airflow: {last}"), fix)
        }
    }
}
