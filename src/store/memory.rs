//! An in-memory [`Store`] for the engine's unit tests (src/deploy/model_tests.rs): the same contract as the real
//! backends (checksums verified, conditional writes atomic, keys checked), plus what a test needs to observe and
//! to break it: a write journal, a write budget after which every write fails (a deploy killed after N writes),
//! one write refused while the others land (a 403 on one key), one write applied whose answer is lost (a
//! transient error after the fact), and S3-KMS-like listings without MD5s (the plan then trusts the marker's
//! records). Clones share one bucket, so a test keeps a handle on the store it wrapped.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Body, ObjectMeta, PutMode, PutRequest, Store, StoreError, StoreErrorKind, StoreUrl, Versioned, check_key};
use crate::hash::Md5;

#[derive(Debug, Default)]
struct State {
    /// Key -> (bytes, generation).
    objects: BTreeMap<String, (Bytes, u64)>,
    /// (key, generation) -> bytes of every generation ever written: a versioned bucket.
    kept: BTreeMap<(String, u64), Bytes>,
    generation: u64,
    /// `PUT key` / `DELETE key` of every write that was applied, in order.
    journal: Vec<String>,
    /// Writes still allowed; `None`: unlimited. At zero every write fails, as if the process had died.
    budget: Option<usize>,
    /// Writes to pass before one is refused; the writes after it land again.
    refuse_in: Option<usize>,
    /// Writes to pass before one is applied and then answered with a transient error.
    lose_answer_in: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct MemoryStore {
    url: StoreUrl,
    /// Listings carry no MD5 (as S3 reports SSE-KMS and multipart objects).
    hide_md5: bool,
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new(hide_md5: bool) -> MemoryStore {
        let url = StoreUrl { scheme: super::Scheme::S3, bucket: "memory".into(), prefix: "env/".into() };
        MemoryStore { url, hide_md5, state: Arc::new(Mutex::new(State::default())) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Every object's bytes.
    pub fn objects(&self) -> BTreeMap<String, Bytes> {
        self.state().objects.iter().map(|(key, (bytes, _))| (key.clone(), bytes.clone())).collect()
    }

    /// Writes by anyone, applied so far.
    pub fn journal(&self) -> Vec<String> {
        self.state().journal.clone()
    }

    /// From now on, `writes` more writes are applied and every later one fails (`None`: no limit).
    pub fn set_write_budget(&self, writes: Option<usize>) {
        self.state().budget = writes;
    }

    /// The write after the next `writes` ones is refused; later ones land (`None`: none refused).
    pub fn refuse_one_write_after(&self, writes: Option<usize>) {
        self.state().refuse_in = writes;
    }

    /// The write after the next `writes` ones is applied, then answered with a transient error (`None`: none).
    pub fn lose_one_answer_after(&self, writes: Option<usize>) {
        self.state().lose_answer_in = writes;
    }

    /// Whether this applied write's answer is the one to lose.
    fn answer_lost(&self, state: &mut State, operation: &'static str, key: &str) -> Result<(), StoreError> {
        match &mut state.lose_answer_in {
            Some(0) => {
                state.lose_answer_in = None;
                Err(StoreError::new(StoreErrorKind::Transient, operation, self.url.join(key), "the answer was lost"))
            }
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Puts an object directly (a foreign writer, or the bucket before the test).
    pub fn seed(&self, key: &str, bytes: &[u8]) {
        let mut state = self.state();
        state.generation += 1;
        let generation = state.generation;
        state.objects.insert(key.to_string(), (Bytes::copy_from_slice(bytes), generation));
        state.kept.insert((key.to_string(), generation), Bytes::copy_from_slice(bytes));
    }

    /// Takes one unit of the write budget, or fails as a dead process would; or refuses the one write aimed at.
    fn spend(&self, state: &mut State, operation: &'static str, key: &str) -> Result<(), StoreError> {
        match &mut state.refuse_in {
            Some(0) => {
                state.refuse_in = None;
                return Err(StoreError::new(StoreErrorKind::Denied, operation, self.url.join(key), "refused"));
            }
            Some(left) => *left -= 1,
            None => {}
        }
        match &mut state.budget {
            Some(0) => Err(StoreError::new(StoreErrorKind::Other, operation, self.url.join(key), "killed")),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn meta(&self, key: &str, bytes: &Bytes, generation: u64) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: bytes.len() as u64,
            md5: if self.hide_md5 { None } else { Some(Md5::of_bytes(bytes)) },
            version: generation.to_string(),
            version_id: Some(generation.to_string()),
            modified: None,
        }
    }

    /// Replaces the bytes a kept version holds (a version tampered with, or rewritten by a lifecycle rule).
    pub fn tamper_version(&self, key: &str, version_id: &str, bytes: &[u8]) {
        let generation = version_id.parse().expect("a memory version id");
        self.state().kept.insert((key.to_string(), generation), Bytes::copy_from_slice(bytes));
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn url(&self) -> &StoreUrl {
        &self.url
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let state = self.state();
        Ok(state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, (bytes, generation))| self.meta(key, bytes, *generation))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        Ok(self.state().objects.get(key).map(|(bytes, _)| bytes.clone()))
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        check_key(&self.url, key)?;
        Ok(self
            .state()
            .objects
            .get(key)
            .map(|(bytes, generation)| Versioned { bytes: bytes.clone(), version: generation.to_string() }))
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError> {
        check_key(&self.url, key)?;
        let Ok(generation) = version_id.parse::<u64>() else { return Ok(None) };
        Ok(self.state().kept.get(&(key.to_string(), generation)).cloned())
    }

    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError> {
        check_key(&self.url, &request.key)?;
        let error = |kind, why: &str| StoreError::new(kind, "upload", self.url.join(&request.key), why);
        let bytes = match &request.body {
            Body::Bytes(bytes) => bytes.clone(),
            Body::File(path) => {
                Bytes::from(std::fs::read(path).map_err(|err| error(StoreErrorKind::Other, &err.to_string()))?)
            }
        };
        if Md5::of_bytes(&bytes) != request.md5 || bytes.len() as u64 != request.size {
            return Err(error(StoreErrorKind::Other, "the body does not match its MD5 or size"));
        }
        let mut state = self.state();
        let current = state.objects.get(&request.key).map(|(_, generation)| generation.to_string());
        match (&request.mode, current) {
            (PutMode::Create, Some(_)) => return Err(error(StoreErrorKind::AlreadyExists, "the key exists")),
            (PutMode::Replace(version), current) if current.as_ref() != Some(version) => {
                return Err(error(StoreErrorKind::Changed, "the object changed"));
            }
            _ => {}
        }
        self.spend(&mut state, "upload", &request.key)?;
        state.generation += 1;
        let generation = state.generation;
        state.journal.push(format!("PUT {}", request.key));
        state.objects.insert(request.key.clone(), (bytes.clone(), generation));
        state.kept.insert((request.key.clone(), generation), bytes.clone());
        self.answer_lost(&mut state, "upload", &request.key)?;
        Ok(self.meta(&request.key, &bytes, generation))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        let mut state = self.state();
        self.spend(&mut state, "delete", key)?;
        state.journal.push(format!("DELETE {key}"));
        state.objects.remove(key);
        self.answer_lost(&mut state, "delete", key)
    }

    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError> {
        check_key(&self.url, key)?;
        let mut state = self.state();
        if state.objects.get(key).map(|(_, generation)| generation.to_string()).as_deref() != Some(version) {
            return Err(StoreError::new(StoreErrorKind::Changed, "delete", self.url.join(key), "the object changed"));
        }
        self.spend(&mut state, "delete", key)?;
        state.journal.push(format!("DELETE {key}"));
        state.objects.remove(key);
        self.answer_lost(&mut state, "delete", key)
    }
}
