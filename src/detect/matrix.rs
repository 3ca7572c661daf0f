//! The test matrix: job folders (under the configured roots, holding the marker entry, not ignored) that the
//! change touches, as JSON for `strategy.matrix`.
use std::collections::{BTreeMap, BTreeSet, HashSet};

use globset::GlobSet;
use serde::Serialize;

use crate::config::JobsConfig;
use crate::detect::FileChange;
use crate::glob::compile_set;

/// GitHub refuses a matrix with more entries than this.
pub const GITHUB_MATRIX_LIMIT: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error(
        "{count} jobs are touched, more than GitHub's limit of {GITHUB_MATRIX_LIMIT} matrix entries: set \
         `jobs.chunk: true` in dagship.yml to group them into at most {GITHUB_MATRIX_LIMIT} entries"
    )]
    TooManyJobs { count: usize },
    #[error("jobs config: {0}")]
    Glob(#[from] globset::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub include: Vec<MatrixEntry>,
}

/// One matrix entry: a job (`job`, `name`), or with `jobs.chunk` past the limit a group of jobs (`jobs`, `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<String>>,
}

/// Finds jobs in a list of tree paths.
pub struct JobFinder<'a> {
    config: &'a JobsConfig,
    roots: GlobSet,
    ignore: GlobSet,
}

impl<'a> JobFinder<'a> {
    pub fn new(config: &'a JobsConfig) -> Result<Self, MatrixError> {
        Ok(JobFinder {
            config,
            roots: compile_set(
                config.roots.iter().map(|root| folder_glob(root)).collect::<Vec<_>>().iter().map(String::as_str),
            )?,
            ignore: compile_set(config.ignore.iter().map(String::as_str))?,
        })
    }

    /// The folders to list from git: the literal start of every root glob (empty: the whole tree).
    pub fn tree_folders(&self) -> Vec<String> {
        let mut folders = BTreeSet::new();
        for root in &self.config.roots {
            let literal: Vec<&str> =
                root.split('/').take_while(|part| !part.contains(['*', '?', '[', '{', '\\'])).collect();
            if literal.is_empty() || literal.iter().all(|part| part.is_empty()) {
                return Vec::new();
            }
            folders.insert(literal.join("/").trim_end_matches('/').to_string());
        }
        folders.into_iter().collect()
    }

    /// Every job folder in the tree. A path's first `marker` component names the job folder above it, so
    /// a `tests/` folder inside a job's own `tests/` never makes a job, while jobs nested at any depth do.
    pub fn discover<'p>(&self, tree_paths: impl Iterator<Item = &'p str>) -> BTreeSet<String> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut jobs = BTreeSet::new();
        let marker = self.config.marker.as_str();
        for path in tree_paths {
            let mut offset = 0;
            for component in path.split('/') {
                if component == marker && offset > 0 {
                    let folder = &path[..offset - 1];
                    if seen.insert(folder) && self.is_job_folder(folder) {
                        jobs.insert(folder.to_string());
                    }
                    break;
                }
                offset += component.len() + 1;
            }
        }
        jobs
    }

    fn is_job_folder(&self, folder: &str) -> bool {
        self.roots.is_match(folder) && !ancestors_and_self(folder).any(|dir| self.ignore.is_match(dir))
    }
}

/// A root written as a plain folder (`jobs`) means everything below it (`jobs/**`).
fn folder_glob(root: &str) -> String {
    let root = root.trim_end_matches('/');
    if root.contains(['*', '?', '[', '{']) { root.to_string() } else { format!("{root}/**") }
}

/// `a/b/c` -> `a/b/c`, `a/b`, `a`.
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(path), |current| current.rfind('/').map(|cut| &current[..cut]))
}

/// The jobs that hold at least one changed file (by its new or its old path), sorted.
pub fn touched_jobs(jobs: &BTreeSet<String>, changes: &[FileChange]) -> Vec<String> {
    let jobs: HashSet<&str> = jobs.iter().map(String::as_str).collect();
    let mut touched = BTreeSet::new();
    for change in changes {
        for path in std::iter::once(change.path.as_str()).chain(change.old_path.as_deref()) {
            for folder in ancestors_and_self(path).skip(1) {
                if jobs.contains(folder) {
                    touched.insert(folder.to_string());
                }
            }
        }
    }
    touched.into_iter().collect()
}

