//! The bucket prefixes one environment's deploy owns or reads must not overlap in ways that make one of them
//! delete or overwrite another: a mirror (`dags/`, `plugins/`, `data/`) may hold a deeper prefix dagship reads or
//! owns (the dbt state, the exposures), which it then leaves alone, but no prefix may be or contain a mirror's
//! prefix, or dagship's own records. Two environments on one bucket and prefix would mirror over each other.
use super::validate::Problem;
use super::{Config, KeyPath, Platform};

/// dagship's own records (lock, marker) under every environment URL.
const RECORDS_PREFIX: &str = ".dagship/";

/// The prefixes (with `/`) every deploy of `config` uses, with the key that sets each.
fn prefixes(config: &Config) -> Vec<(String, KeyPath)> {
    let root = KeyPath::root();
    let mut prefixes = vec![("dags/".to_string(), root.key("dags_dir"))];
    if config.plugins_dir.is_some() {
        prefixes.push(("plugins/".into(), root.key("plugins_dir")));
    }
    if config.data_dir.is_some() {
        prefixes.push(("data/".into(), root.key("data_dir")));
    }
    if let Some(dbt) = &config.dbt {
        prefixes.push((with_slash(&dbt.state_prefix), root.key("dbt").key("state_prefix")));
        if let Some(exposures) = &dbt.exposures_prefix {
            prefixes.push((with_slash(exposures), root.key("dbt").key("exposures_prefix")));
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
    let mirrors = 1 + usize::from(config.plugins_dir.is_some()) + usize::from(config.data_dir.is_some());
    for (index, (prefix, key)) in prefixes.iter().enumerate() {
        if RECORDS_PREFIX.starts_with(prefix.as_str()) || prefix.starts_with(RECORDS_PREFIX) {
            return Err(Problem {
                key_path: key.clone(),
                message: format!("`{prefix}` overlaps `{RECORDS_PREFIX}`, where dagship keeps its lock and marker"),
            });
        }
        for (other_index, (other, other_key)) in prefixes.iter().enumerate() {
            // A prefix may sit inside a mirror (index < mirrors is a mirror); it may not be or hold one.
            let clash = other_index != index
                && other_index < mirrors
                && (prefix == other || (other.starts_with(prefix.as_str()) && index >= mirrors));
            let nested_reads = index >= mirrors && other_index >= mirrors && other_index != index && prefix == other;
            if clash || nested_reads {
                return Err(Problem {
                    key_path: key.clone(),
                    message: format!(
                        "`{prefix}` overlaps `{other}` (set by `{other_key}`): a deploy would delete or overwrite one \
                         with the other. Give it its own prefix, e.g. `data/target`"
                    ),
                });
            }
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
