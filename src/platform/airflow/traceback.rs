//! The line of a deployed file that an Airflow import error points at, read from its stack trace.

/// The line number of the last frame in `stack_trace` whose file ends with `/<relative>`; Python prints the
/// innermost frame last, and a SyntaxError's own `File "...", line N` comes last too.
pub fn line_in(stack_trace: &str, relative: &str) -> Option<u32> {
    let suffix = format!("/{relative}");
    stack_trace
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("File \"")?;
            let (path, after) = rest.split_once('"')?;
            let number = after.strip_prefix(", line ")?;
            let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
            (path.ends_with(&suffix) || path == relative).then(|| digits.parse().ok()).flatten()
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::line_in;

    #[test]
    fn the_innermost_frame_in_the_file_wins() {
        let trace = "Traceback (most recent call last):\n  File \"/usr/local/airflow/dags/etl/load.py\", line 4, in \
                     <module>\n    from helpers import x\n  File \"/usr/local/airflow/dags/etl/load.py\", line 9, in f\n \
                     ModuleNotFoundError: No module named 'helpers'";
        assert_eq!(line_in(trace, "etl/load.py"), Some(9));
        assert_eq!(line_in(trace, "load.py"), Some(9), "a shorter relative path still matches its suffix");
        assert_eq!(line_in(trace, "other.py"), None);
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let trace =
            "  File \"/home/airflow/gcs/dags/broken.py\", line 3\n    def (:\n        ^\nSyntaxError: invalid syntax";
        assert_eq!(line_in(trace, "broken.py"), Some(3));
    }
}