/// The matrix for these jobs (sorted). Past GitHub's limit: an error, or with `chunk` groups of jobs.
pub fn build(jobs: &[String], chunk: bool) -> Result<Matrix, MatrixError> {
    if jobs.len() <= GITHUB_MATRIX_LIMIT {
        let names = short_names(jobs);
        let include = jobs
            .iter()
            .map(|job| MatrixEntry { job: Some(job.clone()), name: names[job.as_str()].clone(), jobs: None })
            .collect();
        return Ok(Matrix { include });
    }
    if !chunk {
        return Err(MatrixError::TooManyJobs { count: jobs.len() });
    }
    let groups = jobs.len().div_ceil(GITHUB_MATRIX_LIMIT);
    let per_group = jobs.len().div_ceil(groups);
    let include = jobs
        .chunks(per_group)
        .enumerate()
        .map(|(index, group)| MatrixEntry {
            job: None,
            name: format!("jobs {} of {}", index + 1, groups),
            jobs: Some(group.to_vec()),
        })
        .collect();
    Ok(Matrix { include })
}

/// Each job's folder name, or as many trailing path components as it takes to tell jobs apart.
fn short_names(jobs: &[String]) -> BTreeMap<&str, String> {
    let suffix = |job: &str, depth: usize| -> String {
        let parts: Vec<&str> = job.rsplit('/').take(depth).collect();
        parts.into_iter().rev().collect::<Vec<_>>().join("/")
    };
    let mut names = BTreeMap::new();
    for job in jobs {
        let mut depth = 1;
        loop {
            let name = suffix(job, depth);
            let clashes = jobs.iter().any(|other| other != job && suffix(other, depth) == name);
            if !clashes || name == *job {
                names.insert(job.as_str(), name);
                break;
            }
            depth += 1;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Status;

    fn config(roots: &[&str], ignore: &[&str]) -> JobsConfig {
        JobsConfig {
            roots: roots.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ..JobsConfig::default()
        }
    }

    const TREE: &[&str] = &[
        "jobs/etl/brevo/main.py",
        "jobs/etl/brevo/tests/test_main.py",
        "jobs/etl/brevo/tests/fixtures/tests/data.json",
        "jobs/etl/no_tests/main.py",
        "jobs/ml/_template/tests/test_x.py",
        "jobs/ml/a/b/c/d/deep/tests/test_deep.py",
        "jobs/ml/brevo/tests/test_other.py",
        "other/x/tests/test.py",
    ];

    #[test]
    fn discovers_jobs_at_any_depth_minus_ignored_and_marker_inner_folders() {
        let config = config(&["jobs"], &["jobs/ml/_template"]);
        let finder = JobFinder::new(&config).unwrap();
        let jobs = finder.discover(TREE.iter().copied());
        assert_eq!(
            jobs.into_iter().collect::<Vec<_>>(),
            vec!["jobs/etl/brevo", "jobs/ml/a/b/c/d/deep", "jobs/ml/brevo"]
        );
        assert_eq!(finder.tree_folders(), vec!["jobs"]);
    }

    #[test]
    fn touched_jobs_by_new_or_old_path() {
        let jobs: BTreeSet<String> = ["jobs/a", "jobs/b", "jobs/c"].iter().map(|s| s.to_string()).collect();
        let changes = vec![
            FileChange { path: "jobs/a/src/x.py".into(), status: Status::Modified, old_path: None },
            FileChange { path: "elsewhere.py".into(), status: Status::Renamed, old_path: Some("jobs/c/y.py".into()) },
            FileChange { path: "jobs/ab/z.py".into(), status: Status::Added, old_path: None },
        ];
        assert_eq!(touched_jobs(&jobs, &changes), vec!["jobs/a", "jobs/c"]);
    }

    #[test]
    fn names_are_folder_names_made_unique() {
        let jobs = vec!["jobs/etl/brevo".to_string(), "jobs/ml/brevo".to_string(), "jobs/ml/x".to_string()];
        let matrix = build(&jobs, false).unwrap();
        let names: Vec<&str> = matrix.include.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(names, vec!["etl/brevo", "ml/brevo", "x"]);
    }

    #[test]
    fn over_the_limit_fails_unless_chunked() {
        let jobs: Vec<String> = (0..600).map(|i| format!("jobs/j{i:03}")).collect();
        assert!(matches!(build(&jobs, false), Err(MatrixError::TooManyJobs { count: 600 })));
        let matrix = build(&jobs, true).unwrap();
        assert_eq!(matrix.include.len(), 3);
        let total: usize = matrix.include.iter().map(|entry| entry.jobs.as_ref().unwrap().len()).sum();
        assert_eq!(total, 600);
        assert_eq!(matrix.include[0].name, "jobs 1 of 3");
    }
}
