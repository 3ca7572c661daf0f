//! A path to a value inside dagship.yml, like `environments.prod.bucket` or `filters.dbt[2]`.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        KeyPath(segments)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    pub fn from_serde_ignored(path: &serde_ignored::Path) -> Self {
        use serde_ignored::Path;
        let mut segments = Vec::new();
        let mut current = path;
        loop {
            match current {
                Path::Root => break,
                Path::Seq { parent, index } => {
                    segments.push(Segment::Index(*index));
                    current = parent;
                }
                Path::Map { parent, key } => {
                    segments.push(Segment::Key(key.clone()));
                    current = parent;
                }
                Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
                    current = parent
                }
            }
        }
        segments.reverse();
        KeyPath(segments)
    }

    pub fn from_path_to_error(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let segments = path
            .iter()
            .filter_map(|segment| match segment {
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Enum { .. } | S::Unknown => None,
            })
            .collect();
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
/// One problem found, at a key path; `parse` turns it into a located `ConfigError`.
#[derive(Debug)]
pub struct Problem {
    pub key_path: KeyPath,
    pub message: String,
}
