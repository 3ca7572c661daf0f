//! `s3://` buckets through aws-sdk-s3 with the default credential chain (env, profile, SSO, web identity).
//! Retries are ours ([`super::Retrying`]), so the SDK's own are off: one policy, one place.
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::fanout::{self, Level};
use super::{
    Body, ObjectMeta, PutMode, PutRequest, Store, StoreError, StoreErrorKind, StoreOptions, StoreUrl, Versioned,
    check_key,
};
use crate::hash::Md5;

/// Env variables that point the AWS SDK at another endpoint (read by aws-config itself); with any of them set,
/// buckets are addressed by path, as emulators and most S3-compatible stores need.
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];

/// An S3 client from aws-config's default chain, without the SDK's own retries (`store::Retrying` retries
/// every backend alike). `endpoint` overrides the service endpoint; with it, or with an endpoint variable set,
/// buckets are addressed by path. `request_timeout` is the SDK's read timeout: from a request's start to the first
/// byte of its answer (see [`super::StoreOptions::request_timeout`]).
pub(crate) async fn client(endpoint: Option<&str>, request_timeout: Duration) -> Client {
    let timeouts =
        TimeoutConfig::builder().connect_timeout(super::CONNECT_TIMEOUT).read_timeout(request_timeout).build();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .load()
        .await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared)
        // We send Content-MD5 ourselves; extra CRC trailers cost a pass over every body.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    let env_endpoint = any_variable_set(&ENDPOINT_VARIABLES);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    if endpoint.is_some() || env_endpoint {
        config = config.force_path_style(true);
    }
    if shared.region().is_none() {
        // S3 answers a wrong region with a redirect naming the right one; us-east-1 is the global default.
        config = config.region(Region::new("us-east-1"));
    }
    Client::from_conf(config.build())
}

