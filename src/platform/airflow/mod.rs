//! After a deploy: ask Airflow whether the deployed DAG files imported. Polls the import errors and the DAG
//! listing until every deployed file was parsed after the deploy started (a DAG from it shows a newer
//! `last_parsed_time`) or reported an import error, or until the timeout.
mod api;
mod traceback;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

pub use api::Transport;

use crate::config::{Environment, VerifyAuth, VerifyConfig};
use crate::notice::mask;
use crate::platform::PlatformError;

/// The end of an import error's traceback kept for the report.
const MAX_TRACE_BYTES: usize = 8_000;
/// Airflow's clock and ours differ a little; an import error this much older than the deploy still counts.
const CLOCK_SKEW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct ImportError {
    /// The file, relative to the DAGs folder.
    pub file: String,
    pub line: Option<u32>,
    pub stack_trace: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Deployed files Airflow parsed without error, with the DAG ids they define.
    pub parsed: BTreeMap<String, Vec<String>>,
    pub import_errors: Vec<ImportError>,
    /// Deployed files Airflow had not parsed when the timeout passed.
    pub not_parsed: Vec<String>,
}

/// The transport `settings` asks for. Tokens are masked before anything can print them.
pub async fn transport(settings: &VerifyConfig, environment: &Environment) -> Result<Transport, PlatformError> {
    if settings.auth == VerifyAuth::Mwaa {
        let mwaa = environment.mwaa.as_ref().expect("config validation: auth mwaa needs mwaa settings");
        return Ok(Transport::Mwaa {
            client: crate::platform::mwaa::client(None).await,
            name: mwaa.environment_name.clone(),
        });
    }
    let authorization = match settings.auth {
        VerifyAuth::None | VerifyAuth::Mwaa => None,
        VerifyAuth::Bearer => {
            let variable = settings.token_env.as_deref().expect("config validation: bearer needs token_env");
            let token = std::env::var(variable).ok().filter(|token| !token.is_empty()).ok_or_else(|| {
                PlatformError::Input(format!("verify.token_env: the environment variable `{variable}` is not set"))
            })?;
            mask(&token);
            Some(format!("Bearer {token}"))
        }
        VerifyAuth::Google => Some(google_token().await?),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| PlatformError::Remote(format!("HTTP client: {err}")))?;
    Ok(Transport::Http {
        client,
        base: settings.airflow_url.clone().unwrap_or_default().trim_end_matches('/').to_string(),
        authorization,
        api: settings.api,
    })
}

/// An access token from Application Default Credentials (a service account, workload identity federation,
/// or the metadata server), as Composer's web server expects it.
async fn google_token() -> Result<String, PlatformError> {
    let scopes = ["https://www.googleapis.com/auth/cloud-platform"];
    let config = gcloud_auth::project::Config::default().with_scopes(&scopes);
    // The replacement (DefaultTokenSourceProvider) hands out tokens only through the `token-source` crate's
    // trait, whose signature depends on a feature flag of a crate we do not use otherwise.
    #[allow(deprecated)]
    let source = gcloud_auth::project::create_token_source(config)
        .await
        .map_err(|err| PlatformError::Remote(format!("Google credentials for the Airflow API: {err}")))?;
    let token = source
        .token()
        .await
        .map_err(|err| PlatformError::Remote(format!("Google access token for the Airflow API: {err}")))?;
    mask(&token.access_token);
    Ok(format!("Bearer {}", token.access_token))
}

