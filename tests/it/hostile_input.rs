//! A corpus of hostile input, one table row per case: malformed and adversarial dagship.yml, CLI arguments, file
//! names, symlinks and bucket URLs. Every case runs the real binary against a fresh repository and a fresh moto S3
//! bucket behind a recording proxy (tests/it/common/fault_proxy.rs, no faults), and must end with the documented exit
//! code, a message naming what is wrong, no secret or injected workflow command in the output, and zero write
//! requests (PUT, POST, DELETE) received by the proxy. The cases past the config reach the engine: staging the
//! commit, planning against the bucket (which they read), its guards and its names.
//! Event payloads are covered by the `dagship ci` tests. Adding a case is adding a row to `cases()`.
use crate::common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::buckets::{Backend, Bucket};
use common::fault_proxy::{FaultProxy, Flavor};
use common::{Repo, Run, dagship_command, run_command};

/// One hostile input.
struct Case {
    name: &'static str,
    /// dagship.yml; `{bucket}` becomes the case's bucket URL. `None`: a valid config.
    config: Option<String>,
    /// Extra files (and symlinks, odd names) made in the work tree before the commit.
    setup: fn(&Path),
    args: Vec<String>,
    code: i32,
    /// Fragments the error output must hold (it names the file, key or value and what to do).
    stderr_has: Vec<&'static str>,
    /// Strings that must appear nowhere in stdout or stderr (passwords, injected commands).
    never_printed: Vec<&'static str>,
}

const VALID: &str = "dags_dir: dags\ndata_dir: data\nenvironments:\n  test: { platform: mwaa, bucket: \"{bucket}\" }\n";

fn no_setup(_: &Path) {}

fn config_case(name: &'static str, config: &str, stderr_has: &[&'static str]) -> Case {
    Case {
        name,
        config: Some(config.to_string()),
        setup: no_setup,
        args: args(&["deploy", "--env", "test"]),
        code: 2,
        stderr_has: stderr_has.to_vec(),
        never_printed: vec![],
    }
}

fn env_case(name: &'static str, environment: &str, stderr_has: &[&'static str]) -> Case {
    config_case(name, &format!("dags_dir: dags\nenvironments:\n  test: {environment}\n"), stderr_has)
}

fn cli_case(name: &'static str, arguments: &[&str], code: i32, stderr_has: &[&'static str]) -> Case {
    Case {
        name,
        config: None,
        setup: no_setup,
        args: args(arguments),
        code,
        stderr_has: stderr_has.to_vec(),
        never_printed: vec![],
    }
}

