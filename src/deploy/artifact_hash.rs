//! dbt stamps every artifact with the run that made it: two builds of the same commit give manifests that differ
//! in their timestamps and invocation ids only. Compared by bytes, every deploy would replace the environment's
//! state and no re-run would ever be a no-op. So the dbt state phase compares these files by a *content hash*:
//! the MD5 of the artifact with the run's stamps removed. The marker and the ledger keep it next to each object's
//! MD5 (`ObjectRecord::content`), so the next plan compares without downloading the old artifact.
use std::collections::BTreeMap;

use serde_json::Value;

use super::source::LocalFile;
use crate::dbt::{PARSE_CACHE_DIR, PARSE_CACHE_FILE, PARSE_CACHE_META};
use crate::hash::Md5;

/// The JSON artifacts at the top of the staged dbt state folder (`dbt::publish` stages them there).
const JSON_ARTIFACTS: &[&str] = &["manifest.json", "run_results.json", "catalog.json"];

/// `metadata` fields that describe the run, not the project: when it ran, which invocation it was, and the
/// anonymous user id dbt keeps in `~/.dbt/.user.yml` (a fresh CI runner makes a new one). `dbt_version`,
/// `adapter_type`, `env` (the user's `DBT_ENV_CUSTOM_ENV_*` values), `project_id` and `quoting` stay: a change to
/// any of them is a change the environment's readers may care about.
const RUN_METADATA: &[&str] = &["generated_at", "invocation_id", "invocation_started_at", "run_started_at", "user_id"];

/// Top-level fields of run_results.json that time the run (`elapsed_time`), and fields of each of its `results`
/// that time one node (`timing`, `execution_time`) or name the thread that ran it. A node's `status`, `message`,
/// `failures`, `compiled_code` and `adapter_response` stay: they are what the run found.
const RUN_TIMING: &[&str] = &["elapsed_time"];
const RESULT_TIMING: &[&str] = &["timing", "execution_time", "thread_id"];

/// Fields of run_results.json's `args` (how dbt was invoked) that hold the temporary folders dagship makes for
/// each run (`--log-path /tmp/dagship-dbt-log-XXXX`, repeated in the whole command line). What the invocation
/// meant stays in the other fields: `which`, `target`, `vars`, `select`, `exclude`, ...
const RUN_ARGS: &[&str] = &["log_path", "invocation_command"];

/// A manifest resource's parse time (`created_at`, seconds since the epoch on every node, macro, source, ...):
/// set on each parse, so it differs on every full parse of unchanged files.
const RESOURCE_STAMPS: &[&str] = &["created_at"];

/// Sets `content` on the staged dbt state's artifacts: their stamp-free hash for the JSON artifacts, and for the
/// parse cache (dbt's binary msgpack, stamped inside too) a hash of what it was made from: the manifest's content
/// hash and the cache's own meta (dbt version, target, vars). A cache kept that way is one dbt would build again
/// from the same files; if dbt still finds it unusable it says so and parses fully, so keeping it never gives a
/// wrong result. Other files keep no content hash and compare by bytes.
pub fn add_content_hashes(files: &mut BTreeMap<String, LocalFile>) {
    for name in JSON_ARTIFACTS {
        if let Some(file) = files.get_mut(*name) {
            file.content = std::fs::read(&file.path).ok().and_then(|bytes| normalized_json_hash(&bytes));
        }
    }
    let manifest = files.get("manifest.json").and_then(|file| file.content);
    let meta = files.get(&format!("{PARSE_CACHE_DIR}/{PARSE_CACHE_META}")).map(|file| file.md5);
    if let (Some(manifest), Some(meta), Some(cache)) =
        (manifest, meta, files.get_mut(&format!("{PARSE_CACHE_DIR}/{PARSE_CACHE_FILE}")))
    {
        cache.content = Some(Md5::of_bytes(format!("parse cache of {manifest} with {meta}").as_bytes()));
    }
}

/// The MD5 of a JSON artifact without the run's stamps, serialised compactly (serde_json keeps key order as
/// parsed, and dbt writes keys in a fixed order). None for bytes that are not JSON: they compare by bytes.
pub fn normalized_json_hash(bytes: &[u8]) -> Option<Md5> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    strip(&mut value);
    Some(Md5::of_bytes(&serde_json::to_vec(&value).ok()?))
}

