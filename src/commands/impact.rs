//! `dagship impact`: the dbt check against an environment's state (without the configured `dbt.checks`), the
//! whole DAGs folder imported, and the models -> DAGs impact printed as text, JSON, Markdown or Mermaid.
use super::dbt::{annotate_failure, environment, run_compile, tell};
use super::deploy::setup;
use super::print_stdout;
use crate::cli::{Cli, ImpactArgs, ImpactFormat};
use crate::dbt::{CompileOptions, Settings};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::report::{
    render_compile_markdown, render_compile_text, render_impact_markdown, render_impact_mermaid, render_impact_text,
};

pub fn run(cli: &Cli, args: &ImpactArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    // `origin/main` and `main` name the same branch mapping.
    let branch = args.base.as_deref().map(|base| base.strip_prefix("origin/").unwrap_or(base));
    let environment = environment(&config, args.env.as_deref(), branch)?;
    let settings = Settings::resolve(&root, &config, &environment)?;
    let options = CompileOptions { full: false, skip_checks: true };
    let report = run_compile(&root, &config, &settings, options).inspect_err(annotate_failure)?;
    tell(&report);
    let impact = crate::impact::assess(&root, &config, &report)?;
    let text = match args.format {
        ImpactFormat::Json => {
            let json = serde_json::json!({ "dbt": report, "impact": impact });
            serde_json::to_string_pretty(&json).expect("reports serialize") + "\n"
        }
        ImpactFormat::Text => format!("{}{}", render_compile_text(&report), render_impact_text(&impact)),
        ImpactFormat::Markdown => format!("{}\n{}", render_compile_markdown(&report), render_impact_markdown(&impact)),
        ImpactFormat::Mermaid => render_impact_mermaid(&impact),
    };
    print_stdout(&text)?;
    Ok(ExitCode::Ok)
}
