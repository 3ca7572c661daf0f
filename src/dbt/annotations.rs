//! dbt's error messages as annotations on the file and line they name, with paths from the repository root
//! (dbt names files relative to its project folder: "Compilation Error in model x (models/x.sql) ... line 3").
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// The file, relative to the repository root, when dbt named one.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

const FILE_EXTENSIONS: &[&str] = &[".sql", ".yml", ".yaml", ".py", ".csv", ".md"];

/// One annotation per error message. `project_relative` is the dbt project's folder from the repository root.
pub fn annotations_from(errors: &[String], project_relative: &str) -> Vec<Annotation> {
    errors
        .iter()
        .map(|error| {
            let message = error.trim_start_matches("Encountered an error:").trim().to_string();
            let file = named_file(&message).map(|path| join(project_relative, &path));
            Annotation { file, line: named_line(&message), message }
        })
        .collect()
}

/// The first word that looks like a project file: `(models/x.sql)`, `'models/x.sql'`, `models/x.yml:`.
fn named_file(message: &str) -> Option<String> {
    message
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| matches!(c, '(' | ')' | '\'' | '"' | ',' | ':' | '`')))
        .find(|word| FILE_EXTENSIONS.iter().any(|ext| word.ends_with(ext)) && !word.starts_with('/'))
        .filter(|word| !word.split('/').any(|part| part == ".."))
        .map(str::to_string)
}

/// The number after the first "line " (Jinja and YAML errors both say "line N").
fn named_line(message: &str) -> Option<u32> {
    let lower = message.to_ascii_lowercase();
    lower.match_indices("line ").find_map(|(at, matched)| {
        let digits: String = lower[at + matched.len()..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

fn join(project_relative: &str, path: &str) -> String {
    if project_relative.is_empty() || project_relative == "." {
        path.to_string()
    } else {
        format!("{project_relative}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_name_file_and_line_from_the_repository_root() {
        let errors = vec![
            "Encountered an error:\nCompilation Error in model bad (models/marts/bad.sql)\n  unexpected '}', \
             expected ')'\n    line 1\n      {{ ref(\"stg_orders\" }}"
                .to_string(),
            "Compilation Error\n  Model 'model.shop.x' (models/x.sql) depends on a node named 'gone' which was not found"
                .to_string(),
            "Database Error\n  connection refused".to_string(),
        ];
        let found = annotations_from(&errors, "orchestration/dags/dbt_project");
        assert_eq!(found[0].file.as_deref(), Some("orchestration/dags/dbt_project/models/marts/bad.sql"));
        assert_eq!(found[0].line, Some(1));
        assert!(found[0].message.starts_with("Compilation Error in model bad"));
        assert_eq!(found[1].file.as_deref(), Some("orchestration/dags/dbt_project/models/x.sql"));
        assert_eq!(found[1].line, None);
        assert_eq!(found[2].file, None);
    }
}
