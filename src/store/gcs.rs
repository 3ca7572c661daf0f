//! `gs://` buckets through the GCS JSON API (`gcloud-storage`), with Application Default Credentials:
//! GOOGLE_APPLICATION_CREDENTIALS (service account or `external_account` workload identity, as written by
//! google-github-actions/auth), gcloud's ADC file, or the metadata server. `STORAGE_EMULATOR_HOST` (the variable
//! Google's own clients read) or the environment's `endpoint` points it at an emulator, without credentials.

use async_trait::async_trait;
use bytes::Bytes;
use gcloud_storage::client::{Client, ClientConfig};
use gcloud_storage::http::Error as GcsError;
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use gcloud_storage::http::objects::upload::{UploadObjectRequest, UploadType};
use gcloud_storage::http::resumable_upload_client::{ChunkSize, UploadStatus};

use super::credentials_hint::{Ambient, google_no_credentials};
use super::fanout::{self, Level};
use super::{
    Body, ObjectMeta, PutMode, PutRequest, Store, StoreError, StoreErrorKind, StoreOptions, StoreUrl, Versioned,
    check_key,
};
use crate::hash::Md5;

pub const EMULATOR_VARIABLE: &str = "STORAGE_EMULATOR_HOST";

pub struct GcsStore {
    url: StoreUrl,
    client: Client,
    multipart_threshold: u64,
    part_size: u64,
    page_size: i32,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The HTTP status of a failed call, when the server answered.
fn status_of(err: &GcsError) -> Option<u16> {
    match err {
        GcsError::Response(response) => Some(response.code),
        GcsError::HttpClient(http) | GcsError::RawResponse(http, _) => http.status().map(|status| status.as_u16()),
        _ => None,
    }
}

/// A response whose body broke off (a dropped connection mid-body, a Content-Length never met): reqwest reports
/// it as a decode error like a malformed body, but unlike one it is worth retrying. Found by the fault-injecting
/// proxy in tests/it/fault_injection.rs: a truncated upload answer failed the deploy on the first try.
fn body_cut_short(err: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.is::<serde_json::Error>() {
            return false;
        }
        source = cause.source();
    }
    err.is_decode()
}

impl GcsStore {
    pub async fn connect(url: StoreUrl, options: &StoreOptions) -> Result<Self, StoreError> {
        // reqwest's read timeout runs from the request's start to the response head, then per read of the body:
        // the same bound as the S3 SDK's read timeout.
        let http = reqwest::Client::builder()
            .connect_timeout(super::CONNECT_TIMEOUT)
            .read_timeout(options.request_timeout)
            .build()
            .map_err(|err| StoreError::new(StoreErrorKind::Other, "connect to", url.to_string(), err))?;
        let http = reqwest_middleware::ClientBuilder::new(http).build();
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| std::env::var(EMULATOR_VARIABLE).ok().filter(|value| !value.is_empty()));
        let config = match endpoint {
            Some(endpoint) => {
                let endpoint = if endpoint.contains("://") { endpoint } else { format!("http://{endpoint}") };
                ClientConfig {
                    http: Some(http),
                    storage_endpoint: endpoint.trim_end_matches('/').to_string(),
                    ..Default::default()
                }
                .anonymous()
            }
            None => ClientConfig { http: Some(http), ..Default::default() }.with_auth().await.map_err(|err| {
                let message = google_no_credentials(&Ambient::process());
                StoreError::no_credentials("authenticate for", url.to_string(), message, err)
            })?,
        };
        Ok(GcsStore {
            url,
            client: Client::new(config),
            multipart_threshold: options.multipart_threshold,
            // Resumable chunks must be multiples of 256 KiB.
            part_size: (options.part_size / (256 * 1024)).max(1) * 256 * 1024,
            page_size: i32::try_from(options.page_size).unwrap_or(1000),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.url.prefix)
    }

