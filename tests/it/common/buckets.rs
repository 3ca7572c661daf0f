//! Buckets for tests on the three backends: a temp directory, an S3 bucket on the moto server and a GCS
//! bucket on gcp-storage-emulator (both started by scripts/emulators.sh on 127.0.0.1). Reads and seeds go
//! through the emulators' APIs directly (aws-sdk-s3 with fixed credentials, raw JSON API), not through
//! dagship's store, so the tests check dagship against the server's view.

use std::collections::BTreeMap;
use std::process::Command;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
    Gcs,
}

impl Backend {
    /// The platform whose bucket scheme this backend serves.
    pub fn platform(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3 => "mwaa",
            Backend::Gcs => "composer",
        }
    }
}

pub const S3_VARIABLE: &str = "DAGSHIP_TEST_S3_ENDPOINT";
pub const GCS_VARIABLE: &str = "DAGSHIP_TEST_GCS_ENDPOINT";

/// The emulator's endpoint; a test that needs an emulator fails without one, it never skips.
pub fn endpoint(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: start the emulators first with `scripts/emulators.sh start > env; source env` \
             (scripts/test.sh does this)"
        )
    })
}

/// Runs a future to completion on its own thread and runtime, so sync and async tests can both call it.
pub fn block_on<F: Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future))
            .join()
            .expect("the bucket helper panicked")
    })
}

pub struct Bucket {
    pub backend: Backend,
    /// The bucket URL as dagship.yml names it, e.g. `s3://name/team/` (always with a prefix).
    pub url: String,
    pub name: String,
    /// The prefix under the bucket, ending with `/`.
    pub prefix: String,
    pub endpoint: Option<String>,
    _dir: Option<TempDir>,
}

fn unique_name() -> String {
    format!("dagship-test-{}", &dagship::random::random_hex()[..16])
}

