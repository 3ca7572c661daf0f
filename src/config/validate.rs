//! Checks that serde cannot express: globs compile, names are usable, paths stay inside the repository,
//! environments refer to each other correctly and bucket URLs fit their platform.
use std::collections::BTreeSet;

use super::key_path::Problem;
use super::{Config, DBT_CHECK_COMMANDS, DbtConfig, Environment, KeyPath, Platform, VerifyAuth};
use crate::glob::compile_glob;
use crate::output_keys::DETECT_KEYS;

pub fn validate(config: &Config) -> Result<(), Problem> {
    let root = KeyPath::root();
    check_relative_dir(&config.dags_dir, root.key("dags_dir"))?;
    if let Some(plugins_dir) = &config.plugins_dir {
        check_relative_dir(plugins_dir, root.key("plugins_dir"))?;
    }
    if let Some(data_dir) = &config.data_dir {
        check_relative_dir(data_dir, root.key("data_dir"))?;
    }
    if let Some(dbt) = &config.dbt {
        check_dbt(dbt, root.key("dbt"))?;
    }
    if let Some(branch) = &config.default_branch {
        check_not_blank(branch, root.key("default_branch"), "a branch name like main")?;
    }
    for (name, filter) in &config.filters {
        let at = root.key("filters").key(name.as_str());
        check_name(name, &at, "filter")?;
        if DETECT_KEYS.contains(&name.as_str()) {
            return Err(problem(
                at,
                format!("`{name}` is the name of an output dagship writes itself; rename the filter"),
            ));
        }
        if filter.paths.is_empty() {
            return Err(problem(at.key("paths"), "a filter needs at least one glob".into()));
        }
        if filter.paths.iter().all(|glob| glob.starts_with('!')) {
            return Err(problem(at, "a filter needs at least one glob that is not an exclusion (`!`)".into()));
        }
        check_globs(&filter.paths, &at, true)?;
    }
    let jobs = root.key("jobs");
    check_globs(&config.jobs.roots, &jobs.key("roots"), false)?;
    check_globs(&config.jobs.ignore, &jobs.key("ignore"), false)?;
    if config.jobs.marker.is_empty() || config.jobs.marker.contains('/') || config.jobs.marker == ".." {
        return Err(problem(
            jobs.key("marker"),
            "expected the name of a file or folder inside a job, like `tests`".into(),
        ));
    }
    check_environments(config)?;
    super::prefixes::check(config)?;
    config.dags_check.validate(root.key("dags_check"))?;
    let deploy = root.key("deploy");
    if let Some(exclude_from) = &config.deploy.exclude_from {
        check_relative_dir(exclude_from, deploy.key("exclude_from"))?;
    }
    check_globs(&config.deploy.protect, &deploy.key("protect"), false)?;
    if config.history.keep == 0 {
        // The record the marker names is never pruned, so keeping none would mean keeping one anyway.
        return Err(problem(
            root.key("history").key("keep"),
            "expected how many deploy records to keep, at least 1 (the default is 500)".into(),
        ));
    }
    if config.deploy.concurrency == 0 || config.deploy.concurrency > 512 {
        return Err(problem(deploy.key("concurrency"), "expected a number of parallel requests from 1 to 512".into()));
    }
    for (key, value) in [
        ("lock_timeout", &config.deploy.lock_timeout),
        ("lock_ttl", &config.deploy.lock_ttl),
        ("request_timeout", &config.deploy.request_timeout),
    ] {
        if let Err(err) = humantime::parse_duration(value) {
            return Err(problem(
                deploy.key(key),
                format!("{err}; expected a duration like \"90s\", \"10m\" or \"1h\""),
            ));
        }
    }
    // The lock's lease is renewed every quarter TTL and writes stop at half: below a second no request fits.
    if humantime::parse_duration(&config.deploy.lock_ttl).is_ok_and(|ttl| ttl < std::time::Duration::from_secs(1)) {
        return Err(problem(
            deploy.key("lock_ttl"),
            format!(
                "`{}` is too short for a lease renewed every quarter of it; use at least \"1s\" (default \"2m\")",
                config.deploy.lock_ttl
            ),
        ));
    }
    // A zero timeout fails every request; under a second no upload fits.
    if humantime::parse_duration(&config.deploy.request_timeout)
        .is_ok_and(|timeout| timeout < std::time::Duration::from_secs(1))
    {
        return Err(problem(
            deploy.key("request_timeout"),
            format!(
                "`{}` is too short for a request to the bucket; use at least \"1s\" (default \"20s\")",
                config.deploy.request_timeout
            ),
        ));
    }
    Ok(())
}

