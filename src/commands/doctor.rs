//! `dagship doctor`: flags -> a doctor request -> every check -> text or JSON; exit 1 when one failed.
use crate::cli::{Cli, DoctorArgs, OutputFormat};
use crate::doctor::{DoctorRequest, doctor};
use crate::error::Result;
use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::edges::Edges;
use crate::report::render_doctor_text;
use crate::workspace::config_path;

pub fn run(cli: &Cli, args: &DoctorArgs) -> Result<ExitCode> {
    // Not being in a git repository is one of the checks, not an error.
    let git = Git::discover(&cli.repo).ok();
    let root = git.as_ref().map_or_else(|| cli.repo.clone(), |git| git.root().to_path_buf());
    let request = DoctorRequest {
        config_file: config_path(&root, cli.config.as_deref()),
        root,
        git,
        environment: args.env.clone(),
        write: args.write,
    };
    let report = doctor(&request);
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).expect("reports serialize") + "\n",
        OutputFormat::Text => render_doctor_text(&report),
    };
    Edges::from_env().print(&text)?;
    Ok(if report.passed { ExitCode::Ok } else { ErrorKind::ChecksFailed.into() })
}
