//! One readable line for "the client found no credentials", naming the source it tried and the fix, instead of
//! the SDKs' provider chains (about 1 KB for AWS; "No such file or directory (os error 2)" for Google). The raw
//! chain stays on the error as detail, printed with `--verbose`.
use std::path::{Path, PathBuf};

/// The environment the hints read: variables and whether a file exists, passed in so tests need no process state.
pub struct Ambient<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub exists: &'a dyn Fn(&Path) -> bool,
    pub read: &'a dyn Fn(&Path) -> Option<String>,
}

impl Ambient<'static> {
    /// The process's own environment and file system.
    pub fn process() -> Self {
        Ambient {
            var: &|name| std::env::var(name).ok().filter(|value| !value.is_empty()),
            exists: &|path| path.exists(),
            read: &|path| std::fs::read_to_string(path).ok(),
        }
    }
}

/// Why the AWS chain found nothing, and what to do.
pub fn aws_no_credentials(ambient: &Ambient) -> String {
    let home = (ambient.var)("HOME").map(PathBuf::from).unwrap_or_default();
    let config_file = (ambient.var)("AWS_CONFIG_FILE").map_or_else(|| home.join(".aws/config"), PathBuf::from);
    let credentials_file =
        (ambient.var)("AWS_SHARED_CREDENTIALS_FILE").map_or_else(|| home.join(".aws/credentials"), PathBuf::from);
    let Some(profile) = (ambient.var)("AWS_PROFILE") else {
        return "no AWS credentials (tried env vars, profile `default`, web identity, ECS, instance metadata): \
                run `aws sso login` or `aws configure`, or in a workflow aws-actions/configure-aws-credentials"
            .into();
    };
    let in_config = (ambient.read)(&config_file)
        .is_some_and(|text| has_section(&text, &format!("profile {profile}")) || has_section(&text, &profile));
    let in_credentials = (ambient.read)(&credentials_file).is_some_and(|text| has_section(&text, &profile));
    if in_config || in_credentials {
        format!(
            "no AWS credentials from profile `{profile}` (AWS_PROFILE): for SSO run `aws sso login --profile \
             {profile}`, else check its keys"
        )
    } else {
        format!(
            "no AWS profile `{profile}` (AWS_PROFILE) in {} or {}: fix the name (`aws configure list-profiles`)",
            config_file.display(),
            credentials_file.display()
        )
    }
}

/// AWS credentials were found but refused (a bad key, an expired SSO session): where they came from, and the fix.
pub fn aws_refused_credentials(ambient: &Ambient, code: &str) -> String {
    if (ambient.var)("AWS_ACCESS_KEY_ID").is_some() {
        return format!(
            "AWS refused the credentials in AWS_ACCESS_KEY_ID ({code}): check the key, its AWS_SESSION_TOKEN and \
             that it belongs to the environment's account"
        );
    }
    match (ambient.var)("AWS_PROFILE") {
        Some(profile) => format!(
            "AWS refused the credentials of profile `{profile}` (AWS_PROFILE, {code}): for SSO run `aws sso login \
             --profile {profile}`, else check its keys"
        ),
        None => format!(
            "AWS refused the credentials of the default chain (profile `default`, web identity, instance \
             metadata; {code}): run `aws sso login` or `aws configure`, or in a workflow \
             aws-actions/configure-aws-credentials"
        ),
    }
}

/// Why Application Default Credentials were not found, and what to do.
pub fn google_no_credentials(ambient: &Ambient) -> String {
    if let Some(file) = (ambient.var)("GOOGLE_APPLICATION_CREDENTIALS") {
        if !(ambient.exists)(Path::new(&file)) {
            return format!(
                "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS names {file}, which does not exist (in a \
                 workflow, run google-github-actions/auth before dagship)"
            );
        }
        return format!("no usable Google credentials in {file} (GOOGLE_APPLICATION_CREDENTIALS): check the key file");
    }
    "no Google credentials (tried GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server): run \
     `gcloud auth application-default login`, or in a workflow google-github-actions/auth (workload identity)"
        .into()
}

/// Whether an INI file has a `[name]` section.
fn has_section(text: &str, name: &str) -> bool {
    text.lines().any(|line| line.trim().strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) == Some(name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn ambient_with<'a>(vars: &'a HashMap<&str, &str>, files: &'a HashMap<&str, &str>) -> Ambient<'a> {
        Ambient {
            var: Box::leak(Box::new(move |name: &str| vars.get(name).map(|value| value.to_string()))),
            exists: Box::leak(Box::new(move |path: &Path| files.contains_key(path.to_str().unwrap()))),
            read: Box::leak(Box::new(move |path: &Path| files.get(path.to_str().unwrap()).map(|t| t.to_string()))),
        }
    }

    #[test]
    fn aws_names_the_profile_and_whether_it_exists() {
        let files = HashMap::from([("/h/.aws/config", "[profile sso-dev]\nsso_session = x\n")]);
        let vars = HashMap::from([("HOME", "/h"), ("AWS_PROFILE", "nope")]);
        assert_eq!(
            aws_no_credentials(&ambient_with(&vars, &files)),
            "no AWS profile `nope` (AWS_PROFILE) in /h/.aws/config or /h/.aws/credentials: fix the name (`aws \
             configure list-profiles`)"
        );
        let vars = HashMap::from([("HOME", "/h"), ("AWS_PROFILE", "sso-dev")]);
        assert!(aws_no_credentials(&ambient_with(&vars, &files)).contains("`aws sso login --profile sso-dev`"));
        let vars = HashMap::from([("HOME", "/h")]);
        assert!(aws_no_credentials(&ambient_with(&vars, &files)).contains("`aws sso login`"));
    }

    #[test]
    fn google_names_a_missing_key_file() {
        let files = HashMap::new();
        let vars = HashMap::from([("GOOGLE_APPLICATION_CREDENTIALS", "/gone.json")]);
        assert!(google_no_credentials(&ambient_with(&vars, &files)).contains("names /gone.json, which does not exist"));
        let vars = HashMap::new();
        assert!(google_no_credentials(&ambient_with(&vars, &files)).contains("gcloud auth application-default login"));
    }
}
