//! The lease on a held deploy lock: a heartbeat task renews it every `ttl / 4` with a write conditioned on its
//! own last version, and records when each confirmed renewal was *sent*. The write guard (src/deploy/guard.rs)
//! asks it before every write whether the deploy may still write. Why elapsed time since the send is the right
//! measure, and why no clock is compared with another, is in src/deploy/lock.rs.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::DeployError;
use super::lock::{self, LOCK_KEY, Lock, LockRecord, format_duration};
use crate::notice::{Level, announce};
use crate::store::{PutMode, PutRequest, Store, StoreError, StoreErrorKind};

/// A confirmed renewal older than this share of the TTL stops new writes and abandons those in flight: a
/// waiter can take over only after a full TTL, so half a TTL is left for requests already on the wire.
const WRITE_WINDOW: u32 = 2;
/// Renewals per TTL: two may fail in a row before the write window closes.
const RENEWALS_PER_TTL: u32 = 4;

#[derive(Debug)]
struct State {
    record: LockRecord,
    version: String,
    /// When the write that produced `version` was sent.
    confirmed_sent_at: Instant,
    /// Set once another writer replaced or removed the lock: the lease is gone for good.
    lost: Option<String>,
    /// The last renewal's error, for the message when the lease lapses.
    last_error: Option<String>,
    stopped: bool,
}

