//! Changed files between two commits, as git reports them, sorted through the named filters.
pub mod filters;
pub mod matrix;
pub mod range;
pub mod report;

pub use crate::change_status::Status;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub status: Status,
    /// The path before a rename or the source of a copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read git's diff output: {0}; this is a bug in dagship, please report it with your git version")]
pub struct ParseError(String);

/// The changes, plus the names that were not valid UTF-8 (kept, lossily converted, and reported).
#[derive(Debug, Default)]
pub struct ParsedDiff {
    pub files: Vec<FileChange>,
    pub non_utf8_paths: Vec<String>,
}

/// Parses `git diff --name-status -z` output: `X\0path\0`, or `R<score>\0old\0new\0` for renames and copies.
pub fn parse_name_status(output: &[u8]) -> Result<ParsedDiff, ParseError> {
    let mut parsed = ParsedDiff::default();
    let mut fields = output.split(|byte| *byte == 0).filter(|field| !field.is_empty());
    while let Some(code) = fields.next() {
        let letter = *code.first().ok_or_else(|| ParseError("empty status".into()))?;
        let status = match letter {
            b'A' => Status::Added,
            b'M' => Status::Modified,
            b'D' => Status::Deleted,
            b'R' => Status::Renamed,
            b'C' => Status::Copied,
            b'T' => Status::TypeChanged,
            // Unmerged and unknown never show up in a diff between two commits; treat them as modified.
            b'U' | b'X' => Status::Modified,
            other => return Err(ParseError(format!("unknown status `{}`", other as char))),
        };
        let mut next_path = || -> Result<String, ParseError> {
            let raw = fields.next().ok_or_else(|| ParseError(format!("status `{}` without a path", letter as char)))?;
            Ok(decode_path(raw, &mut parsed.non_utf8_paths))
        };
        let change = if matches!(status, Status::Renamed | Status::Copied) {
            let old_path = next_path()?;
            FileChange { path: next_path()?, status, old_path: Some(old_path) }
        } else {
            FileChange { path: next_path()?, status, old_path: None }
        };
        parsed.files.push(change);
    }
    parsed.files.sort_by(|a, b| a.path.cmp(&b.path).then(a.status.cmp(&b.status)));
    Ok(parsed)
}

/// Git paths are bytes; JSON needs text. Invalid UTF-8 is replaced (U+FFFD) and remembered for a warning.
pub fn decode_path(raw: &[u8], non_utf8: &mut Vec<String>) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let lossy = String::from_utf8_lossy(raw).into_owned();
            non_utf8.push(lossy.clone());
            lossy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_status_and_odd_names() {
        let output = b"M\0a b.sql\0R087\0old\nname.py\0new \"q\".py\0D\0gone\0A\0\xc3\xa9t\xc3\xa9.py\0T\0link\0C100\0src\0copy\0";
        let parsed = parse_name_status(output).unwrap();
        let summary: Vec<(char, &str, Option<&str>)> =
            parsed.files.iter().map(|f| (f.status.letter(), f.path.as_str(), f.old_path.as_deref())).collect();
        assert_eq!(
            summary,
            vec![
                ('M', "a b.sql", None),
                ('C', "copy", Some("src")),
                ('D', "gone", None),
                ('T', "link", None),
                ('R', "new \"q\".py", Some("old\nname.py")),
                ('A', "été.py", None),
            ]
        );
        assert!(parsed.non_utf8_paths.is_empty());
    }

    #[test]
    fn keeps_invalid_utf8_names_and_reports_them() {
        let parsed = parse_name_status(b"A\0bad\xff.py\0").unwrap();
        assert_eq!(parsed.files[0].path, "bad\u{fffd}.py");
        assert_eq!(parsed.non_utf8_paths, vec!["bad\u{fffd}.py".to_string()]);
    }

    #[test]
    fn rejects_truncated_output() {
        assert!(parse_name_status(b"R100\0only-old\0").is_err());
        assert!(parse_name_status(b"Z\0x\0").is_err());
    }
}
