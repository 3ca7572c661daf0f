//! Retries with exponential backoff and full jitter, applied to every backend by wrapping it.
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectMeta, PutRequest, Store, StoreError, StoreUrl, Versioned};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 6, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait in [0, min(max, base * 2^attempt)], so parallel uploads that failed together
    /// do not come back together.
    fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << attempt.min(16)).min(self.max_delay);
        let mut random = [0u8; 8];
        let fraction = match getrandom::fill(&mut random) {
            Ok(()) => (u64::from_le_bytes(random) >> 11) as f64 / (1u64 << 53) as f64,
            Err(_) => 0.5,
        };
        ceiling.mul_f64(fraction)
    }

    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 0;
        loop {
            match operation().await {
                Err(err) if err.is_transient() && attempt + 1 < self.attempts => {
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A store whose every call is retried on transient errors.
#[derive(Debug)]
pub struct Retrying {
    inner: Box<dyn Store>,
    policy: RetryPolicy,
}

impl Retrying {
    pub fn new(inner: Box<dyn Store>, policy: RetryPolicy) -> Self {
        Retrying { inner, policy }
    }
}

#[async_trait]
impl Store for Retrying {
    fn url(&self) -> &StoreUrl {
        self.inner.url()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.policy.run(|| self.inner.list(prefix)).await
    }

    async fn list_flat(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.policy.run(|| self.inner.list_flat(prefix)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.policy.run(|| self.inner.get(key)).await
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.policy.run(|| self.inner.get_versioned(key)).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError> {
        self.policy.run(|| self.inner.get_version(key, version_id)).await
    }

    /// A conditional write whose answer was lost and is retried may fail with `Changed` or `AlreadyExists`
    /// although the first attempt succeeded: callers of the conditional modes read the object back to tell
    /// (src/deploy/lock.rs does, by the unique body every lock write carries).
    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        self.policy.run(|| self.inner.put(request)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.policy.run(|| self.inner.delete(key)).await
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        self.policy.run(|| self.inner.delete_if(key, version)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_transient_errors_only() {
        let policy =
            RetryPolicy { attempts: 4, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(2) };
        let calls = AtomicU32::new(0);
        let result = policy
            .run(|| async {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                if call < 2 { Err(StoreError::new(StoreErrorKind::Transient, "list", "x", "503")) } else { Ok(call) }
            })
            .await;
        assert_eq!(result.unwrap(), 2);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::new(StoreErrorKind::Denied, "list", "x", "403"))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a denied request is not retried");
    }

    #[test]
    fn delays_stay_under_the_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            assert!(policy.delay(attempt) <= policy.max_delay);
        }
    }
}
