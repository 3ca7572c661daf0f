//! `dagship config check`: validate dagship.yml and print the resolved configuration (defaults filled in).
use super::{config_path, load_config};
use crate::cli::{Cli, ConfigFormat};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::git::Git;

pub fn run(cli: &Cli, format: ConfigFormat) -> Result<ExitCode> {
    // A config can be checked outside a repository (e.g. while writing it); the repo only locates the default.
    let git = Git::discover(&cli.repo).ok();
    let path = config_path(cli, git.as_ref());
    let loaded = load_config(&path, cli.strict)?;
    let rendered = match format {
        ConfigFormat::Yaml => yaml_serde::to_string(&loaded.config).expect("a config always serializes"),
        ConfigFormat::Json => serde_json::to_string_pretty(&loaded.config).expect("a config always serializes"),
    };
    println!("{}", rendered.trim_end());
    let warnings = crate::plural::count(loaded.warnings.len(), "warning", "warnings");
    eprintln!("{}: valid ({warnings})", path.display());
    Ok(ExitCode::Ok)
}
