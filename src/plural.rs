//! "1 file", "2 files": counts in messages with the noun in the form the count takes. Nouns that take `s` use
//! `plural`; the few that do not ("entry", "entries") name both forms with `plural_irregular`.

/// `plural(1, "file")` is "1 file", `plural(2, "file")` is "2 files".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// `plural_irregular(1, "entry", "entries")` is "1 entry", with 2 it is "2 entries".
pub fn plural_irregular(count: usize, one: &str, many: &str) -> String {
    if count == 1 { format!("1 {one}") } else { format!("{count} {many}") }
}

#[cfg(test)]
mod tests {
    use super::{plural, plural_irregular};

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(0, "file"), "0 files");
        assert_eq!(plural(1, "file"), "1 file");
        assert_eq!(plural(2, "job"), "2 jobs");
    }

    /// A message writes a count with `plural`, never as "1 object(s)": no string in src/ outside comments holds
    /// a `(s)` noun (an "http(s)" URL is not a count).
    #[test]
    fn no_message_counts_with_a_parenthesised_plural() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("src/ is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    found.push(path);
                }
            }
        }
        // Built, not written, so that this test's own lines do not hold the marker.
        let marker = ["(", "s)"].concat();
        let mut files = Vec::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        let offending: Vec<String> = files
            .iter()
            .flat_map(|path| {
                let text = std::fs::read_to_string(path).expect("a source file is readable");
                text.lines()
                    .enumerate()
                    .filter(|(_, line)| !line.trim_start().starts_with("//"))
                    .filter(|(_, line)| line.replace(&format!("http{marker}"), "").contains(&marker))
                    .map(|(index, line)| format!("{}:{}: {}", path.display(), index + 1, line.trim()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            offending.is_empty(),
            "counts written with a parenthesised s; use crate::plural::plural:\n{}",
            offending.join("\n")
        );
    }

    #[test]
    fn an_irregular_noun_takes_the_form_given() {
        assert_eq!(plural_irregular(0, "entry", "entries"), "0 entries");
        assert_eq!(plural_irregular(1, "entry", "entries"), "1 entry");
        assert_eq!(plural_irregular(3, "entry", "entries"), "3 entries");
    }
}