fn check_dbt(dbt: &DbtConfig, at: KeyPath) -> Result<(), Problem> {
    check_relative_dir(&dbt.project_dir, at.key("project_dir"))?;
    check_relative_dir(&dbt.state_prefix, at.key("state_prefix"))?;
    check_relative_dir(&dbt.exposures_dir, at.key("exposures_dir"))?;
    if let Some(prefix) = &dbt.exposures_prefix {
        check_relative_dir(prefix, at.key("exposures_prefix"))?;
    }
    if let Some(profiles_dir) = &dbt.profiles_dir {
        check_relative_dir(profiles_dir, at.key("profiles_dir"))?;
    }
    check_not_blank(&dbt.executable, at.key("executable"), "the dbt command, like `dbt` or a path to it")?;
    if dbt.selector.is_some() && (!dbt.exclude.is_empty() || dbt.select != DbtConfig::default().select) {
        return Err(problem(at.key("selector"), "`selector` replaces `select` and `exclude`; keep one of them".into()));
    }
    for (index, check) in dbt.checks.iter().enumerate() {
        if !DBT_CHECK_COMMANDS.contains(&check.command.as_str()) {
            return Err(problem(
                at.key("checks").index(index).key("command"),
                format!(
                    "`{}` is not a dbt command a check can run: expected one of {}",
                    check.command.escape_debug(),
                    DBT_CHECK_COMMANDS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn check_environments(config: &Config) -> Result<(), Problem> {
    let environments = KeyPath::root().key("environments");
    for (name, environment) in &config.environments {
        let at = environments.key(name.as_str());
        check_name(name, &at, "environment")?;
        check_bucket_url(&environment.bucket, environment.platform, at.key("bucket"))?;
        check_platform_settings(environment, &at)?;
        for (index, branch) in environment.branches.iter().enumerate() {
            check_not_blank(branch, at.key("branches").index(index), "a branch name")?;
        }
        if let Some(after) = &environment.after
            && !config.environments.contains_key(after)
        {
            let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(problem(
                at.key("after"),
                format!("unknown environment `{after}`; known environments: {}", known.join(", ")),
            ));
        }
    }
    // `after` chains must end: follow each one and refuse a loop.
    for start in config.environments.keys() {
        let mut seen = BTreeSet::new();
        let mut current = start;
        while let Some(next) = config.environments.get(current).and_then(|env| env.after.as_ref()) {
            if !seen.insert(current) {
                return Err(problem(
                    environments.key(start.as_str()).key("after"),
                    format!(
                        "`after` forms a loop through `{current}`; one environment of the chain must not have `after`"
                    ),
                ));
            }
            current = next;
        }
    }
    Ok(())
}

/// `mwaa` and `verify`: only where the platform has them, with names, paths and durations that work.
fn check_platform_settings(environment: &Environment, at: &KeyPath) -> Result<(), Problem> {
    if let Some(mwaa) = &environment.mwaa {
        let at = at.key("mwaa");
        if environment.platform != Platform::Mwaa {
            return Err(problem(at, "`mwaa` settings need `platform: mwaa`".into()));
        }
        let name = &mwaa.environment_name;
        let valid_name = name.len() <= 80
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(problem(
                at.key("environment_name"),
                format!(
                    "`{}` is not an MWAA environment name: a letter, then letters, digits, `-` or `_` (at most 80)",
                    name.escape_debug()
                ),
            ));
        }
        for (key, path) in [("requirements", &mwaa.requirements), ("startup_script", &mwaa.startup_script)] {
            if let Some(path) = path {
                check_relative_dir(path, at.key(key))?;
            }
        }
        let keys = at.key("keys");
        for (key, value) in [
            ("plugins", &mwaa.keys.plugins),
            ("requirements", &mwaa.keys.requirements),
            ("startup_script", &mwaa.keys.startup_script),
        ] {
            check_relative_dir(value, keys.key(key))?;
            if value.starts_with("dags/") {
                return Err(problem(keys.key(key), format!("`{value}` is inside `dags/`, which the DAG mirror owns")));
            }
        }
        check_duration(&mwaa.wait_timeout, at.key("wait_timeout"))?;
        check_duration(&mwaa.poll_interval, at.key("poll_interval"))?;
    }
    if let Some(verify) = &environment.verify {
        let at = at.key("verify");
        check_duration(&verify.timeout, at.key("timeout"))?;
        check_duration(&verify.poll_interval, at.key("poll_interval"))?;
        match (&verify.airflow_url, verify.auth) {
            (Some(url), VerifyAuth::Mwaa) => {
                return Err(problem(
                    at.key("airflow_url"),
                    format!("`auth: mwaa` reaches Airflow through MWAA's API; drop `airflow_url: {url}`"),
                ));
            }
            (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                return Err(problem(at.key("airflow_url"), format!("`{}` is not an http(s) URL", url.escape_debug())));
            }
            (None, VerifyAuth::Mwaa) if environment.mwaa.is_none() => {
                return Err(problem(at.key("auth"), "`auth: mwaa` needs the environment's `mwaa` settings".into()));
            }
            (None, auth) if auth != VerifyAuth::Mwaa => {
                return Err(problem(
                    at.key("airflow_url"),
                    "expected the Airflow web server URL (or `auth: mwaa` on an MWAA environment)".into(),
                ));
            }
            _ => {}
        }
        if verify.auth == VerifyAuth::Bearer && verify.token_env.as_deref().is_none_or(str::is_empty) {
            return Err(problem(
                at.key("token_env"),
                "`auth: bearer` needs `token_env`: the environment variable holding the token".into(),
            ));
        }
    }
    Ok(())
}

fn check_duration(value: &str, at: KeyPath) -> Result<(), Problem> {
    humantime::parse_duration(value)
        .map(drop)
        .map_err(|err| problem(at, format!("{err}; expected a duration like \"90s\", \"10m\" or \"1h\"")))
}

fn check_bucket_url(url: &str, platform: Platform, at: KeyPath) -> Result<(), Problem> {
    let (scheme, expected) = match platform {
        Platform::Composer => ("gs://", "gs://BUCKET[/PREFIX] for a Composer environment"),
        Platform::Mwaa => ("s3://", "s3://BUCKET[/PREFIX] for an MWAA environment"),
        Platform::Local => ("file://", "file://PATH for a local environment"),
    };
    // Before any message that quotes the URL: a password in it must not reach a log.
    if url.split('/').nth(2).is_some_and(|authority| authority.contains('@')) {
        return Err(problem(
            at,
            "the bucket URL holds credentials (`USER:PASSWORD@`): remove them from dagship.yml; credentials come \
             from the environment (Application Default Credentials, the AWS default chain)"
                .to_string(),
        ));
    }
    let Some(rest) = url.strip_prefix(scheme) else {
        return Err(problem(at, format!("`{}` is not a valid bucket URL: expected {expected}", url.escape_debug())));
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    if let Some(message) = super::bucket_name::bucket_name_problem(platform, bucket) {
        return Err(problem(at, message));
    }
    let bad_char = rest.chars().find(|c| c.is_control() || matches!(c, '\\' | '?' | '#' | '*' | '"' | '`' | '$'));
    if rest.is_empty() || bad_char.is_some() || rest.split('/').any(|part| part == "..") {
        return Err(problem(at, format!("`{}` is not a valid bucket URL: expected {expected}", url.escape_debug())));
    }
    Ok(())
}

fn check_name(name: &str, at: &KeyPath, what: &str) -> Result<(), Problem> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        return Ok(());
    }
    Err(problem(
        at.clone(),
        format!("`{}` is not a valid {what} name: use letters, digits, `_` and `-` (at most 100)", name.escape_debug()),
    ))
}

fn check_globs(globs: &[String], at: &KeyPath, allow_negation: bool) -> Result<(), Problem> {
    for (index, glob) in globs.iter().enumerate() {
        let at = at.index(index);
        let pattern = match glob.strip_prefix('!') {
            Some(_) if !allow_negation => {
                return Err(problem(at, format!("`{glob}`: `!` exclusions are only allowed in filters")));
            }
            Some(rest) => rest,
            None => glob.as_str(),
        };
        if pattern.starts_with('/') {
            return Err(problem(
                at,
                format!(
                    "glob `{glob}` starts with `/`: globs are relative to the repository root, drop the leading `/`"
                ),
            ));
        }
        compile_glob(pattern).map_err(|err| problem(at, format!("invalid glob `{glob}`: {err}")))?;
    }
    Ok(())
}

pub(super) fn check_relative_dir(path: &str, at: KeyPath) -> Result<(), Problem> {
    check_not_blank(path, at.clone(), "a path relative to the repository root")?;
    if path.starts_with('/') || path.split('/').any(|part| part == "..") || path.contains('\\') {
        return Err(problem(
            at,
            format!("`{path}` must be a path inside the repository, relative to its root, without `..`"),
        ));
    }
    Ok(())
}

fn check_not_blank(value: &str, at: KeyPath, expected: &str) -> Result<(), Problem> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(problem(at, format!("expected {expected}, found `{}`", value.escape_debug())));
    }
    Ok(())
}

fn problem(key_path: KeyPath, message: String) -> Problem {
    Problem { key_path, message }
}