/// Polls until each of `files` (paths relative to the DAGs folder) is parsed or failed, or `settings.timeout`.
pub async fn verify(
    transport: &mut Transport,
    settings: &VerifyConfig,
    files: &[String],
    started: SystemTime,
) -> Result<VerifyReport, PlatformError> {
    let since = started - CLOCK_SKEW;
    let deadline = Instant::now() + settings.timeout();
    let mut report = VerifyReport::default();
    let mut pending: Vec<String> = files.to_vec();
    let mut polled = false;
    loop {
        let listed = async {
            let errors = transport.list("/importErrors", "import_errors", deadline).await?;
            Ok::<_, PlatformError>((errors, transport.list("/dags", "dags", deadline).await?))
        }
        .await;
        let (errors, dags) = match listed {
            Ok(lists) => lists,
            // The deadline passed during a poll, after at least one whole one: the files still pending were not
            // parsed in time (warnings), as when it passes between two polls. Before any whole listing it is an
            // error: Airflow could not be read at all (found by verify's stale-parse test).
            Err(_) if polled && Instant::now() >= deadline => {
                report.not_parsed = pending;
                return Ok(report);
            }
            Err(err) => return Err(err),
        };
        polled = true;
        pending.retain(|file| {
            if let Some(error) =
                errors.iter().find(|error| names_file(&error["filename"], file) && after(&error["timestamp"], since))
            {
                // The server's text, shown in the summary and annotations: redacted and bounded.
                let stack_trace = error["stack_trace"].as_str().unwrap_or_default();
                let stack_trace = crate::redact::keep_end(&crate::redact::redact(stack_trace), MAX_TRACE_BYTES);
                report.import_errors.push(ImportError {
                    file: file.clone(),
                    line: traceback::line_in(&stack_trace, file),
                    stack_trace,
                });
                return false;
            }
            let parsed: Vec<String> = dags
                .iter()
                .filter(|dag| names_file(&dag["fileloc"], file) && after(&dag["last_parsed_time"], started))
                .filter_map(|dag| dag["dag_id"].as_str().map(str::to_string))
                .collect();
            if parsed.is_empty() {
                return true;
            }
            report.parsed.insert(file.clone(), parsed);
            false
        });
        if pending.is_empty() || Instant::now() >= deadline {
            report.not_parsed = pending;
            return Ok(report);
        }
        eprintln!(
            "verify: waiting for Airflow to parse {}: {}",
            crate::plural::plural(pending.len(), "file"),
            pending.join(", ")
        );
        tokio::time::sleep(settings.poll_interval().min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Whether Airflow's absolute path (`/home/airflow/gcs/dags/x.py`, `/usr/local/airflow/dags/x.py`) is `file`.
fn names_file(path: &Value, file: &str) -> bool {
    path.as_str().is_some_and(|path| path.ends_with(&format!("/dags/{file}")) || path == file)
}

/// Whether an Airflow timestamp (ISO 8601, UTC) is at or after `since`; unknown times are not.
fn after(timestamp: &Value, since: SystemTime) -> bool {
    let Some(text) = timestamp.as_str() else { return false };
    let normalized = text.strip_suffix("+00:00").map(|rest| format!("{rest}Z")).unwrap_or_else(|| text.to_string());
    humantime::parse_rfc3339_weak(&normalized).is_ok_and(|time| time >= since)
}

/// The DAG files worth waiting for: Python files that Airflow's safe mode would parse (they mention both
/// "airflow" and "dag"); helpers without a DAG never show up in the DAG listing.
pub fn dag_files(dags_root: &Path, uploaded: impl IntoIterator<Item = String>) -> Vec<String> {
    uploaded
        .into_iter()
        .filter(|file| file.ends_with(".py"))
        .filter(|file| {
            std::fs::read(dags_root.join(file)).is_ok_and(|bytes| {
                let text = String::from_utf8_lossy(&bytes).to_lowercase();
                text.contains("airflow") && text.contains("dag")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_offsets_and_fractions_compare() {
        let since = humantime::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
        assert!(after(&Value::from("2026-11-21T10:00:01.123456+00:00"), since));
        assert!(!after(&Value::from("2026-11-21T09:59:59+00:00"), since));
        assert!(!after(&Value::Null, since));
    }

    #[test]
    fn file_locations_match_by_dags_folder_suffix() {
        assert!(names_file(&Value::from("/home/airflow/gcs/dags/etl/load.py"), "etl/load.py"));
        assert!(!names_file(&Value::from("/home/airflow/gcs/dags/other/etl/load.py"), "etl/load.py"));
    }
}
