//! The checks of each environment that ask a server: the bucket URL's shape, read access (a listing under
//! dagship's prefix, as every deploy starts), write access (a scratch object created and removed, with `write`),
//! MWAA's status, and the Airflow API when a deploy verifies through it. The same clients the deploy uses.
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Check;
use crate::config::{Config, Environment, Platform, RECORDS_PREFIX, bucket_name_problem, dags_folder_hint};
use crate::store::{self, PutMode, PutRequest, RetryPolicy, Store, StoreError, StoreErrorKind, StoreOptions, StoreUrl};

/// How long the Airflow API may take to list the DAGs.
const AIRFLOW_API_TIMEOUT: Duration = Duration::from_secs(30);

pub fn environments(root: &Path, config: &Config, names: &[String], write: bool) -> Vec<Check> {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            return vec![Check::fail(
                "bucket read",
                format!("cannot start the async runtime: {err}"),
                "run doctor again",
            )];
        }
    };
    let mut checks = Vec::new();
    for name in names {
        let settings = &config.environments[name];
        let url = match bucket_url(root, name, settings) {
            Ok(url) => {
                checks.push(Check::pass("bucket URL", describe(&url)).of(name));
                url
            }
            Err(check) => {
                checks.push(check.of(name));
                continue;
            }
        };
        runtime.block_on(async {
            checks.extend(bucket_access(config, settings, &url, write).await.into_iter().map(|check| check.of(name)));
            if let Some(check) = mwaa(settings).await {
                checks.push(check.of(name));
            }
            if let Some(check) = airflow_api(settings).await {
                checks.push(check.of(name));
            }
        });
    }
    checks
}

fn describe(url: &StoreUrl) -> String {
    match url.prefix.as_str() {
        "" => format!("bucket `{}`, at its root", url.bucket),
        prefix => format!("bucket `{}`, prefix `{prefix}`", url.bucket),
    }
}

/// The URL parsed the way every command parses it, and held to the provider's naming rules.
fn bucket_url(root: &Path, name: &str, settings: &Environment) -> Result<StoreUrl, Check> {
    const CHECK: &str = "bucket URL";
    let fix = |example: &str| format!("set `environments.{name}.bucket` to {example}");
    let example = match settings.platform {
        Platform::Composer => "the environment's bucket, like gs://europe-west1-prod-1234-bucket",
        Platform::Mwaa => "the environment's source bucket, like s3://my-mwaa-bucket",
        Platform::Local => "a folder, like file://.dagship/bucket",
    };
    let url = StoreUrl::parse(&settings.bucket, root)
        .map_err(|err| Check::fail(CHECK, format!("`{}`: {err}", settings.bucket), fix(example)))?;
    if let Some(problem) = bucket_name_problem(settings.platform, &url.bucket) {
        return Err(Check::fail(CHECK, problem, fix(example)));
    }
    if let Some(hint) = dags_folder_hint(settings.platform, &settings.bucket) {
        return Err(Check::fail(CHECK, hint, fix(example)));
    }
    Ok(url)
}

/// The listing and the scratch object stay under dagship's own records prefix (lock, marker, history), so the
/// check touches nothing the DAGs or Airflow read.
async fn bucket_access(config: &Config, settings: &Environment, url: &StoreUrl, write: bool) -> Vec<Check> {
    let options = StoreOptions {
        endpoint: settings.endpoint.clone(),
        request_timeout: config.deploy.request_timeout(),
        // A doctor reports what is wrong now; a deploy's patience (six attempts) would only delay the answer.
        retry: RetryPolicy { attempts: 2, ..RetryPolicy::default() },
        ..StoreOptions::default()
    };
    let store = match store::open(url, &options).await {
        Ok(store) => store,
        Err(err) => return vec![store_failure("bucket read", &err)],
    };
    let mut checks = vec![match store.list(RECORDS_PREFIX).await {
        Ok(objects) => Check::pass(
            "bucket read",
            format!("listed {} under {}", crate::plural::plural(objects.len(), "object"), url.join(RECORDS_PREFIX)),
        ),
        Err(err) => store_failure("bucket read", &err),
    }];
    if write {
        checks.push(scratch_write(store.as_ref(), url).await);
    } else {
        checks.push(Check::skip("bucket write", "not asked (--write writes and removes a scratch object)"));
    }
    checks
}