fn file_case(name: &'static str, setup: fn(&Path), code: i32, stderr_has: &[&'static str]) -> Case {
    Case {
        name,
        config: None,
        setup,
        args: args(&["deploy", "--env", "test"]),
        code,
        stderr_has: stderr_has.to_vec(),
        never_printed: vec![],
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| arg.to_string()).collect()
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn billion_laughs() -> String {
    let mut yaml = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        yaml.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    yaml.push_str("filters: { x: *i }\n");
    yaml
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        // dagship.yml: types, sizes, YAML tricks.
        config_case("dags_dir is a list", "dags_dir: [a, b]\n", &["dagship.yml:1", "dags_dir", "invalid type"]),
        config_case("filters is a number", "filters: 5\n", &["dagship.yml:1", "filters", "invalid type"]),
        config_case("environments is a list", "environments: [a, b]\n", &["environments", "invalid type"]),
        config_case(
            "max_delete is huge",
            "deploy:\n  max_delete: 99999999999999999999999999\n",
            &["deploy.max_delete"],
        ),
        config_case("max_delete is negative", "deploy:\n  max_delete: -5\n", &["deploy.max_delete"]),
        config_case("max_delete over 100%", "deploy:\n  max_delete: \"250%\"\n", &["deploy.max_delete"]),
        config_case("concurrency is negative", "deploy:\n  concurrency: -1\n", &["deploy.concurrency"]),
        config_case("concurrency is huge", "deploy:\n  concurrency: 1e400\n", &["deploy.concurrency"]),
        config_case("lock_ttl is prose", "deploy:\n  lock_ttl: forever\n", &["deploy.lock_ttl"]),
        config_case("lock_ttl too short for a lease", "deploy:\n  lock_ttl: 100ms\n", &["deploy.lock_ttl", "1s"]),
        config_case("request_timeout is prose", "deploy:\n  request_timeout: soon\n", &["deploy.request_timeout"]),
        config_case(
            "request_timeout of zero",
            "deploy:\n  request_timeout: 0s\n",
            &["deploy.request_timeout", "too short for a request"],
        ),
        config_case(
            "lock_timeout overflows",
            "deploy:\n  lock_timeout: 99999999999999999999y\n",
            &["deploy.lock_timeout"],
        ),
        config_case("billion laughs", &billion_laughs(), &["dagship.yml"]),
        config_case("deep nesting", &format!("filters: {}{}\n", "[".repeat(5000), "]".repeat(5000)), &["dagship.yml"]),
        config_case(
            "merge key tricks",
            "base: &b { platform: mwaa, bucket: 3 }\nenvironments:\n  test: { <<: *b }\n",
            &["environments.test"],
        ),
        config_case("duplicate keys", "dags_dir: a\ndags_dir: b\n", &["dagship.yml:1", "duplicate field `dags_dir`"]),
        config_case("empty document", "", &["dagship.yml"]),
        config_case("a bare scalar", "just a string\n", &["dagship.yml", "invalid type"]),
        config_case("tab indentation", "environments:\n\ttest: {}\n", &["dagship.yml:2"]),
        config_case(
            "unknown environment in after",
            "environments:\n  a: { platform: local, bucket: file://b, after: nope }\n",
            &["environments.a.after", "nope"],
        ),
        config_case(
            "environment name with shell characters",
            "environments:\n  \"prod;rm -rf ~\": { platform: local, bucket: file://b }\n",
            &["not a valid environment name"],
        ),
        config_case(
            "filter named like a workflow command",
            "filters:\n  \"::set-output name=x::\": [\"a/**\"]\n",
            &["not a valid filter name"],
        ),
        config_case("invalid glob", "filters:\n  x: [\"models/[oops\"]\n", &["filters.x[0]", "invalid glob"]),
        config_case(
            "a 100,000-character glob",
            &format!("filters:\n  x: [\"{}[\"]\n", "a".repeat(100_000)),
            &["filters.x[0]", "invalid glob"],
        ),
        config_case(
            "unknown platform",
            "environments:\n  test: { platform: airflow, bucket: \"s3://b\" }\n",
            &["environments.test.platform", "unknown variant"],
        ),
        // Bucket URLs.
        env_case(
            "bucket of another platform",
            "{ platform: mwaa, bucket: \"gs://b\" }",
            &["environments.test.bucket", "s3://BUCKET"],
        ),
        env_case(
            "bucket with command substitution",
            "{ platform: mwaa, bucket: \"s3://b$(touch /tmp/dagship-pwned)\" }",
            &["environments.test.bucket"],
        ),
        env_case("bucket with backticks", "{ platform: mwaa, bucket: \"s3://b`id`\" }", &["environments.test.bucket"]),
        env_case(
            "bucket with a newline and a workflow command",
            "{ platform: mwaa, bucket: \"s3://b\\n::error::forged\" }",
            &["environments.test.bucket"],
        ),
        env_case(
            "bucket with a query string",
            "{ platform: mwaa, bucket: \"s3://b?versionId=1\" }",
            &["environments.test.bucket"],
        ),
        env_case(
            "bucket with a space",
            "{ platform: mwaa, bucket: \"s3://my bucket\" }",
            &["environments.test.bucket", "bucket name"],
        ),
        env_case(
            "bucket prefix escaping with ..",
            "{ platform: mwaa, bucket: \"s3://b/../other\" }",
            &["environments.test.bucket"],
        ),
        env_case(
            "file bucket escaping the repository",
            "{ platform: local, bucket: \"file://../../etc\" }",
            &["environments.test.bucket"],
        ),
        env_case(
            "bucket with an empty name",
            "{ platform: composer, bucket: \"gs:///prefix\" }",
            &["environments.test.bucket"],
        ),
        env_case(
            "bucket with an http scheme",
            "{ platform: mwaa, bucket: \"http://169.254.169.254/latest\" }",
            &["environments.test.bucket"],
        ),
        // CLI arguments.
        cli_case("unknown environment", &["deploy", "--env", "nope"], 2, &["nope", "test"]),
        cli_case(
            "environment with a workflow command",
            &["deploy", "--env", "x\n::error::forged"],
            2,
            &["no environment", "known: test"],
        ),
        cli_case("concurrency zero", &["deploy", "--env", "test", "--concurrency", "0"], 2, &["--concurrency"]),
        cli_case(
            "concurrency not a number",
            &["deploy", "--env", "test", "--concurrency", "many"],
            2,
            &["--concurrency"],
        ),
        cli_case(
            "negative allowed deletes",
            &["deploy", "--env", "test", "--allow-deletes=-1"],
            2,
            &["--allow-deletes"],
        ),
        cli_case(
            "lock timeout prose",
            &["deploy", "--env", "test", "--lock-timeout", "a while"],
            2,
            &["--lock-timeout"],
        ),
        cli_case(
            "config file missing",
            &["--config", "/nonexistent/dagship.yml", "deploy", "--env", "test"],
            2,
            &["/nonexistent/dagship.yml"],
        ),
        cli_case("config is a directory", &["--config", "dags", "deploy", "--env", "test"], 2, &["dags"]),
        cli_case(
            "repository missing",
            &["-C", "/nonexistent/repo", "deploy", "--env", "test"],
            2,
            &["/nonexistent/repo"],
        ),
        cli_case(
            "revision that looks like an option",
            &["detect", "--base=--output=/tmp/dagship-pwned"],
            2,
            &["unknown revision"],
        ),
        // File names and symlinks.
        file_case(
            "name that is not UTF-8",
            |root| {
                let name = std::ffi::OsStr::from_bytes(b"dags/bad-\xff\xfe.py");
                std::fs::write(root.join(name), "x").unwrap();
            },
            3,
            &["not valid UTF-8", "rename the file"],
        ),
        file_case(
            "symlink leaving the repository",
            |root| {
                std::os::unix::fs::symlink("/etc/passwd", root.join("dags/passwd.py")).unwrap();
            },
            3,
            &["dags/passwd.py", "outside the repository"],
        ),
        file_case(
            "relative symlink climbing out",
            |root| {
                std::os::unix::fs::symlink("../../../../../../etc/hostname", root.join("dags/host.py")).unwrap();
            },
            3,
            &["dags/host.py", "outside the repository"],
        ),
        file_case(
            "folder symlink leaving the repository",
            |root| {
                std::os::unix::fs::symlink("/etc", root.join("dags/etc")).unwrap();
            },
            3,
            &["dags/etc", "outside the repository"],
        ),
        file_case(
            "broken symlink",
            |root| {
                std::os::unix::fs::symlink("missing.py", root.join("dags/dangling.py")).unwrap();
            },
            3,
            &["dags/dangling.py", "a broken symlink"],
        ),
        file_case(
            "symlink loop",
            |root| {
                std::os::unix::fs::symlink("loop_b", root.join("dags/loop_a")).unwrap();
                std::os::unix::fs::symlink("loop_a", root.join("dags/loop_b")).unwrap();
            },
            3,
            &["dags/loop_", "a symlink loop"],
        ),
        file_case(
            "a key over S3's 1,024 bytes",
            |root| {
                let deep = format!("dags/{}/x.py", vec!["d".repeat(200); 6].join("/"));
                write(root, &deep, b"x");
            },
            3,
            &["bytes, over the 1024 GCS and S3 accept", "shorten the file's path"],
        ),
        file_case(
            "a removed data folder over a full bucket prefix (a wipe)",
            |root| {
                std::fs::remove_dir_all(root.join("data")).unwrap();
            },
            3,
            &["the source folder `data` does not exist in the commit", "deploying would delete"],
        ),
        // The engine's refusals: staging the commit, the plan's names and guards. Each reads the bucket first.
        file_case(
            "an escape sequence in a file name",
            |root| write(root, "dags/x\u{1b}[31mred.py", b"x"),
            3,
            &["dags/x\\u{1b}[31mred.py", "control character", "rename the file"],
        ),
        file_case(
            "a tab in a folder name",
            |root| write(root, "dags/a\tb/x.py", b"x"),
            3,
            &["dags/a\\tb/x.py", "control character"],
        ),
        file_case(
            "a symlink into .git",
            |root| {
                std::os::unix::fs::symlink("../.git/config", root.join("dags/config")).unwrap();
            },
            3,
            &["dags/config", ".git"],
        ),
        file_case(
            "a data folder holding only excluded caches over a full bucket prefix",
            |root| {
                std::fs::remove_file(root.join("data/existing.csv")).unwrap();
                write(root, "data/__pycache__/x.cpython-312.pyc", b"x");
            },
            3,
            &["the source folder `data` holds only excluded files (1)", "deploying would delete 1 object under"],
        ),
    ];
    // More deletions than `max_delete` allows (0 here): refused naming the mapping and the flag that overrides it.
    cases.push(Case {
        name: "a data file renamed past max_delete",
        config: Some(format!("{VALID}deploy:\n  max_delete: 0\n")),
        setup: |root| {
            std::fs::remove_file(root.join("data/existing.csv")).unwrap();
            write(root, "data/renamed.csv", b"id\n1\n");
        },
        args: args(&["deploy", "--env", "test"]),
        code: 3,
        stderr_has: vec![
            "the data mapping (`data` -> `data/`) deletes 1 object, over `deploy.max_delete`",
            "--allow-deletes 1",
        ],
        never_printed: vec![],
    });
    // A commit whose tree and work tree differ: the commit is what deploys, so the edit is refused by name.
    cases.push(Case {
        name: "an uncommitted edit to a deployed file",
        config: None,
        setup: |root| {
            // Committed by run_case; edited afterwards through this marker file (see run_case).
            write(root, ".edit-after-commit", b"dags/daily.py");
        },
        args: args(&["deploy", "--env", "test"]),
        code: 3,
        stderr_has: vec!["dags/daily.py", "--allow-dirty"],
        never_printed: vec![],
    });
    // A missing exclude file: found when the commit is staged, an input error naming the key.
    cases.push(Case {
        name: "exclude_from names a missing file",
        config: Some(format!("{VALID}deploy:\n  exclude_from: dags/.deployignore\n")),
        setup: no_setup,
        args: args(&["deploy", "--env", "test"]),
        code: 2,
        stderr_has: vec!["dags/.deployignore", "deploy.exclude_from"],
        never_printed: vec![],
    });
    // A name no bucket stores the same way (a newline in it) is refused by the plan, before anything is written,
    // named escaped, never starting a workflow command.
    cases.push(Case {
        name: "newline and a workflow command in a file name, plan",
        config: None,
        setup: |root| write(root, "dags/x\n::error::forged.py", b"x"),
        args: args(&["plan", "--env", "test"]),
        code: 3,
        stderr_has: vec!["dags/x\\n::error::forged.py", "control character", "rename the file"],
        never_printed: vec![],
    });
    // Odd but legal file names are handled safely: listed escaped, never starting a workflow command.
    for (name, arguments) in [
        ("newline and a workflow command in a file name, detect", &["detect", "--all"][..]),
        ("newline and a workflow command in a file name, detect json", &["detect", "--all", "--format", "json"][..]),
    ] {
        cases.push(Case {
            name,
            config: None,
            setup: |root| {
                write(root, "dags/x\n::error::forged.py", b"x");
                write(root, "dags/::error::forged2.py", b"x");
                write(root, &format!("dags/{}.py", "n".repeat(250)), b"x");
            },
            args: args(arguments),
            code: 0,
            stderr_has: vec![],
            never_printed: vec![],
        });
    }
    // A password in the bucket URL is refused without being printed.
    let mut secret = env_case(
        "bucket URL with credentials",
        "{ platform: mwaa, bucket: \"s3://deployer:hunter2-secret@b/x\" }",
        &["environments.test.bucket", "credentials"],
    );
    secret.never_printed = vec!["hunter2-secret"];
    cases.push(secret);
    cases
}