    /// Every page of one listing of `full_prefix`, with the `/` delimiter (sub-prefixes apart) or flat.
    async fn list_pages(&self, full_prefix: String, delimited: bool) -> Result<Level, StoreError> {
        let mut level = Level::default();
        let mut page_token = None;
        loop {
            let request = ListObjectsRequest {
                bucket: self.url.bucket.clone(),
                prefix: Some(full_prefix.clone()),
                delimiter: delimited.then(|| "/".to_string()),
                max_results: Some(self.page_size),
                page_token: page_token.take(),
                ..Default::default()
            };
            let page = self
                .client
                .list_objects(&request)
                .await
                .map_err(|err| self.error("list", full_prefix.strip_prefix(&self.url.prefix).unwrap_or(""), err))?;
            level.prefixes.extend(page.prefixes.unwrap_or_default());
            for object in page.items.unwrap_or_default() {
                if let Some(key) = object.name.strip_prefix(&self.url.prefix) {
                    level.objects.push(meta_of(&object, key.to_string()));
                }
            }
            match page.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => return Ok(level),
            }
        }
    }

    fn error(&self, operation: &'static str, key: &str, err: GcsError) -> StoreError {
        let kind = match (status_of(&err), &err) {
            (Some(412), _) => StoreErrorKind::AlreadyExists,
            (Some(401 | 403), _) | (None, GcsError::TokenSource(_)) => StoreErrorKind::Denied,
            (Some(404), GcsError::Response(response)) if response.message.to_lowercase().contains("bucket") => {
                StoreErrorKind::NoBucket
            }
            (Some(408 | 429 | 500..=599), _) => StoreErrorKind::Transient,
            (None, GcsError::HttpClient(http))
                if http.is_timeout()
                    || http.is_connect()
                    || http.is_request()
                    || http.is_body()
                    || body_cut_short(http) =>
            {
                StoreErrorKind::Transient
            }
            _ => StoreErrorKind::Other,
        };
        let message = match (&err, status_of(&err)) {
            (GcsError::Response(response), Some(code)) => format!("HTTP {code}: {}", response.message),
            _ => err.to_string(),
        };
        StoreError::new(kind, operation, self.url.join(key), message)
    }

    /// The error of a request with a generation precondition: 412 (another generation) and 404 (gone) mean
    /// another writer changed the object.
    fn conditional_error(&self, operation: &'static str, key: &str, err: GcsError) -> StoreError {
        let status = status_of(&err);
        let mut error = self.error(operation, key, err);
        if matches!(status, Some(404 | 412)) {
            error.kind = StoreErrorKind::Changed;
        }
        error
    }

    fn put_error(&self, mode: &PutMode, operation: &'static str, key: &str, err: GcsError) -> StoreError {
        match mode {
            PutMode::Replace(_) => self.conditional_error(operation, key, err),
            _ => self.error(operation, key, err),
        }
    }

    /// The generation precondition of a put: `0` means "no live object", a generation means "still this one".
    /// Real GCS enforces both atomically; gcp-storage-emulator ignores them (tests put a precondition-enforcing
    /// proxy in front of it, tests/it/common/fault_proxy.rs).
    fn upload_request(&self, mode: &PutMode, key: &str) -> Result<UploadObjectRequest, StoreError> {
        let if_generation_match = match mode {
            PutMode::Overwrite => None,
            PutMode::Create => Some(0),
            PutMode::Replace(generation) => Some(self.generation(key, generation)?),
        };
        Ok(UploadObjectRequest { bucket: self.url.bucket.clone(), if_generation_match, ..Default::default() })
    }

    fn generation(&self, key: &str, version: &str) -> Result<i64, StoreError> {
        version.parse().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Invalid,
                "conditionally write",
                self.url.join(key),
                format!("`{version}` is not a GCS generation"),
            )
        })
    }

    fn metadata(&self, request: &PutRequest) -> Object {
        Object {
            name: self.full_key(&request.key),
            // GCS verifies the body against this and refuses the upload when they differ.
            md5_hash: Some(request.md5.to_base64()),
            content_type: Some("application/octet-stream".into()),
            ..Default::default()
        }
    }

    async fn put_simple(&self, request: &PutRequest) -> Result<Object, StoreError> {
        let key = &request.key;
        let bytes =
            match &request.body {
                Body::Bytes(bytes) => bytes.clone(),
                Body::File(path) => Bytes::from(tokio::fs::read(path).await.map_err(|err| {
                    StoreError::new(StoreErrorKind::Other, "read source of", self.url.join(key), err)
                })?),
            };
        let upload_type = UploadType::Multipart(Box::new(self.metadata(request)));
        self.client
            .upload_object(&self.upload_request(&request.mode, key)?, bytes, &upload_type)
            .await
            .map_err(|err| self.put_error(&request.mode, "upload", key, err))
    }

    /// A resumable upload in `part_size` chunks, so a large file never sits in memory whole.
    async fn put_resumable(&self, request: &PutRequest, path: &std::path::Path) -> Result<Object, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let key = &request.key;
        let read_error =
            |err: std::io::Error| StoreError::new(StoreErrorKind::Other, "read source of", self.url.join(key), err);
        let upload_type = UploadType::Multipart(Box::new(self.metadata(request)));
        let session = self
            .client
            .prepare_resumable_upload(&self.upload_request(&request.mode, key)?, &upload_type)
            .await
            .map_err(|err| self.put_error(&request.mode, "start resumable upload of", key, err))?;
        let mut file = tokio::fs::File::open(path).await.map_err(read_error)?;
        let mut offset = 0u64;
        loop {
            let length = self.part_size.min(request.size - offset);
            let mut chunk = vec![0u8; length as usize];
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(read_error)?;
            file.read_exact(&mut chunk).await.map_err(read_error)?;
            let range = ChunkSize::new(offset, offset + length - 1, Some(request.size));
            let status = session
                .upload_multiple_chunk(chunk, &range)
                .await
                .map_err(|err| self.put_error(&request.mode, "upload chunk of", key, err))?;
            offset += length;
            match status {
                UploadStatus::Ok(object) => return Ok(object),
                _ if offset >= request.size => {
                    return Err(StoreError::new(
                        StoreErrorKind::Transient,
                        "finish resumable upload of",
                        self.url.join(key),
                        "the server did not confirm the last chunk",
                    ));
                }
                _ => {}
            }
        }
    }
}