async fn scratch_write(store: &dyn Store, url: &StoreUrl) -> Check {
    let key = format!("{RECORDS_PREFIX}doctor-{}.txt", crate::random::random_hex());
    let body = Bytes::from_static(b"written by dagship doctor --write, removed right after\n");
    if let Err(err) = store.put(&PutRequest::bytes(&key, body, PutMode::Create)).await {
        return store_failure("bucket write", &err);
    }
    match store.delete(&key).await {
        Ok(()) => Check::pass("bucket write", format!("wrote and removed {}", url.join(&key))),
        Err(err) => {
            let mut check = store_failure("bucket write", &err);
            check.detail = format!("wrote {} but could not remove it: {}", url.join(&key), err);
            check
        }
    }
}

/// A store error as a failed check, with the fix its kind calls for.
fn store_failure(check: &str, err: &StoreError) -> Check {
    let fix = match err.kind {
        StoreErrorKind::NoCredentials => "log in as the message says (the credential source named above)",
        StoreErrorKind::Denied => {
            "grant the identity dagship runs as access to the bucket (read: list and get objects; deploys also \
             create and delete them)"
        }
        StoreErrorKind::NoBucket => "check the bucket name in `environments.<name>.bucket` (and the endpoint)",
        StoreErrorKind::Transient => "check the network path to the bucket's endpoint, then run doctor again",
        _ => "check the bucket URL and the identity dagship runs as",
    };
    Check::fail(check, err.to_string(), fix)
}

/// MWAA's control plane answers for the environment, and it is AVAILABLE (the state a deploy needs).
async fn mwaa(settings: &Environment) -> Option<Check> {
    const CHECK: &str = "MWAA environment";
    let mwaa = settings.mwaa.as_ref()?;
    let name = &mwaa.environment_name;
    Some(match crate::platform::mwaa::status(name).await {
        Ok(status) if status == "AVAILABLE" => Check::pass(CHECK, format!("`{name}` is AVAILABLE")),
        Ok(status) => Check::fail(
            CHECK,
            format!("`{name}` is {status}, not AVAILABLE: a deploy would wait (up to mwaa.wait_timeout) or be refused"),
            format!(
                "wait for the running update to finish, or repair `{name}` in the MWAA console \
                 (`aws mwaa get-environment --name {name}` shows the last update's error)"
            ),
        ),
        Err(err) => Check::fail(
            CHECK,
            err.to_string(),
            "check `mwaa.environment_name`, AWS_REGION and the identity's airflow:GetEnvironment permission",
        ),
    })
}

/// The Airflow API a deploy's verify asks, when one is configured: reachable and answering a DAG listing.
async fn airflow_api(settings: &Environment) -> Option<Check> {
    const CHECK: &str = "Airflow API";
    let verify = settings.verify.as_ref()?;
    let fix = "check `verify.airflow_url`, `verify.auth` and the token or identity it uses";
    let mut transport = match crate::platform::airflow::transport(verify, settings).await {
        Ok(transport) => transport,
        Err(err) => return Some(Check::fail(CHECK, err.to_string(), fix)),
    };
    let deadline = Instant::now() + AIRFLOW_API_TIMEOUT;
    Some(match transport.list("/dags", "dags", deadline).await {
        Ok(dags) => Check::pass(CHECK, format!("reachable; it lists {}", crate::plural::plural(dags.len(), "DAG"))),
        Err(err) => Check::fail(CHECK, err.to_string(), fix),
    })
}
