//! One deploy per environment at a time: `.dagship/lock.json`, a lease that only conditional writes touch.
//!
//! - **Acquire**: create only if absent (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, a hard link under the
//!   bucket flock locally).
//! - **Renew** (src/deploy/lease.rs): every `ttl / 4` the holder rewrites the lock conditioned on the exact version
//!   it wrote last (S3 `If-Match: <ETag>`, GCS `ifGenerationMatch=<generation>`, local compare-and-swap). Every
//!   write carries a renewal counter, so no two writes have the same bytes (an S3 ETag is a content hash: unique
//!   bytes make it a unique version).
//! - **Take over** a dead holder's lock: by a conditional write on the exact version the waiter watched go stale,
//!   so of N waiters exactly one wins; the others see the winner's lock change and wait for it.
//! - **Release**: a conditional delete of the holder's own last version.
//!
//! ## Staleness without trusting clocks
//! A lock's `acquired_at`/`renewed_at` come from the holder's wall clock, which may lie (a runner minutes off, a
//! laptop asleep). They are shown to people and never used to decide. A waiter declares a lock stale only when
//! the lock's *version* has not changed for a full TTL measured on the waiter's own monotonic clock, counted from
//! the moment the waiter first saw that version. The holder measures its lease on its own monotonic clock from
//! the moment it *sent* the write that produced its current version. That write reached the server before any
//! waiter could see it, so when a waiter takes over (`>= first seen + TTL`), at least a full TTL has passed on the
//! holder's side since the renewal it still relies on was sent. The holder stops starting writes (and abandons
//! writes in flight) once its last confirmed renewal is `ttl / 2` old (src/deploy/guard.rs), which leaves half a
//! TTL of margin for requests already on the wire and for clock *rate* differences (monotonic clocks drift by
//! parts per million, never by half). Only elapsed times on one machine are compared, never two clocks' readings.
//!
//! A waiter that keeps seeing new versions keeps waiting (the holder is alive), up to `lock_timeout`.
//!
//! ## What makes it exclusive on each service
//! Every lock write and delete carries its precondition to the server, which applies it atomically: S3 (conditional
//! writes and deletes, a losing racer gets 412 or 409), GCS (`ifGenerationMatch` on uploads and deletes, 412),
//! and the local backend (flock on the bucket directory around compare-and-swap). No decision rests on a read
//! followed by an unconditional write. gcp-storage-emulator ignores `ifGenerationMatch` and moto checks `If-Match`
//! non-atomically, so the tests put a proxy in front of them that enforces the preconditions dagship sends
//! (tests/it/common/fault_proxy.rs); against the real services the same requests are enforced by the service.
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::DeployError;
use crate::notice::{Level, announce};
use crate::store::{PutMode, PutRequest, Store, StoreErrorKind, Versioned};

pub const LOCK_KEY: &str = ".dagship/lock.json";

/// Who holds the lock, written into it so a waiting deploy can say whom it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Random, so a deploy recognises its own lock.
    pub id: String,
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Seconds since the Unix epoch, by the holder's clock: for people, never for deciding staleness.
    pub acquired_at: u64,
}

impl Holder {
    pub fn describe(&self) -> String {
        let mut text = format!("commit {} on {} (pid {})", short(&self.commit), self.host, self.pid);
        if let Some(run_url) = &self.run_url {
            text.push_str(&format!(", run {run_url}"));
        }
        if let Some(actor) = &self.actor {
            text.push_str(&format!(", by {actor}"));
        }
        text.push_str(&format!(", since {}", format_time(self.acquired_at)));
        text
    }

    /// A lock whose body does not parse (written by hand, or cut short): it still counts as held by someone.
    fn unknown() -> Holder {
        Holder {
            id: String::new(),
            commit: "unknown".into(),
            run_url: None,
            host: "unknown".into(),
            pid: 0,
            actor: None,
            acquired_at: 0,
        }
    }
}

/// The lock object's body: the holder, plus what makes each write unique and states the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    #[serde(flatten)]
    pub holder: Holder,
    /// The environment the lock is for (messages name it).
    #[serde(default)]
    pub environment: String,
    /// The lease the holder renews within; waiters wait at least this long (and at least their own TTL).
    #[serde(default)]
    pub ttl_seconds: u64,
    /// Writes so far by this holder: makes each write's bytes, and so its version, unique.
    #[serde(default)]
    pub renewal: u64,
    /// The holder's wall clock at this write, for people only.
    #[serde(default)]
    pub renewed_at: u64,
}

