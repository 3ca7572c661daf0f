//! Property tests (proptest; `cargo fuzz` needs a nightly toolchain): the config parser and the glob/filter
//! engine against generated input. The number of cases per property is PROPTEST_CASES (default 256), so CI
//! time stays bounded; a failure prints the minimal input that breaks the property.
use std::collections::BTreeMap;
use std::path::Path;

use dagship::config::{ConfigError, FilterSpec, parse_str};
use dagship::detect::filters::{FilterSet, compile_glob};
use dagship::detect::{FileChange, Status};
use proptest::prelude::*;

use crate::common;

const VALID: &str = "dags_dir: dags
plugins_dir: plugins
filters:
  dbt: [\"dbt/**\", \"!**/*.md\"]
jobs:
  roots: [\"jobs/**\"]
  marker: tests
environments:
  stg: { platform: composer, bucket: \"gs://stg-bucket\", branches: [main] }
  prod: { platform: mwaa, bucket: \"s3://prod-bucket/airflow\", after: stg, mwaa: { environment_name: prod-airflow } }
deploy:
  max_delete: 10%
  concurrency: 8
  lock_ttl: 1h
";

/// Scalars and fragments that break configs in practice.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("-1".to_string()),
        Just("1e999".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("\"%\"".to_string()),
        Just("&a [*a]".to_string()),
        Just("*undefined".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("[\"[\"]".to_string()),
        Just("{ platform: mwaa }".to_string()),
        "[a-z0-9:/!*?{}\\[\\]$`;| -]{0,30}",
    ]
}

fn parse(text: &str) -> Result<(), ConfigError> {
    parse_str(text, Path::new("dagship.yml")).map(|_| ())
}

/// An invalid config's message names the file.
fn assert_names_file(err: &ConfigError, text: &str) {
    let rendered = err.to_string();
    assert!(rendered.starts_with("dagship.yml"), "the message names the file: {rendered}\n--- config:\n{text}");
}

/// An invalid config must also say where: a line and column, or at least the key path. (Arbitrary text is only
/// held to naming the file: `{x}a` is refused as "more than one document" with no place, yaml_serde gives none.)
fn assert_located(err: &ConfigError, text: &str) {
    assert_names_file(err, text);
    let rendered = err.to_string();
    if let ConfigError::Invalid { position, key_path, .. } = err {
        assert!(
            position.is_some() || *key_path != dagship::config::KeyPath::root(),
            "no line nor key in: {rendered}\n--- config:\n{text}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_errors_name_the_file(text in "\\PC{0,200}") {
        if let Err(err) = parse(&text) {
            assert_names_file(&err, &text);
        }
    }

    #[test]
    fn arbitrary_yaml_shaped_text_never_panics(text in "([a-z_]{1,12}: ?[\\[\\]{}a-z0-9,\"*&!%: -]{0,20}\n {0,4}){0,12}") {
        if let Err(err) = parse(&text) {
            assert_located(&err, &text);
        }
    }

    /// One value of a valid config replaced by a hostile one: parsed or refused with a located error.
    #[test]
    fn mutated_valid_config_is_parsed_or_refused_with_a_place(line in 0usize..14, value in hostile_value()) {
        let mut lines: Vec<String> = VALID.lines().map(str::to_string).collect();
        let index = line % lines.len();
        if let Some((key, _)) = lines[index].split_once(": ") {
            lines[index] = format!("{key}: {value}");
        } else {
            lines[index] = format!("{}{value}", lines[index]);
        }
        let text = lines.join("\n");
        if let Err(err) = parse(&text) {
            assert_located(&err, &text);
        }
    }

    /// Generated well-formed configs always parse, and keep what they say.
    #[test]
    fn generated_valid_configs_parse(
        names in proptest::collection::btree_set("[a-z][a-z0-9_-]{0,12}", 1..6),
        bucket in "[a-z0-9][a-z0-9-]{2,30}",
        percent in 0u8..=100,
    ) {
        let mut text = format!("deploy:\n  max_delete: \"{percent}%\"\nenvironments:\n");
        for (index, name) in names.iter().enumerate() {
            let (platform, scheme) = [("composer", "gs"), ("mwaa", "s3"), ("local", "file")][index % 3];
            // Each environment its own bucket: two on one bucket and prefix are a config error.
            text.push_str(&format!("  {name}: {{ platform: {platform}, bucket: \"{scheme}://{bucket}-{index}\" }}\n"));
        }
        let loaded = parse_str(&text, Path::new("dagship.yml")).unwrap_or_else(|err| panic!("{err}\n{text}"));
        for name in &names {
            prop_assert!(loaded.config.environment(name).is_ok(), "environment {name} is found");
        }
    }

    #[test]
    fn arbitrary_globs_never_panic(pattern in "\\PC{0,60}") {
        let _ = compile_glob(&pattern);
    }

    /// A file belongs to a filter when it matches an inclusion and no exclusion, whatever the order.
    #[test]
    fn exclusions_win_whatever_the_order(
        include in glob_strategy(),
        exclude in glob_strategy(),
        path in path_strategy(),
    ) {
        let expected = compile_glob(&include).unwrap().compile_matcher().is_match(&path)
            && !compile_glob(&exclude).unwrap().compile_matcher().is_match(&path);
        for order in [vec![include.clone(), format!("!{exclude}")], vec![format!("!{exclude}"), include.clone()]] {
            let result = filter_matches(order, vec![], &change(&path, Status::Modified, None));
            prop_assert_eq!(result, expected);
        }
    }

    /// `folder/` means everything below the folder, at any depth, and nothing beside it.
    #[test]
    fn a_trailing_slash_means_the_whole_folder(folder in segment(), rest in path_strategy(), other in segment()) {
        let glob = compile_glob(&format!("{folder}/")).unwrap().compile_matcher();
        let inside = format!("{folder}/{rest}");
        let beside = format!("{folder}{other}/{rest}");
        prop_assert!(glob.is_match(&inside));
        prop_assert!(!glob.is_match(&beside));
    }

    /// `*` never crosses `/`: `dir/*` matches a direct child only.
    #[test]
    fn a_star_stays_in_its_folder(folder in segment(), child in segment(), deeper in segment()) {
        let glob = compile_glob(&format!("{folder}/*")).unwrap().compile_matcher();
        let direct = format!("{folder}/{child}");
        let nested = format!("{folder}/{child}/{deeper}");
        prop_assert!(glob.is_match(&direct));
        prop_assert!(!glob.is_match(&nested));
    }

    /// A rename counts when its new or its old path belongs; `change_types` limits which changes count.
    #[test]
    fn renames_count_by_either_path_and_change_types_filter(
        include in glob_strategy(),
        new_path in path_strategy(),
        old_path in path_strategy(),
    ) {
        let matcher = compile_glob(&include).unwrap().compile_matcher();
        let renamed = change(&new_path, Status::Renamed, Some(&old_path));
        let either = matcher.is_match(&new_path) || matcher.is_match(&old_path);
        prop_assert_eq!(filter_matches(vec![include.clone()], vec![], &renamed), either);
        prop_assert_eq!(filter_matches(vec![include.clone()], vec![Status::Added], &renamed), false);
        prop_assert_eq!(filter_matches(vec![include], vec![Status::Renamed], &renamed), either);
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_][a-z0-9_.-]{0,8}"
}

fn path_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(segment(), 1..5).prop_map(|parts| parts.join("/"))
}

/// Globs made of the usual pieces, always valid.
fn glob_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![segment(), Just("*".to_string()), Just("**".to_string()), Just("*.py".to_string())];
    proptest::collection::vec(piece, 1..4).prop_map(|parts| parts.join("/"))
}

fn change(path: &str, status: Status, old_path: Option<&str>) -> FileChange {
    FileChange { path: path.to_string(), status, old_path: old_path.map(str::to_string) }
}

fn filter_matches(paths: Vec<String>, change_types: Vec<Status>, change: &FileChange) -> bool {
    let specs = BTreeMap::from([("f".to_string(), FilterSpec { paths, change_types })]);
    let set = FilterSet::compile(&specs).expect("valid globs compile");
    set.apply(std::slice::from_ref(change))["f"].changed
}

/// A deployable tree: a base file in each mapped folder (an absent folder is a refused wipe, not a property
/// failure) and up to 12 generated files, paths relative to the repository.
fn tree() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        "(dags|data|plugins)/[a-c]{1,2}(/[a-c]{1,2}){0,2}\\.(py|sql|csv)",
        "[a-z ]{0,40}",
        0..12,
    )
    .prop_map(|mut files| {
        for base in ["dags/base.py", "data/base.csv", "plugins/base.py"] {
            files.insert(base.to_string(), format!("# {base}\n"));
        }
        files
    })
}

/// The bucket's objects (dagship's records left out) as repository paths: the prefixes equal the folder names.
fn deployed(bucket: &common::buckets::Bucket) -> BTreeMap<String, String> {
    common::buckets::read_tree(&bucket.dir())
        .into_iter()
        .filter(|(key, _)| !key.starts_with(".dagship/"))
        .map(|(key, bytes)| (key, String::from_utf8(bytes).unwrap()))
        .collect()
}

fn deploy_and_replan(repo: &common::Repo, bucket: &common::buckets::Bucket, files: &BTreeMap<String, String>) {
    for folder in ["dags", "data", "plugins"] {
        if repo.path().join(folder).exists() {
            repo.remove(folder);
        }
    }
    for (path, content) in files {
        repo.write(path, content);
    }
    repo.commit("a generated tree");
    common::run_dagship(repo.path(), &["deploy", "--env", "test", "--allow-deletes", "1000"]).assert_code(0);
    let plan = common::run_dagship(repo.path(), &["plan", "--env", "test", "--format", "json"]);
    plan.assert_code(0);
    let summary = &plan.json()["summary"];
    assert_eq!(
        (summary["uploads"].as_u64(), summary["replacements"].as_u64(), summary["deletions"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "a deployed tree re-planned plans nothing: {summary}"
    );
    assert_eq!(&deployed(bucket), files, "the bucket holds exactly the tree");
}

proptest! {
    // Each case runs git and dagship several times: a few cases, not 256.
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any tree deployed and planned again plans nothing, and so does any second tree deployed over it (its
    /// deletions allowed); each time the bucket holds exactly the tree, read from the directory itself.
    #[test]
    fn a_deployed_tree_re_planned_plans_nothing(first in tree(), second in tree()) {
        let bucket = common::buckets::Bucket::new(common::buckets::Backend::Local);
        let repo = common::Repo::new();
        repo.write(
            "dagship.yml",
            &format!(
                "dags_dir: dags\nplugins_dir: plugins\ndata_dir: data\nenvironments:\n  test: {{ platform: local, \
                 bucket: \"{}\" }}\n",
                bucket.url
            ),
        );
        deploy_and_replan(&repo, &bucket, &first);
        deploy_and_replan(&repo, &bucket, &second);
    }
}