/// Whether any of these environment variables holds a value (aws-config reads endpoint overrides from them).
pub(crate) fn any_variable_set(names: &[&str]) -> bool {
    names.iter().any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

#[derive(Debug)]
pub struct S3Store {
    url: StoreUrl,
    client: Client,
    multipart_threshold: u64,
    part_size: u64,
    page_size: i32,
}

impl S3Store {
    pub async fn connect(url: StoreUrl, options: &StoreOptions) -> Result<Self, StoreError> {
        let client = client(options.endpoint.as_deref(), options.request_timeout).await;
        Ok(S3Store {
            url,
            client,
            multipart_threshold: options.multipart_threshold,
            part_size: options.part_size.max(5 * 1024 * 1024),
            page_size: i32::try_from(options.page_size).unwrap_or(1000),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.url.prefix)
    }

    /// Every page of one listing of `full_prefix`, with the `/` delimiter (sub-prefixes apart) or flat.
    async fn list_pages(&self, full_prefix: String, delimited: bool) -> Result<Level, StoreError> {
        let mut level = Level::default();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.url.bucket)
                .prefix(&full_prefix)
                .max_keys(self.page_size)
                .set_delimiter(delimited.then(|| "/".to_string()))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|err| self.error("list", full_prefix.strip_prefix(&self.url.prefix).unwrap_or(""), err))?;
            level.prefixes.extend(page.common_prefixes().iter().filter_map(|common| common.prefix().map(String::from)));
            for object in page.contents() {
                let Some(key) = object.key().and_then(|key| key.strip_prefix(&self.url.prefix)) else { continue };
                let etag = object.e_tag().unwrap_or_default().to_string();
                level.objects.push(ObjectMeta {
                    key: key.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    md5: md5_of_etag(&etag),
                    version: etag,
                    version_id: None,
                    modified: object.last_modified().and_then(|time| time.fmt(DateTimeFormat::DateTime).ok()),
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(level),
            }
        }
    }

    fn error<E, R>(&self, operation: &'static str, key: &str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        let status = err.raw_response().map(HttpStatus::status);
        let code = err.code().map(str::to_string);
        let raw = DisplayErrorContext(&err).to_string();
        // The chain's own text is a paragraph per provider; say which sources were tried and the fix instead.
        if matches!(err, SdkError::DispatchFailure(_)) && raw.contains("no credentials found in chain") {
            let message = super::credentials_hint::aws_no_credentials(&super::credentials_hint::Ambient::process());
            return StoreError::no_credentials(operation, self.url.join(key), message, raw);
        }
        let kind = match (&err, status, code.as_deref()) {
            (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _, _) => {
                if raw.contains("credentials") { StoreErrorKind::Denied } else { StoreErrorKind::Transient }
            }
            (_, _, Some("NoSuchBucket")) => StoreErrorKind::NoBucket,
            (_, Some(412), _) => StoreErrorKind::AlreadyExists,
            (_, Some(401 | 403), _) => StoreErrorKind::Denied,
            // 409 is S3's "a conditional write raced another one": retrying gets the real answer.
            (_, Some(408 | 409 | 429 | 500..=599), _) => StoreErrorKind::Transient,
            (_, _, Some("SlowDown" | "RequestTimeout" | "InternalError")) => StoreErrorKind::Transient,
            _ => StoreErrorKind::Other,
        };
        let message = match (status, code) {
            (Some(status), Some(code)) => format!("HTTP {status} {code}: {}", err.message().unwrap_or_default()),
            _ => raw,
        };
        StoreError::new(kind, operation, self.url.join(key), message)
    }

    /// The error of a request conditioned on an ETag (`If-Match`): 412 (the ETag differs) and 404 (the object is
    /// gone) both mean another writer changed it. S3's 409 (two conditional writes raced) stays transient: the
    /// retry gets the real answer.
    fn conditional_error<E, R>(&self, operation: &'static str, key: &str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        let status = err.raw_response().map(HttpStatus::status);
        let mut error = self.error(operation, key, err);
        if matches!(status, Some(404 | 412)) {
            error.kind = StoreErrorKind::Changed;
        }
        error
    }

    /// Maps a put's error by its mode: only `Replace` turns 412/404 into `Changed`.
    fn put_error<E, R>(&self, mode: &PutMode, operation: &'static str, key: &str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        match mode {
            PutMode::Replace(_) => self.conditional_error(operation, key, err),
            _ => self.error(operation, key, err),
        }
    }

    async fn put_single(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        let key = &request.key;
        let body = match &request.body {
            Body::Bytes(bytes) => ByteStream::from(bytes.clone()),
            Body::File(path) => ByteStream::from_path(path)
                .await
                .map_err(|err| StoreError::new(StoreErrorKind::Other, "read source of", self.url.join(key), err))?,
        };
        let mut put = self
            .client
            .put_object()
            .bucket(&self.url.bucket)
            .key(self.full_key(key))
            .content_length(request.size as i64)
            .content_md5(request.md5.to_base64())
            .body(body);
        match &request.mode {
            PutMode::Overwrite => {}
            PutMode::Create => put = put.if_none_match("*"),
            PutMode::Replace(etag) => put = put.if_match(etag),
        }
        let output = put.send().await.map_err(|err| self.put_error(&request.mode, "upload", key, err))?;
        let etag = output.e_tag().unwrap_or_default().to_string();
        // S3 checked Content-MD5 already. Where the ETag is the MD5 (no KMS or customer-key encryption), one that
        // differs means something between us and S3 changed the bytes; under SSE-KMS, DSSE-KMS and SSE-C the
        // ETag is some other 32-hex value and says nothing about the content.
        let kms = output.server_side_encryption().is_some_and(|sse| sse.as_str().starts_with("aws:kms"));
        let etag_is_md5 = !kms && output.sse_customer_algorithm().is_none();
        if let Some(stored) = md5_of_etag(&etag).filter(|_| etag_is_md5)
            && stored != request.md5
        {
            return Err(StoreError::new(
                StoreErrorKind::Checksum,
                "upload",
                self.url.join(key),
                format!("stored MD5 {stored} differs from the source's {}", request.md5),
            ));
        }
        Ok(ObjectMeta {
            key: key.clone(),
            size: request.size,
            md5: Some(request.md5),
            version: etag,
            version_id: kept_version(output.version_id()),
            modified: None,
        })
    }

    async fn put_multipart(&self, request: &PutRequest, path: &std::path::Path) -> Result<ObjectMeta, StoreError> {
        let key = &request.key;
        let full_key = self.full_key(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.url.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|err| self.error("start multipart upload", key, err))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(request, path, &full_key, &upload_id).await;
        if result.is_err() {
            // An abandoned multipart upload is billed storage; abort it (best effort, the error that matters is the first).
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.url.bucket)
                .key(&full_key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        request: &PutRequest,
        path: &std::path::Path,
        full_key: &str,
        upload_id: &str,
    ) -> Result<ObjectMeta, StoreError> {
        let key = &request.key;
        let read_error = |err: &dyn std::fmt::Display| {
            StoreError::new(StoreErrorKind::Other, "read source of", self.url.join(key), err)
        };
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1;
        while offset < request.size {
            let length = self.part_size.min(request.size - offset);
            let chunk = read_range(path, offset, length).map_err(|err| read_error(&err))?;
            let part_md5 = Md5::of_bytes(&chunk);
            let part = self
                .client
                .upload_part()
                .bucket(&self.url.bucket)
                .key(full_key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(length as i64)
                .content_md5(part_md5.to_base64())
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|err| self.error("upload part of", key, err))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag).build());
            offset += length;
            number += 1;
        }
        let mut complete = self
            .client
            .complete_multipart_upload()
            .bucket(&self.url.bucket)
            .key(full_key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        match &request.mode {
            PutMode::Overwrite => {}
            PutMode::Create => complete = complete.if_none_match("*"),
            PutMode::Replace(etag) => complete = complete.if_match(etag),
        }
        let output = complete
            .send()
            .await
            .map_err(|err| self.put_error(&request.mode, "complete multipart upload of", key, err))?;
        // A multipart ETag is not an MD5; every part was checked by its Content-MD5 instead.
        Ok(ObjectMeta {
            key: key.clone(),
            size: request.size,
            md5: Some(request.md5),
            version: output.e_tag().unwrap_or_default().to_string(),
            version_id: kept_version(output.version_id()),
            modified: None,
        })
    }
}

