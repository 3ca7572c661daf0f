//! The shape of `dagship.yml`, with its defaults. Paths are relative to the repository root.
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::dags_check::DagsCheckConfig;
use super::duration::duration_or;
use crate::change_status::Status;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The Airflow DAGs folder.
    pub dags_dir: String,
    /// The Airflow plugins folder, when the repository has one.
    pub plugins_dir: Option<String>,
    /// A folder mirrored to the bucket's `data/` (files the DAGs read at run time), when the repository has one.
    pub data_dir: Option<String>,
    /// The branch new branches and force pushes are compared with; `origin/HEAD` when unset.
    pub default_branch: Option<String>,
    pub dbt: Option<DbtConfig>,
    /// Named groups of globs; each yields one `changed` boolean.
    pub filters: BTreeMap<String, FilterSpec>,
    pub jobs: JobsConfig,
    pub environments: BTreeMap<String, Environment>,
    pub deploy: DeployConfig,
    pub detect: DetectConfig,
    /// How `dagship dags check` imports the DAGs with the user's Airflow.
    #[serde(default)]
    pub dags_check: DagsCheckConfig,
    /// The deploy ledger's retention.
    #[serde(default)]
    pub history: HistoryConfig,
}

impl Config {
    /// The environment named `name`, or a message naming the environments there are.
    pub fn environment(&self, name: &str) -> Result<&Environment, String> {
        self.environments.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            if known.is_empty() {
                format!("no environment `{name}`: dagship.yml defines no `environments`")
            } else {
                format!("no environment `{name}` in dagship.yml; known: {}", known.join(", "))
            }
        })
    }

    /// The names of the environments whose `branches` hold `branch`, in name order.
    fn deploying_from(&self, branch: &str) -> Vec<&String> {
        self.environments
            .iter()
            .filter(|(_, environment)| environment.branches.iter().any(|mapped| mapped == branch))
            .map(|(name, _)| name)
            .collect()
    }

    /// The environment a pull request into `branch` is checked against: among the environments deploying
    /// from `branch`, the last of their `after` chain (a push to production deploys dev, then prod: its pull
    /// requests are checked against prod).
    pub fn environment_for_branch(&self, branch: &str) -> Option<&str> {
        let candidates = self.deploying_from(branch);
        let followed = |name: &String| {
            candidates.iter().any(|other| self.environments[*other].after.as_deref() == Some(name.as_str()))
        };
        candidates.iter().find(|name| !followed(name)).or(candidates.first()).map(|name| name.as_str())
    }

    /// The environments a push to `branch` deploys, in order: each mapped environment after the ones its
    /// `after` chain names (a push to production whose prod has `after: dev` deploys dev, then prod).
    pub fn deploy_chain(&self, branch: &str) -> Vec<String> {
        let mut order = Vec::new();
        for name in self.deploying_from(branch) {
            self.push_after_predecessors(name, &mut order);
        }
        order
    }

    /// `validate` refuses `after` loops, so this ends.
    fn push_after_predecessors(&self, name: &str, order: &mut Vec<String>) {
        if order.iter().any(|done| done == name) {
            return;
        }
        if let Some(after) = self.environments.get(name).and_then(|environment| environment.after.as_deref()) {
            self.push_after_predecessors(after, order);
        }
        order.push(name.to_string());
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dags_dir: "dags".into(),
            plugins_dir: None,
            data_dir: None,
            default_branch: None,
            dbt: None,
            filters: BTreeMap::new(),
            jobs: JobsConfig::default(),
            environments: BTreeMap::new(),
            deploy: DeployConfig::default(),
            detect: DetectConfig::default(),
            dags_check: DagsCheckConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DbtConfig {
    /// The folder holding dbt_project.yml.
    pub project_dir: String,
    /// Where the environment's dbt state (manifest.json, run_results.json, catalog.json, dbt_packages/, the
    /// parse cache) lives in its bucket; deploys mirror it, pull request checks read it.
    pub state_prefix: String,
    /// The folder holding profiles.yml; else DBT_PROFILES_DIR, the project folder when it has one, ~/.dbt.
    pub profiles_dir: Option<String>,
    /// The dbt command (a name on PATH or a path).
    pub executable: String,
    /// A bucket prefix of exposure files (`*.yml`) copied into `exposures_dir` before dbt runs.
    pub exposures_prefix: Option<String>,
    /// Where exposure files go, relative to the project folder.
    pub exposures_dir: String,
    /// What a pull request check compiles when the environment has state (`--select`).
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    /// A YAML selector name (`--selector`), instead of `select`/`exclude`.
    pub selector: Option<String>,
    /// Extra arguments for `dbt compile`.
    pub args: Vec<String>,
    /// Variables every dbt call gets; an environment's `vars` override them.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Environment variables for every dbt call.
    pub env: BTreeMap<String, String>,
    /// More dbt commands a pull request check runs on the same selection after compiling (build, test, ...).
    pub checks: Vec<DbtCheck>,
    /// Deploys run `dbt docs generate` (publishing catalog.json) instead of `dbt compile`.
    pub docs: bool,
    /// Deploys publish a parse cache made with the check target, which pull request checks reuse.
    pub parse_cache: bool,
}

impl Default for DbtConfig {
    fn default() -> Self {
        DbtConfig {
            project_dir: "dbt".into(),
            state_prefix: "data/target".into(),
            profiles_dir: None,
            executable: "dbt".into(),
            exposures_prefix: None,
            exposures_dir: "models/exposures".into(),
            select: vec!["state:modified+".into()],
            exclude: Vec::new(),
            selector: None,
            args: Vec::new(),
            vars: BTreeMap::new(),
            env: BTreeMap::new(),
            checks: Vec::new(),
            docs: false,
            parse_cache: true,
        }
    }
}

/// One more dbt command of a pull request check, run on the compile's selection with the same state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbtCheck {
    /// build, run, test, seed or snapshot.
    pub command: String,
    /// The target to run it on (e.g. a CI schema); the environment's check target when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// The dbt commands a check may run: the ones that take a selection and a deferral state.
pub const DBT_CHECK_COMMANDS: &[&str] = &["build", "run", "test", "seed", "snapshot"];

/// One named filter: globs (a leading `!` excludes) and, optionally, the change types it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterSpec {
    pub paths: Vec<String>,
    /// Only changes of these types count; all types when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub change_types: Vec<Status>,
}

