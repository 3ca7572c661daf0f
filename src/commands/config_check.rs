//! `dagship config check`: validate dagship.yml and print the resolved configuration (defaults filled in).
use crate::cli::{Cli, ConfigFormat};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::workspace::{config_path, load_config};

pub fn run(cli: &Cli, format: ConfigFormat) -> Result<ExitCode> {
    // A config can be checked outside a repository (e.g. while writing it); the repo only locates the default.
    let root = Git::discover(&cli.repo).map_or_else(|_| cli.repo.clone(), |git| git.root().to_path_buf());
    let path = config_path(&root, cli.config.as_deref());
    let loaded = load_config(&path, cli.strict)?;
    let rendered = match format {
        ConfigFormat::Yaml => yaml_serde::to_string(&loaded.config).expect("a config always serializes"),
        ConfigFormat::Json => serde_json::to_string_pretty(&loaded.config).expect("a config always serializes"),
    };
    println!("{}", rendered.trim_end());
    let warnings = crate::plural::plural(loaded.warnings.len(), "warning");
    let valid = crate::style::paint(crate::style::Stream::Stderr, crate::style::Tone::Success, "valid");
    eprintln!("{}: {valid} ({warnings})", path.display());
    Ok(ExitCode::Ok)
}
