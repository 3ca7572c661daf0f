//! One deploy per environment at a time: a lock object created only if absent (S3 `If-None-Match: *`,
//! GCS `ifGenerationMatch=0`, a hard link locally). It names its holder; a lock older than its TTL belongs to
//! a deploy that died and is taken over, and the takeover is reported.
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::DeployError;
use crate::github::workflow::{Level, announce};
use crate::store::{PutMode, PutRequest, Store, StoreErrorKind};

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
    /// Seconds since the Unix epoch.
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

/// A held lock; `release` it on every path out of the deploy.
#[derive(Debug)]
pub struct Lock {
    pub holder: Holder,
    /// The stale lock this one replaced, if any.
    pub took_over: Option<Holder>,
}

#[derive(Debug, Clone)]
pub struct LockPolicy {
    pub timeout: Duration,
    pub ttl: Duration,
    pub poll: Duration,
}

pub async fn acquire(store: &dyn Store, holder: Holder, policy: &LockPolicy) -> Result<Lock, DeployError> {
    let body = Bytes::from(serde_json::to_vec_pretty(&holder).expect("the lock serializes"));
    let request = PutRequest::bytes(LOCK_KEY, body, PutMode::Create);
    let started = Instant::now();
    let mut took_over = None;
    let mut announced = false;
    loop {
        match store.put(&request).await {
            Ok(_) => return Ok(Lock { holder, took_over }),
            Err(err) if err.kind == StoreErrorKind::AlreadyExists => {}
            Err(err) => return Err(err.into()),
        }
        let Some(current) = read_holder(store).await? else { continue }; // released meanwhile: try again
        if current.id == holder.id {
            // Our own create succeeded but its answer was lost and retried.
            return Ok(Lock { holder, took_over });
        }
        let age = Duration::from_secs(now_seconds().saturating_sub(current.acquired_at));
        if age > policy.ttl {
            announce(
                Level::Warning,
                &format!(
                    "taking over the deploy lock {}: held for {} (over the {} TTL) by {}",
                    store.url().join(LOCK_KEY),
                    humantime::format_duration(age),
                    humantime::format_duration(policy.ttl),
                    current.describe()
                ),
            );
            store.delete(LOCK_KEY).await?;
            took_over = Some(current);
            continue;
        }
        if started.elapsed() >= policy.timeout {
            return Err(DeployError::LockHeld(format!(
                "another deploy holds {} ({}); waited {}. If that deploy is dead, run `dagship unlock --env ...` \
                 or wait for the lock's TTL ({})",
                store.url().join(LOCK_KEY),
                current.describe(),
                humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
                humantime::format_duration(policy.ttl)
            )));
        }
        if !announced {
            announce(Level::Notice, &format!("waiting for the deploy lock held by {}", current.describe()));
            announced = true;
        }
        tokio::time::sleep(policy.poll).await;
    }
}

/// Deletes the lock if it is still ours (a takeover may have replaced it).
pub async fn release(store: &dyn Store, lock: &Lock) -> Result<(), DeployError> {
    match read_holder(store).await? {
        Some(current) if current.id == lock.holder.id => Ok(store.delete(LOCK_KEY).await?),
        _ => Ok(()),
    }
}

/// The current holder; an unreadable lock counts as held since the epoch, so it is stale and taken over.
pub async fn read_holder(store: &dyn Store) -> Result<Option<Holder>, DeployError> {
    let Some(bytes) = store.get(LOCK_KEY).await? else { return Ok(None) };
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| Holder {
        id: String::new(),
        commit: "unknown".into(),
        run_url: None,
        host: "unknown".into(),
        pid: 0,
        actor: None,
        acquired_at: 0,
    })))
}
