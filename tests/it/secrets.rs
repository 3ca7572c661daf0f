//! Known secret strings are seeded where users keep them (AWS keys and session token, GITHUB_TOKEN, a GCS
//! service-account key file with a private key, a password in a bucket URL), then dagship runs its commands,
//! failure paths and error chains included, with RUST_LOG=trace and inside "GitHub Actions". No secret may
//! appear in stdout, stderr, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, spilled output files or dagship's own
//! records in the bucket.
use crate::common;

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

const DBT_SECRET: &str = "dbtWarehouseSECRETdoNotPrint77";
const RUNTIME_TOKEN: &str = "actionsRUNTIMEtokenDoNotPrint55";
/// Credential shapes a pull request's code prints from its own files: recognised by their shape.
const TOKEN_SHAPED: &str = "ghp_hardCodedInAPullRequest0123456789AB";
const AKIA_SHAPED: &str = "AKIAHOSTILE0PR123456";

/// What a DAG file or a dbt Python model of the hostile pull request does: collect what it can read (its
/// environment, dagship's /proc/<ppid>/environ) into `loot`, append forged lines to $GITHUB_OUTPUT/$GITHUB_ENV
/// (from its environment, and with `tamper` at the paths a child could find by searching), print every secret
/// it knows and a line that is not UTF-8.
fn hostile_python(loot: &Path, output_file: &Path, env_file: &Path, tamper: bool) -> String {
    format!(
        r#"import json, os, sys
loot = {{"env": dict(os.environ)}}
try:
    loot["parent"] = open(f"/proc/{{os.getppid()}}/environ", "rb").read().decode(errors="replace")
except Exception as err:
    loot["parent"] = f"unreadable: {{err}}"
json.dump(loot, open("{loot}", "w"))
for path in [os.environ.get("GITHUB_OUTPUT"), os.environ.get("GITHUB_ENV")] + {found}:
    if path:
        with open(path, "a") as forged:
            forged.write("matrix<<EOF\ntrue\nEOF\nLD_PRELOAD=/tmp/evil.so\n")
sys.stdout.buffer.write(b"not utf-8: \xff\xfe\n")
print("token:", os.environ.get("INPUT_GITHUB-TOKEN"), loot["parent"][:4000])
print("warehouse: postgresql://etl:{URL_PASSWORD}@warehouse:5432/db", os.environ.get("DBT_ENV_SECRET_WAREHOUSE"))
print("keys:", "{TOKEN_SHAPED}", "{AKIA_SHAPED}", os.environ.get("AWS_SECRET_ACCESS_KEY"))
sys.stdout.flush()
"#,
        loot = loot.display(),
        found =
            if tamper { format!("[\"{}\", \"{}\"]", output_file.display(), env_file.display()) } else { "[]".into() },
    )
}

