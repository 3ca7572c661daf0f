//! dbt's node selection syntax resolved against a manifest, for the forms DAGs use to pick models: names and
//! fqn paths (with globs), `path:`, `tag:`, `config.KEY:`, `package:`, `resource_type:`, the graph operators
//! `+`, `N+`, `+N` and `@`, unions (spaces), intersections (commas) and `--exclude`. Anything else (`state:`,
//! `source:`, YAML selectors, ...) is an error naming the form, so the caller reports the task as unresolved
//! rather than guessing. The semantics follow dbt-core's `graph/selector_methods.py` and `graph/cli.py`.
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use globset::GlobBuilder;

use crate::dbt::{Manifest, Node};

/// The manifest's nodes with their edges both ways.
pub struct Graph<'a> {
    nodes: &'a BTreeMap<String, Node>,
    parents: BTreeMap<&'a str, Vec<&'a str>>,
    children: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Graph<'a> {
    pub fn new(manifest: &'a Manifest) -> Graph<'a> {
        let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, node) in &manifest.nodes {
            for parent in &node.depends_on.nodes {
                if let Some((parent_id, _)) = manifest.nodes.get_key_value(parent) {
                    parents.entry(id.as_str()).or_default().push(parent_id.as_str());
                    children.entry(parent_id.as_str()).or_default().push(id.as_str());
                }
            }
        }
        Graph { nodes: &manifest.nodes, parents, children }
    }

    /// The models `select` (minus `exclude`) names; no `select` at all means every model, as in dbt.
    pub fn select_models(&self, select: &[String], exclude: &[String]) -> Result<BTreeSet<String>, String> {
        let mut selected =
            if select.is_empty() { self.nodes.keys().map(String::as_str).collect() } else { self.union(select)? };
        for excluded in self.union(exclude)? {
            selected.remove(excluded);
        }
        Ok(selected
            .into_iter()
            .filter(|id| self.nodes.get(*id).is_some_and(|node| node.resource_type == "model"))
            .map(str::to_string)
            .collect())
    }

    /// Space-separated terms (one argument may hold several) are a union.
    fn union(&self, arguments: &[String]) -> Result<BTreeSet<&'a str>, String> {
        let mut all = BTreeSet::new();
        for term in arguments.iter().flat_map(|argument| argument.split_whitespace()) {
            all.extend(self.intersection(term)?);
        }
        Ok(all)
    }

    /// Comma-joined criteria are an intersection.
    fn intersection(&self, term: &str) -> Result<BTreeSet<&'a str>, String> {
        let mut result: Option<BTreeSet<&str>> = None;
        for criterion in term.split(',').filter(|part| !part.is_empty()) {
            let found = self.criterion(criterion)?;
            result = Some(match result {
                None => found,
                Some(previous) => previous.intersection(&found).copied().collect(),
            });
        }
        Ok(result.unwrap_or_default())
    }

    fn criterion(&self, raw: &str) -> Result<BTreeSet<&'a str>, String> {
        let parsed = Criterion::parse(raw)?;
        let mut matched: BTreeSet<&str> = BTreeSet::new();
        for (id, node) in self.nodes {
            if parsed.matches(node)? {
                matched.insert(id.as_str());
            }
        }
        let mut result = matched.clone();
        if parsed.at {
            let descendants = walk(&self.children, &matched, None);
            result.extend(walk(&self.parents, &descendants, None));
            result.extend(descendants);
            return Ok(result);
        }
        if let Some(depth) = parsed.parents {
            result.extend(walk(&self.parents, &matched, depth));
        }
        if let Some(depth) = parsed.children {
            result.extend(walk(&self.children, &matched, depth));
        }
        Ok(result)
    }
}

/// Nodes reachable from `start` through `edges` (start excluded unless reached again), up to `depth` steps.
fn walk<'a>(
    edges: &BTreeMap<&'a str, Vec<&'a str>>,
    start: &BTreeSet<&'a str>,
    depth: Option<usize>,
) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<(&str, usize)> = start.iter().map(|id| (*id, 0)).collect();
    while let Some((id, level)) = queue.pop_front() {
        if depth.is_some_and(|depth| level >= depth) {
            continue;
        }
        for next in edges.get(id).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back((next, level + 1));
            }
        }
    }
    seen
}

