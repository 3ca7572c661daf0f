//! The sticky pull request comment's body: a hidden marker (so the next run finds and updates this comment
//! instead of adding one), a title, the sections the check's steps rendered, all kept under GitHub's size limit.
use crate::github::api::MAX_COMMENT_CHARS;

/// The hidden marker every dagship comment starts with.
pub const MARKER_PREFIX: &str = "<!-- dagship:pr-comment";

/// The marker for one config file: a monorepo with two dagship.yml gets two comments, one per config.
pub fn marker(config_label: &str) -> String {
    // `--` would end the HTML comment early; a config path never needs it.
    format!("{MARKER_PREFIX} {} -->", config_label.replace("--", "-"))
}

/// The whole comment: marker, title, the sections in order, and a footer linking the run.
pub fn compose(marker: &str, title: &str, sections: &[String], run_url: Option<&str>) -> String {
    let footer = match run_url {
        Some(url) => format!("\n---\n<sub>dagship · [workflow run]({url})</sub>\n"),
        None => "\n---\n<sub>dagship</sub>\n".to_string(),
    };
    let mut body = format!("{marker}\n## {title}\n\n");
    for section in sections {
        body.push_str(section.trim_end());
        body.push_str("\n\n");
    }
    // A section can quote what a pull request's code printed or raised.
    let mut body = crate::redact::redact(&body);
    let note = "\n\n> **Truncated**: this comment hit GitHub's size limit; the full report is in the run's summary.\n";
    let room = MAX_COMMENT_CHARS - footer.chars().count() - note.chars().count();
    if body.chars().count() > room {
        let cut = body.char_indices().nth(room).map_or(body.len(), |(index, _)| index);
        body.truncate(cut);
        body.push_str(note);
    }
    body.push_str(&footer);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_report_is_cut_under_the_limit_with_a_note() {
        let marker = marker("dagship.yml");
        let huge = "é".repeat(MAX_COMMENT_CHARS * 2);
        let body = compose(&marker, "dagship", &[huge], Some("https://example.com/run/1"));
        assert!(body.chars().count() <= MAX_COMMENT_CHARS, "{} chars", body.chars().count());
        assert!(body.starts_with(&marker) && body.contains("**Truncated**") && body.ends_with("</sub>\n"));
    }

    #[test]
    fn the_marker_stays_one_html_comment() {
        assert_eq!(marker("a--b/dagship.yml"), "<!-- dagship:pr-comment a-b/dagship.yml -->");
    }
}