/// A pull request whose DAG file and dbt model try everything a child can: read the token, write the runner's
/// file-command files, print secrets. The children see neither the token nor the file-command paths (not in
/// their environment, not in dagship's /proc environ), their writes to the files are undone, the step's
/// outputs are dagship's own, and no seeded secret reaches the comment, the summary, an output or an
/// annotation, though what the children printed does (redacted).
#[test]
fn a_hostile_pull_request_cannot_read_the_token_forge_outputs_or_leak_secrets() {
    use common::actions::{TOKEN, pull_request, run_ci_in};
    use common::dbt::{DbtProject, PROJECT_DIR};
    let project = DbtProject::new(
        Backend::S3,
        &format!("  checks: [{{command: build}}]\ndags_check:\n  python: \"{}\"", common::airflow_python()),
    );
    let seeded = [TOKEN, DBT_SECRET, AWS_SECRET, URL_PASSWORD, TOKEN_SHAPED, AKIA_SHAPED, RUNTIME_TOKEN];
    // No earlier comment, every new one accepted.
    let github = common::github::GitHub::start();
    github.accept_new_comment(7, ..);
    let mut texts: Vec<(String, String)> = Vec::new();

    // Three pull requests: a DAG that crashes the checker and one that raises (their output and error reach the
    // comment, redacted), then one whose children also write to the file-command files where they find them
    // (which fails the check at once, the files restored).
    let raise = format!(
        "raise RuntimeError('cannot reach postgresql://etl:{URL_PASSWORD}@warehouse/db with {TOKEN_SHAPED}')\n"
    );
    let rounds = [
        ("crash", "os._exit(3)\n".to_string(), false),
        ("import error", raise.clone(), false),
        ("tamper", raise, true),
    ];
    for (round, ending, tamper) in rounds {
        let runner = tempfile::tempdir().unwrap();
        let loot = tempfile::tempdir().unwrap();
        let (output_file, env_file) = (runner.path().join("github_output"), runner.path().join("github_env"));
        std::fs::write(&env_file, "").unwrap();
        let dag = format!(
            "from airflow import DAG\n{}{ending}",
            hostile_python(&loot.path().join("dag.json"), &output_file, &env_file, tamper)
        );
        let model = format!(
            "def model(dbt, session):\n    dbt.config(materialized='table')\n{}\n    if dbt.this is not None:\n        \
             raise RuntimeError('model failed')\n    return session.sql('select 1 as x')\n",
            hostile_python(&loot.path().join("dbt.json"), &output_file, &env_file, tamper)
                .lines()
                .map(|line| format!("    {line}"))
                .collect::<Vec<String>>()
                .join("\n")
        );
        project.repo.checkout_new(&format!("feature-{}", round.replace(' ', "-")), "main");
        project.repo.write("dags/evil.py", &dag).write(&format!("{PROJECT_DIR}/models/evil_model.py"), &model);
        let head = project.repo.commit("a hostile pull request");

        let mut command = project.command(&[]);
        command
            .env("INPUT_GITHUB-TOKEN", TOKEN)
            .env("GITHUB_ENV", &env_file)
            .env("ACTIONS_RUNTIME_TOKEN", RUNTIME_TOKEN)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("DBT_ENV_SECRET_WAREHOUSE", DBT_SECRET);
        let payload = pull_request(7, "main", Some(common::actions::REPOSITORY));
        let ci = run_ci_in(runner.path(), command, "pull_request", &payload, &github.server.uri(), &head);
        ci.run.assert_code(1);

        // The children ran, and could read neither the token nor the file-command paths.
        for child in ["dag", "dbt"] {
            let loot: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(loot.path().join(format!("{child}.json"))).unwrap_or_default(),
            )
            .unwrap_or_else(|err| panic!("{child} left no loot ({err}):\n{}", ci.run.stderr));
            let names: Vec<&String> = loot["env"].as_object().unwrap().keys().collect();
            assert!(
                names
                    .iter()
                    .all(|name| !["GITHUB_", "INPUT_", "ACTIONS_", "RUNNER_"].iter().any(|p| name.starts_with(p))),
                "{round}: the {child} child saw {names:?}"
            );
            let all = loot.to_string();
            for secret in [TOKEN, RUNTIME_TOKEN, output_file.to_str().unwrap()] {
                assert!(!all.contains(secret), "{round}: the {child} child read {secret}: {all}");
            }
            // dagship's /proc environ: unreadable (a non-root child) or wiped (a root one).
            let parent = loot["parent"].as_str().unwrap();
            assert!(!parent.contains("GITHUB_") && !parent.contains("INPUT_"), "{round}: {child}: {parent}");
            // dbt needs its warehouse: its credentials reach dbt, never the DAG check.
            assert_eq!(names.contains(&&"DBT_ENV_SECRET_WAREHOUSE".to_string()), child == "dbt", "{round}: {names:?}");
        }
        // The forged lines were undone: the outputs parse strictly (run_ci) and are dagship's own.
        assert_eq!(ci.output("mode"), "check");
        assert!(!ci.outputs.contains_key("matrix") || ci.output("matrix") != "true", "{:?}", ci.outputs);
        assert_eq!(std::fs::read_to_string(&env_file).unwrap(), "", "{round}: $GITHUB_ENV was written");
        for who in
            ["a DAG file wrote to the runner's file-command files", "it wrote to the runner's file-command files"]
        {
            assert_eq!(ci.run.stderr.contains(who), tamper, "{round}: {who}\n{}", ci.run.stderr);
        }

        let annotations: Vec<&str> =
            ci.run.stderr.lines().filter(|line| line.starts_with("::error") || line.starts_with("::warning")).collect();
        texts.push((format!("{round}: annotations"), annotations.join("\n")));
        texts.push((format!("{round}: step summary"), ci.summary.clone()));
        texts.push((format!("{round}: outputs"), std::fs::read_to_string(&output_file).unwrap()));
        texts.push((format!("{round}: stderr"), ci.run.stderr.clone()));
        project.repo.checkout("main");
    }
    let comments = github.texts();
    assert_eq!(comments.iter().filter(|body| body.contains("dagship:pr-comment")).count(), 3, "{comments:?}");
    // What the children printed or raised reached the comment, redacted.
    let all_comments = comments.join("\n");
    assert!(all_comments.contains("postgresql://etl:***@warehouse"), "{all_comments}");
    assert!(all_comments.contains("keys: *** ***"), "the crash's output is quoted, redacted: {all_comments}");
    texts.extend(comments.into_iter().map(|body| ("comment".to_string(), body)));

    let mut found = Vec::new();
    for (place, text) in &texts {
        for secret in seeded {
            if text.contains(secret) {
                found.push(format!("{secret} in {place}"));
            }
        }
    }
    eprintln!("hostile pull request: {} texts scanned for {} seeded secrets", texts.len(), seeded.len());
    assert!(found.is_empty(), "secrets leaked: {found:?}\n{texts:#?}");
}
