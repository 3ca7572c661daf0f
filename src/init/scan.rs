//! What `dagship init` reads from a repository: the DAGs folder, the plugins folder, the dbt project (anywhere,
//! the DAGs folder included), the job folders with tests, the exclude and ignore files, a requirements file
//! pinning Airflow, and the workflows already there. Plain facts; `config_text` and `workflows` turn them into files.
use std::path::Path;

use ignore::WalkBuilder;

/// Folders never searched: build output, installed packages and virtual environments (hidden folders and what
/// .gitignore lists are skipped by the walker itself).
const SKIPPED_DIRS: &[&str] =
    &["target", "dbt_packages", "node_modules", "venv", "__pycache__", "site-packages", "logs"];

/// How much of a Python file is read to see whether it imports Airflow.
const HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub dags_dir: Option<String>,
    pub plugins_dir: Option<String>,
    pub dbt: Option<DbtFound>,
    /// Job folders (holding a `tests` folder), sorted.
    pub jobs: Vec<String>,
    /// `jobs.roots` globs covering every job folder.
    pub job_roots: Vec<String>,
    /// Job folders that look like templates (`_template`, `*template*`), for `jobs.ignore`.
    pub job_templates: Vec<String>,
    /// An rsync-style exclude file next to the DAGs (`.rsyncignore`), for `deploy.exclude_from`.
    pub exclude_file: Option<String>,
    /// The DAGs folder's `.airflowignore` (Airflow and `dags check` honour it; nothing to configure).
    pub airflowignore: Option<String>,
    /// A requirements file that pins apache-airflow, for `dags_check.requirements`.
    pub dags_requirements: Option<String>,
    /// `.github/workflows/*.yml` already in the repository.
    pub workflows: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DbtFound {
    pub project_dir: String,
    /// The `profile` of dbt_project.yml.
    pub profile: Option<String>,
    /// The targets of that profile in the project's own profiles.yml (empty when it has none).
    pub targets: Vec<String>,
    /// The profile's default `target`.
    pub default_target: Option<String>,
}

impl DbtFound {
    /// The target an environment compiles with: the profile's target of the same name, else its default.
    pub fn target_for(&self, environment: &str) -> Option<String> {
        if self.targets.iter().any(|target| target == environment) {
            return Some(environment.to_string());
        }
        self.default_target.clone().or_else(|| self.targets.first().cloned())
    }
}

/// Every file and folder of the repository worth looking at, as `/`-separated relative paths.
struct Tree {
    dirs: Vec<String>,
    files: Vec<String>,
}

fn walk(root: &Path) -> Tree {
    let mut tree = Tree { dirs: Vec::new(), files: Vec::new() };
    let walker = WalkBuilder::new(root)
        .hidden(true)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| !SKIPPED_DIRS.iter().any(|skipped| entry.file_name() == *skipped))
        .build();
    for entry in walker.flatten() {
        let Ok(relative) = entry.path().strip_prefix(root) else { continue };
        let Some(relative) = relative.to_str().filter(|relative| !relative.is_empty()) else { continue };
        let relative = relative.replace('\\', "/");
        if entry.file_type().is_some_and(|kind| kind.is_dir()) {
            tree.dirs.push(relative);
        } else {
            tree.files.push(relative);
        }
    }
    tree
}

fn depth(path: &str) -> usize {
    path.matches('/').count()
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

fn inside(path: &str, folder: &str) -> bool {
    path == folder || path.starts_with(&format!("{folder}/"))
}

fn joined(folder: &str, name: &str) -> String {
    if folder.is_empty() { name.to_string() } else { format!("{folder}/{name}") }
}

fn imports_airflow(root: &Path, file: &str) -> bool {
    let Ok(bytes) = std::fs::read(root.join(file)) else { return false };
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(HEAD_BYTES)]);
    head.lines().map(str::trim_start).any(|line| {
        line.starts_with("from airflow") || line.starts_with("import airflow") || line.contains("from airflow.")
    })
}

