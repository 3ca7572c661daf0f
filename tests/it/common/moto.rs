//! moto's request recorder: the order in which the S3 emulator received requests. The recorder is one global
//! switch of the emulator, so the tests that record take `exclusive()` for the whole recording: in one test
//! process, one test's reset or stop would otherwise cut another's recording short.
use std::sync::{Mutex, MutexGuard};

use super::buckets::{S3_VARIABLE, block_on, endpoint};

static RECORDER: Mutex<()> = Mutex::new(());

/// Held from `reset-recording` to the last read of the recording.
pub fn exclusive() -> MutexGuard<'static, ()> {
    // A test that failed while recording poisons the lock; the next one resets the recording anyway.
    RECORDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Calls the recorder's `path` (`reset-recording`, `start-recording`, `stop-recording`, `download-recording`)
/// and returns the response body.
pub fn recorder(path: &str) -> String {
    let endpoint = endpoint(S3_VARIABLE);
    block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{endpoint}/moto-api/recorder/{path}");
        let response = if path == "download-recording" { client.get(url) } else { client.post(url) };
        let response = response.send().await.unwrap();
        assert!(response.status().is_success(), "moto recorder {path}: {}", response.status());
        response.text().await.unwrap()
    })
}
