//! "1 file", "2 files": counts in messages with the noun in the form the count takes (every noun dagship
//! counts takes `s`).

/// `plural(1, "file")` is "1 file", `plural(2, "file")` is "2 files".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(0, "file"), "0 files");
        assert_eq!(plural(1, "file"), "1 file");
        assert_eq!(plural(2, "job"), "2 jobs");
    }
}
