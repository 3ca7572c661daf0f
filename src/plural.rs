//! "1 file", "2 files": counts in messages with the noun's right form.

/// `n` and the noun in the form `n` takes: `count(1, "file", "files")` is "1 file".
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(2, "job", "jobs"), "2 jobs");
    }
}