/// One selection criterion: `[@|N+]method:value[+N]`.
struct Criterion {
    method: Method,
    value: String,
    /// `+x` (None inside: unlimited) or `N+x`.
    parents: Option<Option<usize>>,
    children: Option<Option<usize>>,
    at: bool,
}

enum Method {
    Fqn,
    Path,
    Tag,
    Config(String),
    Package,
    ResourceType,
}

impl Criterion {
    fn parse(raw: &str) -> Result<Criterion, String> {
        let mut rest = raw;
        let at = rest.starts_with('@');
        if at {
            rest = &rest[1..];
        }
        let mut parents = None;
        if let Some(plus) = rest.find('+').filter(|plus| rest[..*plus].bytes().all(|byte| byte.is_ascii_digit())) {
            let digits = &rest[..plus];
            parents = Some(if digits.is_empty() { None } else { Some(digits.parse().map_err(|_| bad(raw))?) });
            rest = &rest[plus + 1..];
        }
        let mut children = None;
        if let Some(plus) = rest.rfind('+').filter(|plus| rest[plus + 1..].bytes().all(|byte| byte.is_ascii_digit())) {
            let digits = &rest[plus + 1..];
            children = Some(if digits.is_empty() { None } else { Some(digits.parse().map_err(|_| bad(raw))?) });
            rest = &rest[..plus];
        }
        if at && (parents.is_some() || children.is_some()) {
            return Err(format!("`{raw}`: dbt does not allow `@` with `+`"));
        }
        let (method, value) = match rest.split_once(':') {
            Some((method, value)) => (method_named(method, raw)?, value),
            None if looks_like_path(rest) => (Method::Path, rest),
            None => (Method::Fqn, rest),
        };
        if value.is_empty() {
            return Err(bad(raw));
        }
        Ok(Criterion { method, value: value.to_string(), parents, children, at })
    }

    fn matches(&self, node: &Node) -> Result<bool, String> {
        let value = self.value.as_str();
        Ok(match &self.method {
            Method::Fqn => fqn_matches(&node.fqn, value) || (node.fqn.len() > 1 && fqn_matches(&node.fqn[1..], value)),
            Method::Path => path_matches(&node.original_file_path, value)?,
            Method::Tag => {
                let glob = glob(value)?;
                node.tags.iter().any(|tag| glob.is_match(tag))
            }
            Method::Config(key) => node.config.get(key).is_some_and(|config| config == value),
            Method::Package => glob(value)?.is_match(&node.package_name),
            Method::ResourceType => node.resource_type == value,
        })
    }
}

fn bad(raw: &str) -> String {
    format!("`{raw}` is not a dbt selection dagship can read")
}

fn method_named(method: &str, raw: &str) -> Result<Method, String> {
    Ok(match method {
        "fqn" => Method::Fqn,
        "path" | "file" => Method::Path,
        "tag" => Method::Tag,
        "package" => Method::Package,
        "resource_type" => Method::ResourceType,
        _ => match method.strip_prefix("config.") {
            Some(key) if !key.is_empty() && !key.contains('.') => Method::Config(key.to_string()),
            _ => return Err(format!("`{raw}`: the `{method}:` selector method is not resolved statically by dagship")),
        },
    })
}

/// dbt's default method: a path when the value has a slash or a file extension dbt knows, else an fqn.
fn looks_like_path(value: &str) -> bool {
    value.contains('/') || value == "." || [".sql", ".py", ".csv"].iter().any(|ext| value.ends_with(ext))
}

fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|err| format!("`{pattern}`: {err}"))
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '[', ']'])
}

/// dbt's `is_selected_node`: the node's name, or the fqn's leading parts, the rest matched by a glob from the
/// first wildcard on.
fn fqn_matches(fqn: &[String], selector: &str) -> bool {
    if fqn.last().is_some_and(|name| name == selector) {
        return true;
    }
    let flat: Vec<&str> = fqn.iter().flat_map(|part| part.split('.')).collect();
    let parts: Vec<&str> = selector.split('.').collect();
    if flat.len() < parts.len() {
        return false;
    }
    for (index, part) in parts.iter().enumerate() {
        if has_wildcard(part) {
            let pattern = parts[index..].join(".");
            let Ok(glob) = glob(&pattern) else { return false };
            // A bare wildcard also matches the name alone, however deep the model is (dbt 1.10+).
            return glob.is_match(flat[index..].join("."))
                || (!selector.contains('.') && fqn.last().is_some_and(|name| glob.is_match(name)));
        }
        if flat[index] != *part {
            return false;
        }
    }
    true
}

