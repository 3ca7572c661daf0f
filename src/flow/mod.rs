//! The stages that `dagship <command>` and `dagship ci` share: each takes the workspace and a domain request
//! (plain values, never clap structs or the GitHub payload) and returns a report. Flows compose engines
//! (detect, deploy, dbt, dags, platform, store); commands turn arguments into requests and reports into edges.
//! See docs/architecture.md.
pub mod compile;
pub mod deploy;
pub mod detect;
pub mod history;
pub mod impact;
pub mod show;
pub mod verify;

use crate::deploy::Request;
use crate::error::{Error, Result};
use crate::store::StoreOptions;
use crate::workspace::Workspace;

/// The async runtime the storage stages block on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::Usage(format!("cannot start the async runtime: {err}")))
}

/// What the deploy engine needs to know about `environment` (its settings and bucket URL, resolved once); the
/// detect and compile stages use it too.
pub fn engine_request<'a>(
    workspace: &'a Workspace,
    environment: &'a str,
    allow_deletes: Option<usize>,
) -> Result<Request<'a>> {
    let target = workspace.target(environment)?;
    Ok(Request {
        repo_root: &workspace.root,
        config: &workspace.config,
        environment,
        settings: target.settings,
        url: target.url,
        store_options: StoreOptions::default(),
        allow_deletes,
        dbt_state: None,
        source: None,
        allow_dirty: false,
        overwrite_drift: false,
    })
}