/// Runs one case; returns a description of what went wrong, if anything.
fn run_case(case: &Case) -> Option<String> {
    let bucket = Bucket::new(Backend::S3);
    // The data folder is already deployed, so a missing one would be a wipe. (MWAA mirrors no plugins folder:
    // plugins go as plugins.zip.)
    bucket.seed("data/existing.csv", b"id\n1\n");
    let repo = Repo::new();
    let config = case.config.clone().unwrap_or_else(|| VALID.to_string()).replace("{bucket}", &bucket.url);
    repo.write("dagship.yml", &config)
        .write("dags/daily.py", "x = 1\n")
        .write("plugins/existing.py", "x = 1\n")
        .write("data/existing.csv", "id\n1\n");
    (case.setup)(repo.path());
    repo.git(&["add", "-A", "--", "dagship.yml"]);
    repo.commit("hostile");
    if let Ok(edited) = std::fs::read_to_string(repo.path().join(".edit-after-commit")) {
        repo.write(&edited, "x = 'not committed'\n");
    }
    // Every request the case sends goes through the proxy, which records the writes among them.
    let proxy = FaultProxy::start(bucket.endpoint.as_ref().unwrap(), Flavor::S3, 0.0, 1, &[]);
    let mut command = dagship_command(repo.path());
    command.args(&case.args).env("GITHUB_ACTIONS", "true");
    bucket.configure(&mut command);
    command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
    let run: Run = run_command(&mut command);
    REACHED_THE_BUCKET.fetch_add(usize::from(proxy.requests() > 0), std::sync::atomic::Ordering::SeqCst);
    let mut problems = Vec::new();
    if run.code != case.code {
        problems.push(format!("exit code {} (expected {})", run.code, case.code));
    }
    for needle in &case.stderr_has {
        if !run.stderr.contains(needle) {
            problems.push(format!("stderr lacks {needle:?}"));
        }
    }
    for secret in &case.never_printed {
        if run.stdout.contains(secret) || run.stderr.contains(secret) {
            problems.push(format!("printed {secret:?}"));
        }
    }
    if run.stderr.lines().chain(run.stdout.lines()).any(|line| line.trim_start().starts_with("::error::forged")) {
        problems.push("an injected workflow command reached the output".into());
    }
    let written = proxy.writes();
    if !written.is_empty() {
        problems.push(format!("sent write requests: {written:?}"));
    }
    (!problems.is_empty()).then(|| format!("{}: {}\nstderr:\n{}", case.name, problems.join("; "), run.stderr))
}

/// Cases whose run sent at least one request to the bucket (a read): they got past the config to the engine.
static REACHED_THE_BUCKET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn every_hostile_input_is_refused_clearly_with_its_exit_code_and_no_remote_write() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus holds at least 40 cases ({})", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(run_case).collect();
    assert!(!Path::new("/tmp/dagship-pwned").exists(), "an injected command ran");
    let reached = REACHED_THE_BUCKET.load(std::sync::atomic::Ordering::SeqCst);
    common::figure(&format!(
        "hostile inputs: {} tried, {} handled, {reached} of them read the bucket (got past the config), 0 write \
         requests",
        cases.len(),
        cases.len() - failures.len()
    ));
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// The control for the check above: a valid deploy through the same proxy is seen writing, so "0 write requests"
/// can fail.
#[test]
fn the_recording_proxy_sees_a_valid_deploy_write() {
    let case = Case {
        name: "a valid deploy",
        config: None,
        setup: no_setup,
        args: args(&["deploy", "--env", "test"]),
        code: 0,
        stderr_has: vec![],
        never_printed: vec![],
    };
    let failure = run_case(&case).expect("the valid deploy's writes are recorded");
    assert!(failure.contains("sent write requests") && failure.contains("dags/daily.py"), "{failure}");
}