/// dbt's path method: the file itself, a folder above it, or a glob, from the project root.
fn path_matches(file: &str, selector: &str) -> Result<bool, String> {
    let selector = selector.trim_start_matches("./").trim_end_matches('/');
    if selector == "." || selector.is_empty() {
        return Ok(true);
    }
    if has_wildcard(selector) {
        return Ok(glob(selector)?.is_match(file));
    }
    Ok(file == selector || file.starts_with(&format!("{selector}/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbt::DependsOn;

    fn node(name: &str, folder: &str, tags: &[&str], parents: &[&str]) -> (String, Node) {
        let node = Node {
            resource_type: "model".into(),
            name: name.into(),
            original_file_path: format!("models/{folder}/{name}.sql"),
            package_name: "shop".into(),
            fqn: vec!["shop".into(), folder.into(), name.into()],
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
            depends_on: DependsOn { nodes: parents.iter().map(|parent| format!("model.shop.{parent}")).collect() },
            config: [("materialized".to_string(), if folder == "marts" { "table" } else { "view" }.to_string())].into(),
        };
        (format!("model.shop.{name}"), node)
    }

    fn manifest() -> Manifest {
        Manifest {
            nodes: [
                node("stg_a", "staging", &["hourly"], &[]),
                node("stg_b", "staging", &[], &[]),
                node("mart_ab", "marts", &["nightly"], &["stg_a", "stg_b"]),
                node("report", "marts", &["nightly"], &["mart_ab"]),
            ]
            .into(),
        }
    }

    fn names(select: &[&str], exclude: &[&str]) -> Result<Vec<String>, String> {
        let manifest = manifest();
        let graph = Graph::new(&manifest);
        let strings = |words: &[&str]| words.iter().map(|word| word.to_string()).collect::<Vec<_>>();
        let ids = graph.select_models(&strings(select), &strings(exclude))?;
        Ok(ids.into_iter().map(|id| id.trim_start_matches("model.shop.").to_string()).collect())
    }

    #[test]
    fn dbt_selection_forms() {
        assert_eq!(names(&["stg_a"], &[]).unwrap(), ["stg_a"]);
        assert_eq!(names(&["stg_a+"], &[]).unwrap(), ["mart_ab", "report", "stg_a"]);
        assert_eq!(names(&["stg_a+1"], &[]).unwrap(), ["mart_ab", "stg_a"]);
        assert_eq!(names(&["+mart_ab"], &[]).unwrap(), ["mart_ab", "stg_a", "stg_b"]);
        assert_eq!(names(&["@stg_a"], &[]).unwrap(), ["mart_ab", "report", "stg_a", "stg_b"]);
        assert_eq!(names(&["tag:nightly"], &["report"]).unwrap(), ["mart_ab"]);
        assert_eq!(names(&["path:models/staging"], &[]).unwrap(), ["stg_a", "stg_b"]);
        assert_eq!(names(&["models/marts/report.sql"], &[]).unwrap(), ["report"]);
        assert_eq!(names(&["shop.staging.*"], &[]).unwrap(), ["stg_a", "stg_b"]);
        assert_eq!(names(&["staging"], &[]).unwrap(), ["stg_a", "stg_b"], "an fqn prefix without the package");
        assert_eq!(names(&["stg_*"], &[]).unwrap(), ["stg_a", "stg_b"]);
        assert_eq!(names(&["config.materialized:table,tag:nightly"], &[]).unwrap(), ["mart_ab", "report"]);
        assert_eq!(names(&["stg_a stg_b"], &[]).unwrap(), ["stg_a", "stg_b"], "one argument, two terms");
        assert_eq!(names(&[], &["tag:nightly"]).unwrap(), ["stg_a", "stg_b"], "no --select: every model");
        assert!(names(&["state:modified"], &[]).unwrap_err().contains("`state:`"));
        assert!(names(&["@stg_a+"], &[]).is_err());
    }
}