impl LockRecord {
    pub fn new(holder: &Holder, environment: &str, ttl: Duration) -> LockRecord {
        LockRecord {
            holder: holder.clone(),
            environment: environment.to_string(),
            ttl_seconds: ttl.as_secs().max(1),
            renewal: 0,
            renewed_at: now_seconds(),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec_pretty(self).expect("the lock serializes"))
    }

    /// Parses a lock body; one that does not parse still counts as held (by an unknown holder).
    pub fn parse(bytes: &[u8]) -> LockRecord {
        serde_json::from_slice(bytes).unwrap_or_else(|_| LockRecord {
            holder: Holder::unknown(),
            environment: String::new(),
            ttl_seconds: 0,
            renewal: 0,
            renewed_at: 0,
        })
    }

    /// How long a waiter must see this lock unchanged before it is stale: the longer of the two TTLs.
    pub fn stale_after(&self, own_ttl: Duration) -> Duration {
        own_ttl.max(Duration::from_secs(self.ttl_seconds))
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

pub fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

pub fn format_time(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}

pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(Duration::from_millis(duration.as_millis() as u64)).to_string()
}

/// A held lock: hand it to [`super::lease::Lease::start`], which renews and releases it.
#[derive(Debug)]
pub struct Lock {
    pub record: LockRecord,
    /// The version of the lock object this deploy wrote last.
    pub version: String,
    /// When the write that produced `version` was sent (the lease runs from here, see the module doc).
    pub sent_at: Instant,
    /// The stale lock this one replaced, if any.
    pub took_over: Option<Holder>,
}

#[derive(Debug, Clone)]
pub struct LockPolicy {
    pub timeout: Duration,
    pub ttl: Duration,
    pub poll: Duration,
}

/// A version of the lock as one waiter watches it.
struct Watched {
    version: String,
    first_seen: Instant,
}

pub async fn acquire(
    store: &dyn Store,
    holder: Holder,
    environment: &str,
    policy: &LockPolicy,
) -> Result<Lock, DeployError> {
    let record = LockRecord::new(&holder, environment, policy.ttl);
    let body = record.to_bytes();
    let lock_url = store.url().join(LOCK_KEY);
    let started = Instant::now();
    let mut watched: Option<Watched> = None;
    let mut announced = false;
    loop {
        let sent_at = Instant::now();
        match store.put(&PutRequest::bytes(LOCK_KEY, body.clone(), PutMode::Create)).await {
            Ok(meta) => return Ok(Lock { record, version: meta.version, sent_at, took_over: None }),
            Err(err) if err.kind == StoreErrorKind::AlreadyExists => {}
            Err(err) => return Err(err.into()),
        }
        let Some(current) = store.get_versioned(LOCK_KEY).await? else {
            watched = None;
            continue; // released meanwhile: try again
        };
        if current.bytes == body {
            // Our own create succeeded but its answer was lost and the retry found the key taken.
            return Ok(Lock { record, version: current.version, sent_at, took_over: None });
        }
        let seen = LockRecord::parse(&current.bytes);
        let first_seen = match &watched {
            Some(watch) if watch.version == current.version => watch.first_seen,
            _ => {
                let now = Instant::now();
                watched = Some(Watched { version: current.version.clone(), first_seen: now });
                now
            }
        };
        let stale_after = seen.stale_after(policy.ttl);
        if first_seen.elapsed() >= stale_after {
            if let Some(lock) = take_over(store, &record, &body, &current, &seen, environment, stale_after).await? {
                return Ok(lock);
            }
            // Another waiter took it first (or the holder renewed just now): watch the new version.
            watched = None;
            continue;
        }
        if started.elapsed() >= policy.timeout {
            return Err(DeployError::LockHeld(format!(
                "another deploy holds the lock of environment `{environment}` ({lock_url}): {}; waited {}. A \
                 live deploy renews its lock every {}; once the lock stops changing for {} (its TTL) it is taken \
                 over. If that deploy is dead, `dagship unlock --env {environment}` removes it sooner",
                seen.holder.describe(),
                format_duration(Duration::from_secs(started.elapsed().as_secs())),
                format_duration(stale_after / 4),
                format_duration(stale_after),
            )));
        }
        if !announced {
            announce(
                Level::Notice,
                &format!(
                    "waiting for the deploy lock held by {} (environment `{environment}`)",
                    seen.holder.describe()
                ),
            );
            announced = true;
        }
        tokio::time::sleep(policy.poll).await;
    }
}

/// Replaces the stale lock `current` with ours, conditioned on its exact version. `None` when another writer
/// changed it first.
async fn take_over(
    store: &dyn Store,
    record: &LockRecord,
    body: &Bytes,
    current: &Versioned,
    seen: &LockRecord,
    environment: &str,
    stale_after: Duration,
) -> Result<Option<Lock>, DeployError> {
    let sent_at = Instant::now();
    let request = PutRequest::bytes(LOCK_KEY, body.clone(), PutMode::Replace(current.version.clone()));
    let version = match store.put(&request).await {
        Ok(meta) => meta.version,
        Err(err) if err.kind == StoreErrorKind::Changed => match store.get_versioned(LOCK_KEY).await? {
            // Our replace landed, its answer was lost, and the retry found our own version.
            Some(now) if now.bytes == *body => now.version,
            _ => return Ok(None),
        },
        Err(err) => return Err(err.into()),
    };
    announce(
        Level::Warning,
        &format!(
            "taking over the deploy lock of environment `{environment}` ({}): it did not change for {} (its TTL), \
             so its deploy is dead: {}",
            store.url().join(LOCK_KEY),
            format_duration(stale_after),
            seen.holder.describe()
        ),
    );
    Ok(Some(Lock { record: record.clone(), version, sent_at, took_over: Some(seen.holder.clone()) }))
}

/// Deletes the lock if it is still ours: conditioned on the version read, so a lock another deploy took over
/// meanwhile is never removed. Returns whether ours was removed.
pub async fn release(store: &dyn Store, holder_id: &str, last_version: Option<&str>) -> Result<bool, DeployError> {
    // The lock at the holder's last confirmed version is its own: one conditioned delete. When it changed since (a
    // renewal of ours that landed unconfirmed, or another writer), read it and delete it only if it names us.
    if let Some(version) = last_version {
        match store.delete_if(LOCK_KEY, version).await {
            Ok(()) => return Ok(true),
            Err(err) if err.kind == StoreErrorKind::Changed => {}
            Err(err) => return Err(err.into()),
        }
    }
    for _ in 0..5 {
        let Some(current) = store.get_versioned(LOCK_KEY).await? else { return Ok(false) };
        if LockRecord::parse(&current.bytes).holder.id != holder_id {
            return Ok(false);
        }
        match store.delete_if(LOCK_KEY, &current.version).await {
            Ok(()) => return Ok(true),
            // Rewritten in between (a renewal's late answer): read again.
            Err(err) if err.kind == StoreErrorKind::Changed => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(false)
}

/// Removes an environment's lock by hand. Without `force`, the lock is watched for half its TTL first: a live
/// deploy renews it every quarter TTL, so a lock that changes is live and refused (naming its holder); one that
/// does not has a holder whose guard has stopped it writing. With `force`, a live deploy loses its lock and stops
/// before its next write. Either way the delete is conditioned on the version last seen.
pub async fn unlock(
    store: &dyn Store,
    environment: &str,
    ttl: Duration,
    force: bool,
) -> Result<Option<Holder>, DeployError> {
    let Some(mut current) = store.get_versioned(LOCK_KEY).await? else { return Ok(None) };
    let mut record = LockRecord::parse(&current.bytes);
    if !force {
        let watch = record.stale_after(ttl) / 2;
        eprintln!(
            "watching the lock of environment `{environment}` for {} to tell whether its deploy is alive (a live \
             deploy renews it every {}); --force skips this",
            format_duration(watch),
            format_duration(record.stale_after(ttl) / 4)
        );
        let started = Instant::now();
        while started.elapsed() < watch {
            tokio::time::sleep(Duration::from_millis(250).min(watch)).await;
            match store.get_versioned(LOCK_KEY).await? {
                None => return Ok(None),
                Some(now) if now.version != current.version => {
                    return Err(DeployError::LockHeld(format!(
                        "the lock of environment `{environment}` ({}) is live: it was renewed while watched; it is \
                         held by {}. Wait for that deploy, or pass --force to remove it anyway (that deploy then \
                         stops before its next write and writes no marker)",
                        store.url().join(LOCK_KEY),
                        LockRecord::parse(&now.bytes).holder.describe()
                    )));
                }
                Some(_) => {}
            }
        }
    }
    for _ in 0..5 {
        match store.delete_if(LOCK_KEY, &current.version).await {
            Ok(()) => return Ok(Some(record.holder)),
            Err(err) if err.kind == StoreErrorKind::Changed && force => {
                let Some(now) = store.get_versioned(LOCK_KEY).await? else { return Ok(Some(record.holder)) };
                (current, record) = (now.clone(), LockRecord::parse(&now.bytes));
            }
            Err(err) if err.kind == StoreErrorKind::Changed => {
                return Err(DeployError::LockHeld(format!(
                    "the lock of environment `{environment}` changed while it was being removed: another deploy \
                     holds it now; run `dagship unlock --env {environment}` again to see whose"
                )));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(DeployError::LockHeld(format!(
        "the lock of environment `{environment}` kept changing while it was being removed: a live deploy holds it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, StoreOptions, StoreUrl};
    use std::sync::Arc;

    async fn local_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = StoreUrl::parse(&format!("file://{}/bucket", dir.path().display()), dir.path()).unwrap();
        store::open(&url, &StoreOptions::default()).await.unwrap()
    }

    fn holder(id: &str, acquired_at: u64) -> Holder {
        Holder {
            id: id.into(),
            commit: format!("{id}-commit"),
            run_url: None,
            host: "host".into(),
            pid: 1,
            actor: None,
            acquired_at,
        }
    }

    fn policy(ttl_ms: u64, timeout_ms: u64) -> LockPolicy {
        LockPolicy {
            ttl: Duration::from_millis(ttl_ms),
            timeout: Duration::from_millis(timeout_ms),
            poll: Duration::from_millis(20),
        }
    }

    /// A holder whose clock says "far future" (or "epoch") decides nothing: the waiter watches the version.
    #[tokio::test(flavor = "multi_thread")]
    async fn staleness_is_watched_on_the_waiters_clock_not_read_from_the_holders() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir).await;
        // Written "in 1970" by a clock that lies: the old code called it stale at once.
        let mut liar = LockRecord::new(&holder("liar", 0), "test", Duration::from_millis(400));
        liar.renewed_at = 0;
        store.put(&PutRequest::bytes(LOCK_KEY, liar.to_bytes(), PutMode::Create)).await.unwrap();

        let started = Instant::now();
        let lock =
            acquire(store.as_ref(), holder("waiter", now_seconds()), "test", &policy(400, 10_000)).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400), "taken over only after a full TTL of watching: {waited:?}");
        assert_eq!(lock.took_over.map(|previous| previous.id), Some("liar".to_string()));

        // Written "in 2100": still stale once it stops changing for a TTL.
        let future = LockRecord::new(&holder("future", 4_102_444_800), "test", Duration::from_millis(1));
        store
            .put(&PutRequest::bytes(LOCK_KEY, future.to_bytes(), PutMode::Replace(lock.version.clone())))
            .await
            .unwrap();
        let lock = acquire(store.as_ref(), holder("third", now_seconds()), "test", &policy(300, 10_000)).await.unwrap();
        assert_eq!(lock.took_over.map(|previous| previous.id), Some("future".to_string()));
    }

    /// A lock whose version keeps changing (a live holder renewing) is never taken over, whatever its timestamps.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_lock_that_keeps_changing_is_waited_for_until_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir).await;
        let mut record = LockRecord::new(&holder("alive", 0), "test", Duration::from_millis(200));
        let mut version =
            store.put(&PutRequest::bytes(LOCK_KEY, record.to_bytes(), PutMode::Create)).await.unwrap().version;
        let renewer = {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    record.renewal += 1;
                    let request = PutRequest::bytes(LOCK_KEY, record.to_bytes(), PutMode::Replace(version.clone()));
                    version = store.put(&request).await.unwrap().version;
                }
            })
        };
        let err =
            acquire(store.as_ref(), holder("waiter", now_seconds()), "test", &policy(200, 800)).await.unwrap_err();
        renewer.abort();
        let message = err.to_string();
        assert!(matches!(err, DeployError::LockHeld(_)), "{message}");
        assert!(message.contains("environment `test`") && message.contains("alive-commit"), "{message}");
    }

    /// Release deletes only this deploy's own lock; a lock another deploy took over stays.
    #[tokio::test(flavor = "multi_thread")]
    async fn release_leaves_a_lock_that_is_no_longer_ours() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir).await;
        let lock = acquire(store.as_ref(), holder("first", 0), "test", &policy(1000, 1000)).await.unwrap();
        let other = LockRecord::new(&holder("second", 0), "test", Duration::from_secs(1));
        store.put(&PutRequest::bytes(LOCK_KEY, other.to_bytes(), PutMode::Replace(lock.version))).await.unwrap();
        assert!(!release(store.as_ref(), "first", None).await.unwrap());
        assert_eq!(LockRecord::parse(&store.get(LOCK_KEY).await.unwrap().unwrap()).holder.id, "second");
        assert!(release(store.as_ref(), "second", None).await.unwrap());
        assert_eq!(store.get(LOCK_KEY).await.unwrap(), None);
    }
}
