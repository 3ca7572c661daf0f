//! Duration settings (`lock_timeout: 10m`), read the same way by every config section.

/// A duration setting; validation has already refused unparsable ones, so the default only covers configs
/// built in code.
pub(crate) fn duration_or(text: &str, default_seconds: u64) -> std::time::Duration {
    humantime::parse_duration(text).unwrap_or(std::time::Duration::from_secs(default_seconds))
}
