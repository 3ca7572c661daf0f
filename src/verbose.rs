//! `--verbose`: whether errors print their raw detail (an SDK's whole credential chain) under the one-line
//! message. Set once by `main` from the flag, read where an error is displayed. A leaf.
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

pub fn is_on() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// `\n  raw error: <detail>` under a one-line message with `--verbose`, else nothing.
pub fn raw_detail(detail: &str) -> String {
    if is_on() { format!("\n  raw error: {detail}") } else { String::new() }
}
