//! Finds the line and column of a key path in YAML text.
//!
//! serde tells us *which* key is wrong but, once a value has parsed, not *where* it is. This scanner walks the
//! block structure (indentation, `key:` lines, `- ` items, inline `{ }` maps and `[ ]` lists) well enough for
//! config files, and falls back to the deepest enclosing key it found.
use super::error::Position;
use super::{KeyPath, Segment};

struct Frame {
    indent: usize,
    segment: Segment,
    /// How many `- ` items this node has seen, to number the next one.
    items_seen: usize,
}

pub fn locate(text: &str, target: &KeyPath) -> Option<Position> {
    let target = &target.0;
    let mut stack: Vec<Frame> = Vec::new();
    let mut root_items_seen = 0usize;
    let mut best: Option<(usize, Position)> = None;

    for (line_index, raw_line) in text.lines().enumerate() {
        let content = raw_line.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        let mut indent = raw_line.len() - content.len();
        let mut rest = content;
        while stack.last().is_some_and(|frame| frame.indent >= indent) {
            stack.pop();
        }
        // `- item` lines open a sequence element; the text after the dash may itself be `key: value`.
        while let Some(after_dash) = rest.strip_prefix('-').filter(|r| r.is_empty() || r.starts_with(' ')) {
            let counter = match stack.last_mut() {
                Some(frame) => &mut frame.items_seen,
                None => &mut root_items_seen,
            };
            let index = *counter;
            *counter += 1;
            stack.push(Frame { indent, segment: Segment::Index(index), items_seen: 0 });
            let trimmed = after_dash.trim_start();
            indent += rest.len() - trimmed.len();
            rest = trimmed;
            record(&stack, target, line_index, indent, &mut best);
            if rest.is_empty() {
                break;
            }
        }
        if let Some((key, value)) = split_key(rest) {
            stack.push(Frame { indent, segment: Segment::Key(key), items_seen: 0 });
            record(&stack, target, line_index, indent, &mut best);
            let value_column = indent + (rest.len() - value.len());
            locate_inline(&stack, target, value, line_index, value_column, &mut best);
        }
    }
    best.map(|(_, position)| position)
}

/// Remembers this line when the current path is a longer prefix of the target than any seen before.
fn record(stack: &[Frame], target: &[Segment], line: usize, column: usize, best: &mut Option<(usize, Position)>) {
    let depth = stack.len();
    if depth > target.len() || !stack.iter().zip(target).all(|(frame, segment)| &frame.segment == segment) {
        return;
    }
    if best.as_ref().is_none_or(|(best_depth, _)| depth > *best_depth) {
        *best = Some((depth, Position { line: line + 1, column: column + 1 }));
    }
}

/// Inside an inline `{ a: 1, b: 2 }` or `[x, y]` value, points at the target's next key or item.
fn locate_inline(
    stack: &[Frame],
    target: &[Segment],
    value: &str,
    line: usize,
    column: usize,
    best: &mut Option<(usize, Position)>,
) {
    let depth = stack.len();
    if depth >= target.len() || !stack.iter().zip(target).all(|(frame, segment)| &frame.segment == segment) {
        return;
    }
    let offset = match &target[depth] {
        Segment::Key(key) if value.starts_with('{') => find_inline_key(value, key),
        Segment::Index(index) if value.starts_with('[') => find_inline_item(value, *index),
        _ => None,
    };
    if let Some(offset) = offset {
        *best = Some((depth + 1, Position { line: line + 1, column: column + offset + 1 }));
    }
}

fn find_inline_key(value: &str, key: &str) -> Option<usize> {
    let mut search_from = 0;
    while let Some(found) = value[search_from..].find(key) {
        let start = search_from + found;
        let before = value[..start].trim_end_matches(['"', '\'']).chars().last();
        let after = value[start + key.len()..].trim_start_matches(['"', '\'']).trim_start();
        if matches!(before, Some('{' | ',' | ' ')) && after.starts_with(':') {
            return Some(start);
        }
        search_from = start + key.len();
    }
    None
}

fn find_inline_item(value: &str, index: usize) -> Option<usize> {
    let mut offset = 1; // past '['
    for (position, item) in value[1..].split(',').enumerate() {
        if position == index {
            return Some(offset + (item.len() - item.trim_start().len()));
        }
        offset += item.len() + 1;
    }
    None
}

/// Splits `key: value` (key plain or quoted); None when the line is not a mapping entry.
fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, after) = if let Some(quote) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = line[1..].find(quote)? + 1;
        (line[1..close].to_string(), &line[close + 1..])
    } else {
        let colon = line.find(": ").or_else(|| line.strip_suffix(':').map(|k| k.len()))?;
        if line[..colon].contains(['{', '[', '"', '\'']) {
            return None;
        }
        (line[..colon].trim_end().to_string(), &line[colon..])
    };
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with(' ')) {
        return None;
    }
    Some((key, value.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
dags_dir: dags
filters:
  dbt:
    - \"dbt/**\"
    - '[bad'
  inline: [\"a/**\", \"b/**\"]
environments:
  stg: { platform: composer, bucket: \"gs://b\" }
  prod:
    platform: composer
    # a comment
    bucket: gs://p
";

    fn at(path: KeyPath) -> (usize, usize) {
        let position = locate(TEXT, &path).expect("located");
        (position.line, position.column)
    }

    #[test]
    fn finds_block_keys_items_and_inline_values() {
        let root = KeyPath::root();
        assert_eq!(at(root.key("dags_dir")), (1, 1));
        assert_eq!(at(root.key("filters").key("dbt").index(1)), (5, 7));
        assert_eq!(at(root.key("filters").key("inline").index(1)), (6, 20));
        assert_eq!(at(root.key("environments").key("stg").key("bucket")), (8, 30));
        assert_eq!(at(root.key("environments").key("prod").key("bucket")), (12, 5));
    }

    #[test]
    fn falls_back_to_the_deepest_enclosing_key() {
        let path = KeyPath::root().key("environments").key("prod").key("missing");
        assert_eq!(at(path), (9, 3));
    }
}