pub fn scan(root: &Path) -> Layout {
    let tree = walk(root);
    let dbt = find_dbt(root, &tree);
    let jobs: Vec<String> = tree
        .dirs
        .iter()
        .filter(|dir| name(dir) == "tests" && !parent(dir).is_empty())
        .map(|dir| parent(dir).to_string())
        .filter(|job| dbt.as_ref().is_none_or(|dbt| !inside(job, &dbt.project_dir)))
        .collect();
    let dags_dir = find_dags_dir(root, &tree, &jobs, dbt.as_ref());
    // A DAGs folder's own tests are not a job.
    let jobs: Vec<String> = jobs
        .into_iter()
        .filter(|job| dags_dir.as_deref().is_none_or(|dags| !inside(job, dags) && !inside(dags, job)))
        .collect();
    let mut job_roots: Vec<String> =
        jobs.iter().map(|job| format!("{}/**", job.split('/').next().unwrap_or(job))).collect();
    job_roots.dedup();
    let job_templates = jobs
        .iter()
        .filter(|job| name(job).starts_with('_') || name(job).to_ascii_lowercase().contains("template"))
        .cloned()
        .collect();
    let plugins_dir = dags_dir.as_deref().and_then(|dags| {
        [joined(parent(dags), "plugins"), "plugins".to_string()].into_iter().find(|dir| tree.dirs.contains(dir))
    });
    let in_dags =
        |file: &str| dags_dir.as_deref().map(|dags| joined(dags, file)).filter(|path| root.join(path).is_file());
    let exclude_file =
        in_dags(".rsyncignore").or_else(|| root.join(".rsyncignore").is_file().then(|| ".rsyncignore".into()));
    let airflowignore = in_dags(".airflowignore");
    let dags_requirements = find_airflow_requirements(root, &tree, dags_dir.as_deref());
    let workflows = workflows(root);
    Layout {
        dags_dir,
        plugins_dir,
        dbt,
        jobs,
        job_roots,
        job_templates,
        exclude_file,
        airflowignore,
        dags_requirements,
        workflows,
    }
}

/// The shallowest dbt_project.yml, with its profile's targets when the project carries its profiles.yml.
fn find_dbt(root: &Path, tree: &Tree) -> Option<DbtFound> {
    let file = tree.files.iter().filter(|file| name(file) == "dbt_project.yml").min_by_key(|file| depth(file))?;
    let project_dir = parent(file).to_string();
    let read =
        |path: &Path| -> Option<serde_json::Value> { yaml_serde::from_str(&std::fs::read_to_string(path).ok()?).ok() };
    let profile = read(&root.join(file)).and_then(|project| Some(project.get("profile")?.as_str()?.to_string()));
    let profiles = read(&root.join(&project_dir).join("profiles.yml"));
    let profile_entry = profiles.as_ref().zip(profile.as_deref()).and_then(|(profiles, profile)| profiles.get(profile));
    let targets = profile_entry
        .and_then(|entry| entry.get("outputs")?.as_object().map(|outputs| outputs.keys().cloned().collect()))
        .unwrap_or_default();
    let default_target = profile_entry.and_then(|entry| Some(entry.get("target")?.as_str()?.to_string()));
    Some(DbtFound { project_dir, profile, targets, default_target })
}

/// A folder named `dags` holding Python files at any depth (the shallowest), else the folder of the shallowest
/// Python file importing Airflow outside the job folders and the dbt project.
fn find_dags_dir(root: &Path, tree: &Tree, jobs: &[String], dbt: Option<&DbtFound>) -> Option<String> {
    let outside =
        |path: &str| !jobs.iter().any(|job| inside(path, job)) && dbt.is_none_or(|dbt| !inside(path, &dbt.project_dir));
    let named = tree
        .dirs
        .iter()
        .filter(|dir| name(dir) == "dags" && outside(dir))
        .filter(|dir| tree.files.iter().any(|file| inside(file, dir) && file.ends_with(".py") && outside(file)))
        .min_by_key(|dir| depth(dir));
    if let Some(dir) = named {
        return Some(dir.clone());
    }
    tree.files
        .iter()
        .filter(|file| file.ends_with(".py") && outside(file) && imports_airflow(root, file))
        .min_by_key(|file| depth(file))
        .map(|file| parent(file).to_string())
        .filter(|dir| !dir.is_empty())
}

/// A `*requirements*.txt` next to the DAGs folder, beside its parent or at the root that names apache-airflow.
fn find_airflow_requirements(root: &Path, tree: &Tree, dags_dir: Option<&str>) -> Option<String> {
    let dags = dags_dir?;
    let folders = [dags, parent(dags), ""];
    tree.files
        .iter()
        .filter(|file| folders.contains(&parent(file)) && name(file).contains("requirements") && file.ends_with(".txt"))
        .find(|file| {
            std::fs::read_to_string(root.join(file))
                .is_ok_and(|text| text.lines().any(|line| line.trim_start().starts_with("apache-airflow")))
        })
        .cloned()
}

fn workflows(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(".github/workflows")) else { return Vec::new() };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!(".github/workflows/{name}"))
        .collect();
    found.sort();
    found
}
