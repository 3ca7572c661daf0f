//! What dbt's JSON log file (`--log-format-file json`, one event per line) says about a run: the dbt version,
//! whether partial parsing reused a saved parse, and the errors it reported.
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum PartialParse {
    /// dbt reused the saved parse (event I040, or I017 when nothing changed).
    Used,
    /// dbt found a saved parse and refused it (event I024 with its reason).
    Rejected(String),
    /// There was no saved parse to reuse.
    NotFound,
    /// The command parsed nothing, or the log did not say.
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub struct LogFacts {
    pub dbt_version: Option<String>,
    pub partial_parse: PartialParse,
    /// The messages of error-level events, in order.
    pub errors: Vec<String>,
}

#[derive(Deserialize)]
struct Event {
    info: Info,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    code: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    msg: String,
}

/// The most of the log read: its first 64 KiB (the version) and the end (the errors). A project's macros can
/// log without limit.
const MAX_READ_BYTES: u64 = 32 << 20;
const HEAD_BYTES: u64 = 64 << 10;
/// An error message kept for reports, in bytes.
const MAX_ERROR_BYTES: usize = 4_000;

/// Reads the log; a missing or partly unreadable log gives what could be read (dbt may die before writing).
pub fn read(path: &Path) -> LogFacts {
    parse(&read_bounded(path).unwrap_or_default())
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let mut bytes = Vec::new();
    if length <= MAX_READ_BYTES {
        file.read_to_end(&mut bytes)?;
    } else {
        (&mut file).take(HEAD_BYTES).read_to_end(&mut bytes)?;
        bytes.push(b'\n');
        file.seek(SeekFrom::Start(length - (MAX_READ_BYTES - HEAD_BYTES)))?;
        file.take(MAX_READ_BYTES - HEAD_BYTES).read_to_end(&mut bytes)?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn parse(text: &str) -> LogFacts {
    let mut facts = LogFacts::default();
    for event in text.lines().filter_map(|line| serde_json::from_str::<Event>(line).ok()) {
        let info = event.info;
        match info.code.as_str() {
            // MainReportVersion: "Running with dbt=1.11.16"
            "A001" => facts.dbt_version = info.msg.rsplit('=').next().map(|version| version.trim().to_string()),
            "I040" | "I017" => facts.partial_parse = PartialParse::Used,
            "I024" => {
                facts.partial_parse = if info.msg.contains("saved manifest not found") {
                    PartialParse::NotFound
                } else {
                    let reason = info.msg.trim_start_matches("Unable to do partial parsing because ");
                    PartialParse::Rejected(reason.trim_end_matches('.').to_string())
                }
            }
            _ => {}
        }
        if info.level == "error" {
            // dbt's messages quote the project's SQL and macros: a pull request's text, shown in the comment.
            facts.errors.push(crate::redact::keep_start(&crate::redact::redact(&info.msg), MAX_ERROR_BYTES));
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(code: &str, level: &str, msg: &str) -> String {
        serde_json::json!({"data": {}, "info": {"code": code, "level": level, "msg": msg, "name": "X"}}).to_string()
    }

    #[test]
    fn reads_version_partial_parse_and_errors() {
        let log = [
            event("A001", "info", "Running with dbt=1.11.16"),
            event("I024", "info", "Unable to do partial parsing because profile has changed"),
            event("Z002", "error", "Encountered an error:\nCompilation Error in model bad (models/bad.sql)"),
            "not json".to_string(),
        ]
        .join("\n");
        let facts = parse(&log);
        assert_eq!(facts.dbt_version.as_deref(), Some("1.11.16"));
        assert_eq!(facts.partial_parse, PartialParse::Rejected("profile has changed".into()));
        assert_eq!(facts.errors.len(), 1);
        let missing = parse(&event("I024", "info", "Unable to do partial parsing because saved manifest not found."));
        assert_eq!(missing.partial_parse, PartialParse::NotFound);
        assert_eq!(parse(&event("I040", "info", "Partial parsing enabled")).partial_parse, PartialParse::Used);
    }
}