#[derive(Debug)]
pub struct Lease {
    /// The store without the write guard: the lease's own writes must not be fenced by the lease.
    store: Arc<dyn Store>,
    environment: String,
    ttl: Duration,
    state: Mutex<State>,
    /// Serializes renewals (the heartbeat's and the synchronous one before the marker) and the release.
    renewing: tokio::sync::Mutex<()>,
    /// Bumped on every state change, so writes in flight notice a lost lease at once.
    changed: watch::Sender<u64>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Lease {
    /// Starts renewing `lock` in the background.
    pub fn start(store: Arc<dyn Store>, lock: &Lock, environment: &str, ttl: Duration) -> Arc<Lease> {
        let lease = Arc::new(Lease {
            store,
            environment: environment.to_string(),
            ttl,
            state: Mutex::new(State {
                record: lock.record.clone(),
                version: lock.version.clone(),
                confirmed_sent_at: lock.sent_at,
                lost: None,
                last_error: None,
                stopped: false,
            }),
            renewing: tokio::sync::Mutex::new(()),
            changed: watch::channel(0).0,
            heartbeat: Mutex::new(None),
        });
        let beating = Arc::downgrade(&lease);
        let interval = ttl / RENEWALS_PER_TTL;
        // Each beat is due a quarter TTL after the previous write was *sent* (the lease runs from there), not
        // after it was answered: slow answers must not push renewals towards the end of the write window.
        let mut due = lock.sent_at + interval;
        let handle = tokio::spawn(async move {
            loop {
                tokio::time::sleep_until(due.into()).await;
                due = Instant::now() + interval;
                let Some(lease) = beating.upgrade() else { return };
                if lease.renew().await.is_err() && lease.state().lost.is_some() {
                    return;
                }
            }
        });
        *lease.heartbeat.lock().unwrap() = Some(handle);
        lease
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn notify(&self) {
        self.changed.send_modify(|count| *count += 1);
    }

    /// The longest a confirmed renewal may be old for a write to start or continue.
    fn write_window(&self) -> Duration {
        self.ttl / WRITE_WINDOW
    }

    /// Renews the lease now: a conditional rewrite of the lock on the version this deploy wrote last.
    pub async fn renew(&self) -> Result<(), StoreError> {
        let _renewing = self.renewing.lock().await;
        // A second attempt only when an earlier renewal of ours landed unconfirmed (see below).
        for _ in 0..3 {
            let (record, version) = {
                let mut state = self.state();
                if let Some(lost) = &state.lost {
                    return Err(self.fenced("renew the lease on", lost.clone()));
                }
                if state.stopped {
                    return Ok(());
                }
                state.record.renewal += 1;
                state.record.renewed_at = lock::now_seconds();
                (state.record.clone(), state.version.clone())
            };
            let body = record.to_bytes();
            let sent_at = Instant::now();
            let request = PutRequest::bytes(LOCK_KEY, body.clone(), PutMode::Replace(version));
            let current = match self.store.put(&request).await {
                Ok(meta) => {
                    self.confirm(meta.version, sent_at);
                    return Ok(());
                }
                Err(err) if err.kind == StoreErrorKind::Changed => self.store.get_versioned(LOCK_KEY).await,
                Err(err) => return Err(self.renewal_failed(err)),
            };
            let current = match current {
                Ok(Some(current)) => current,
                Ok(None) => return Err(self.lose("it was removed (by `dagship unlock --force`?)".to_string())),
                Err(err) => return Err(self.renewal_failed(err)),
            };
            if current.bytes == body {
                // This renewal landed, its answer was lost, and the retry found our own new version.
                self.confirm(current.version, sent_at);
                return Ok(());
            }
            let seen = LockRecord::parse(&current.bytes);
            if seen.holder.id != record.holder.id {
                return Err(self.lose(format!("another deploy took it over: {}", seen.holder.describe())));
            }
            // An earlier renewal of ours landed although it reported a failure: adopt its version (without
            // counting it as confirmed, its send time is unknown) and renew on it.
            self.state().version = current.version;
        }
        Err(self.renewal_failed(StoreError::new(
            StoreErrorKind::Transient,
            "renew the lease on",
            self.store.url().join(LOCK_KEY),
            "the lock kept changing under this deploy's own renewals",
        )))
    }

    fn confirm(&self, version: String, sent_at: Instant) {
        let mut state = self.state();
        state.version = version;
        state.confirmed_sent_at = state.confirmed_sent_at.max(sent_at);
        state.last_error = None;
        drop(state);
        self.notify();
    }

    fn renewal_failed(&self, err: StoreError) -> StoreError {
        announce(Level::Warning, &format!("renewing the deploy lock failed (tried again next beat): {err}"));
        self.state().last_error = Some(err.to_string());
        err
    }

    fn lose(&self, reason: String) -> StoreError {
        announce(Level::Error, &format!("lost the deploy lock of environment `{}`: {reason}", self.environment));
        self.state().lost = Some(reason.clone());
        self.notify();
        self.fenced("renew the lease on", reason)
    }

    /// Whether a write may start now: the lease is held and its last confirmed renewal is inside the window.
    pub fn check(&self, operation: &'static str, target: &str) -> Result<(), StoreError> {
        match self.failure() {
            Some(reason) => Err(self.fenced_at(operation, target, reason)),
            None => Ok(()),
        }
    }

    /// Why the lease no longer allows writes, if it does not.
    pub fn failure(&self) -> Option<String> {
        let state = self.state();
        if let Some(lost) = &state.lost {
            return Some(format!("the deploy lock was lost: {lost}"));
        }
        let age = state.confirmed_sent_at.elapsed();
        if age < self.write_window() {
            return None;
        }
        let mut reason = format!(
            "the deploy lock's lease was last confirmed {} ago, over half its {} TTL, so another deploy may take it \
             over",
            format_duration(age),
            format_duration(self.ttl)
        );
        if let Some(error) = &state.last_error {
            reason.push_str(&format!(" (renewing it failed: {error})"));
        }
        Some(reason)
    }

    /// Resolves when writes must stop: the lease is lost, or its last confirmed renewal left the write window.
    pub async fn lapsed(&self) {
        let mut changes = self.changed.subscribe();
        loop {
            let deadline = {
                let state = self.state();
                if state.lost.is_some() {
                    return;
                }
                state.confirmed_sent_at + self.write_window()
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {
                    if self.state().confirmed_sent_at + self.write_window() <= Instant::now() {
                        return;
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// A deploy stopped by this lease's guard reports the lost lock (exit 4), not the refused write.
    pub fn explain(&self, err: DeployError) -> DeployError {
        let fenced = matches!(&err, DeployError::Store(store) if store.kind == StoreErrorKind::Fenced);
        match self.failure() {
            Some(reason) if fenced => DeployError::LockLost(format!(
                "stopped deploying to environment `{}` before its next write: {reason}. No marker was written; \
                 objects written so far stay, and the next deploy plans from what is in the bucket",
                self.environment
            )),
            _ => err,
        }
    }

    /// Stops the heartbeat and deletes the lock if it is still ours. Returns whether it was.
    pub async fn release(&self) -> Result<bool, DeployError> {
        let _renewing = self.renewing.lock().await;
        let held = {
            let mut state = self.state();
            state.stopped = true;
            if state.lost.is_some() { None } else { Some((state.record.holder.id.clone(), state.version.clone())) }
        };
        if let Some(handle) = self.heartbeat.lock().unwrap().take() {
            handle.abort();
        }
        let Some((id, version)) = held else { return Ok(false) };
        lock::release(self.store.as_ref(), &id, Some(&version)).await
    }

    fn fenced(&self, operation: &'static str, reason: String) -> StoreError {
        self.fenced_at(operation, &self.store.url().join(LOCK_KEY), format!("the deploy lock was lost: {reason}"))
    }

    fn fenced_at(&self, operation: &'static str, target: &str, reason: String) -> StoreError {
        StoreError::new(
            StoreErrorKind::Fenced,
            operation,
            target,
            format!("refused: {reason} (environment `{}`)", self.environment),
        )
    }
}
