//! One conformance suite for the `Store` trait, run against every backend: the local directory, S3 on the
//! moto server and GCS on gcp-storage-emulator. Where an emulator lacks a feature the case says so and the
//! feature is covered by the other backends.
use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use common::buckets::{Backend, Bucket};
use common::fault_proxy::{FaultProxy, Flavor};
use dagship::hash::Md5;
use dagship::store::{self, Body, PutMode, PutRequest, Store, StoreErrorKind, StoreOptions, StoreUrl};

/// What each backend's server really enforces.
#[derive(Clone, Copy)]
struct Caps {
    /// gcp-storage-emulator ignores `maxResults`: it returns everything in one page.
    paginates: bool,
    /// gcp-storage-emulator ignores `ifGenerationMatch=0`: a second create overwrites.
    preconditions: bool,
    /// moto stores a body whose Content-MD5 does not match (real S3 answers BadDigest).
    verifies_md5: bool,
}

fn caps(backend: Backend) -> Caps {
    match backend {
        Backend::Gcs => Caps { paginates: false, preconditions: false, verifies_md5: true },
        Backend::S3 => Caps { paginates: true, preconditions: true, verifies_md5: false },
        Backend::Local => Caps { paginates: true, preconditions: true, verifies_md5: true },
    }
}

async fn open(bucket: &Bucket, options: StoreOptions) -> Arc<dyn Store> {
    if bucket.backend == Backend::S3 {
        assert!(
            std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
            "the S3 tests need AWS_ACCESS_KEY_ID etc. as printed by `scripts/emulators.sh start`"
        );
    }
    let url = StoreUrl::parse(&bucket.url, std::path::Path::new("/")).unwrap();
    let options = StoreOptions { endpoint: bucket.endpoint.clone(), ..options };
    store::open(&url, &options).await.unwrap_or_else(|err| panic!("open {}: {err}", bucket.url))
}

fn put_bytes(key: &str, bytes: &[u8], mode: PutMode) -> PutRequest {
    PutRequest {
        key: key.into(),
        size: bytes.len() as u64,
        md5: Md5::of_bytes(bytes),
        body: Body::Bytes(Bytes::copy_from_slice(bytes)),
        mode,
    }
}

async fn round_trip(backend: Backend) {
    let bucket = Bucket::new(backend);
    let store = open(&bucket, StoreOptions::default()).await;
    let keys = ["dags/daily.py", "dags/sub folder/ünïcode.py", "plugins/operators/slack.py", "dags/empty.py"];
    for key in keys {
        let content = if key.ends_with("empty.py") { Vec::new() } else { format!("# {key}\n").into_bytes() };
        let stored = store.put(&put_bytes(key, &content, PutMode::Overwrite)).await.unwrap();
        assert_eq!(stored.md5, Some(Md5::of_bytes(&content)), "{key}");
    }
    let listed = store.list("").await.unwrap();
    let listed_keys: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
    let mut expected = keys.to_vec();
    expected.sort();
    assert_eq!(listed_keys, expected, "listing is complete and sorted");
    for object in &listed {
        let bytes = store.get(&object.key).await.unwrap().expect("listed objects can be read");
        assert_eq!(object.size, bytes.len() as u64, "{}", object.key);
        assert_eq!(object.md5, Some(Md5::of_bytes(&bytes)), "{} reports its MD5", object.key);
    }
    // The server's own view agrees with what the store reported.
    assert_eq!(bucket.keys(), expected);

    store.delete("dags/daily.py").await.unwrap();
    assert_eq!(store.get("dags/daily.py").await.unwrap(), None);
    store.delete("dags/daily.py").await.expect("deleting a missing object succeeds");
    assert_eq!(store.get("never/was.py").await.unwrap(), None);
}

