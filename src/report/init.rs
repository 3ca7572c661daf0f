//! `dagship init`'s text: what the repository holds, what was written, and the next step.
use crate::init::InitReport;

pub fn render_init_text(report: &InitReport) -> String {
    let layout = &report.layout;
    let mut text = String::from("Found:\n");
    let mut found = |what: &str, value: Option<String>| {
        text.push_str(&format!("  {what:<17} {}\n", value.unwrap_or_else(|| "none".into())));
    };
    found("DAGs folder", layout.dags_dir.clone());
    found("plugins folder", layout.plugins_dir.clone());
    found(
        "dbt project",
        layout.dbt.as_ref().map(|dbt| match &dbt.profile {
            Some(profile) => format!("{} (profile `{profile}`)", dbt.project_dir),
            None => dbt.project_dir.clone(),
        }),
    );
    found(
        "job folders",
        (!layout.jobs.is_empty()).then(|| format!("{} ({})", layout.jobs.len(), layout.jobs.join(", "))),
    );
    found("exclude file", layout.exclude_file.clone());
    found("airflowignore", layout.airflowignore.clone());
    found("Airflow pins", layout.dags_requirements.clone());
    found("workflows", (!layout.workflows.is_empty()).then(|| layout.workflows.join(", ")));
    text.push_str("Wrote:\n");
    for (file, replaced) in &report.written {
        let note = if *replaced { " (replaced)" } else { "" };
        text.push_str(&format!("  {file}{note}\n"));
    }
    let placeholders: Vec<&str> =
        report.environments.iter().filter(|target| target.placeholder).map(|target| target.name.as_str()).collect();
    text.push_str("Next:\n");
    if !placeholders.is_empty() {
        text.push_str(&format!(
            "  set the bucket of {} in dagship.yml (or run init again with --env NAME=BUCKET_URL --force)\n",
            placeholders.join(", ")
        ));
    }
    text.push_str(
        "  pin your-org/dagship in the workflows to the release commit you reviewed, and set the variables they name\n  \
         dagship doctor    checks the config, git, dbt, Airflow and each bucket\n",
    );
    text
}
