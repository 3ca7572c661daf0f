//! A failed call of the MWAA step (the MWAA API, and S3 for object versions) as one line: which credentials
//! were missing or refused and the fix (the same words as the S3 and GCS stores, store::credentials_hint), or
//! which endpoint could not be reached; the SDK's raw chain (about 1 KB for a credential chain) stays behind
//! `--verbose`.
use aws_sdk_mwaa::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::platform::PlatformError;
use crate::store::credentials_hint::{Ambient, aws_no_credentials, aws_refused_credentials};

/// Error codes AWS answers with when it does not accept the request's credentials.
const REFUSED_CREDENTIALS: [&str; 6] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AccessDeniedException",
];

/// The service a call went to: its name in messages and the variables that override its endpoint.
pub struct Api {
    pub name: &'static str,
    pub endpoint_variables: [&'static str; 2],
}

pub const MWAA_API: Api =
    Api { name: "the MWAA API", endpoint_variables: ["AWS_ENDPOINT_URL_MWAA", "AWS_ENDPOINT_URL"] };
pub const S3_API: Api = Api { name: "S3", endpoint_variables: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] };

/// `operation` says what was asked (`MWAA GetEnvironment `name``); `note` follows the reason (what state the
/// deploy is left in).
pub fn explain<E, R>(api: &Api, operation: &str, err: &SdkError<E, R>, note: &str) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let raw = DisplayErrorContext(err).to_string();
    let ambient = Ambient::process();
    let why = match err {
        SdkError::DispatchFailure(_) if raw.contains("no credentials found in chain") => aws_no_credentials(&ambient),
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => unreachable_endpoint(api, &raw, &ambient),
        _ => match err.code() {
            Some("AccessDeniedException") => format!(
                "access denied ({}): the credentials' role needs airflow:GetEnvironment, airflow:UpdateEnvironment \
                 and airflow:InvokeRestApi on this environment",
                err.message().unwrap_or("no message")
            ),
            Some(code) if REFUSED_CREDENTIALS.contains(&code) => aws_refused_credentials(&ambient, code),
            Some(code) => format!("{code}: {}", err.message().unwrap_or("no message")),
            None => return PlatformError::Remote(format!("{operation}: {raw}{note}")),
        },
    };
    PlatformError::RemoteExplained { message: format!("{operation}: {why}{note}"), detail: raw }
}

/// The request never got an answer: name the endpoint and the likely causes.
fn unreachable_endpoint(api: &Api, raw: &str, ambient: &Ambient) -> String {
    let lowered = raw.to_lowercase();
    let reason = if lowered.contains("connection refused") {
        "connection refused"
    } else if lowered.contains("dns") || lowered.contains("failed to lookup") {
        "host not found"
    } else if lowered.contains("timeout") || lowered.contains("timed out") {
        "timed out"
    } else {
        "network error"
    };
    let name = api.name;
    let endpoint =
        api.endpoint_variables.iter().find_map(|&name| (ambient.var)(name).map(|value| format!("{value} ({name})")));
    match endpoint {
        Some(endpoint) => format!("cannot reach {name} at {endpoint}: {reason}; check that URL"),
        None => format!(
            "cannot reach {name}: {reason}; check the network (a proxy: HTTPS_PROXY) and AWS_REGION (the \
             environment's region)"
        ),
    }
}
