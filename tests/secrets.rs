//! Known secret strings are seeded where users keep them (AWS keys and session token, GITHUB_TOKEN, a GCS
//! service-account key file with a private key, a password in a bucket URL), then dagship runs its commands,
//! failure paths and error chains included, with RUST_LOG=trace and inside "GitHub Actions". No secret may
//! appear in stdout, stderr, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, spilled output files or dagship's own
//! records in the bucket.
mod common;

use std::path::Path;
use std::process::Command;

use common::buckets::{Backend, Bucket, S3_VARIABLE, endpoint};
use common::fault_proxy::{Fault, FaultProxy, Flavor};
use common::{Repo, dagship_command};

const AWS_SECRET: &str = "AWSs3cr3tKEYdoNotPrint0123456789abcdefXYZ";
const AWS_SESSION: &str = "AWSsessionTOKENdoNotPrint9876543210zyxwv";
const GITHUB_TOKEN: &str = "ghp_doNotPrintGithubToken0123456789ABCDEF";
const PRIVATE_KEY_BODY: &str = "MIIEdoNotPrintFakePrivateKeyMaterial0123456789";
const URL_PASSWORD: &str = "urlPASSWORDdoNotPrint42";

const SECRETS: [&str; 5] = [AWS_SECRET, AWS_SESSION, GITHUB_TOKEN, PRIVATE_KEY_BODY, URL_PASSWORD];

struct Setup {
    repo: Repo,
    s3: Bucket,
    scratch: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let s3 = Bucket::new(Backend::S3);
        let scratch = tempfile::tempdir().unwrap();
        let key_file = scratch.path().join("gcs-key.json");
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": "dagship-test",
            "private_key_id": "0123456789abcdef",
            "private_key": format!("-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END PRIVATE KEY-----\n"),
            "client_email": "deployer@dagship-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "http://127.0.0.1:9/token",
        });
        std::fs::write(&key_file, key.to_string()).unwrap();
        let repo = Repo::new();
        let config = format!(
            "dags_dir: dags\nfilters:\n  dags: [\"dags/**\"]\nenvironments:\n  \
             s3: {{ platform: mwaa, bucket: \"{}\" }}\n  \
             gcs: {{ platform: composer, bucket: \"gs://dagship-secret-test/x\" }}\n  \
             down: {{ platform: mwaa, bucket: \"s3://unreachable-bucket\", endpoint: \"http://127.0.0.1:9\" }}\n  \
             nobucket: {{ platform: mwaa, bucket: \"s3://no-such-bucket-dagship\" }}\n",
            s3.url
        );
        repo.commit_files(&[("dagship.yml", &config), ("dags/a.py", "a = 1\n")], "one");
        repo.commit_files(&[("dags/b.py", "b = 1\n")], "two");
        Setup { repo, s3, scratch }
    }

    /// A dagship command with every secret in its environment, as a GitHub Actions step would have it.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = dagship_command(self.repo.path());
        self.s3.configure(&mut command);
        command
            .args(args)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_SESSION_TOKEN", AWS_SESSION)
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("GOOGLE_APPLICATION_CREDENTIALS", self.scratch.path().join("gcs-key.json"))
            .env_remove("STORAGE_EMULATOR_HOST")
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.scratch.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.scratch.path().join("summary"))
            .env("RUNNER_TEMP", self.scratch.path().join("runner-temp"));
        command
    }
}

/// One run: arguments, expected exit code, extra environment.
type Step<'a> = (Vec<&'a str>, i32, Vec<(&'a str, &'a str)>);

/// Every place a secret could leak to, as text.
fn leaks(texts: &[(&str, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, text) in texts {
        for secret in SECRETS {
            if text.contains(secret) {
                found.push(format!("{secret} in {place}"));
            }
        }
    }
    found
}

fn read_dir_texts(dir: &Path) -> Vec<(String, String)> {
    common::buckets::read_tree(dir)
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

#[test]
fn no_secret_reaches_any_output_on_success_or_failure() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.scratch.path().join("runner-temp")).unwrap();
    let s3_endpoint = endpoint(S3_VARIABLE);
    let storm = FaultProxy::start(&s3_endpoint, Flavor::S3, 1.0, 7, &[Fault::Unavailable, Fault::ResetBefore]);

    let runs: Vec<Step> = vec![
        (vec!["config", "check"], 0, vec![]),
        (vec!["detect", "--base", "HEAD~1", "--format", "json"], 0, vec![]),
        (vec!["detect", "--all"], 0, vec![]),
        (vec!["plan", "--env", "s3", "--format", "markdown"], 0, vec![]),
        (vec!["deploy", "--env", "s3", "--format", "json"], 0, vec![]),
        (vec!["deploy", "--env", "s3", "--dry-run"], 0, vec![]),
        (vec!["unlock", "--env", "s3"], 0, vec![]),
        // Failure paths: credentials refused by a real signer, an unreachable endpoint, a missing bucket,
        // retries exhausted (the whole error chain is printed), an unknown environment, a bad revision.
        (vec!["deploy", "--env", "gcs"], 4, vec![]),
        (vec!["plan", "--env", "gcs"], 4, vec![]),
        (vec!["deploy", "--env", "down", "--lock-timeout", "1s"], 4, vec![]),
        (vec!["deploy", "--env", "nobucket"], 4, vec![]),
        (vec!["deploy", "--env", "s3"], 4, vec![("AWS_ENDPOINT_URL_S3", storm.url.as_str())]),
        (vec!["dbt", "compile", "--env", "s3"], 2, vec![]),
        (vec!["deploy", "--env", "nope"], 2, vec![]),
        (vec!["detect", "--base", "no-such-revision"], 2, vec![]),
    ];
    let mut texts: Vec<(String, String)> = Vec::new();
    for (args, code, extra) in &runs {
        let mut command = setup.command(args);
        for (key, value) in extra {
            command.env(key, value);
        }
        let output = command.output().expect("run dagship");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(*code), "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        texts.push((format!("stdout of {args:?}"), stdout));
        texts.push((format!("stderr of {args:?}"), stderr));
    }
    assert!(storm.total_faults() > 0, "the storm run met faults");
    for (name, text) in read_dir_texts(setup.scratch.path()) {
        if name != "gcs-key.json" {
            texts.push((name, text));
        }
    }
    for (key, bytes) in setup.s3.objects() {
        texts.push((format!("bucket object {key}"), String::from_utf8_lossy(&bytes).into_owned()));
    }
    assert!(texts.iter().any(|(name, _)| name == "output"), "GITHUB_OUTPUT was written");
    assert!(texts.iter().any(|(name, _)| name == "summary"), "GITHUB_STEP_SUMMARY was written");

    // A password in a bucket URL is refused without being printed.
    setup.repo.write(
        "dagship.yml",
        &format!(
            "dags_dir: dags\nenvironments:\n  s3: {{ platform: mwaa, bucket: \"s3://deployer:{URL_PASSWORD}@b/x\" }}\n"
        ),
    );
    let output = setup.command(&["deploy", "--env", "s3"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("credentials"), "{stderr}");
    texts.push(("stderr of the URL with a password".into(), stderr));
    texts.push(("stdout of the URL with a password".into(), String::from_utf8_lossy(&output.stdout).into_owned()));

    let borrowed: Vec<(&str, String)> = texts.iter().map(|(name, text)| (name.as_str(), text.clone())).collect();
    let found = leaks(&borrowed);
    eprintln!("secrets: {} outputs of {} runs checked for {} secrets", texts.len(), runs.len() + 1, SECRETS.len());
    assert!(found.is_empty(), "secrets leaked: {found:?}");
}
