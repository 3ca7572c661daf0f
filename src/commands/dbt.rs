//! `dagship dbt compile`: flags -> a compile request (the environment from `--env` or the pull request's base
//! branch) -> the compile stage -> the report, step summary and step outputs.
use crate::cli::{Cli, DbtCompileArgs, OutputFormat};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::flow::compile::{CompileRequest, compile as run_compile, environment_for};
use crate::github::edges::Edges;
use crate::report::{outputs, render_compile_markdown, render_compile_text};
use crate::workspace::Workspace;

pub fn compile(cli: &Cli, args: &DbtCompileArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let request = CompileRequest {
        environment: environment_for(&workspace, args.env.as_deref(), args.base_ref.as_deref())?,
        full: args.full,
        skip_checks: args.skip_checks,
        target: args.target.clone(),
    };
    let report = run_compile(&workspace, &request)?;
    let edges = Edges::from_env();
    match args.format {
        OutputFormat::Json => {
            edges.print(&(serde_json::to_string_pretty(&report).expect("reports serialize") + "\n"))?
        }
        OutputFormat::Text => edges.print(&render_compile_text(&report))?,
    }
    edges.summary(&render_compile_markdown(&report))?;
    edges.outputs(&outputs::compile(&report))?;
    Ok(ExitCode::Ok)
}