/// Reads one part into memory to hash and send it; parts are at most `part_size`, so this stays bounded.
fn read_range(path: &std::path::Path, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = Vec::with_capacity(length as usize);
    file.take(length).read_to_end(&mut buffer)?;
    Ok(buffer)
}

/// A VersionId S3 keeps the version under: an unversioned bucket answers none (or `null` when suspended).
fn kept_version(version_id: Option<&str>) -> Option<String> {
    version_id.filter(|id| !id.is_empty() && *id != "null").map(str::to_string)
}

/// The MD5 an ETag carries: only single-part uploads without KMS encryption have one.
pub fn md5_of_etag(etag: &str) -> Option<Md5> {
    Md5::from_hex(etag.trim_matches('"'))
}

/// The HTTP status of a raw SDK response.
trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[async_trait]
impl Store for S3Store {
    fn url(&self) -> &StoreUrl {
        &self.url
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        fanout::list(self.full_key(prefix), |full, delimited| self.list_pages(full, delimited)).await
    }

    async fn list_flat(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        fanout::flat(self.full_key(prefix), |full, delimited| self.list_pages(full, delimited)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(self.get_versioned(key).await?.map(|versioned| versioned.bytes))
    }

    /// One GetObject: the body and the ETag S3 served it with are the same version.
    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        check_key(&self.url, key)?;
        let result = self.client.get_object().bucket(&self.url.bucket).key(self.full_key(key)).send().await;
        let output = match result {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|service| service.is_no_such_key()) => return Ok(None),
            Err(err) => return Err(self.error("download", key, err)),
        };
        let version = output.e_tag().unwrap_or_default().to_string();
        let body = output
            .body
            .collect()
            .await
            .map_err(|err| StoreError::new(StoreErrorKind::Transient, "download", self.url.join(key), err))?;
        Ok(Some(Versioned { bytes: body.into_bytes(), version }))
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        let result = self
            .client
            .get_object()
            .bucket(&self.url.bucket)
            .key(self.full_key(key))
            .version_id(version_id)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // A version that was deleted, or an id this bucket never issued, is simply not there.
            Err(err)
                if matches!(err.code(), Some("NoSuchKey" | "NoSuchVersion" | "InvalidArgument"))
                    || err.raw_response().map(HttpStatus::status) == Some(404) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(self.error("download a version of", key, err)),
        };
        let body = output
            .body
            .collect()
            .await
            .map_err(|err| StoreError::new(StoreErrorKind::Transient, "download", self.url.join(key), err))?;
        Ok(Some(body.into_bytes()))
    }

    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        check_key(&self.url, &request.key)?;
        match &request.body {
            Body::File(path) if request.size >= self.multipart_threshold => self.put_multipart(request, path).await,
            _ => self.put_single(request).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        self.client
            .delete_object()
            .bucket(&self.url.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|err| self.error("delete", key, err))?;
        Ok(())
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        self.client
            .delete_object()
            .bucket(&self.url.bucket)
            .key(self.full_key(key))
            .if_match(version)
            .send()
            .await
            .map_err(|err| self.conditional_error("conditionally delete", key, err))?;
        Ok(())
    }
}
