//! The first look at dagship's own files under `.dagship/` (marker, ledger records, intents, lock), taken before
//! a plan reads anything else, and what it allows under the lock: using the plan made before the lock instead of
//! listing the whole bucket again.
//!
//! Why that is sound. Every deploy that writes an object does so holding the lock, after writing its intent
//! (src/deploy/ledger.rs), and ends by writing its ledger record and the marker, or a failed or refused record,
//! or not at all (it crashed holding the lock, which the next deploy must then take over). So when the first look
//! saw no lock and no intent, and the same look taken once this deploy holds the lock (the lock itself aside)
//! finds every key at the same version, no deploy wrote anything since the first look: one that did would have
//! left an intent, a record or a new marker behind. The first look is taken before the bucket's listings start,
//! so they saw the bucket as it was then. The plan is made again whenever that cannot be shown: a lock or an intent
//! at the first look, anything different under the lock, a lock taken over from a deploy that stopped, or more
//! than [`FRESH_FOR`] since the first look (a person reading the plan at a prompt: the bucket's other writers, the
//! console among them, had time to change it).
use std::time::{Duration, Instant};

use super::ledger::INTENT_PREFIX;
use super::lock::LOCK_KEY;
use crate::store::{ObjectMeta, Store, StoreError};

/// What dagship keeps under the environment's URL.
pub const STATE_PREFIX: &str = ".dagship/";

/// How long a first look may be trusted for under the lock.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

/// `.dagship/` as one listing saw it, and when.
#[derive(Debug, Clone)]
pub struct FirstLook {
    pub objects: Vec<ObjectMeta>,
    taken: Instant,
}

impl FirstLook {
    pub async fn take(store: &dyn Store) -> Result<FirstLook, StoreError> {
        let taken = Instant::now();
        let objects = store.list_flat(STATE_PREFIX).await?;
        Ok(FirstLook { objects, taken })
    }

    /// Whether `key` was there.
    pub fn holds(&self, key: &str) -> bool {
        self.objects.iter().any(|object| object.key == key)
    }

    /// Whether the first look alone rules out a deploy in flight or one that stopped part-way: no lock and no
    /// intent. Only then may a deploy that finds nothing to write skip the lock (a lock left by a killed deploy is
    /// then taken over and released by the next deploy, even one with nothing to write).
    pub fn was_quiet(&self) -> bool {
        !self.objects.iter().any(|object| object.key == LOCK_KEY || object.key.starts_with(INTENT_PREFIX))
    }

    /// Every key but the lock's, with its version, in key order.
    fn versions(objects: &[ObjectMeta]) -> Vec<(&str, &str)> {
        let mut versions: Vec<(&str, &str)> = objects
            .iter()
            .filter(|object| object.key != LOCK_KEY)
            .map(|object| (object.key.as_str(), object.version.as_str()))
            .collect();
        versions.sort_unstable();
        versions
    }

    /// Whether the plan made after this look still holds, looked at again by a deploy holding the lock (`took_over`:
    /// it took the lock over from a deploy that stopped). See the module's comment.
    pub async fn still_holds(&self, store: &dyn Store, took_over: bool) -> Result<bool, StoreError> {
        if took_over || !self.was_quiet() || self.taken.elapsed() > FRESH_FOR {
            return Ok(false);
        }
        let now = store.list_flat(STATE_PREFIX).await?;
        Ok(Self::versions(&now) == Self::versions(&self.objects))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::{PutMode, PutRequest};

    async fn put(store: &MemoryStore, key: &str, body: &str) {
        store.put(&PutRequest::bytes(key, bytes::Bytes::from(body.to_string()), PutMode::Overwrite)).await.unwrap();
    }

    #[tokio::test]
    async fn a_look_holds_only_while_nothing_under_dagship_changed_but_the_lock() {
        let store = MemoryStore::new(false);
        put(&store, ".dagship/last-deploy.json", "m1").await;
        put(&store, ".dagship/history/1.json", "r1").await;
        let look = FirstLook::take(&store).await.unwrap();
        put(&store, LOCK_KEY, "ours").await;
        assert!(look.still_holds(&store, false).await.unwrap(), "our own lock is not a change");
        assert!(!look.still_holds(&store, true).await.unwrap(), "a lock taken over: the other deploy may have written");

        put(&store, ".dagship/last-deploy.json", "m2").await;
        assert!(!look.still_holds(&store, false).await.unwrap(), "a new marker: another deploy finished");
        let look = FirstLook::take(&store).await.unwrap();
        put(&store, ".dagship/history/2.json", "failed").await;
        assert!(!look.still_holds(&store, false).await.unwrap(), "a new record: another deploy stopped");
        let look = FirstLook::take(&store).await.unwrap();
        store.delete(".dagship/history/1.json").await.unwrap();
        assert!(!look.still_holds(&store, false).await.unwrap(), "a pruned record");
    }

    #[tokio::test]
    async fn a_look_that_saw_a_lock_or_an_intent_never_holds() {
        let store = MemoryStore::new(false);
        put(&store, &format!("{INTENT_PREFIX}1.json"), "{}").await;
        let look = FirstLook::take(&store).await.unwrap();
        assert!(!look.still_holds(&store, false).await.unwrap(), "an intent: a deploy was writing, or stopped");
        store.delete(&format!("{INTENT_PREFIX}1.json")).await.unwrap();
        put(&store, LOCK_KEY, "theirs").await;
        let look = FirstLook::take(&store).await.unwrap();
        store.delete(LOCK_KEY).await.unwrap();
        assert!(!look.still_holds(&store, false).await.unwrap(), "a lock: a deploy was in flight");
    }

    #[tokio::test]
    async fn a_stale_look_never_holds() {
        let store = MemoryStore::new(false);
        let mut look = FirstLook::take(&store).await.unwrap();
        look.taken -= FRESH_FOR + Duration::from_secs(1);
        assert!(!look.still_holds(&store, false).await.unwrap());
    }
}