fn strip(artifact: &mut Value) {
    let Some(top) = artifact.as_object_mut() else { return };
    if let Some(metadata) = top.get_mut("metadata").and_then(Value::as_object_mut) {
        RUN_METADATA.iter().for_each(|field| drop(metadata.remove(*field)));
    }
    RUN_TIMING.iter().for_each(|field| drop(top.remove(*field)));
    if let Some(args) = top.get_mut("args").and_then(Value::as_object_mut) {
        RUN_ARGS.iter().for_each(|field| drop(args.remove(*field)));
    }
    if let Some(results) = top.get_mut("results").and_then(Value::as_array_mut) {
        for result in results.iter_mut().filter_map(Value::as_object_mut) {
            RESULT_TIMING.iter().for_each(|field| drop(result.remove(*field)));
        }
        // With more than one thread, dbt lists results in the order its threads finished them: the same nodes
        // with the same outcomes come in another order on each run. The set is what the run found, so it is
        // compared in one order, by node id.
        results.sort_by(|a, b| result_id(a).cmp(result_id(b)));
    }
    // The manifest's resources sit one level down (`nodes.<id>`, `macros.<id>`, ...), or two in `disabled`
    // (`disabled.<id>[n]`): only there is `created_at` dbt's stamp, never inside a user's `meta` or `config`.
    for (name, collection) in top.iter_mut().filter(|(name, _)| name.as_str() != "metadata") {
        let Some(collection) = collection.as_object_mut() else { continue };
        for resource in collection.values_mut() {
            let resources: Vec<&mut Value> = match resource {
                Value::Array(list) if name == "disabled" => list.iter_mut().collect(),
                other => vec![other],
            };
            for resource in resources.into_iter().filter_map(Value::as_object_mut) {
                RESOURCE_STAMPS.iter().for_each(|field| drop(resource.remove(*field)));
            }
        }
    }
}

fn result_id(result: &Value) -> &str {
    result.get("unique_id").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::normalized_json_hash;

    fn hash(text: &str) -> crate::hash::Md5 {
        normalized_json_hash(text.as_bytes()).expect("JSON")
    }

    #[test]
    fn two_builds_differing_only_in_stamps_have_one_content_hash() {
        let first = r#"{"metadata":{"dbt_version":"1.11","generated_at":"2026-01-01T00:00:00Z","invocation_id":"a",
            "invocation_started_at":"x","run_started_at":"y","user_id":"u1"},
            "nodes":{"model.shop.a":{"raw_code":"select 1","created_at":1.5,"meta":{"created_at":"kept"}}},
            "disabled":{"model.shop.b":[{"created_at":2.0,"raw_code":"select 2"}]},
            "results":[{"status":"success","timing":[{"started_at":"t"}],"execution_time":0.1,"thread_id":"T-1"}],
            "elapsed_time":3.2,
            "args":{"which":"compile","log_path":"/tmp/dagship-dbt-log-a","invocation_command":"dbt compile --log-path /tmp/dagship-dbt-log-a"}}"#;
        let second = r#"{"metadata":{"dbt_version":"1.11","generated_at":"2026-02-02T00:00:00Z","invocation_id":"b",
            "invocation_started_at":"x2","run_started_at":"y2","user_id":"u2"},
            "nodes":{"model.shop.a":{"raw_code":"select 1","created_at":9.5,"meta":{"created_at":"kept"}}},
            "disabled":{"model.shop.b":[{"created_at":7.0,"raw_code":"select 2"}]},
            "results":[{"status":"success","timing":[{"started_at":"t2"}],"execution_time":0.9,"thread_id":"T-2"}],
            "elapsed_time":1.0,
            "args":{"which":"compile","log_path":"/tmp/dagship-dbt-log-b","invocation_command":"dbt compile --log-path /tmp/dagship-dbt-log-b"}}"#;
        assert_eq!(hash(first), hash(second));
    }

    #[test]
    fn a_change_to_what_the_artifact_says_changes_its_content_hash() {
        let base = r#"{"metadata":{"dbt_version":"1.11"},"nodes":{"model.shop.a":{"raw_code":"select 1","meta":{"created_at":"a"}}},"results":[{"status":"success"}]}"#;
        for changed in [
            base.replace("select 1", "select 2"),
            base.replace("1.11", "1.12"),
            base.replace(r#""created_at":"a""#, r#""created_at":"b""#),
            base.replace("success", "error"),
        ] {
            assert_ne!(hash(base), hash(&changed), "{changed}");
        }
        assert!(normalized_json_hash(b"not json").is_none());
    }

    #[test]
    fn results_finished_in_another_thread_order_have_one_content_hash() {
        let first = r#"{"results":[{"unique_id":"test.a","status":"pass","thread_id":"Thread-1"},
            {"unique_id":"test.b","status":"pass","thread_id":"Thread-2"}]}"#;
        let second = r#"{"results":[{"unique_id":"test.b","status":"pass","thread_id":"Thread-1"},
            {"unique_id":"test.a","status":"pass","thread_id":"Thread-2"}]}"#;
        let failed = r#"{"results":[{"unique_id":"test.b","status":"fail","thread_id":"Thread-1"},
            {"unique_id":"test.a","status":"pass","thread_id":"Thread-2"}]}"#;
        assert_eq!(hash(first), hash(second));
        assert_ne!(hash(first), hash(failed), "an outcome still counts");
    }
}
