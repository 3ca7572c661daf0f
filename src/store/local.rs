//! `file://` buckets: a directory. Writes go to a temporary file that is renamed (or, for a conditional
//! create, hard-linked, which fails when the name exists) into place, so readers never see half a file.
//! Conditional replaces and deletes are a compare-and-swap: the bucket directory is flocked (every process
//! using the bucket, dagship or not, that takes the same flock is serialized), the object's current version is
//! compared, and only then renamed over or removed. A version names the content (MD5) besides mtime and size,
//! so two writes within one file-system timestamp tick never share a version.
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;

use super::{Body, ObjectMeta, PutMode, PutRequest, Store, StoreError, StoreErrorKind, StoreUrl, Versioned, check_key};
use crate::hash::Md5;

/// Temporary files carry this marker so listings skip them.
const TEMP_MARKER: &str = ".dagship-partial-";

/// Where temporary files are written, beside dagship's own records: a deploy killed mid-write leaves its partial
/// file here, never among the deployed objects (where Airflow might see it). tests/it/crash_recovery.rs found 47
/// such files among the DAGs after 20 kills when they were written next to their target.
const TEMP_DIR: &str = ".dagship/partial";

#[derive(Debug, Clone)]
pub struct LocalStore {
    url: StoreUrl,
    root: PathBuf,
}

impl LocalStore {
    pub fn new(url: StoreUrl) -> Result<Self, StoreError> {
        let root = PathBuf::from(&url.bucket);
        Ok(LocalStore { url, root })
    }

    fn error(
        &self,
        kind: StoreErrorKind,
        operation: &'static str,
        key: &str,
        err: impl std::fmt::Display,
    ) -> StoreError {
        StoreError::new(kind, operation, self.url.join(key), err)
    }

    fn io_error(&self, operation: &'static str, key: &str, err: std::io::Error) -> StoreError {
        let kind = match err.kind() {
            ErrorKind::PermissionDenied => StoreErrorKind::Denied,
            ErrorKind::AlreadyExists => StoreErrorKind::AlreadyExists,
            _ => StoreErrorKind::Other,
        };
        self.error(kind, operation, key, err)
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // Walk only the folder the prefix names; the prefix's last part may be a partial name.
        let folder = match prefix.rfind('/') {
            Some(end) => &prefix[..end],
            None => "",
        };
        let mut objects = Vec::new();
        let mut pending = vec![self.root.join(folder)];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == ErrorKind::NotFound => continue,
                Err(err) => return Err(self.io_error("list", prefix, err)),
            };
            for entry in entries {
                let entry = entry.map_err(|err| self.io_error("list", prefix, err))?;
                let path = entry.path();
                let file_type = entry.file_type().map_err(|err| self.io_error("list", prefix, err))?;
                if file_type.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Some(key) = self.key_of(&path) else { continue };
                if !key.starts_with(prefix) || key.contains(TEMP_MARKER) {
                    continue;
                }
                let metadata = entry.metadata().map_err(|err| self.io_error("list", &key, err))?;
                let (md5, size) = Md5::of_file(&path).map_err(|err| self.io_error("list", &key, err))?;
                let modified = metadata.modified().ok().map(|time| humantime::format_rfc3339_seconds(time).to_string());
                objects.push(ObjectMeta {
                    version: version_of(&metadata, &md5),
                    key,
                    size,
                    md5: Some(md5),
                    version_id: None,
                    modified,
                });
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    fn key_of(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = relative.components().map(|part| part.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }

    fn put_blocking(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        let key = &request.key;
        let target = self.root.join(key);
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|err| self.io_error("upload", key, err))?;
        let file_name = target.file_name().and_then(|name| name.to_str()).unwrap_or("object");
        let temp_dir = self.root.join(TEMP_DIR);
        std::fs::create_dir_all(&temp_dir).map_err(|err| self.io_error("upload", key, err))?;
        let temp = temp_dir.join(format!(".{file_name}{TEMP_MARKER}{}", crate::random::random_hex()));
        let written = self.write_temp(&temp, request).and_then(|md5| {
            if md5 != request.md5 {
                return Err(self.error(
                    StoreErrorKind::Checksum,
                    "upload",
                    key,
                    format!("the source changed while uploading (expected MD5 {}, read {md5})", request.md5),
                ));
            }
            match &request.mode {
                PutMode::Overwrite => std::fs::rename(&temp, &target).map_err(|err| self.io_error("upload", key, err)),
                // A hard link fails when the name exists: an atomic create-if-absent with the content in place.
                // Under the bucket flock, so a compare-and-swap never sees the name appear mid-way.
                PutMode::Create => self.exclusively(key, || {
                    std::fs::hard_link(&temp, &target).map_err(|err| self.io_error("upload", key, err))
                }),
                PutMode::Replace(version) => self.exclusively(key, || {
                    self.expect_version(key, version)?;
                    std::fs::rename(&temp, &target).map_err(|err| self.io_error("upload", key, err))
                }),
            }
        });
        let _ = std::fs::remove_file(&temp);
        written?;
        let metadata = std::fs::metadata(&target).map_err(|err| self.io_error("upload", key, err))?;
        Ok(ObjectMeta {
            key: key.clone(),
            size: metadata.len(),
            md5: Some(request.md5),
            version: version_of(&metadata, &request.md5),
            ..Default::default()
        })
    }

    /// Runs `work` holding an exclusive flock on the bucket directory (created if needed; never removed, unlike
    /// the folders below it, so every process locks the same inode).
    fn exclusively<T>(&self, key: &str, work: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        std::fs::create_dir_all(&self.root).map_err(|err| self.io_error("lock the bucket for", key, err))?;
        let root = std::fs::File::open(&self.root).map_err(|err| self.io_error("lock the bucket for", key, err))?;
        root.lock().map_err(|err| self.io_error("lock the bucket for", key, err))?;
        let result = work();
        let _ = root.unlock(); // also released when `root` closes
        result
    }

    /// The object's bytes and version from one open file (renames replace the inode, so this is one version).
    fn read_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        use std::io::Read;
        let mut file = match std::fs::File::open(self.root.join(key)) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.io_error("download", key, err)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|err| self.io_error("download", key, err))?;
        let metadata = file.metadata().map_err(|err| self.io_error("download", key, err))?;
        let version = version_of(&metadata, &Md5::of_bytes(&bytes));
        Ok(Some(Versioned { bytes: Bytes::from(bytes), version }))
    }

    /// Fails with `Changed` unless the object exists with exactly `version` (call under [`Self::exclusively`]).
    fn expect_version(&self, key: &str, version: &str) -> Result<(), StoreError> {
        match self.read_versioned(key)? {
            Some(current) if current.version == version => Ok(()),
            Some(current) => Err(self.error(
                StoreErrorKind::Changed,
                "conditionally write",
                key,
                format!("the object changed (version {} is now {})", version, current.version),
            )),
            None => Err(self.error(StoreErrorKind::Changed, "conditionally write", key, "the object is gone")),
        }
    }

    /// Streams the body into `temp`, returning the MD5 of what was written.
    fn write_temp(&self, temp: &Path, request: &PutRequest) -> Result<Md5, StoreError> {
        let key = &request.key;
        let mut file = std::fs::File::create(temp).map_err(|err| self.io_error("upload", key, err))?;
        let (md5, _) = match &request.body {
            Body::Bytes(bytes) => Md5::copy(&mut bytes.as_ref(), &mut file),
            Body::File(path) => {
                let mut source = std::fs::File::open(path).map_err(|err| self.io_error("read source of", key, err))?;
                Md5::copy(&mut source, &mut file)
            }
        }
        .map_err(|err| self.io_error("upload", key, err))?;
        file.sync_data().map_err(|err| self.io_error("upload", key, err))?;
        Ok(md5)
    }

    fn delete_if_blocking(&self, key: &str, version: &str) -> Result<(), StoreError> {
        self.exclusively(key, || {
            self.expect_version(key, version)?;
            self.delete_blocking(key)
        })
    }

    fn delete_blocking(&self, key: &str) -> Result<(), StoreError> {
        let path = self.root.join(key);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(self.io_error("delete", key, err)),
        }
        // Remove folders left empty, as an object store has no empty folders.
        let mut dir = path.parent();
        while let Some(current) = dir {
            if current == self.root || std::fs::remove_dir(current).is_err() {
                break;
            }
            dir = current.parent();
        }
        Ok(())
    }
}