async fn prefixes_are_exact_and_isolated(backend: Backend) {
    let bucket = Bucket::new(backend);
    let store = open(&bucket, StoreOptions::default()).await;
    for key in ["dags/a.py", "dags2/b.py", "dagsfile.py"] {
        store.put(&put_bytes(key, b"x", PutMode::Overwrite)).await.unwrap();
    }
    for key in ["dags/team/deep/c.py", "dags/team/d.py"] {
        store.put(&put_bytes(key, b"x", PutMode::Overwrite)).await.unwrap();
    }
    let keys: Vec<String> = store.list("dags/").await.unwrap().into_iter().map(|object| object.key).collect();
    assert_eq!(
        keys,
        ["dags/a.py", "dags/team/d.py", "dags/team/deep/c.py"],
        "`dags/` must not match `dags2/` or `dagsfile.py`"
    );
    // The flat listing (no fan-out by sub-folder) lists the very same keys.
    let flat: Vec<String> = store.list_flat("dags/").await.unwrap().into_iter().map(|object| object.key).collect();
    assert_eq!(flat, keys);

    // A store one folder deeper sees only its own objects, with keys relative to its prefix.
    let deeper_url = StoreUrl::parse(&bucket.url, std::path::Path::new("/")).unwrap().child("dags");
    let options = StoreOptions { endpoint: bucket.endpoint.clone(), ..StoreOptions::default() };
    let deeper = store::open(&deeper_url, &options).await.unwrap();
    let keys: Vec<String> = deeper.list("").await.unwrap().into_iter().map(|object| object.key).collect();
    assert_eq!(keys, ["a.py", "team/d.py", "team/deep/c.py"]);
}

async fn listing_follows_pages(backend: Backend) {
    let bucket = Bucket::new(backend);
    let store = open(&bucket, StoreOptions { page_size: 2, ..StoreOptions::default() }).await;
    for index in 0..7 {
        store.put(&put_bytes(&format!("dags/f{index}.py"), b"x", PutMode::Overwrite)).await.unwrap();
    }
    let listed = store.list("dags/").await.unwrap();
    // With 2 keys per page this takes 4 pages on S3 and locally; the GCS emulator answers in one page
    // whatever maxResults says, so there this only checks the listing is complete.
    assert_eq!(listed.len(), 7, "all pages are read (paginates: {})", caps(backend).paginates);
}

async fn conditional_create(backend: Backend) {
    let bucket = Bucket::new(backend);
    let store = open(&bucket, StoreOptions::default()).await;
    store.put(&put_bytes(".dagship/lock.json", b"first", PutMode::Create)).await.expect("create when absent");
    let second = store.put(&put_bytes(".dagship/lock.json", b"second", PutMode::Create)).await;
    if caps(backend).preconditions {
        let err = second.expect_err("a second create must fail");
        assert_eq!(err.kind, StoreErrorKind::AlreadyExists, "{err}");
        assert_eq!(store.get(".dagship/lock.json").await.unwrap().as_deref(), Some(&b"first"[..]));
    } else {
        // gcp-storage-emulator ignores ifGenerationMatch=0 (real GCS enforces it); covered on S3 and local.
        second.expect("the emulator accepts the second create");
    }
}