/// The long form of a filter, `{ paths: [...], change_types: [...] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterSpecLong {
    paths: Vec<String>,
    #[serde(default)]
    change_types: Vec<Status>,
}

impl<'de> Deserialize<'de> for FilterSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FilterVisitor;
        impl<'de> Visitor<'de> for FilterVisitor {
            type Value = FilterSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of globs, or a map with `paths` (list of globs) and optional `change_types`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FilterSpec, A::Error> {
                let paths = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(FilterSpec { paths, change_types: Vec::new() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FilterSpec, A::Error> {
                let long = FilterSpecLong::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FilterSpec { paths: long.paths, change_types: long.change_types })
            }
        }
        deserializer.deserialize_any(FilterVisitor)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Globs for the folders that may be jobs; a plain folder name means that folder and everything below it.
    pub roots: Vec<String>,
    /// A folder is a job when it holds an entry (file or folder) of this name.
    pub marker: String,
    /// Globs or folders that are never jobs (templates, examples).
    pub ignore: Vec<String>,
    /// On push events, put every job in the matrix, not only the touched ones.
    pub all_on_push: bool,
    /// Past GitHub's 256-entry matrix limit, group jobs into at most 256 entries instead of failing.
    pub chunk: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            roots: vec!["jobs/**".into()],
            marker: "tests".into(),
            ignore: Vec::new(),
            all_on_push: false,
            chunk: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Composer,
    Mwaa,
    Local,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub platform: Platform,
    /// `gs://bucket/prefix`, `s3://bucket/prefix` or `file://path`.
    pub bucket: String,
    /// The dbt target deploys compile with.
    #[serde(default)]
    pub dbt_target: Option<String>,
    /// The dbt target pull request checks against this environment compile with; `dbt_target` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt_check_target: Option<String>,
    /// Environment variables for dbt calls made for this environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dbt_env: BTreeMap<String, String>,
    /// Pushes to these branches deploy this environment.
    #[serde(default)]
    pub branches: Vec<String>,
    /// Deploy only after this environment deployed successfully in the same run.
    #[serde(default)]
    pub after: Option<String>,
    /// dbt vars for this environment (e.g. ENV_SHORT_NAME).
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// An endpoint override for the bucket's API (emulators, S3-compatible stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The MWAA environment a deploy updates when plugins, requirements or the startup script change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mwaa: Option<super::MwaaConfig>,
    /// Ask Airflow after a deploy whether the deployed DAG files imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<super::VerifyConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployConfig {
    /// A gitignore-style file of paths never uploaded nor deleted.
    pub exclude_from: Option<String>,
    /// The most objects one deploy may delete, as a count or a percentage of the objects under its prefixes.
    pub max_delete: MaxDelete,
    /// Bucket keys (globs) that are never deleted nor overwritten, on top of the platform's managed objects.
    pub protect: Vec<String>,
    /// Uploads and deletes in flight at once.
    pub concurrency: usize,
    /// How long a deploy waits for another deploy's lock, like "10m".
    pub lock_timeout: String,
    /// The deploy lock's lease, like "2m": a live deploy renews its lock every quarter of it; a lock that does not
    /// change for this long (watched by the waiting deploy's own clock) belonged to a dead deploy and is taken over.
    pub lock_ttl: String,
    /// The longest one bucket request may wait for the server to start answering (its upload included), like
    /// "20s"; a request past it is retried, and the deploy fails with exit 4 once the retries are spent.
    pub request_timeout: String,
    /// Per mapping, what a deploy does when it would overwrite or delete an object changed in the bucket outside
    /// dagship since the last deploy: `refuse` (exit 3, unless --overwrite-drift) or `report`.
    pub drift: DriftPolicies,
}

/// What a deploy does about drift under one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftPolicy {
    /// Refuse a deploy that would overwrite or delete the drifted objects.
    Refuse,
    /// Report the drift and deploy over it.
    Report,
}

