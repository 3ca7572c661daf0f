//! At most two malloc arenas. glibc gives a thread that meets contention an arena of its own (up to eight per
//! core), and a deploy's plan is built across tokio's worker and blocking threads, so its 100,000-object
//! listings, marker and trees ended up spread over half-empty arenas: 196-201 MiB peak RSS for a no-op on GCS,
//! 173-187 MiB with two arenas (`python3 scripts/bench-scale.py --backend gcs`, README "Scale"). A leaf.

/// Call once, before any thread starts.
pub fn limit() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
