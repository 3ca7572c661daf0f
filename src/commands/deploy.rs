//! `dagship plan`, `dagship deploy` and `dagship unlock`: flags -> plan/deploy requests -> the deploy stage ->
//! renderings, step summary and step outputs.
use crate::cli::{Cli, DbtArtifacts, DeployArgs, OutputFormat, PlanArgs, PlanFormat, UnlockArgs};
use crate::dbt::ArtifactsMode;
use crate::deploy::OlderCommit;
use crate::error::Result;
use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::flow::deploy::{self as stage, DeployRequest, PlanRequest, announce_chain_stop, deploy_one};
use crate::flow::runtime;
use crate::flow::show::Show;
use crate::github::edges::Edges;
use crate::notice::{Level, announce};
use crate::report::{
    outputs, render_deploy_markdown, render_deploy_outcome, render_mwaa_markdown, render_mwaa_text,
    render_plan_markdown, render_plan_text,
};
use crate::workspace::Workspace;

/// The `--dbt-artifacts` flag in domain terms: None skips them.
fn dbt_artifacts(flag: DbtArtifacts) -> Option<ArtifactsMode> {
    match flag {
        DbtArtifacts::Build => Some(ArtifactsMode::Build),
        DbtArtifacts::Existing => Some(ArtifactsMode::Existing),
        DbtArtifacts::Skip => None,
    }
}

pub fn plan(cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let request = PlanRequest {
        environment: args.env.clone(),
        allow_deletes: args.allow_deletes,
        allow_dirty: args.allow_dirty,
        dbt_artifacts: dbt_artifacts(args.dbt_artifacts),
        overwrite_drift: args.overwrite_drift,
        dbt_target: args.target.clone(),
    };
    let planned = stage::plan(&runtime()?, &workspace, &request)?;
    let plan = &planned.plan;
    let edges = Edges::from_env();
    let rendered = match args.format {
        PlanFormat::Text => render_plan_text(plan),
        PlanFormat::Json => serde_json::to_string_pretty(plan).expect("plans serialize") + "\n",
        PlanFormat::Markdown => render_plan_markdown(plan),
    };
    edges.print(&rendered)?;
    if let (Some(mwaa), PlanFormat::Text) = (&planned.mwaa, args.format) {
        edges.print(&render_mwaa_text(mwaa))?;
    }
    edges.summary(&render_plan_markdown(plan))?;
    if let Some(mwaa) = &planned.mwaa {
        edges.summary(&render_mwaa_markdown(mwaa))?;
    }
    edges.outputs(&outputs::plan(plan))?;
    // The refusals are said once, here, on stderr (the text rendering leaves them out; JSON and the step
    // summary carry them as data).
    if plan.refusals.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        for refusal in &plan.refusals {
            announce(Level::Error, &format!("a deploy of this plan would be refused: {refusal}"));
        }
        Ok(ErrorKind::Refused.into())
    }
}

pub fn deploy(cli: &Cli, args: &DeployArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    let environments = match (&args.env, &args.branch) {
        (Some(env), _) => vec![env.clone()],
        (None, Some(branch)) => stage::chain(&workspace, branch)?,
        (None, None) => unreachable!("clap requires --env or --branch"),
    };
    let runtime = runtime()?;
    let edges = Edges::from_env();
    let mut reports = Vec::new();
    for (position, env) in environments.iter().enumerate() {
        let request = DeployRequest {
            environment: env.clone(),
            dry_run: args.dry_run,
            allow_dirty: args.allow_dirty,
            allow_deletes: args.allow_deletes,
            concurrency: args.concurrency.map(usize::from),
            lock_timeout: args.lock_timeout,
            dbt_artifacts: dbt_artifacts(args.dbt_artifacts),
            overwrite_drift: args.overwrite_drift,
            dbt_target: args.target.clone(),
            // A laptop deploy of an older commit warns; `ci` refuses it (DeployRequest::new).
            older: OlderCommit::Warn,
            show: Show::for_cli(args.format == OutputFormat::Text, args.yes),
            ..DeployRequest::new(env, args.dry_run, args.allow_deletes)
        };
        match deploy_one(&runtime, &workspace, &request, &edges) {
            Ok(report) => reports.push(report),
            Err(err) => {
                announce_chain_stop(env, &environments[position + 1..]);
                return Err(err);
            }
        }
    }
    let rendered = match (args.format, args.branch.is_some()) {
        (OutputFormat::Json, false) => serde_json::to_string_pretty(&reports[0]).expect("reports serialize") + "\n",
        (OutputFormat::Json, true) => serde_json::to_string_pretty(&reports).expect("reports serialize") + "\n",
        // The plans were printed before the writes (src/flow/show.rs).
        (OutputFormat::Text, _) => reports.iter().map(render_deploy_outcome).collect(),
    };
    edges.print(&rendered)?;
    for report in &reports {
        edges.summary(&render_deploy_markdown(report))?;
    }
    edges.outputs(&outputs::deploys(&reports))?;
    Ok(ExitCode::Ok)
}

pub fn unlock(cli: &Cli, args: &UnlockArgs) -> Result<ExitCode> {
    let workspace = Workspace::open(&cli.repo, cli.config.as_deref(), cli.strict)?;
    match stage::unlock(&workspace, &args.env, args.force)? {
        Some(holder) => println!("removed the lock of environment `{}` held by {}", args.env, holder.describe()),
        None => println!("environment `{}` has no deploy lock", args.env),
    }
    Ok(ExitCode::Ok)
}