/// `deploy.drift`: the drift policy of each mapping. DAGs and plugins are written only by deploys, so a change
/// there is a hand edit; data folders are often written by Airflow tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftPolicies {
    pub dags: DriftPolicy,
    pub plugins: DriftPolicy,
    pub data: DriftPolicy,
}

impl Default for DriftPolicies {
    fn default() -> Self {
        DriftPolicies { dags: DriftPolicy::Refuse, plugins: DriftPolicy::Refuse, data: DriftPolicy::Report }
    }
}

/// `history`: the deploy ledger's retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryConfig {
    /// How many ledger records an environment keeps: after a successful deploy the oldest beyond this are removed
    /// (never the one the marker names).
    pub keep: usize,
}

/// Enough for years of daily deploys; a record is a few KB plus a line per object.
pub const DEFAULT_HISTORY_KEEP: usize = 500;

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { keep: DEFAULT_HISTORY_KEEP }
    }
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            exclude_from: None,
            max_delete: MaxDelete::Percent(10),
            protect: Vec::new(),
            concurrency: 32,
            lock_timeout: "10m".into(),
            lock_ttl: "2m".into(),
            request_timeout: humantime::format_duration(crate::store::DEFAULT_REQUEST_TIMEOUT).to_string(),
            drift: DriftPolicies::default(),
        }
    }
}

impl DeployConfig {
    pub fn lock_timeout(&self) -> std::time::Duration {
        duration_or(&self.lock_timeout, 600)
    }

    pub fn lock_ttl(&self) -> std::time::Duration {
        duration_or(&self.lock_ttl, 120)
    }

    pub fn request_timeout(&self) -> std::time::Duration {
        humantime::parse_duration(&self.request_timeout).unwrap_or(crate::store::DEFAULT_REQUEST_TIMEOUT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxDelete {
    Count(u64),
    Percent(u8),
}

impl Serialize for MaxDelete {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxDelete::Count(count) => serializer.serialize_u64(*count),
            MaxDelete::Percent(percent) => serializer.serialize_str(&format!("{percent}%")),
        }
    }
}

impl<'de> Deserialize<'de> for MaxDelete {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MaxDeleteVisitor;
        const EXPECTED: &str = "a count like 25 or a percentage from 0% to 100% like \"10%\"";
        impl Visitor<'_> for MaxDeleteVisitor {
            type Value = MaxDelete;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, count: u64) -> Result<MaxDelete, E> {
                Ok(MaxDelete::Count(count))
            }
            fn visit_i64<E: de::Error>(self, count: i64) -> Result<MaxDelete, E> {
                u64::try_from(count)
                    .map(MaxDelete::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(count), &EXPECTED))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<MaxDelete, E> {
                let invalid = || E::invalid_value(de::Unexpected::Str(text), &EXPECTED);
                match text.trim().strip_suffix('%') {
                    Some(number) => match number.trim().parse::<u8>() {
                        Ok(percent) if percent <= 100 => Ok(MaxDelete::Percent(percent)),
                        _ => Err(invalid()),
                    },
                    None => text.trim().parse::<u64>().map(MaxDelete::Count).map_err(|_| invalid()),
                }
            }
        }
        deserializer.deserialize_any(MaxDeleteVisitor)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// Also detect copies (`git diff -C`); costs time on large diffs.
    pub find_copies: bool,
}
