//! `dagship init`: flags -> an init request -> the init engine (scan, then write) -> what it found and wrote.
use crate::cli::{Cli, InitArgs, Provider};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::edges::Edges;
use crate::init::{self, InitRequest};
use crate::report::render_init_text;

pub fn run(cli: &Cli, args: &InitArgs) -> Result<ExitCode> {
    let git = Git::discover(&cli.repo).ok();
    let root = git.as_ref().map_or_else(|| cli.repo.clone(), |git| git.root().to_path_buf());
    let default_branch = args.branch.clone().unwrap_or_else(|| {
        git.as_ref()
            .and_then(|git| {
                let remote = git.remote_default_branch("origin").ok().flatten();
                remote.or_else(|| git.current_branch().ok().flatten())
            })
            .unwrap_or_else(|| "main".into())
    });
    let request = InitRequest {
        root,
        provider: match args.provider {
            Provider::Composer => init::Provider::Composer,
            Provider::Mwaa => init::Provider::Mwaa,
        },
        environments: args.environments.clone(),
        default_branch,
        force: args.force,
    };
    let report = init::init(&request)?;
    Edges::from_env().print(&render_init_text(&report))?;
    Ok(ExitCode::Ok)
}
