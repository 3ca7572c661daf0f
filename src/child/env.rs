//! The environment of a child that runs a pull request's code (a DAG import, dbt): built from an allow-list,
//! never inherited whole. dagship's own environment holds the GitHub token (`INPUT_GITHUB-TOKEN`), the runner's
//! file-command paths (`GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`), the runtime and
//! OIDC request tokens (`ACTIONS_*`) and the deploy credentials; a DAG file or a dbt macro could read or use any
//! of them.
//!
//! What a child gets:
//! - both: the system basics (PATH, HOME, user, locale, time zone, temp dirs), proxies and CA bundles,
//!   `PYTHON*`, the virtualenv/conda markers and `DO_NOT_TRACK`;
//! - dbt also: its own settings and secrets (`DBT_*`, dbt's convention for secrets is `DBT_ENV_SECRET_*`) and
//!   the credential variables of the warehouse adapters (`GOOGLE_*`/`CLOUDSDK_*` for BigQuery, `AWS_*` for
//!   Athena/Redshift, `AZURE_*`, `SNOWFLAKE_*`, `DATABRICKS_*`, libpq's `PG*`): dbt needs its warehouse;
//! - the DAG check needs no cloud at all: no credentials; `AIRFLOW_*` from the runner is not passed either
//!   (connections and secret backends hold passwords); `dags_check.env` sets what DAG files read at import;
//! - the variables the caller names (the ones dbt's profiles.yml reads with `env_var()`);
//! - and, last, the user's `dbt.env` / `dags_check.env` from dagship.yml.
//!
//! Never, whoever asks (a name from a pull request's profiles.yml included): `GITHUB_*`, `INPUT_*`,
//! `ACTIONS_*`, `RUNNER_*`, the loader's `LD_PRELOAD`/`LD_AUDIT`, nor any variable whose value is a
//! registered secret (the token under another name).
use std::collections::BTreeMap;
use std::ffi::OsString;

/// What the child is for: it decides which credentials it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    DagCheck,
    Dbt,
}

const BASIC_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TZDIR",
    "TMPDIR",
    "TMP",
    "TEMP",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "LD_LIBRARY_PATH",
    "pythonLocation",
    "Python_ROOT_DIR",
    "Python3_ROOT_DIR",
    "DO_NOT_TRACK",
];
const BASIC_PREFIXES: &[&str] = &["LC_", "PYTHON"];
const DBT_PREFIXES: &[&str] =
    &["DBT_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "AWS_", "AZURE_", "SNOWFLAKE_", "DATABRICKS_", "PG"];
/// Never passed, whoever names them.
const DENIED_PREFIXES: &[&str] = &["GITHUB_", "INPUT_", "ACTIONS_", "RUNNER_"];
const DENIED_NAMES: &[&str] = &["LD_PRELOAD", "LD_AUDIT", "CI", "GITHUB_TOKEN"];

/// Whether `name` may reach a child at all.
pub fn denied(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    DENIED_PREFIXES.iter().any(|prefix| upper.starts_with(prefix)) || DENIED_NAMES.contains(&upper.as_str())
}

fn allowed(purpose: Purpose, name: &str, named: &[String]) -> bool {
    if denied(name) {
        return false;
    }
    let by_prefix = |prefixes: &[&str]| prefixes.iter().any(|prefix| name.starts_with(prefix));
    BASIC_NAMES.contains(&name)
        || by_prefix(BASIC_PREFIXES)
        || (purpose == Purpose::Dbt && by_prefix(DBT_PREFIXES))
        || named.iter().any(|wanted| wanted == name)
}

/// The environment for a child: the allowed part of `from` (dagship's own environment), then `configured`
/// (dagship.yml's `env`, which wins). Use with `Command::env_clear().envs(..)`.
pub fn build(
    purpose: Purpose,
    from: impl IntoIterator<Item = (OsString, OsString)>,
    named: &[String],
    configured: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    for (name, value) in from {
        let Some(text) = name.to_str() else { continue };
        let carries_secret = value.to_str().is_some_and(crate::redact::is_registered);
        if allowed(purpose, text, named) && !carries_secret {
            env.insert(name, value);
        }
    }
    for (name, value) in configured {
        if !denied(name) {
            env.insert(name.into(), value.into());
        }
    }
    env.into_iter().collect()
}

/// [`build`] from dagship's own environment.
pub fn for_child(
    purpose: Purpose,
    named: &[String],
    configured: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    build(purpose, std::env::vars_os(), named, configured)
}

/// The variables a dbt YAML file reads with `env_var('NAME')` (profiles.yml, dbt_project.yml): dbt fails at
/// once when one without a default is missing, so the child gets them (unless denied above).
pub fn env_var_names(yaml: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = yaml;
    while let Some(start) = rest.find("env_var(") {
        rest = &rest[start + "env_var(".len()..];
        let trimmed = rest.trim_start();
        let Some(quote) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') else { continue };
        let inner = &trimmed[1..];
        if let Some(end) = inner.find(quote) {
            let name = &inner[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(name, value)| (OsString::from(name), OsString::from(value))).collect()
    }

    #[test]
    fn the_token_file_commands_and_runtime_never_pass() {
        let from = vars(&[
            ("PATH", "/usr/bin"),
            ("INPUT_GITHUB-TOKEN", "ghs_x"),
            ("GITHUB_TOKEN", "ghs_x"),
            ("GITHUB_OUTPUT", "/o"),
            ("GITHUB_ENV", "/e"),
            ("GITHUB_PATH", "/p"),
            ("GITHUB_STEP_SUMMARY", "/s"),
            ("ACTIONS_RUNTIME_TOKEN", "r"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "i"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/key.json"),
            ("DBT_ENV_SECRET_PASSWORD", "pw"),
            ("AIRFLOW_CONN_WAREHOUSE", "postgres://u:p@h"),
            ("WAREHOUSE_DIR", "/w"),
            ("LC_ALL", "C.UTF-8"),
        ]);
        let named = vec!["WAREHOUSE_DIR".to_string(), "GITHUB_OUTPUT".to_string()];
        let configured: BTreeMap<String, String> =
            [("REGION".to_string(), "eu".to_string()), ("GITHUB_ENV".to_string(), "/x".to_string())].into();
        let names = |purpose| -> Vec<String> {
            build(purpose, from.clone(), &named, &configured)
                .into_iter()
                .map(|(name, _)| name.into_string().unwrap())
                .collect()
        };
        assert_eq!(names(Purpose::DagCheck), ["LC_ALL", "PATH", "REGION", "WAREHOUSE_DIR"]);
        assert_eq!(
            names(Purpose::Dbt),
            [
                "AWS_SECRET_ACCESS_KEY",
                "DBT_ENV_SECRET_PASSWORD",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "LC_ALL",
                "PATH",
                "REGION",
                "WAREHOUSE_DIR"
            ]
        );
    }

    #[test]
    fn env_var_calls_are_found() {
        let yaml =
            "path: \"{{ env_var('DUCK_DIR', 'target') }}\"\npassword: \"{{ env_var( \"PW\" ) }}\"\nx: env_var(bad)";
        assert_eq!(env_var_names(yaml), ["DUCK_DIR", "PW"]);
    }
}
