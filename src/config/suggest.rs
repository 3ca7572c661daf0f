//! The keys valid at a place in dagship.yml, read from the serde types themselves (no second list to keep in
//! step), and the one closest to a misspelt key.
//!
//! `valid_keys_at` deserializes the config type from a probe that follows the key path down (a map entry per
//! key, a list item per index) and, at the end of the path, records the field list serde's derive hands to
//! `deserialize_struct`. The probe then stops the deserialization with an error; only the recorded list matters.
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::{KeyPath, Segment};

type Fields = &'static [&'static str];

/// The keys the struct at `at` (a path into `T`) accepts; None when no struct is there (a map of names, a list).
pub fn valid_keys_at<T: DeserializeOwned>(at: &KeyPath) -> Option<Fields> {
    let found = RefCell::new(None);
    // The probe always ends in an error: it never builds a value, it only walks the type.
    let _ = T::deserialize(Probe { route: &at.0, found: &found });
    found.into_inner()
}

/// The candidate closest to `typed` by edit distance (case-insensitive), when close enough to be a typo: at most
/// a third of the longer word's letters differ (`branch` -> `branches`, `filterz` -> `filters`).
pub fn closest<'k>(typed: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let typed_lower = typed.to_lowercase();
    candidates
        .iter()
        .map(|candidate| (edit_distance(&typed_lower, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= (typed.chars().count().max(candidate.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars, with an adjacent swap counting as one edit (`brnaches`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Ends the probe's deserialization; its text is never shown.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

#[derive(Clone, Copy)]
struct Probe<'a> {
    /// What is left of the key path to follow.
    route: &'a [Segment],
    found: &'a RefCell<Option<Fields>>,
}

impl<'a> Probe<'a> {
    fn follow<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.route.split_first() {
            Some((Segment::Key(key), rest)) => {
                visitor.visit_map(OneEntry { key: Some(key.clone()), value: Probe { route: rest, ..self } })
            }
            Some((Segment::Index(_), rest)) => visitor.visit_seq(OneItem(Some(Probe { route: rest, ..self }))),
            None => Err(Stop),
        }
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: Fields,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if self.route.is_empty() {
            *self.found.borrow_mut() = Some(fields);
            return Err(Stop);
        }
        self.follow(visitor)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.follow(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq
        tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map with the one entry the route goes through.
struct OneEntry<'a> {
    key: Option<String>,
    value: Probe<'a>,
}

impl<'de> de::MapAccess<'de> for OneEntry<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(IntoDeserializer::<Stop>::into_deserializer(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(self.value)
    }
}

/// A list with the one item the route goes through.
struct OneItem<'a>(Option<Probe<'a>>);

impl<'de> de::SeqAccess<'de> for OneItem<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Stop> {
        self.0.take().map(|probe| seed.deserialize(probe)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn keys(path: KeyPath) -> Vec<&'static str> {
        valid_keys_at::<Config>(&path).expect("a struct at this path").to_vec()
    }

    #[test]
    fn reads_the_keys_of_each_section_from_the_types() {
        let root = KeyPath::root();
        assert!(keys(root.clone()).contains(&"environments"));
        assert!(keys(root.key("environments").key("prod")).contains(&"branches"));
        assert!(keys(root.key("dbt")).contains(&"state_prefix"));
        assert!(keys(root.key("environments").key("prod").key("mwaa")).contains(&"environment_name"));
        assert!(keys(root.key("dbt").key("checks").index(0)).contains(&"command"));
        assert!(keys(root.key("deploy")).contains(&"max_delete"));
    }

    #[test]
    fn no_keys_where_the_config_holds_a_map_of_names() {
        assert_eq!(valid_keys_at::<Config>(&KeyPath::root().key("environments")), None);
        assert_eq!(valid_keys_at::<Config>(&KeyPath::root().key("dags_dir")), None);
    }

    #[test]
    fn suggests_the_closest_key_only_when_it_looks_like_a_typo() {
        let environment = ["platform", "bucket", "branches", "after", "vars"];
        assert_eq!(closest("branch", &environment), Some("branches"));
        assert_eq!(closest("brnaches", &environment), Some("branches"));
        assert_eq!(closest("Bucket", &environment), Some("bucket"));
        assert_eq!(closest("platfrom", &environment), Some("platform"));
        assert_eq!(closest("region", &environment), None);
        assert_eq!(closest("x", &environment), None);
    }
}
