//! `dagship history`, `rollback`, `drift` and `status`: flags -> requests -> the history stages (flow/history.rs)
//! -> renderings, step summary and step outputs.
use crate::cli::{Cli, DriftArgs, HistoryArgs, OutputFormat, PlanFormat, RollbackArgs, StatusArgs};
use crate::error::Result;
use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::flow::history::{self as stage, RollbackRequest};
use crate::flow::runtime;
use crate::github::edges::Edges;
use crate::report::{
    history_json, outputs, render_deploy_markdown, render_deploy_outcome, render_drift_markdown, render_drift_text,
    render_history_markdown, render_history_text, render_status_markdown, render_status_text,
};
use crate::workspace::Workspace;

pub fn history(cli: &Cli, args: &HistoryArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let records = stage::history(&workspace, &args.env, args.limit)?;
    let edges = Edges::from_env();
    edges.print(&match args.format {
        PlanFormat::Text => render_history_text(&args.env, &records),
        PlanFormat::Json => serde_json::to_string_pretty(&history_json(&records)).expect("JSON") + "\n",
        PlanFormat::Markdown => render_history_markdown(&args.env, &records),
    })?;
    edges.summary(&render_history_markdown(&args.env, &records))?;
    Ok(ExitCode::Ok)
}

pub fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let request = RollbackRequest {
        environment: args.env.clone(),
        to: args.to.clone(),
        dry_run: args.dry_run,
        allow_deletes: args.allow_deletes,
        overwrite_drift: args.overwrite_drift,
        lock_timeout: args.lock_timeout,
        show: crate::flow::show::Show::for_cli(args.format == OutputFormat::Text, args.yes),
    };
    let edges = Edges::from_env();
    let report = stage::rollback(&runtime()?, &workspace, &request, &edges)?;
    edges.print(&match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).expect("reports serialize") + "\n",
        // The plan was printed before the writes (src/flow/show.rs).
        OutputFormat::Text => render_deploy_outcome(&report),
    })?;
    edges.summary(&render_deploy_markdown(&report))?;
    edges.outputs(&outputs::deploys(std::slice::from_ref(&report)))?;
    Ok(ExitCode::Ok)
}

pub fn drift(cli: &Cli, args: &DriftArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let drift = stage::drift(&runtime()?, &workspace, &args.env)?;
    let edges = Edges::from_env();
    edges.print(&match args.format {
        PlanFormat::Text => render_drift_text(&args.env, drift.as_ref()),
        PlanFormat::Json => serde_json::to_string_pretty(&drift).expect("JSON") + "\n",
        PlanFormat::Markdown => render_drift_markdown(&args.env, drift.as_ref()),
    })?;
    edges.summary(&render_drift_markdown(&args.env, drift.as_ref()))?;
    let drifted = drift.as_ref().is_some_and(|drift| !drift.is_empty());
    edges.outputs(&outputs::drift(drifted))?;
    Ok(if drifted { ErrorKind::ChecksFailed.into() } else { ExitCode::Ok })
}

pub fn status(cli: &Cli, args: &StatusArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let statuses = stage::status(&runtime()?, &workspace);
    let edges = Edges::from_env();
    edges.print(&match args.format {
        PlanFormat::Text => render_status_text(&statuses),
        PlanFormat::Json => serde_json::to_string_pretty(&statuses).expect("JSON") + "\n",
        PlanFormat::Markdown => render_status_markdown(&statuses),
    })?;
    edges.summary(&render_status_markdown(&statuses))?;
    let failed = statuses.iter().any(|status| status.error.is_some());
    Ok(if failed { ErrorKind::Remote.into() } else { ExitCode::Ok })
}
