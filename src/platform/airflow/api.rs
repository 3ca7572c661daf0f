//! Airflow's REST API, read-only: import errors and DAGs, from Airflow 2 (`/api/v1`) or Airflow 3 (`/api/v2`),
//! over HTTP with a bearer token or a Google access token, or through MWAA's InvokeRestApi.
use aws_sdk_mwaa::error::DisplayErrorContext;
use aws_sdk_mwaa::types::RestApiMethod;
use aws_smithy_types::{Document, Number};
use serde_json::Value;

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

impl Transport {
    /// Every item of a paginated listing (`import_errors` or `dags`).
    pub async fn list(&mut self, path: &str, field: &str) -> Result<Vec<Value>, PlatformError> {
        let mut items = Vec::new();
        loop {
            let page = self.get(path, items.len()).await?;
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
                    let body = response
                        .bytes()
                        .await
                        .map_err(|err| PlatformError::Remote(format!("Airflow API {url}: {}", without_url(&err))))?;
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
                        PlatformError::Remote(format!(
                            "MWAA InvokeRestApi {path} on `{name}`: {}",
                            DisplayErrorContext(&err)
                        ))
                    })?;
                Ok(output.rest_api_response().map(document_to_json).unwrap_or(Value::Null))
            }
        }
    }
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