impl Bucket {
    pub fn new(backend: Backend) -> Bucket {
        let name = unique_name();
        let prefix = "airflow/".to_string();
        match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("file://{}/bucket", dir.path().display());
                Bucket { backend, url, name, prefix: String::new(), endpoint: None, _dir: Some(dir) }
            }
            Backend::S3 => {
                let endpoint = endpoint(S3_VARIABLE);
                block_on(async {
                    s3_client(&endpoint).create_bucket().bucket(&name).send().await.expect("create the S3 bucket");
                });
                Bucket {
                    backend,
                    url: format!("s3://{name}/{prefix}"),
                    name,
                    prefix,
                    endpoint: Some(endpoint),
                    _dir: None,
                }
            }
            Backend::Gcs => {
                let endpoint = endpoint(GCS_VARIABLE);
                let body = format!(r#"{{"name": "{name}"}}"#);
                let status = block_on(async {
                    reqwest::Client::new()
                        .post(format!("{endpoint}/storage/v1/b?project=test"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("create the GCS bucket")
                        .status()
                });
                assert!(status.is_success(), "creating GCS bucket {name}: HTTP {status}");
                Bucket {
                    backend,
                    url: format!("gs://{name}/{prefix}"),
                    name,
                    prefix,
                    endpoint: Some(endpoint),
                    _dir: None,
                }
            }
        }
    }

    /// A bucket whose environment URL is the bucket itself (`gs://name`, Composer's layout), so listings and
    /// seeds reach every object in it, also those outside what dagship maps.
    pub fn new_at_root(backend: Backend) -> Bucket {
        let mut bucket = Bucket::new(backend);
        if backend != Backend::Local {
            bucket.url = bucket.url.trim_end_matches(&bucket.prefix).trim_end_matches('/').to_string();
            bucket.prefix = String::new();
        }
        bucket
    }

    /// Turns object versioning on (S3 PutBucketVersioning, GCS `versioning.enabled`): overwritten and deleted
    /// objects stay readable by version. A directory keeps no versions.
    pub fn enable_versioning(&self) {
        let endpoint = self.endpoint.as_ref().expect("versioning needs S3 or GCS");
        match self.backend {
            Backend::Local => panic!("file:// keeps no versions"),
            Backend::S3 => block_on(async {
                let status = aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build();
                s3_client(endpoint)
                    .put_bucket_versioning()
                    .bucket(&self.name)
                    .versioning_configuration(status)
                    .send()
                    .await
                    .expect("turn S3 versioning on");
            }),
            Backend::Gcs => {
                let status = block_on(async {
                    reqwest::Client::new()
                        .patch(format!("{endpoint}/storage/v1/b/{}", self.name))
                        .header("content-type", "application/json")
                        .body(r#"{"versioning": {"enabled": true}}"#)
                        .send()
                        .await
                        .expect("turn GCS versioning on")
                        .status()
                });
                assert!(status.is_success(), "turning versioning on for {}: HTTP {status}", self.name);
            }
        }
    }

    /// The local bucket's directory.
    pub fn dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(self.url.strip_prefix("file://").unwrap())
    }

    /// Points a dagship subprocess at the emulator, with the variables a user would set.
    pub fn configure(&self, command: &mut Command) {
        match self.backend {
            Backend::Local => {}
            Backend::S3 => {
                command
                    .env("AWS_ENDPOINT_URL_S3", self.endpoint.as_ref().unwrap())
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("AWS_REGION", "us-east-1")
                    .env_remove("AWS_PROFILE");
            }
            Backend::Gcs => {
                command.env("STORAGE_EMULATOR_HOST", self.endpoint.as_ref().unwrap());
            }
        }
    }

    /// Every object under the prefix, key (relative to the prefix) -> bytes, as the server has them.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        match self.backend {
            Backend::Local => read_tree(&self.dir()),
            Backend::S3 => {
                let keys = self.keys();
                block_on(async {
                    let client = s3_client(self.endpoint.as_ref().unwrap());
                    let mut objects = BTreeMap::new();
                    for key in keys {
                        let full_key = format!("{}{key}", self.prefix);
                        let body = client.get_object().bucket(&self.name).key(full_key).send().await.unwrap().body;
                        objects.insert(key, body.collect().await.unwrap().into_bytes().to_vec());
                    }
                    objects
                })
            }
            Backend::Gcs => block_on(async {
                let endpoint = self.endpoint.as_ref().unwrap();
                let http = reqwest::Client::new();
                let listing = body_of(
                    http.get(format!("{endpoint}/storage/v1/b/{}/o", self.name)).query(&[("prefix", &self.prefix)]),
                )
                .await;
                let listing: serde_json::Value = serde_json::from_slice(&listing).unwrap();
                let mut objects = BTreeMap::new();
                for item in listing["items"].as_array().cloned().unwrap_or_default() {
                    let name = item["name"].as_str().unwrap();
                    let url = format!("{endpoint}/download/storage/v1/b/{}/o/{}", self.name, encode(name));
                    let bytes = body_of(http.get(url).query(&[("alt", "media")])).await;
                    objects.insert(name.strip_prefix(&self.prefix).unwrap().to_string(), bytes.to_vec());
                }
                objects
            }),
        }
    }

    /// The keys under the prefix (S3 lists without downloading, for polling during a deploy).
    pub fn keys(&self) -> Vec<String> {
        match self.backend {
            Backend::S3 => block_on(async {
                let client = s3_client(self.endpoint.as_ref().unwrap());
                let mut keys = Vec::new();
                let mut pages =
                    client.list_objects_v2().bucket(&self.name).prefix(&self.prefix).into_paginator().send();
                while let Some(page) = pages.next().await {
                    for object in page.unwrap().contents() {
                        keys.push(object.key().unwrap().strip_prefix(&self.prefix).unwrap().to_string());
                    }
                }
                keys.sort();
                keys
            }),
            _ => self.objects().into_keys().collect(),
        }
    }

    /// Writes an object straight to the server (state left by someone else, or by an earlier tool).
    pub fn seed(&self, key: &str, bytes: &[u8]) {
        match self.backend {
            Backend::Local => {
                let path = self.dir().join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            _ => self.seed_through(self.endpoint.as_ref().unwrap(), key, bytes),
        }
    }

    /// Writes an object unconditionally through `endpoint` (the emulator, or a proxy in front of it).
    pub fn seed_through(&self, endpoint: &str, key: &str, bytes: &[u8]) {
        match self.backend {
            Backend::Local => panic!("a local bucket has no endpoint"),
            Backend::S3 => block_on(async {
                s3_client(endpoint)
                    .put_object()
                    .bucket(&self.name)
                    .key(format!("{}{key}", self.prefix))
                    .body(bytes.to_vec().into())
                    .send()
                    .await
                    .unwrap();
            }),
            Backend::Gcs => block_on(async {
                let status = reqwest::Client::new()
                    .post(format!("{endpoint}/upload/storage/v1/b/{}/o", self.name))
                    .query(&[("uploadType", "media"), ("name", &format!("{}{key}", self.prefix))])
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(status.is_success(), "seeding {key}: HTTP {status}");
            }),
        }
    }
}

/// Every file below `root`, path relative to it -> bytes (symlinks followed).
pub fn read_tree(root: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The body of a request to the GCS emulator, which must answer.
async fn body_of(request: reqwest::RequestBuilder) -> bytes::Bytes {
    request.send().await.unwrap().error_for_status().unwrap().bytes().await.unwrap()
}

/// Percent-encodes an object name for a URL path.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// An S3 client for the moto server with fixed test credentials.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "dagship-tests"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
