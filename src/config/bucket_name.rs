//! Bucket names checked against each provider's naming rules before anything remote is asked, so a typo like
//! `gs://My_Bucket` fails in `config check` with the rule it breaks instead of as an HTTP 400 mid-deploy.
//! Rules: cloud.google.com/storage/docs/buckets#naming and the S3 user guide's "Bucket naming rules".
use super::Platform;

/// Why `name` is not a valid bucket name on `platform`, naming the rule; None when it is valid (or the platform
/// has no bucket names: `file://`).
pub fn bucket_name_problem(platform: Platform, name: &str) -> Option<String> {
    let provider = match platform {
        Platform::Composer => "a GCS",
        Platform::Mwaa => "an S3",
        Platform::Local => return None,
    };
    let rule = match platform {
        Platform::Composer => gcs_rule_broken(name),
        _ => s3_rule_broken(name),
    }?;
    Some(format!("`{}` is not {provider} bucket name: {rule}", name.escape_debug()))
}

fn gcs_rule_broken(name: &str) -> Option<&'static str> {
    let max_len = if name.contains('.') { 222 } else { 63 };
    if name.len() < 3 || name.len() > max_len {
        return Some("it must be 3 to 63 characters long (up to 222 with dots, 63 between dots)");
    }
    if name.split('.').any(|part| part.len() > 63) {
        return Some("each dot-separated part must be at most 63 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')) {
        return Some("use only lowercase letters, digits, `-`, `_` and `.`");
    }
    if !starts_and_ends_alphanumeric(name) {
        return Some("it must start and end with a letter or digit");
    }
    if looks_like_ip(name) {
        return Some("it must not look like an IP address");
    }
    if name.starts_with("goog") || name.contains("google") {
        return Some("it must not start with `goog` or contain `google`");
    }
    None
}

fn s3_rule_broken(name: &str) -> Option<&'static str> {
    if name.len() < 3 || name.len() > 63 {
        return Some("it must be 3 to 63 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')) {
        return Some("use only lowercase letters, digits, `-` and `.` (no uppercase, no `_`)");
    }
    if !starts_and_ends_alphanumeric(name) {
        return Some("it must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Some("it must not hold two dots in a row");
    }
    if looks_like_ip(name) {
        return Some("it must not look like an IP address");
    }
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if RESERVED_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || RESERVED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
    {
        return Some("it uses a prefix or suffix S3 reserves (`xn--`, `sthree-`, `-s3alias`, `--ol-s3`, ...)");
    }
    None
}

fn starts_and_ends_alphanumeric(name: &str) -> bool {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    alphanumeric(name.chars().next()) && alphanumeric(name.chars().last())
}

fn looks_like_ip(name: &str) -> bool {
    name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// A hint for a bucket URL whose prefix ends in `dags` (the "DAGs folder" URL Composer's console shows): dagship
/// deploys the DAGs folder to `<prefix>/dags/`, so the DAGs would land under `dags/dags/`.
pub fn dags_folder_hint(platform: Platform, url: &str) -> Option<String> {
    if platform == Platform::Local {
        return None;
    }
    let (_scheme, rest) = url.split_once("://")?;
    let (bucket, prefix) = rest.split_once('/')?;
    if prefix.trim_end_matches('/').rsplit('/').next() != Some("dags") {
        return None;
    }
    let scheme = &url[..url.len() - rest.len()];
    let parent = prefix.trim_end_matches('/').strip_suffix("dags").unwrap_or_default();
    Some(format!(
        "the URL ends in `/dags`: dagship deploys the DAGs folder to `<bucket URL>/dags/`, so objects would land \
         under `dags/dags/`; use the environment's bucket URL, `{scheme}{bucket}{}`",
        format!("/{parent}").trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcs_names_follow_googles_rules() {
        assert_eq!(bucket_name_problem(Platform::Composer, "us-central1-prod-1a2b3c-bucket"), None);
        assert_eq!(bucket_name_problem(Platform::Composer, "my_bucket.example.com"), None);
        let problem = bucket_name_problem(Platform::Composer, "My_Bucket").unwrap();
        assert_eq!(
            problem,
            "`My_Bucket` is not a GCS bucket name: use only lowercase letters, digits, `-`, `_` and `.`"
        );
        assert!(bucket_name_problem(Platform::Composer, "ab").unwrap().contains("3 to 63"));
        assert!(bucket_name_problem(Platform::Composer, &"a".repeat(64)).unwrap().contains("3 to 63"));
        assert!(bucket_name_problem(Platform::Composer, "-bucket").unwrap().contains("start and end"));
        assert!(bucket_name_problem(Platform::Composer, "192.168.5.4").unwrap().contains("IP address"));
        assert!(bucket_name_problem(Platform::Composer, "my-google-bucket").unwrap().contains("google"));
    }

    #[test]
    fn s3_names_follow_amazons_rules() {
        assert_eq!(bucket_name_problem(Platform::Mwaa, "airflow-prod-dags"), None);
        assert!(bucket_name_problem(Platform::Mwaa, "my_bucket").unwrap().contains("no `_`"));
        assert!(bucket_name_problem(Platform::Mwaa, "MyBucket").unwrap().contains("no uppercase"));
        assert!(bucket_name_problem(Platform::Mwaa, "a..b").unwrap().contains("two dots"));
        assert!(bucket_name_problem(Platform::Mwaa, "xn--bucket").unwrap().contains("reserves"));
        assert!(bucket_name_problem(Platform::Mwaa, &"a".repeat(64)).unwrap().contains("3 to 63"));
        assert_eq!(bucket_name_problem(Platform::Local, "Any_Thing"), None);
    }

    #[test]
    fn a_dags_folder_url_gets_the_bucket_url_as_hint() {
        let hint = dags_folder_hint(Platform::Composer, "gs://us-central1-prod-bucket/dags").unwrap();
        assert!(hint.contains("dags/dags/"), "{hint}");
        assert!(hint.ends_with("use the environment's bucket URL, `gs://us-central1-prod-bucket`"), "{hint}");
        let nested = dags_folder_hint(Platform::Mwaa, "s3://airflow-prod/team/dags/").unwrap();
        assert!(nested.ends_with("`s3://airflow-prod/team`"), "{nested}");
        assert_eq!(dags_folder_hint(Platform::Composer, "gs://us-central1-prod-bucket"), None);
        assert_eq!(dags_folder_hint(Platform::Composer, "gs://b-dags/team"), None);
        assert_eq!(dags_folder_hint(Platform::Local, "file://x/dags"), None);
    }
}
