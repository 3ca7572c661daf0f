//! Every write of a locked deploy goes through this store: it refuses to start a write once the lease is lost or
//! its last confirmed renewal is older than half the TTL, and abandons a write still in flight (retries included)
//! at that moment. Before the marker, the commit point of a deploy, it renews the lease synchronously, so a deploy
//! that lost its lock never records itself as deployed. Reads pass through.
//!
//! An abandoned S3 multipart upload stays incomplete (a lifecycle rule cleans those); a `file://` write already
//! handed to a blocking thread finishes there. Both are bounded by the half TTL a taker must still wait.
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::lease::Lease;
use super::ledger::HISTORY_PREFIX;
use super::marker::MARKER_KEY;
use crate::store::{ObjectMeta, PutRequest, Store, StoreError, StoreUrl, Versioned};

#[derive(Debug)]
pub struct GuardedStore {
    inner: Arc<dyn Store>,
    lease: Arc<Lease>,
}

impl GuardedStore {
    pub fn new(inner: Arc<dyn Store>, lease: Arc<Lease>) -> GuardedStore {
        GuardedStore { inner, lease }
    }

    /// Runs `write` if the lease allows it, abandoning it if the lease lapses before it finishes.
    async fn guarded<T>(
        &self,
        operation: &'static str,
        key: &str,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let target = self.inner.url().join(key);
        self.lease.check(operation, &target)?;
        let mut write = std::pin::pin!(write);
        loop {
            tokio::select! {
                result = &mut write => return result,
                // A renewal may land between `lapsed` and this check: then the write goes on.
                () = self.lease.lapsed() => self.lease.check(operation, &target)?,
            }
        }
    }
}

#[async_trait]
impl Store for GuardedStore {
    fn url(&self) -> &StoreUrl {
        self.inner.url()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn list_flat(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list_flat(prefix).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.inner.get_versioned(key).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError> {
        self.inner.get_version(key, version_id).await
    }

    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        // The ledger record and the marker are the deploy's commit points: written only with a fresh lease.
        if request.key == MARKER_KEY || request.key.starts_with(HISTORY_PREFIX) {
            self.lease.renew().await?;
        }
        self.guarded("upload", &request.key, self.inner.put(request)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.guarded("delete", key, self.inner.delete(key)).await
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        self.guarded("delete", key, self.inner.delete_if(key, version)).await
    }
}
