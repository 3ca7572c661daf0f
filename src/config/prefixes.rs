//! The bucket prefixes one environment's deploy owns or reads must not overlap in ways that make one of them
//! delete or overwrite another: a mirror (`dags/`, `plugins/`, `data/`) may hold a deeper prefix dagship reads or
//! owns (the dbt state, the exposures), which it then leaves alone, but no prefix may be or contain a mirror's
//! prefix, or dagship's own records. Two environments on one bucket and prefix would mirror over each other.
use super::key_path::Problem;
use super::{Config, KeyPath, Platform};

/// dagship's own records (lock, marker) under every environment URL.
pub const RECORDS_PREFIX: &str = ".dagship/";

/// A prefix (with `/`) a deploy of the config uses, and the key that sets it.
struct Used {
    prefix: String,
    key: KeyPath,
    /// Mirrored with deletions (`dags/`, `plugins/`, `data/`); otherwise a prefix dagship reads or owns inside them.
    mirror: bool,
}

fn prefixes(config: &Config) -> Vec<Used> {
    let root = KeyPath::root();
    let used = |prefix: String, key: KeyPath, mirror: bool| Used { prefix, key, mirror };
    let mut prefixes = vec![used("dags/".into(), root.key("dags_dir"), true)];
    if config.plugins_dir.is_some() {
        prefixes.push(used("plugins/".into(), root.key("plugins_dir"), true));
    }
    if config.data_dir.is_some() {
        prefixes.push(used("data/".into(), root.key("data_dir"), true));
    }
    if let Some(dbt) = &config.dbt {
        prefixes.push(used(with_slash(&dbt.state_prefix), root.key("dbt").key("state_prefix"), false));
        if let Some(exposures) = &dbt.exposures_prefix {
            prefixes.push(used(with_slash(exposures), root.key("dbt").key("exposures_prefix"), false));
        }
    }
    prefixes
}

fn with_slash(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("{trimmed}/") }
}

pub fn check(config: &Config) -> Result<(), Problem> {
    let prefixes = prefixes(config);
    for (index, used) in prefixes.iter().enumerate() {
        let prefix = &used.prefix;
        if RECORDS_PREFIX.starts_with(prefix.as_str()) || prefix.starts_with(RECORDS_PREFIX) {
            return Err(Problem {
                key_path: used.key.clone(),
                message: format!("`{prefix}` overlaps `{RECORDS_PREFIX}`, where dagship keeps its lock and marker"),
            });
        }
        // A read prefix may sit inside a mirror; it may not be another prefix, nor hold a mirror. (The mirrors'
        // own prefixes are fixed and distinct.)
        let clash = prefixes.iter().enumerate().find(|(other_index, other)| {
            *other_index != index
                && !used.mirror
                && (other.prefix == *prefix || (other.mirror && other.prefix.starts_with(prefix.as_str())))
        });
        if let Some((_, other)) = clash {
            return Err(Problem {
                key_path: used.key.clone(),
                message: format!(
                    "`{prefix}` overlaps `{}` (set by `{}`): a deploy would delete or overwrite one with the other. \
                     Give it its own prefix, e.g. `data/target`",
                    other.prefix, other.key
                ),
            });
        }
    }
    check_shared_buckets(config)?;
    check_mwaa_plugins(config)
}

/// Two environments deploying to one bucket and prefix would each delete what the other wrote.
fn check_shared_buckets(config: &Config) -> Result<(), Problem> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for (name, environment) in &config.environments {
        let url = format!("{}/", environment.bucket.trim_end_matches('/'));
        if let Some((_, first)) = seen.iter().find(|(other, _)| *other == url) {
            return Err(Problem {
                key_path: KeyPath::root().key("environments").key(name.as_str()).key("bucket"),
                message: format!(
                    "`{}` is also environment `{first}`'s bucket: two environments on one bucket need different \
                     prefixes (`gs://bucket/stg`, `gs://bucket/prod`)",
                    environment.bucket
                ),
            });
        }
        seen.push((url, name));
    }
    Ok(())
}

/// MWAA reads plugins only from plugins.zip, which only the `mwaa` step builds: without it the plugins would
/// silently not be deployed.
fn check_mwaa_plugins(config: &Config) -> Result<(), Problem> {
    let Some(plugins_dir) = &config.plugins_dir else { return Ok(()) };
    for (name, environment) in &config.environments {
        if environment.platform == Platform::Mwaa && environment.mwaa.is_none() {
            return Err(Problem {
                key_path: KeyPath::root().key("environments").key(name.as_str()),
                message: format!(
                    "`plugins_dir: {plugins_dir}` cannot reach MWAA environment `{name}`: MWAA reads plugins only \
                     from plugins.zip, which dagship builds and installs with an `mwaa:` block (environment_name, \
                     ...). Add one, or remove plugins_dir"
                ),
            });
        }
    }
    Ok(())
}
