//! Globs with dagship's rules, for filters, job roots and exclude files alike. A leaf: config validation and
//! the engines compile the same patterns the same way.
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Compiles one glob with dagship's rules: `/`-aware, `\` escapes, trailing `/` means the whole folder.
pub fn compile_glob(pattern: &str) -> Result<Glob, globset::Error> {
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    let expanded;
    let pattern = if pattern.ends_with('/') {
        expanded = format!("{pattern}**");
        expanded.as_str()
    } else {
        pattern
    };
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).empty_alternates(true).build()
}

/// Builds one matcher from several globs.
pub fn compile_set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(compile_glob(pattern)?);
    }
    builder.build()
}
