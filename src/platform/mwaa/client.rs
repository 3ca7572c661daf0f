//! The two AWS clients the MWAA step needs: MWAA's control plane, and S3 for object versions.
use aws_config::BehaviorVersion;
use aws_sdk_mwaa::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_mwaa::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;

/// Env variables that point the MWAA client at another endpoint (read by aws-config itself).
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_MWAA", "AWS_ENDPOINT_URL"];

/// An MWAA client from aws-config's default chain; `endpoint` overrides the service endpoint.
pub async fn mwaa_client(endpoint: Option<&str>) -> aws_sdk_mwaa::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let mut config = aws_sdk_mwaa::config::Builder::from(&shared);
    let env_endpoint = crate::store::any_variable_set(&ENDPOINT_VARIABLES);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    if endpoint.is_some() || env_endpoint {
        config = config.interceptor(NoHostPrefix);
    }
    if shared.region().is_none() {
        config = config.region(Region::new("us-east-1"));
    }
    aws_sdk_mwaa::Client::from_conf(config.build())
}

/// MWAA's control-plane operations prepend `api.` to the endpoint's host (api.airflow.<region>.amazonaws.com).
/// Against an overridden endpoint (a proxy, a VPC endpoint, a test server on 127.0.0.1) that host does not
/// exist, so the prefix is dropped before each attempt resolves its endpoint.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<EndpointPrefix>();
        Ok(())
    }
}
