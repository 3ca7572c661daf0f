//! Missing credentials are one readable line naming the source tried and the fix, with the SDK's raw chain only
//! under `--verbose`. The real S3 and GCS clients run against nothing: the test environment's variables cleared
//! (as `dagship_command` does), HOME an empty folder, the EC2 metadata lookup off so the chain ends at once.
use crate::common;

use common::{Repo, Run, dagship_command, run_command};

const BUCKET: &str = "dagship-no-credentials";

struct Setup {
    repo: Repo,
    home: tempfile::TempDir,
}

fn setup() -> Setup {
    let repo = Repo::new();
    let config = format!(
        "environments:\n  mwaa: {{ platform: mwaa, bucket: \"s3://{BUCKET}\" }}\n  composer: {{ platform: composer, bucket: \"gs://{BUCKET}\" }}\n"
    );
    repo.commit_files(&[("dagship.yml", config.as_str()), ("dags/a.py", "a = 1\n")], "one");
    Setup { repo, home: tempfile::tempdir().unwrap() }
}

impl Setup {
    fn plan(&self, env: &str, extra: &[(&str, &str)], verbose: bool) -> Run {
        let mut command = dagship_command(self.repo.path());
        command.args(["plan", "-e", env]).env("HOME", self.home.path()).env("AWS_EC2_METADATA_DISABLED", "true");
        if verbose {
            command.arg("--verbose");
        }
        for (name, value) in extra {
            command.env(name, value);
        }
        run_command(&mut command)
    }
}

/// The run failed with exit 4 and printed exactly `line`, short enough to read.
fn assert_one_line(run: &Run, line: &str) {
    run.assert_code(4);
    assert_eq!(run.stderr, format!("{line}\n"));
    assert!(run.stderr.len() < 300, "{} bytes: {}", run.stderr.len(), run.stderr);
}

#[test]
fn s3_without_credentials_is_one_line_naming_the_sources_and_the_fix() {
    let setup = setup();
    let line = format!(
        "error: list s3://{BUCKET}/.dagship/: no AWS credentials (tried env vars, profile \
         `default`, web identity, ECS, instance metadata): run `aws sso login` or `aws configure`, or in a workflow \
         aws-actions/configure-aws-credentials"
    );
    assert_one_line(&setup.plan("mwaa", &[], false), &line);

    let verbose = setup.plan("mwaa", &[], true);
    verbose.assert_code(4);
    assert!(verbose.stderr.starts_with(&format!("{line}\n  raw error: ")), "{}", verbose.stderr);
    assert!(verbose.stderr.contains("Ec2InstanceMetadata"), "the raw chain: {}", verbose.stderr);
}

#[test]
fn an_unknown_aws_profile_is_named_with_the_files_looked_in() {
    let setup = setup();
    let home = setup.home.path().display();
    let line = format!(
        "error: list s3://{BUCKET}/.dagship/: no AWS profile `nope` (AWS_PROFILE) in \
         {home}/.aws/config or {home}/.aws/credentials: fix the name (`aws configure list-profiles`)"
    );
    assert_one_line(&setup.plan("mwaa", &[("AWS_PROFILE", "nope")], false), &line);
}

#[test]
fn gcs_without_adc_is_one_line_naming_adc_and_workload_identity() {
    let setup = setup();
    let line = format!(
        "error: authenticate for gs://{BUCKET}/: no Google credentials (tried GOOGLE_APPLICATION_CREDENTIALS, \
         gcloud's ADC file, the metadata server): run `gcloud auth application-default login`, or in a workflow \
         google-github-actions/auth (workload identity)"
    );
    assert_one_line(&setup.plan("composer", &[], false), &line);
    let verbose = setup.plan("composer", &[], true);
    assert!(verbose.stderr.starts_with(&format!("{line}\n  raw error: ")), "{}", verbose.stderr);
}