fn meta_of(object: &Object, key: String) -> ObjectMeta {
    ObjectMeta {
        key,
        size: object.size.max(0) as u64,
        md5: object.md5_hash.as_deref().and_then(Md5::from_base64),
        version: object.generation.to_string(),
        version_id: Some(object.generation.to_string()),
        modified: object.updated.map(|time| humantime::format_rfc3339_seconds(time.into()).to_string()),
    }
}

#[async_trait]
impl Store for GcsStore {
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
        check_key(&self.url, key)?;
        let request =
            GetObjectRequest { bucket: self.url.bucket.clone(), object: self.full_key(key), ..Default::default() };
        match self.client.download_object(&request, &Range::default()).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(err) if status_of(&err) == Some(404) => Ok(None),
            Err(err) => Err(self.error("download", key, err)),
        }
    }

    /// The metadata (generation G), then the bytes of generation G exactly: if the object was rewritten in
    /// between (and G is gone), the download fails with 404 and the read starts over.
    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        check_key(&self.url, key)?;
        let mut request =
            GetObjectRequest { bucket: self.url.bucket.clone(), object: self.full_key(key), ..Default::default() };
        for _ in 0..5 {
            request.generation = None;
            let object = match self.client.get_object(&request).await {
                Ok(object) => object,
                Err(err) if status_of(&err) == Some(404) => return Ok(None),
                Err(err) => return Err(self.error("download", key, err)),
            };
            request.generation = Some(object.generation);
            match self.client.download_object(&request, &Range::default()).await {
                Ok(bytes) => {
                    return Ok(Some(Versioned { bytes: Bytes::from(bytes), version: object.generation.to_string() }));
                }
                Err(err) if status_of(&err) == Some(404) => continue,
                Err(err) => return Err(self.error("download", key, err)),
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Transient,
            "download",
            self.url.join(key),
            "the object was rewritten during every read",
        ))
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        let Ok(generation) = version_id.parse::<i64>() else { return Ok(None) };
        let request = GetObjectRequest {
            bucket: self.url.bucket.clone(),
            object: self.full_key(key),
            generation: Some(generation),
            ..Default::default()
        };
        match self.client.download_object(&request, &Range::default()).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(err) if status_of(&err) == Some(404) => Ok(None),
            Err(err) => Err(self.error("download a generation of", key, err)),
        }
    }

    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        check_key(&self.url, &request.key)?;
        let object = match &request.body {
            Body::File(path) if request.size >= self.multipart_threshold => self.put_resumable(request, path).await?,
            _ => self.put_simple(request).await?,
        };
        let meta = meta_of(&object, request.key.clone());
        if let Some(stored) = meta.md5
            && stored != request.md5
        {
            return Err(StoreError::new(
                StoreErrorKind::Checksum,
                "upload",
                self.url.join(&request.key),
                format!("stored MD5 {stored} differs from the source's {}", request.md5),
            ));
        }
        Ok(ObjectMeta { md5: Some(request.md5), ..meta })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        let request =
            DeleteObjectRequest { bucket: self.url.bucket.clone(), object: self.full_key(key), ..Default::default() };
        match self.client.delete_object(&request).await {
            Ok(()) => Ok(()),
            Err(err) if status_of(&err) == Some(404) => Ok(()),
            Err(err) => Err(self.error("delete", key, err)),
        }
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        let request = DeleteObjectRequest {
            bucket: self.url.bucket.clone(),
            object: self.full_key(key),
            if_generation_match: Some(self.generation(key, version)?),
            ..Default::default()
        };
        self.client
            .delete_object(&request)
            .await
            .map_err(|err| self.conditional_error("conditionally delete", key, err))
    }
}
