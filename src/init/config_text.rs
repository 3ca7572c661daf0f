//! The dagship.yml `dagship init` writes: what the scan found, commented, with one line per choice it made so a
//! reader can see what to change. Every key is one `dagship config check --strict` accepts.
use std::fmt::Write;

use super::scan::Layout;
use super::{Provider, Target};

pub fn dagship_yml(layout: &Layout, provider: Provider, targets: &[Target], default_branch: &str) -> String {
    let mut text = String::new();
    let out = &mut text;
    line(out, "# dagship.yml, written by `dagship init` from what the repository holds. Every key is described in");
    line(
        out,
        "# the README (\"Configuration\"); `dagship config check --strict` validates it, `dagship doctor` checks",
    );
    line(out, "# the tools and access it needs.");
    let dags_dir = layout.dags_dir.as_deref().unwrap_or("dags");
    match &layout.dags_dir {
        Some(_) => line(out, "# The Airflow DAGs folder, mirrored to the bucket's dags/."),
        None => line(out, "# No DAGs folder found (a `dags` folder or Python files importing airflow): set it."),
    }
    let _ = writeln!(out, "dags_dir: {}", quoted(dags_dir));
    if let Some(plugins) = &layout.plugins_dir {
        line(out, "# The Airflow plugins folder, mirrored to plugins/ (on MWAA: zipped into plugins.zip).");
        let _ = writeln!(out, "plugins_dir: {}", quoted(plugins));
    }
    let _ = writeln!(
        out,
        "# The branch new branches and force pushes are compared with.\ndefault_branch: {}",
        quoted(default_branch)
    );

    if let Some(dbt) = &layout.dbt {
        line(out, "");
        line(out, "dbt:");
        line(out, "  # The folder holding dbt_project.yml.");
        let _ = writeln!(out, "  project_dir: {}", quoted(&dbt.project_dir));
        line(out, "  # Where each environment's dbt state (manifest.json, run_results.json) lives in its bucket.");
        line(out, "  state_prefix: data/target");
    }

    line(out, "");
    line(out, "# Named groups of globs: each is a `changed` output of the pull request check.");
    line(out, "filters:");
    if let Some(dbt) = &layout.dbt {
        let _ = writeln!(out, "  dbt: [{}]", quoted(&format!("{}/**", dbt.project_dir)));
    }
    let orchestration = match dags_dir.rsplit_once('/') {
        Some((parent, _)) => parent.to_string(),
        None => dags_dir.to_string(),
    };
    let _ = writeln!(out, "  orchestration: [{}, \"!**/*.md\"]", quoted(&format!("{orchestration}/**")));
    if !layout.job_roots.is_empty() {
        let globs: Vec<String> = layout.job_roots.iter().map(|root| quoted(&format!("{root}/*.py"))).collect();
        let _ = writeln!(out, "  jobs_code: [{}]", globs.join(", "));
    }

    line(out, "");
    match layout.jobs.len() {
        0 => line(out, "# No job folders with tests found; a folder under these roots holding `tests` is a job."),
        count => {
            let jobs = crate::plural::plural(count - layout.job_templates.len(), "job folder");
            let _ = writeln!(out, "# {jobs} with tests found; each one a change touches becomes a test matrix entry.");
        }
    }
    line(out, "jobs:");
    let roots = if layout.job_roots.is_empty() { vec!["jobs/**".to_string()] } else { layout.job_roots.clone() };
    let _ = writeln!(out, "  roots: [{}]", list(&roots));
    line(out, "  marker: tests");
    if !layout.job_templates.is_empty() {
        line(out, "  # Templates are never jobs.");
        let _ = writeln!(out, "  ignore: [{}]", list(&layout.job_templates));
    }

    line(out, "");
    line(out, "environments:");
    for (index, target) in targets.iter().enumerate() {
        let _ = writeln!(out, "  {}:", target.name);
        let _ = writeln!(out, "    platform: {}", provider.platform_name());
        if target.placeholder {
            let _ =
                writeln!(out, "    # Replace with your {} bucket (`dagship init --env NAME=URL`).", provider.title());
        }
        let _ = writeln!(out, "    bucket: {}", quoted(&target.bucket));
        if let Some(dbt_target) = layout.dbt.as_ref().and_then(|dbt| dbt.target_for(&target.name)) {
            let _ = writeln!(out, "    dbt_target: {}", quoted(&dbt_target));
        }
        if index == 0 {
            line(out, "    # Pushes to these branches deploy this environment (the deploy workflow).");
            let _ = writeln!(out, "    branches: [{}]", quoted(default_branch));
        } else {
            line(out, "    # Deployed by hand (the manual workflow); or map a branch, and chain it after another:");
            let _ = writeln!(out, "    # branches: [production]\n    # after: {}", targets[index - 1].name);
        }
        if provider == Provider::Mwaa {
            line(out, "    mwaa:");
            line(out, "      # The MWAA environment's name (`aws mwaa list-environments`); updated when plugins or");
            line(out, "      # requirements change, and checked to be AVAILABLE before each deploy.");
            let _ = writeln!(out, "      environment_name: {}", quoted(&target.name));
        }
    }

    line(out, "");
    match &layout.dags_requirements {
        Some(requirements) => {
            line(out, "dags_check:");
            line(out, "  # Airflow and the DAGs' imports, installed into a cached venv for the DAG import check.");
            let _ = writeln!(out, "  requirements: {}", quoted(requirements));
        }
        None => {
            line(out, "# The DAG import check uses python3 from PATH; point it at a Python with your Airflow, or at a");
            line(out, "# requirements file pinning apache-airflow that dagship installs into a cached venv:");
            line(out, "# dags_check:\n#   python: .venv/bin/python\n#   requirements: requirements-dags.txt");
        }
    }

    line(out, "");
    line(out, "deploy:");
    match &layout.exclude_file {
        Some(exclude) => {
            line(out, "  # Paths never uploaded nor deleted (gitignore syntax, relative to the file's folder).");
            let _ = writeln!(out, "  exclude_from: {}", quoted(exclude));
        }
        None => line(out, "  # exclude_from: <a gitignore-style file of paths never uploaded nor deleted>"),
    }
    line(out, "  # A deploy deleting more than this share of the objects under a prefix is refused.");
    line(out, "  max_delete: 10%");
    text
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML), so any path is safe.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    items.iter().map(|item| quoted(item)).collect::<Vec<_>>().join(", ")
}
