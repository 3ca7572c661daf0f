//! `dagship impact`: flags -> a compile request (without the configured `dbt.checks`) -> the compile and impact
//! stages -> the models -> DAGs impact as text, JSON, Markdown or Mermaid.
use crate::cli::{Cli, ImpactArgs, ImpactFormat};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::flow::compile::{CompileRequest, compile, environment_for};
use crate::github::edges::Edges;
use crate::report::{
    render_compile_markdown, render_compile_text, render_impact_markdown, render_impact_mermaid, render_impact_text,
};
use crate::workspace::Workspace;

pub fn run(cli: &Cli, args: &ImpactArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    // `origin/main` and `main` name the same branch mapping.
    let branch = args.base.as_deref().map(|base| base.strip_prefix("origin/").unwrap_or(base));
    let request = CompileRequest {
        environment: environment_for(&workspace, args.env.as_deref(), branch)?,
        full: false,
        skip_checks: true,
        target: args.target.clone(),
    };
    let report = compile(&workspace, &request)?;
    let impact = crate::flow::impact::assess(&workspace.root, &workspace.config, &report)?;
    let text = match args.format {
        ImpactFormat::Json => {
            let json = serde_json::json!({ "dbt": report, "impact": impact });
            serde_json::to_string_pretty(&json).expect("reports serialize") + "\n"
        }
        ImpactFormat::Text => format!("{}{}", render_compile_text(&report), render_impact_text(&impact)),
        ImpactFormat::Markdown => format!("{}\n{}", render_compile_markdown(&report), render_impact_markdown(&impact)),
        ImpactFormat::Mermaid => render_impact_mermaid(&impact),
    };
    Edges::from_env().print(&text)?;
    Ok(ExitCode::Ok)
}
