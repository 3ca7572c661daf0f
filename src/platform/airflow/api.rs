//! Airflow's REST API, read-only: import errors and DAGs, from Airflow 2 (`/api/v1`) or Airflow 3 (`/api/v2`),
//! over HTTP with a bearer token or a Google access token, or through MWAA's InvokeRestApi.
use aws_sdk_mwaa::types::RestApiMethod;
use aws_smithy_types::{Document, Number};
use serde_json::Value;
use std::time::Instant;

use crate::config::AirflowApi;
use crate::platform::PlatformError;

/// How requests reach Airflow.
pub enum Transport {
    Http {
        client: reqwest::Client,
        /// The web server URL without a trailing `/`.
        base: String,
        /// The `Authorization` header value, when there is one.
        authorization: Option<String>,
        api: AirflowApi,
    },
    /// MWAA picks the API version from the environment's Airflow version.
    Mwaa { client: aws_sdk_mwaa::Client, name: String },
}

/// One page size for every listing (Airflow's maximum by default).
const PAGE: usize = 100;
/// The largest answer read: a page of 100 DAGs or import errors with long tracebacks is far smaller.
const MAX_BODY_BYTES: usize = 16 << 20;
/// The most entries one listing may hold; a server announcing more is not an Airflow to trust.
const MAX_ENTRIES: usize = 200_000;

impl Transport {
    /// Every item of a paginated listing (`import_errors` or `dags`), read before `deadline`: a server that
    /// keeps sending pages (or answers slowly) is stopped there, and no answer is read past MAX_BODY_BYTES.
    pub async fn list(&mut self, path: &str, field: &str, deadline: Instant) -> Result<Vec<Value>, PlatformError> {
        let mut items = Vec::new();
        loop {
            let stopped = |what: &str| {
                PlatformError::Remote(format!(
                    "Airflow API {path}: {what} after {}; stopped (verify.timeout bounds the whole check)",
                    crate::plural::plural_irregular(items.len(), "entry", "entries")
                ))
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(stopped("verify.timeout passed while still listing"));
            }
            if items.len() >= MAX_ENTRIES {
                return Err(stopped(&format!("more than {MAX_ENTRIES} entries")));
            }
            let page = match tokio::time::timeout(remaining, self.get(path, items.len())).await {
                Ok(page) => page?,
                Err(_) => return Err(stopped("no answer before verify.timeout")),
            };
            let batch = page[field].as_array().cloned().unwrap_or_default();
            let total = page["total_entries"].as_u64().unwrap_or(0) as usize;
            let done = batch.len() < PAGE || items.len() + batch.len() >= total;
            items.extend(batch);
            if done {
                return Ok(items);
            }
        }
    }

    async fn get(&mut self, path: &str, offset: usize) -> Result<Value, PlatformError> {
        match self {
            Transport::Http { client, base, authorization, api } => {
                let versions: &[AirflowApi] = match api {
                    AirflowApi::Auto => &[AirflowApi::V2, AirflowApi::V1],
                    AirflowApi::V1 => &[AirflowApi::V1],
                    AirflowApi::V2 => &[AirflowApi::V2],
                };
                for (position, version) in versions.iter().enumerate() {
                    let prefix = if *version == AirflowApi::V2 { "/api/v2" } else { "/api/v1" };
                    let url = format!("{base}{prefix}{path}?limit={PAGE}&offset={offset}");
                    let mut request = client.get(&url).header("accept", "application/json");
                    if let Some(authorization) = authorization.as_ref() {
                        request = request.header("authorization", authorization.as_str());
                    }
                    let response = request
                        .send()
                        .await
                        .map_err(|err| PlatformError::Remote(format!("Airflow API {url}: {}", without_url(&err))))?;
                    let status = response.status();
                    // Airflow 2 has no /api/v2: fall back, and stay on v1 for the rest of the run.
                    if status.as_u16() == 404 && position + 1 < versions.len() {
                        continue;
                    }
                    if !status.is_success() {
                        return Err(PlatformError::Remote(format!(
                            "Airflow API {url}: HTTP {status}{}",
                            if matches!(status.as_u16(), 401 | 403) {
                                "; check `verify.auth` and the token's permissions"
                            } else {
                                ""
                            }
                        )));
                    }
                    *api = *version;
                    let body = read_bounded(response, &url).await?;
                    return serde_json::from_slice(&body).map_err(|err| {
                        PlatformError::Remote(format!("Airflow API {url}: the answer is not JSON: {err}"))
                    });
                }
                unreachable!("the last API version either answers or fails")
            }
            Transport::Mwaa { client, name } => {
                let query = Document::Object(
                    [
                        ("limit".to_string(), Document::Number(Number::PosInt(PAGE as u64))),
                        ("offset".to_string(), Document::Number(Number::PosInt(offset as u64))),
                    ]
                    .into(),
                );
                let output = client
                    .invoke_rest_api()
                    .name(name.as_str())
                    .path(path)
                    .method(RestApiMethod::Get)
                    .query_parameters(query)
                    .send()
                    .await
                    .map_err(|err| {
                        crate::platform::mwaa::sdk_error::explain(
                            &crate::platform::mwaa::sdk_error::MWAA_API,
                            &format!("MWAA InvokeRestApi {path} on `{name}`"),
                            &err,
                            "",
                        )
                    })?;
                Ok(output.rest_api_response().map(document_to_json).unwrap_or(Value::Null))
            }
        }
    }
}

/// The body of `response`, refused past MAX_BODY_BYTES without reading further.
async fn read_bounded(mut response: reqwest::Response, url: &str) -> Result<Vec<u8>, PlatformError> {
    let too_big = || {
        PlatformError::Remote(format!("Airflow API {url}: the answer is over {} MB; not read", MAX_BODY_BYTES >> 20))
    };
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| PlatformError::Remote(format!("Airflow API {url}: {}", without_url(&err))))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's errors print the URL, which is ours already; keep the cause.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Object(map) => {
            Value::Object(map.iter().map(|(key, value)| (key.clone(), document_to_json(value))).collect())
        }
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Number(Number::PosInt(number)) => Value::from(*number),
        Document::Number(Number::NegInt(number)) => Value::from(*number),
        Document::Number(Number::Float(number)) => Value::from(*number),
        Document::String(text) => Value::String(text.clone()),
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Null => Value::Null,
    }
}
