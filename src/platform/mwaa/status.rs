//! The environment's status: the gate before a deploy, and the wait for an update to finish.
use std::time::{Duration, Instant};

use aws_sdk_mwaa::Client;
use aws_sdk_mwaa::error::ProvideErrorMetadata;
use aws_sdk_mwaa::types::{Environment, EnvironmentStatus, UpdateStatus};

use crate::platform::PlatformError;

/// Reads the environment; an unknown name is a config error naming it.
pub async fn get(client: &Client, name: &str) -> Result<Environment, PlatformError> {
    let output = client.get_environment().name(name).send().await.map_err(|err| {
        if err.code() == Some("ResourceNotFoundException") {
            PlatformError::Input(format!(
                "MWAA environment `{name}` does not exist (in this account and region): check \
                 `mwaa.environment_name` and AWS_REGION"
            ))
        } else {
            super::sdk_error::explain(&super::sdk_error::MWAA_API, &format!("MWAA GetEnvironment `{name}`"), &err, "")
        }
    })?;
    output.environment.ok_or_else(|| PlatformError::Remote(format!("MWAA GetEnvironment `{name}`: no environment")))
}

pub fn status_name(environment: &Environment) -> String {
    environment.status().map_or_else(|| "UNKNOWN".to_string(), |status| status.as_str().to_string())
}

/// Statuses that end by themselves: worth waiting for.
fn transitional(status: Option<&EnvironmentStatus>) -> bool {
    matches!(
        status,
        Some(
            EnvironmentStatus::Updating
                | EnvironmentStatus::Creating
                | EnvironmentStatus::CreatingSnapshot
                | EnvironmentStatus::RollingBack
                | EnvironmentStatus::Pending
                | EnvironmentStatus::Maintenance
        )
    )
}

/// The last update's error, when MWAA recorded one.
fn last_update_error(environment: &Environment) -> Option<String> {
    let error = environment.last_update()?.error()?;
    Some(format!("{}: {}", error.error_code().unwrap_or("error"), error.error_message().unwrap_or("no message")))
}

/// Waits, within `timeout`, until the environment is AVAILABLE; refuses on a failed or other state. Nothing
/// has been written when this refuses.
pub async fn wait_until_available(
    client: &Client,
    name: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<Environment, PlatformError> {
    let started = Instant::now();
    loop {
        let environment = get(client, name).await?;
        let status = environment.status();
        if status == Some(&EnvironmentStatus::Available) {
            return Ok(environment);
        }
        if !transitional(status) {
            let why =
                last_update_error(&environment).map(|error| format!(" (last update: {error})")).unwrap_or_default();
            return Err(PlatformError::Refused(format!(
                "MWAA environment `{name}` is {}{why}: it must be AVAILABLE before a deploy; repair it in the MWAA \
                 console, then re-run",
                status_name(&environment)
            )));
        }
        if started.elapsed() >= timeout {
            return Err(PlatformError::Refused(format!(
                "MWAA environment `{name}` is still {} after {}: another update is running; re-run when it is \
                 AVAILABLE or raise `mwaa.wait_timeout`",
                status_name(&environment),
                humantime::format_duration(Duration::from_secs(timeout.as_secs()))
            )));
        }
        eprintln!(
            "mwaa: {name} is {}; waiting for AVAILABLE ({}s of {}s)",
            status_name(&environment),
            started.elapsed().as_secs(),
            timeout.as_secs()
        );
        tokio::time::sleep(poll).await;
    }
}

/// When an environment's last update was created, as (seconds, nanoseconds): the identity of an update.
pub fn last_update_created(environment: &Environment) -> Option<(i64, u32)> {
    let created = environment.last_update()?.created_at()?;
    Some((created.secs(), created.subsec_nanos()))
}

/// Waits for the update we asked for: AVAILABLE with a successful last update, or the failure MWAA reports.
/// `previous` is the last update's creation time read before UpdateEnvironment: for a while after the call,
/// MWAA still answers AVAILABLE with that older update's SUCCESS, which says nothing about ours. Only a last
/// update created after `previous` is ours.
pub async fn wait_for_update(
    client: &Client,
    name: &str,
    previous: Option<(i64, u32)>,
    timeout: Duration,
    poll: Duration,
) -> Result<(), PlatformError> {
    let started = Instant::now();
    loop {
        tokio::time::sleep(poll).await;
        let environment = get(client, name).await?;
        let status = environment.status();
        let ours = last_update_created(&environment).is_some_and(|created| previous.is_none_or(|old| created > old));
        let update = environment.last_update().and_then(|update| update.status()).filter(|_| ours);
        match (status, update) {
            (Some(EnvironmentStatus::Available), Some(UpdateStatus::Success)) => return Ok(()),
            (Some(EnvironmentStatus::Available), Some(UpdateStatus::Failed))
            | (Some(EnvironmentStatus::UpdateFailed), _) => {
                let why = last_update_error(&environment).unwrap_or_else(|| "no reason given".into());
                return Err(PlatformError::Remote(format!(
                    "the MWAA update of `{name}` failed ({why}); the environment is {}. The DAGs were not deployed; \
                     fix the cause and re-run",
                    status_name(&environment)
                )));
            }
            _ if started.elapsed() >= timeout => {
                return Err(PlatformError::Remote(format!(
                    "the MWAA update of `{name}` did not finish within {}s (status {}); the DAGs were not deployed",
                    timeout.as_secs(),
                    status_name(&environment)
                )));
            }
            _ if !ours => eprintln!(
                "mwaa: {name} is {} and its last update is still the one before ours ({}s)",
                status_name(&environment),
                started.elapsed().as_secs()
            ),
            _ => eprintln!("mwaa: {name} is {} ({}s)", status_name(&environment), started.elapsed().as_secs()),
        }
    }
}
