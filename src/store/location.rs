//! Parsing `gs://bucket/prefix`, `s3://bucket/prefix` and `file://path` into a bucket and a prefix.
use std::fmt;
use std::path::{Path, PathBuf};

use super::{StoreError, StoreErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Gcs,
    S3,
    File,
}

/// A parsed bucket URL. `prefix` is empty or ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub scheme: Scheme,
    /// The bucket name; for `file://`, the directory (absolute).
    pub bucket: String,
    pub prefix: String,
}

impl StoreUrl {
    /// Parses `text`; a relative `file://` path is taken relative to `base_dir` (the repository root).
    pub fn parse(text: &str, base_dir: &Path) -> Result<StoreUrl, StoreError> {
        let invalid = |why: &str| StoreError::new(StoreErrorKind::Invalid, "parse bucket URL", text, why);
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("gs://") {
            (Scheme::Gcs, rest)
        } else if let Some(rest) = text.strip_prefix("s3://") {
            (Scheme::S3, rest)
        } else if let Some(rest) = text.strip_prefix("file://") {
            let path = Path::new(rest);
            if rest.is_empty() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(invalid("expected file:///absolute/dir or file://dir/inside/the/repository"));
            }
            let dir: PathBuf = if path.is_absolute() { path.to_path_buf() } else { base_dir.join(path) };
            return Ok(StoreUrl {
                scheme: Scheme::File,
                bucket: dir.to_string_lossy().into_owned(),
                prefix: String::new(),
            });
        } else {
            return Err(invalid("expected a gs://, s3:// or file:// URL"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the bucket name is missing"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(invalid("the prefix must not contain `.` or `..`"));
        }
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(StoreUrl { scheme, bucket: bucket.to_string(), prefix })
    }

    /// The same bucket, one folder deeper.
    pub fn child(&self, folder: &str) -> StoreUrl {
        let folder = folder.trim_matches('/');
        match self.scheme {
            Scheme::File => {
                StoreUrl { bucket: Path::new(&self.bucket).join(folder).to_string_lossy().into_owned(), ..self.clone() }
            }
            _ => StoreUrl { prefix: format!("{}{folder}/", self.prefix), ..self.clone() },
        }
    }

    /// The full URL of `key` under this prefix, for messages.
    pub fn join(&self, key: &str) -> String {
        format!("{self}{key}")
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Gcs => write!(f, "gs://{}/{}", self.bucket, self.prefix),
            Scheme::S3 => write!(f, "s3://{}/{}", self.bucket, self.prefix),
            Scheme::File => write!(f, "file://{}/", self.bucket.trim_end_matches('/')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let url = StoreUrl::parse("gs://airflow-bucket/env/stg/", Path::new("/repo")).unwrap();
        assert_eq!((url.scheme, url.bucket.as_str(), url.prefix.as_str()), (Scheme::Gcs, "airflow-bucket", "env/stg/"));
        let url = StoreUrl::parse("s3://b", Path::new("/repo")).unwrap();
        assert_eq!(url.prefix, "");
        assert_eq!(url.child("dags").to_string(), "s3://b/dags/");
        let url = StoreUrl::parse("file://.dagship/bucket", Path::new("/repo")).unwrap();
        assert_eq!(url.bucket, "/repo/.dagship/bucket");
    }

    #[test]
    fn refuses_escapes_and_unknown_schemes() {
        for bad in ["gs://", "s3:///x", "file://../x", "http://x", "gs://b/../x"] {
            assert!(StoreUrl::parse(bad, Path::new("/repo")).is_err(), "{bad}");
        }
    }
}
