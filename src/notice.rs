//! Workflow commands (`::warning::`, `::notice::`, ...) with the escaping GitHub's runner expects, so that no
//! file name or message can close a command early or start one of its own. A leaf: the one place any floor,
//! engines included, prints a workflow command (docs/architecture.md, "Leaves").

/// True when running as a step of a GitHub Actions job.
pub fn in_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true")
}

/// Escapes a command's message: `%`, CR and LF would otherwise end or forge the command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command's property value (file=..., title=...): also `:` and `,`, which delimit properties.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    /// `warning:` and the like for stderr, coloured on a terminal.
    fn painted(self) -> String {
        let tone = match self {
            Level::Notice => crate::style::Tone::Notice,
            Level::Warning => crate::style::Tone::Warning,
            Level::Error => crate::style::Tone::Error,
        };
        crate::style::paint(crate::style::Stream::Stderr, tone, &format!("{}:", self.name()))
    }

    fn name(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Tells the user something: an annotation in Actions, a `level: message` line on stderr elsewhere.
pub fn announce(level: Level, message: &str) {
    // Annotations are shown outside the log, where GitHub masks nothing.
    let message = &crate::redact::redact(message);
    if in_actions() {
        eprintln!("::{}::{}", level.name(), escape_data(message));
    } else {
        eprintln!("{} {}", level.painted(), escape_controls(message));
    }
}

/// An annotation on a file and line: `::error file=F,line=L::message` in Actions, `level: F:L: message`
/// elsewhere.
pub fn annotate(level: Level, file: Option<&str>, line: Option<u32>, message: &str) {
    let Some(file) = file else { return announce(level, message) };
    let message = &crate::redact::redact(message);
    if in_actions() {
        let line = line.map(|line| format!(",line={line}")).unwrap_or_default();
        eprintln!("::{} file={}{line}::{}", level.name(), escape_property(file), escape_data(message));
    } else {
        let line = line.map(|line| format!(":{line}")).unwrap_or_default();
        eprintln!("{} {}{line}: {}", level.painted(), escape_controls(file), message);
    }
}

/// Shows control characters (newlines, escapes) as `\n`, `\u{1b}`, so a message stays on one line.
pub fn escape_controls(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

/// Registers a secret with the runner so it is masked in all later log lines, and with crate::redact so it
/// is replaced in every comment, summary, output and annotation.
pub fn mask(secret: &str) {
    crate::redact::register(secret);
    if in_actions() && !secret.is_empty() {
        println!("::add-mask::{}", escape_data(secret));
    }
}

/// A collapsed group of log lines (a child's output) in Actions, with workflow commands switched off inside it:
/// a line of dbt's output cannot run `::error::` or `::add-mask::`. Outside Actions, a heading line.
pub struct Group {
    /// The token that turns workflow commands back on, in Actions.
    resume_token: Option<String>,
}

impl Group {
    pub fn open(title: &str) -> Group {
        if in_actions() {
            let token = crate::random::random_hex();
            eprintln!("::group::{}", escape_data(title));
            eprintln!("::stop-commands::{token}");
            Group { resume_token: Some(token) }
        } else {
            eprintln!("== {title}");
            Group { resume_token: None }
        }
    }

    pub fn close(&self) {
        if let Some(token) = &self.resume_token {
            eprintln!("::{token}::");
            eprintln!("::endgroup::");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_defeats_injection() {
        assert_eq!(escape_data("a\n::error::x%"), "a%0A::error::x%25");
        assert_eq!(escape_property("dir/a:b,c\r"), "dir/a%3Ab%2Cc%0D");
    }
}
