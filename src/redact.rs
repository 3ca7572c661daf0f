//! The one place that takes secrets out of text dagship did not write itself: what a DAG import, dbt or a pull
//! request's files print, and the error messages built from it. GitHub masks secrets in the log only; the PR
//! comment, the step summary, step outputs and annotations show whatever they are given. So the text of a child
//! is redacted where it enters dagship (the DAG report, the checker's and dbt's output) and again at each of those
//! edges, and bounded in size before it is shown.
//!
//! What is replaced by `***`: every value registered with [`register`] (dagship's `::add-mask::` calls, the
//! GitHub token), the values of environment variables whose names look secret (`*TOKEN*`, `*SECRET*`,
//! `*PASSWORD*`, `*_KEY`, `*CREDENTIALS*`, ...), and credentials recognised by their shape: a password in a
//! URI (`scheme://user:password@`), GitHub tokens (`ghp_`, `ghs_`, `github_pat_`, ...), AWS access key ids,
//! private key blocks, `Bearer` tokens and `password=` settings.
use std::sync::{LazyLock, Mutex};

use regex::{Captures, Regex};

/// What a secret becomes.
pub const REDACTED: &str = "***";

/// Values shorter than this, taken from variables with secret-looking names, are left alone: replacing `1`
/// or `true` everywhere would garble the text and hide nothing worth hiding.
const MIN_ENV_SECRET_LEN: usize = 8;
/// Registered values shorter than this are ignored for the same reason (GitHub's own masking has no floor,
/// but a registered value is always a token or a password of dagship's, far longer).
const MIN_REGISTERED_LEN: usize = 4;

/// Values registered at run time (every `::add-mask::`), on top of the environment's.
static REGISTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The secret values in dagship's own environment, read once.
static ENV_SECRETS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, value)| looks_secret(name) && value.trim().len() >= MIN_ENV_SECRET_LEN)
        .map(|(_, value)| value)
        .collect()
});

/// Credential shapes, each with what replaces a match.
static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // A private key block, also inside JSON (`\n` escapes) and cut off before its end.
        (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)", "***"),
        // scheme://user:password@host keeps the user and the host.
        (r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*):[^\s@/]+@", "${1}:***@"),
        (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", "***"),
        (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b", "***"),
        (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{12,}", "${1} ***"),
        (
            r#"(?i)\b((?:aws_secret_access_key|aws_session_token|password|passwd|pwd|secret)["']?\s*[=:]\s*["']?)[^\s"',;&}]{4,}"#,
            "${1}***",
        ),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("the credential patterns compile"), replacement))
    .collect()
});

/// Registers a secret: from now on it is replaced in every text that goes through [`redact`].
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() >= MIN_REGISTERED_LEN {
        let mut registered = REGISTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !registered.iter().any(|known| known == secret) {
            registered.push(secret.to_string());
        }
    }
}

/// Whether `value` is exactly a registered secret (the token under another variable's name).
pub fn is_registered(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && REGISTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().any(|known| known == value)
}

/// Whether an environment variable's name says it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if matches!(upper.as_str(), "PWD" | "OLDPWD") {
        return false;
    }
    const PARTS: [&str; 6] = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE"];
    const WORDS: [&str; 8] = ["KEY", "APIKEY", "PASS", "PWD", "AUTH", "COOKIE", "DSN", "SESSION"];
    PARTS.iter().any(|part| upper.contains(part))
        || upper.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| WORDS.contains(&word))
}

/// `text` with every known secret value and every credential shape replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut values: Vec<String> = ENV_SECRETS.clone();
    values.extend(REGISTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned());
    // Longest first: a secret that contains another is replaced whole.
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let mut text = text.to_string();
    for value in &values {
        if text.contains(value.as_str()) {
            text = text.replace(value.as_str(), REDACTED);
        }
    }
    for (shape, replacement) in SHAPES.iter() {
        if let std::borrow::Cow::Owned(replaced) =
            shape.replace_all(&text, |captures: &Captures| expand(captures, replacement))
        {
            text = replaced;
        }
    }
    text
}

fn expand(captures: &Captures, replacement: &str) -> String {
    let mut out = String::new();
    captures.expand(replacement, &mut out);
    out
}

/// At most `max_bytes` of `text`, keeping its end (where a traceback says what went wrong), cut at a line
/// start when one is near, with a note saying how much was left out.
pub fn keep_end(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    if let Some(newline) = text[start..].find('\n').filter(|offset| *offset < 200) {
        start += newline + 1;
    }
    format!("[{} left out]\n{}", crate::plural::plural(start, "byte"), &text[start..])
}

/// At most `max_bytes` of `text`, keeping its start, with a note saying how much was left out.
pub fn keep_start(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [{} left out]", &text[..end], crate::plural::plural(text.len() - end, "byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_shapes_are_replaced() {
        let text = "conn postgresql://etl:hunter2secret@db.internal:5432/x and ghp_0123456789abcdefghijABCDEFGHIJ \
                    key AKIAIOSFODNN7EXAMPLE github_pat_11ABCDEFG0123456789_abcdefghijklmnop \
                    Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload password=letmein1 \
                    {\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEsecret\\n-----END PRIVATE KEY-----\\n\"}";
        let clean = redact(text);
        for secret in
            ["hunter2secret", "ghp_0123", "AKIAIOSFODNN7EXAMPLE", "github_pat_11", "eyJhbG", "letmein1", "MIIE"]
        {
            assert!(!clean.contains(secret), "{secret} left in {clean}");
        }
        assert!(clean.contains("postgresql://etl:***@db.internal:5432/x"), "{clean}");
        assert!(clean.contains("Bearer ***") && clean.contains("password=***"), "{clean}");
    }

    #[test]
    fn registered_values_are_replaced_longest_first() {
        register("s3cr3t-value");
        register("s3cr3t-value-longer");
        assert_eq!(redact("a s3cr3t-value-longer b s3cr3t-value c"), "a *** b *** c");
        register("ab");
        assert_eq!(redact("ab"), "ab", "too short to register");
    }

    #[test]
    fn secret_names() {
        for name in ["GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "API_KEY"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["PATH", "HOME", "PWD", "KEYBOARD", "GITHUB_OUTPUT", "MONKEY_BUSINESS"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn bounds_keep_the_informative_end() {
        let text = format!("{}\nlast line", "x".repeat(10_000));
        let kept = keep_end(&text, 100);
        assert!(kept.ends_with("last line") && kept.len() < 150, "{kept}");
        assert_eq!(keep_start("héllo", 2), "h [5 bytes left out]");
    }
}
