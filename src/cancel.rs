//! Cancellation: GitHub cancels a job with SIGINT, then SIGTERM (about 7.5 s later), then SIGKILL; a person
//! presses Ctrl-C. Outside a deploy's writes dagship stops at once (exit 130), as without a handler. Inside them
//! (from taking the lock to releasing it) a signal only asks the deploy to stop: it starts no new write, lets the
//! writes in flight end (each object store write is atomic), writes no marker unless every write had finished,
//! releases its lock and exits 130.
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error_kind::ErrorKind;
use crate::exit_code::ExitCode;
use crate::notice::{Level, announce};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static WRITING: AtomicUsize = AtomicUsize::new(0);
static LISTENING: Once = Once::new();

/// Starts listening for SIGINT and SIGTERM on the current tokio runtime (once per process).
pub fn listen() {
    LISTENING.call_once(|| {
        tokio::spawn(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                return;
            };
            loop {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                };
                if WRITING.load(Ordering::SeqCst) == 0 {
                    eprintln!("{name}: stopping");
                    std::process::exit(ExitCode::from(ErrorKind::Cancelled) as i32);
                }
                if !REQUESTED.swap(true, Ordering::SeqCst) {
                    announce(
                        Level::Warning,
                        &format!(
                            "{name}: cancelling the deploy: no new write starts, writes in flight finish, the \
                             marker is written only if every write had, and the lock is released"
                        ),
                    );
                }
            }
        });
    });
}

/// Whether a cancellation was asked for during a deploy's writes.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Marks the span of a deploy's writes: a signal then asks for a stop instead of exiting.
pub struct Writing;

impl Writing {
    pub fn start() -> Writing {
        WRITING.fetch_add(1, Ordering::SeqCst);
        Writing
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.fetch_sub(1, Ordering::SeqCst);
    }
}
