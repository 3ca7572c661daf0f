//! Reading dagship.yml: YAML -> typed `Config`, collecting unknown keys as warnings, then validating.
use std::path::Path;

use super::bucket_name::dags_folder_hint;
use super::error::Position;
use super::locate::locate;
use super::suggest::{closest, valid_keys_at};
use super::{Config, ConfigError, ConfigWarning, KeyPath, Loaded, Segment, validate};

/// Largest config file dagship reads; a real one is a few KB, so anything bigger is a mistake or an attack.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound { path: path.to_path_buf() });
        }
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            position: None,
            key_path: KeyPath::root(),
            message: format!("the file is {} bytes; a config file must be under 1 MiB", metadata.len()),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|err| ConfigError::Invalid {
        path: path.to_path_buf(),
        position: None,
        key_path: KeyPath::root(),
        message: format!("the file is not valid UTF-8 (at byte {})", err.utf8_error().valid_up_to()),
    })?;
    parse_str(&text, path)
}

/// Parses config text; `path` is only used to name the file in messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    let mut unknown_keys = Vec::new();
    // An empty file (or one with only comments) means "all defaults".
    let has_content = text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---"
    });
    let source = if has_content { text } else { "{}" };

    let deserializer = yaml_serde::Deserializer::from_str(source);
    let mut record_unknown = |ignored: serde_ignored::Path| unknown_keys.push(KeyPath::from_serde_ignored(&ignored));
    let ignoring = serde_ignored::Deserializer::new(deserializer, &mut record_unknown);
    let config = match serde_path_to_error::deserialize::<_, Config>(ignoring) {
        Ok(config) => config,
        Err(err) => {
            let key_path = KeyPath::from_path_to_error(err.path());
            let inner = err.into_inner();
            let position = inner
                .location()
                .map(|location| Position { line: location.line(), column: location.column() })
                .or_else(|| locate(text, &key_path));
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                position,
                key_path,
                message: describe_yaml_error(&inner),
            });
        }
    };
    let mut warnings: Vec<ConfigWarning> = unknown_keys
        .into_iter()
        .map(|key_path| ConfigWarning {
            path: path.to_path_buf(),
            position: locate(text, &key_path),
            message: unknown_key_message(&key_path),
            key_path,
        })
        .collect();
    validate::validate(&config).map_err(|problem| ConfigError::Invalid {
        path: path.to_path_buf(),
        position: locate(text, &problem.key_path),
        key_path: problem.key_path,
        message: problem.message,
    })?;
    for (name, environment) in &config.environments {
        if let Some(hint) = dags_folder_hint(environment.platform, &environment.bucket) {
            let key_path = KeyPath::root().key("environments").key(name.as_str()).key("bucket");
            let position = locate(text, &key_path);
            warnings.push(ConfigWarning { path: path.to_path_buf(), position, key_path, message: hint });
        }
    }
    Ok(Loaded { config, warnings })
}

/// "unknown key", with the closest valid key at that place or, when none is close, the keys valid there.
fn unknown_key_message(key_path: &KeyPath) -> String {
    let Some(Segment::Key(typed)) = key_path.0.last() else { return "unknown key".into() };
    let Some(valid) = valid_keys_at::<Config>(&key_path.parent()) else { return "unknown key".into() };
    match closest(typed, valid) {
        Some(suggestion) => format!("unknown key; did you mean `{suggestion}`?"),
        None => format!("unknown key; valid keys here: {}", valid.join(", ")),
    }
}

/// serde_yaml's messages carry "at line L column C"; we print the position ourselves, so drop it.
fn describe_yaml_error(err: &yaml_serde::Error) -> String {
    let message = err.to_string();
    let Some(start) = message.find(" at line ") else { return message };
    let after = &message[start + " at line ".len()..];
    // Skip "L column C" (digits, a word, digits) and keep whatever follows.
    let mut words = after.splitn(4, ' ');
    let (_line, _column_word, column) = (words.next(), words.next(), words.next().unwrap_or(""));
    let column_digits = column.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = words.next().map(|rest| format!(" {rest}")).unwrap_or_default();
    format!("{}{column_digits}{rest}", &message[..start])
}