async fn large_files_go_in_parts(backend: Backend) {
    let bucket = Bucket::new(backend);
    let mib = 1024 * 1024;
    let options = StoreOptions { multipart_threshold: 5 * mib, part_size: 5 * mib, ..StoreOptions::default() };
    let store = open(&bucket, options).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let content: Vec<u8> = (0..11 * mib as usize).map(|index| (index * 7 % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let md5 = Md5::of_bytes(&content);
    let request = PutRequest {
        key: "data/big.bin".into(),
        body: Body::File(path),
        size: content.len() as u64,
        md5,
        mode: PutMode::Overwrite,
    };
    let stored = store.put(&request).await.unwrap();
    assert_eq!(stored.md5, Some(md5));
    let read = store.get("data/big.bin").await.unwrap().unwrap();
    assert!(read[..] == content[..], "the parts were assembled in order");
    let listed = store.list("data/").await.unwrap();
    assert_eq!(listed[0].size, content.len() as u64);
    // An S3 multipart ETag is not an MD5: the listing must say "unknown", never a wrong hash.
    assert!(listed[0].md5.is_none() || listed[0].md5 == Some(md5), "{:?}", listed[0]);
}

async fn corrupt_uploads_are_refused(backend: Backend) {
    let bucket = Bucket::new(backend);
    let store = open(&bucket, StoreOptions::default()).await;
    let mut request = put_bytes("dags/corrupt.py", b"what we send", PutMode::Overwrite);
    request.md5 = Md5::of_bytes(b"what we meant to send");
    let err = store.put(&request).await.expect_err("a body that does not match its MD5 is refused");
    assert_ne!(err.kind, StoreErrorKind::Transient, "a checksum mismatch is not retried forever: {err}");
    if caps(backend).verifies_md5 {
        assert_eq!(store.get("dags/corrupt.py").await.unwrap(), None, "nothing was stored");
    } else {
        // moto kept the body; dagship's own check of the returned ETag still failed the upload.
        assert_eq!(err.kind, StoreErrorKind::Checksum, "{err}");
    }
}

async fn missing_bucket_is_named(backend: Backend) {
    let mut bucket = Bucket::new(backend);
    let missing = format!("{}-missing", bucket.name);
    bucket.url = bucket.url.replacen(&bucket.name, &missing, 1);
    if backend == Backend::Local {
        // A local bucket is a directory created on first write; an absent one lists as empty.
        let store = open(&bucket, StoreOptions::default()).await;
        assert!(store.list("").await.unwrap().is_empty());
        return;
    }
    let store = open(&bucket, StoreOptions::default()).await;
    let err = store.list("dags/").await.expect_err("listing a missing bucket fails");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(matches!(err.kind, StoreErrorKind::NoBucket | StoreErrorKind::Other), "{err}");
}

/// A store for the conditional cases. GCS goes through the precondition-enforcing proxy
/// (tests/it/common/fault_proxy.rs): gcp-storage-emulator ignores `ifGenerationMatch`, so the proxy checks the
/// generation dagship sends against the emulator's metadata and answers 412 as GCS does. With `atomic`, S3 goes
/// through it too: moto checks `If-Match` and then writes in two steps on parallel threads, which real S3 does
/// atomically.
async fn open_conditional(bucket: &Bucket, atomic: bool) -> (Arc<dyn Store>, Option<FaultProxy>) {
    let proxy = match bucket.backend {
        Backend::Gcs => Some(FaultProxy::start_conditional(bucket.endpoint.as_ref().unwrap(), Flavor::Gcs)),
        Backend::S3 if atomic => Some(FaultProxy::start_conditional(bucket.endpoint.as_ref().unwrap(), Flavor::S3)),
        _ => None,
    };
    let endpoint = proxy.as_ref().map(|proxy| proxy.url.clone()).or_else(|| bucket.endpoint.clone());
    let url = StoreUrl::parse(&bucket.url, std::path::Path::new("/")).unwrap();
    let options = StoreOptions { endpoint, ..StoreOptions::default() };
    (store::open(&url, &options).await.unwrap(), proxy)
}

async fn conditional_replace_and_delete(backend: Backend) {
    let bucket = Bucket::new(backend);
    let (store, _proxy) = open_conditional(&bucket, false).await;
    let key = ".dagship/lock.json";
    assert_eq!(store.get_versioned(key).await.unwrap(), None, "a missing object has no version");
    let created = store.put(&put_bytes(key, b"one", PutMode::Create)).await.unwrap();
    let read = store.get_versioned(key).await.unwrap().expect("the created object");
    assert_eq!((read.bytes.as_ref(), read.version.as_str()), (&b"one"[..], created.version.as_str()));

    let replaced = store.put(&put_bytes(key, b"two", PutMode::Replace(read.version.clone()))).await.unwrap();
    assert_ne!(replaced.version, read.version, "a rewrite has a new version");
    let stale = store.put(&put_bytes(key, b"three", PutMode::Replace(read.version.clone()))).await;
    assert_eq!(stale.expect_err("a replace on an old version fails").kind, StoreErrorKind::Changed);
    let err = store.delete_if(key, &read.version).await.expect_err("a delete on an old version fails");
    assert_eq!(err.kind, StoreErrorKind::Changed, "{err}");
    let current = store.get_versioned(key).await.unwrap().unwrap();
    assert_eq!((current.bytes.as_ref(), current.version), (&b"two"[..], replaced.version.clone()), "untouched");

    store.delete_if(key, &replaced.version).await.expect("a delete on the current version succeeds");
    assert_eq!(store.get(key).await.unwrap(), None);
    let gone = store.put(&put_bytes(key, b"four", PutMode::Replace(replaced.version.clone()))).await;
    assert_eq!(gone.expect_err("a replace of a deleted object fails").kind, StoreErrorKind::Changed);
    assert_eq!(store.get(key).await.unwrap(), None, "the failed replace created nothing");
    let err = store.delete_if(key, &replaced.version).await.expect_err("a conditional delete of nothing fails");
    assert_eq!(err.kind, StoreErrorKind::Changed, "{err}");
}

async fn one_of_many_conditional_replaces_wins(backend: Backend) {
    const RACERS: usize = 8;
    let bucket = Bucket::new(backend);
    let (store, _proxy) = open_conditional(&bucket, true).await;
    let key = ".dagship/lock.json";
    let base = store.put(&put_bytes(key, b"stale", PutMode::Overwrite)).await.unwrap().version;
    let attempts = (0..RACERS).map(|index| {
        let (store, base) = (store.clone(), base.clone());
        tokio::spawn(async move {
            let body = format!("racer {index}");
            (index, store.put(&put_bytes(key, body.as_bytes(), PutMode::Replace(base))).await)
        })
    });
    let results = futures::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for result in results {
        match result.unwrap() {
            (index, Ok(_)) => winners.push(index),
            (_, Err(err)) => assert_eq!(err.kind, StoreErrorKind::Changed, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {RACERS} replaces of one version wins: {winners:?}");
    let stored = store.get(key).await.unwrap().unwrap();
    assert_eq!(stored.as_ref(), format!("racer {}", winners[0]).as_bytes(), "the winner's bytes are stored");
}

/// On a versioned bucket every put reports the version it made (S3 VersionId, GCS generation) and that version
/// reads back by id after the object is overwritten and after it is deleted; an id the bucket does not have reads
/// as `None`. A directory keeps no versions. Every listing says when each object was written.
async fn kept_versions_read_back(backend: Backend) {
    let bucket = Bucket::new(backend);
    if backend != Backend::Local {
        bucket.enable_versioning();
    }
    let store = open(&bucket, StoreOptions::default()).await;
    let first = store.put(&put_bytes("dags/a.py", b"one", PutMode::Overwrite)).await.unwrap();
    let listed = store.list("dags/").await.unwrap();
    let written = listed[0].modified.as_deref().expect("a listing says when the object was written");
    humantime::parse_rfc3339(written).expect("RFC 3339");
    if backend == Backend::Local {
        assert_eq!(first.version_id, None);
        assert_eq!(store.get_version("dags/a.py", "1").await.unwrap(), None);
        return;
    }
    let id = first.version_id.clone().expect("a versioned bucket names the version");
    store.put(&put_bytes("dags/a.py", b"two", PutMode::Overwrite)).await.unwrap();
    assert_eq!(store.get_version("dags/a.py", &id).await.unwrap().as_deref(), Some(&b"one"[..]));
    store.delete("dags/a.py").await.unwrap();
    assert_eq!(store.get_version("dags/a.py", &id).await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(store.get_version("dags/a.py", "1").await.unwrap(), None, "an id the bucket does not have");
}

macro_rules! conformance {
    ($backend_mod:ident, $backend:expr) => {
        mod $backend_mod {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn round_trip() {
                super::round_trip($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn prefixes_are_exact_and_isolated() {
                super::prefixes_are_exact_and_isolated($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn listing_follows_pages() {
                super::listing_follows_pages($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn conditional_create() {
                super::conditional_create($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn conditional_replace_and_delete() {
                super::conditional_replace_and_delete($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn one_of_many_conditional_replaces_wins() {
                super::one_of_many_conditional_replaces_wins($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn large_files_go_in_parts() {
                super::large_files_go_in_parts($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn corrupt_uploads_are_refused() {
                super::corrupt_uploads_are_refused($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn kept_versions_read_back() {
                super::kept_versions_read_back($backend).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn missing_bucket_is_named() {
                super::missing_bucket_is_named($backend).await
            }
        }
    };
}

conformance!(local, Backend::Local);
conformance!(s3, Backend::S3);
conformance!(gcs, Backend::Gcs);
