//! Named filters: each a set of globs, `!` globs excluding, optionally limited to some change types.
//!
//! Semantics (documented in the README): globs are matched against paths relative to the repository root;
//! `*` and `?` never cross `/`, `**` does; a pattern ending in `/` means everything below that folder. A file
//! belongs to a filter when it matches at least one inclusion and no exclusion, whatever their order. A renamed
//! file counts when its new or its old path belongs. When `change_types` is set, only changes of those types count.
use std::collections::BTreeMap;

use globset::GlobSet;
use serde::Serialize;

use super::{FileChange, Status};
use crate::config::FilterSpec;
pub use crate::glob::{compile_glob, compile_set};

#[derive(Debug)]
struct CompiledFilter {
    include: GlobSet,
    exclude: GlobSet,
    change_types: Vec<Status>,
}

impl CompiledFilter {
    fn matches_path(&self, path: &str) -> bool {
        self.include.is_match(path) && !self.exclude.is_match(path)
    }

    fn matches(&self, change: &FileChange) -> bool {
        if !self.change_types.is_empty() && !self.change_types.contains(&change.status) {
            return false;
        }
        self.matches_path(&change.path) || change.old_path.as_deref().is_some_and(|old| self.matches_path(old))
    }
}

/// All configured filters, compiled once.
#[derive(Debug)]
pub struct FilterSet {
    filters: BTreeMap<String, CompiledFilter>,
}

/// What one filter says about a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterResult {
    pub changed: bool,
    pub files: Vec<String>,
}

impl FilterSet {
    /// Compiles the filters; the config was validated, so an error here names the filter and glob anyway.
    pub fn compile(specs: &BTreeMap<String, FilterSpec>) -> Result<FilterSet, String> {
        let mut filters = BTreeMap::new();
        for (name, spec) in specs {
            let (exclusions, inclusions): (Vec<&String>, Vec<&String>) =
                spec.paths.iter().partition(|glob| glob.starts_with('!'));
            let include = compile_set(inclusions.iter().map(|glob| glob.as_str()))
                .map_err(|err| format!("filter `{name}`: {err}"))?;
            let exclude = compile_set(exclusions.iter().map(|glob| &glob[1..]))
                .map_err(|err| format!("filter `{name}`: {err}"))?;
            filters.insert(name.clone(), CompiledFilter { include, exclude, change_types: spec.change_types.clone() });
        }
        Ok(FilterSet { filters })
    }

    /// Sorts the changes through every filter. `files` come in path order, so results are sorted too.
    pub fn apply(&self, changes: &[FileChange]) -> BTreeMap<String, FilterResult> {
        self.filters
            .iter()
            .map(|(name, filter)| {
                let files: Vec<String> =
                    changes.iter().filter(|change| filter.matches(change)).map(|change| change.path.clone()).collect();
                (name.clone(), FilterResult { changed: !files.is_empty(), files })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, status: Status) -> FileChange {
        FileChange { path: path.into(), status, old_path: None }
    }

    fn filter_set(name: &str, paths: &[&str], change_types: Vec<Status>) -> FilterSet {
        let spec = FilterSpec { paths: paths.iter().map(|p| p.to_string()).collect(), change_types };
        FilterSet::compile(&BTreeMap::from([(name.to_string(), spec)])).unwrap()
    }

    #[test]
    fn star_does_not_cross_slashes_but_double_star_does() {
        let filters = filter_set("f", &["dags/*.py"], vec![]);
        let changes = [change("dags/a.py", Status::Added), change("dags/sub/b.py", Status::Added)];
        assert_eq!(filters.apply(&changes)["f"].files, vec!["dags/a.py"]);
        let filters = filter_set("f", &["dags/**/*.py"], vec![]);
        assert_eq!(filters.apply(&changes)["f"].files, vec!["dags/a.py", "dags/sub/b.py"]);
    }

    #[test]
    fn exclusions_win_whatever_their_position() {
        let filters = filter_set("f", &["!**/*.md", "orchestration/**"], vec![]);
        let changes =
            [change("orchestration/README.md", Status::Modified), change("orchestration/x.py", Status::Added)];
        let result = &filters.apply(&changes)["f"];
        assert!(result.changed);
        assert_eq!(result.files, vec!["orchestration/x.py"]);
    }

    #[test]
    fn change_types_limit_what_counts() {
        let filters = filter_set("f", &["**"], vec![Status::Added, Status::Modified]);
        let changes = [change("gone.py", Status::Deleted)];
        assert_eq!(filters.apply(&changes)["f"], FilterResult { changed: false, files: vec![] });
    }

    #[test]
    fn renames_count_by_old_or_new_path() {
        let filters = filter_set("dbt", &["dbt/"], vec![]);
        let moved_out =
            FileChange { path: "archive/m.sql".into(), status: Status::Renamed, old_path: Some("dbt/m.sql".into()) };
        assert_eq!(filters.apply(&[moved_out])["dbt"].files, vec!["archive/m.sql"]);
    }
}