/// Modification time, size and content: a rewrite changes it even within one timestamp tick (unless the bytes
/// are the same, as with an S3 ETag).
fn version_of(metadata: &std::fs::Metadata, md5: &Md5) -> String {
    let nanos = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    format!("{nanos}-{}-{md5}", metadata.len())
}

/// `DAGSHIP_FILE_JOURNAL=<file>`: every write to a `file://` bucket is appended to that file as `PUT key` or
/// `DELETE key` before it starts, the file backend's own record of what a run wrote (the tests read it to observe
/// that a refused deploy wrote nothing; on S3 and GCS a proxy sees the requests). Best effort: a journal that
/// cannot be written never fails the write.
fn journal(operation: &str, key: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("DAGSHIP_FILE_JOURNAL").filter(|path| !path.is_empty()) else { return };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{operation} {}", key.escape_debug());
    }
}

/// Runs file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| Err(StoreError::new(StoreErrorKind::Other, "run", "file://", err)))
}

#[async_trait]
impl Store for LocalStore {
    fn url(&self) -> &StoreUrl {
        &self.url
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let (store, prefix) = (self.clone(), prefix.to_string());
        blocking(move || store.list_blocking(&prefix)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        match tokio::fs::read(self.root.join(key)).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.io_error("download", key, err)),
        }
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        check_key(&self.url, key)?;
        let (store, key) = (self.clone(), key.to_string());
        blocking(move || store.read_versioned(&key)).await
    }

    /// A directory keeps no versions: objects written here never carry a version id to ask for.
    async fn get_version(&self, key: &str, _version_id: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        Ok(None)
    }

    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        check_key(&self.url, &request.key)?;
        journal("PUT", &request.key);
        let (store, request) = (self.clone(), request.clone());
        blocking(move || store.put_blocking(&request)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        journal("DELETE", key);
        let (store, key) = (self.clone(), key.to_string());
        blocking(move || store.delete_blocking(&key)).await
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        journal("DELETE", key);
        let (store, key, version) = (self.clone(), key.to_string(), version.to_string());
        blocking(move || store.delete_if_blocking(&key, &version)).await
    }
}
