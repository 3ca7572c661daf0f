//! Progress for people at a terminal, on stderr: a transfer bar (bytes, rate in bytes per second, ETA, files)
//! and a spinner for the waits that print nothing (hashing, deepening a shallow clone, importing DAGs). Nothing
//! at all when stderr is not a terminal: a CI log gets each step's one summary line instead. A leaf.
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// How often a spinner turns.
const SPINNER_TICK: Duration = Duration::from_millis(100);

fn shown() -> bool {
    std::io::stderr().is_terminal()
}

/// A step's uploads: the bar moves by bytes, the message counts files.
pub struct Transfer {
    bar: ProgressBar,
    files_done: AtomicUsize,
    files: usize,
}

impl Transfer {
    pub fn new(step: &str, files: usize, bytes: u64) -> Transfer {
        let bar = if shown() { ProgressBar::new(bytes) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{wide_bar}] {transfer}, {msg}")
                .expect("valid template")
                .with_key("transfer", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&transfer_text(
                        state.pos(),
                        state.len().unwrap_or(0),
                        state.per_sec(),
                        state.eta(),
                    ));
                })
                .progress_chars("=> "),
        );
        bar.set_prefix(step.to_string());
        bar.set_message(format!("0/{files} files"));
        Transfer { bar, files_done: AtomicUsize::new(0), files }
    }

    /// One file of `bytes` finished.
    pub fn file_done(&self, bytes: u64) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(bytes);
        self.bar.set_message(format!("{done}/{} files", self.files));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A step without bytes (deletions): objects done of total.
pub fn count_bar(step: &str, total: usize) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{wide_bar}] {pos}/{len} objects, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(step.to_string());
    bar
}

/// A spinner with a message while something slow and silent runs; cleared when dropped.
pub struct Spinner(ProgressBar);

impl Spinner {
    pub fn set_message(&self, message: impl Into<String>) {
        let message: String = message.into();
        self.0.set_message(message);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub fn spinner(message: impl Into<String>) -> Spinner {
    if !shown() {
        return Spinner(ProgressBar::hidden());
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    let message: String = message.into();
    bar.set_message(message);
    bar.enable_steady_tick(SPINNER_TICK);
    Spinner(bar)
}

/// `1.2 MiB / 40.0 MiB, 3.4 MiB/s, ETA 11s`: what a transfer bar shows beside the bar.
pub fn transfer_text(done: u64, total: u64, bytes_per_second: f64, eta: Duration) -> String {
    let rate = if bytes_per_second.is_finite() && bytes_per_second > 0.0 { bytes_per_second as u64 } else { 0 };
    format!("{} / {}, {}/s, ETA {}", human_bytes(done), human_bytes(total), human_bytes(rate), eta_text(eta))
}

/// `7s`, `2m05s`, `1h02m`.
pub fn eta_text(eta: Duration) -> String {
    let seconds = eta.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_shows_bytes_a_rate_in_bytes_per_second_and_an_eta() {
        let text = transfer_text(1536, 40 * 1024 * 1024, 1_536.0 * 1024.0, Duration::from_secs(125));
        assert_eq!(text, "1.5 KiB / 40.0 MiB, 1.5 MiB/s, ETA 2m05s");
        assert_eq!(transfer_text(0, 10, f64::NAN, Duration::ZERO), "0 B / 10 B, 0 B/s, ETA 0s");
    }

    #[test]
    fn an_eta_is_short_at_every_scale() {
        assert_eq!(eta_text(Duration::from_secs(7)), "7s");
        assert_eq!(eta_text(Duration::from_secs(3599)), "59m59s");
        assert_eq!(eta_text(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1024 * 1024 * 3 + 200_000), "3.2 MiB");
    }
}
