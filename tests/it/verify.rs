//! Post-deploy verification against Airflow's REST API, served by wiremock in the shapes of Airflow 3's
//! `/api/v2` and Airflow 2's `/api/v1`: import errors become annotations and exit 1, parsed files pass, the
//! token is masked and never printed.
use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::buckets::{Backend, Bucket};
use common::{Repo, Run, dagship_command, run_command, run_watched};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "airflow-token-5f1c9e";

fn now_iso() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string().replace('Z', "+00:00")
}

/// The DAG listing: empty for the first `hidden_polls` requests (Airflow has not parsed the files yet), then
/// one DAG per good file, parsed now.
struct Dags {
    hidden_polls: usize,
    calls: Arc<AtomicUsize>,
    files: Vec<(&'static str, &'static str)>,
}

impl Respond for Dags {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let dags: Vec<serde_json::Value> = if call < self.hidden_polls {
            Vec::new()
        } else {
            self.files
                .iter()
                .map(|(dag_id, file)| {
                    json!({ "dag_id": dag_id, "fileloc": format!("/opt/airflow/dags/{file}"), "last_parsed_time": now_iso() })
                })
                .collect()
        };
        ResponseTemplate::new(200).set_body_json(json!({ "dags": dags, "total_entries": dags.len() }))
    }
}

/// The DAG listing of an Airflow whose scheduler last parsed the files an hour ago (before this deploy): the
/// DAG is there, but from the old file.
struct StaleDags;

impl Respond for StaleDags {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let parsed = humantime::format_rfc3339_micros(hour_ago).to_string().replace('Z', "+00:00");
        let dags =
            vec![json!({ "dag_id": "good", "fileloc": "/opt/airflow/dags/good.py", "last_parsed_time": parsed })];
        ResponseTemplate::new(200).set_body_json(json!({ "dags": dags, "total_entries": 1 }))
    }
}

struct ImportErrors(Vec<(&'static str, &'static str)>);

impl Respond for ImportErrors {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let errors: Vec<serde_json::Value> = self
            .0
            .iter()
            .enumerate()
            .map(|(id, (file, trace))| {
                json!({ "import_error_id": id, "timestamp": now_iso(), "filename": format!("/opt/airflow/dags/{file}"),
                        "bundle_name": "dags-folder", "stack_trace": trace })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "import_errors": errors, "total_entries": errors.len() }))
    }
}

/// An Airflow API fake under `/api/{version}` with this DAG listing and these import errors, on a runtime of its
/// own (returned with it: the server lives as long as the runtime).
fn airflow(version: &str, dags: impl Respond + 'static, errors: ImportErrors) -> (tokio::runtime::Runtime, MockServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let airflow = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        Mock::given(method("GET")).and(path(format!("/api/{version}/dags"))).respond_with(dags).mount(&airflow).await;
        Mock::given(method("GET"))
            .and(path(format!("/api/{version}/importErrors")))
            .respond_with(errors)
            .mount(&airflow)
            .await;
    });
    (runtime, airflow)
}

struct Setup {
    repo: Repo,
    bucket: Bucket,
    summary: tempfile::NamedTempFile,
}

impl Setup {
    fn new(airflow: &MockServer, verify: &str) -> Setup {
        let bucket = Bucket::new(Backend::Local);
        let repo = Repo::new();
        let config = format!(
            "dags_dir: dags\nenvironments:\n  test:\n    platform: local\n    bucket: \"{}\"\n    verify:\n      \
             airflow_url: {}\n      timeout: 3s\n      poll_interval: 50ms\n{verify}",
            bucket.url,
            airflow.uri()
        );
        repo.write("dagship.yml", &config)
            .write("dags/good.py", "from airflow import DAG\nwith DAG('good'):\n    pass\n")
            .write("dags/helpers.py", "def helper():\n    return 1\n");
        repo.commit("project");
        Setup { repo, bucket, summary: tempfile::NamedTempFile::new().unwrap() }
    }

    fn deploy(&self) -> Run {
        let mut command = dagship_command(self.repo.path());
        command
            .args(["deploy", "--env", "test"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", self.summary.path())
            .env("AIRFLOW_TOKEN", TOKEN);
        self.bucket.configure(&mut command);
        run_command(&mut command)
    }
}

#[test]
fn import_errors_become_annotations_and_fail_the_step() {
    let dag_calls = Arc::new(AtomicUsize::new(0));
    let (runtime, airflow) = airflow(
        "v2",
        Dags { hidden_polls: 2, calls: dag_calls.clone(), files: vec![("good", "good.py")] },
        ImportErrors(vec![(
            "broken.py",
            "Traceback (most recent call last):\n  File \"/opt/airflow/dags/broken.py\", line 3\n    with DAG('broken'\n \
             ^\nSyntaxError: '(' was never closed",
        )]),
    );
    let setup = Setup::new(&airflow, "      auth: bearer\n      token_env: AIRFLOW_TOKEN\n");
    setup.repo.write("dags/broken.py", "from airflow import DAG\n\nwith DAG('broken'\n");
    setup.repo.commit("a broken DAG");

    let run = setup.deploy();
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("::error file=dags/broken.py,line=3::Airflow on test cannot import this DAG file: SyntaxError"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 file parsed, 1 with import errors"), "{}", run.stderr);
    assert!(dag_calls.load(Ordering::SeqCst) >= 3, "polled until the good file was parsed");
    assert!(run.stdout.contains(&format!("::add-mask::{TOKEN}")), "the token is masked first: {}", run.stdout);
    assert_eq!(run.stdout.matches(TOKEN).count(), 1, "only the mask line names the token");
    assert!(!run.stderr.contains(TOKEN));
    let requests = runtime.block_on(airflow.received_requests()).unwrap();
    assert!(requests.iter().all(|request| request.headers["authorization"] == format!("Bearer {TOKEN}").as_str()));
    let summary = std::fs::read_to_string(setup.summary.path()).unwrap();
    assert!(summary.contains("| `dags/broken.py` | **import error** |"), "{summary}");
    assert!(summary.contains("| `dags/good.py` | parsed: good |"), "{summary}");
    // The deploy itself happened: verification reports on what is live.
    assert!(setup.bucket.keys().contains(&"dags/broken.py".to_string()));
}

#[test]
fn airflow_2_is_reached_through_api_v1_and_unchanged_dags_are_not_asked_about() {
    // No /api/v2 routes: wiremock answers 404 there, as Airflow 2 does.
    let (runtime, airflow) = airflow(
        "v1",
        Dags { hidden_polls: 0, calls: Arc::default(), files: vec![("good", "good.py")] },
        ImportErrors(Vec::new()),
    );
    let setup = Setup::new(&airflow, "");
    let run = setup.deploy();
    run.assert_code(0);
    assert!(run.stderr.contains("1 file parsed, 0 with import errors"), "{}", run.stderr);
    let requests = runtime.block_on(airflow.received_requests()).unwrap();
    assert!(requests.iter().any(|request| request.url.path() == "/api/v1/importErrors"));
    assert!(requests.iter().all(|request| !request.headers.contains_key("authorization")));

    // helpers.py has no DAG: it is never waited for. A deploy that changes only it asks Airflow nothing.
    let asked = requests.len();
    setup.repo.write("dags/helpers.py", "def helper():\n    return 2\n");
    setup.repo.commit("helper only");
    let run = setup.deploy();
    run.assert_code(0);
    assert!(run.stderr.contains("no DAG file changed"), "{}", run.stderr);
    assert_eq!(runtime.block_on(airflow.received_requests()).unwrap().len(), asked);
}

#[test]
fn ci_reports_deployed_true_with_the_failure_when_verify_fails_after_the_write() {
    let (_runtime, airflow) = airflow(
        "v2",
        Dags { hidden_polls: 0, calls: Arc::default(), files: vec![("good", "good.py")] },
        ImportErrors(vec![("broken.py", "SyntaxError: '(' was never closed")]),
    );
    let setup = Setup::new(&airflow, "");
    let config = std::fs::read_to_string(setup.repo.path().join("dagship.yml")).unwrap();
    setup.repo.write("dagship.yml", &config.replace("platform: local", "branches: [main]\n    platform: local"));
    setup.repo.write("dags/broken.py", "from airflow import DAG\n\nwith DAG('broken'\n");
    let head = setup.repo.commit("a broken DAG");
    let mut command = dagship_command(setup.repo.path());
    setup.bucket.configure(&mut command);
    let payload = common::actions::push("refs/heads/main", common::ZEROS, &head, false);
    let ci = common::actions::run_ci(command, "push", &payload, "http://127.0.0.1:9", &head);
    ci.run.assert_code(1);
    assert!(ci.run.stderr.contains("cannot import this DAG file"), "{}", ci.run.stderr);
    assert_eq!(ci.output("deployed"), "true", "the bucket was written before the verify failed");
    assert_eq!(ci.output("deployed_environments"), r#"["test"]"#);
    assert!(setup.bucket.keys().contains(&"dags/broken.py".to_string()));
}

/// A full page of DAGs that always announces more: a hostile or broken server paging forever.
struct EndlessPages;

impl Respond for EndlessPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let offset = request.url.query_pairs().find(|(key, _)| key == "offset").map_or(0, |(_, v)| v.parse().unwrap());
        let dags: Vec<serde_json::Value> = (offset..offset + 100)
            .map(|n: u64| json!({ "dag_id": format!("d{n}"), "fileloc": "/x.py", "last_parsed_time": null }))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "dags": dags, "total_entries": 1_000_000_000u64 }))
    }
}

/// Verification stops paging at verify.timeout and refuses an answer bigger than it reads: a server sending
/// pages forever or a body of many megabytes costs neither unbounded time nor memory.
#[test]
fn verification_is_bounded_in_time_and_bytes_against_a_hostile_airflow() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let endless = runtime.block_on(MockServer::start());
    let huge = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path("/api/v2/importErrors"))
            .respond_with(ImportErrors(Vec::new()))
            .mount(&endless)
            .await;
        Mock::given(method("GET")).and(path("/api/v2/dags")).respond_with(EndlessPages).mount(&endless).await;
        let body = format!("{{\"import_errors\": [], \"pad\": \"{}\"}}", "x".repeat(40 << 20));
        Mock::given(method("GET"))
            .and(path("/api/v2/importErrors"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&huge)
            .await;
    });

    let setup = Setup::new(&endless, "");
    let mut command = dagship_command(setup.repo.path());
    command.args(["deploy", "--env", "test"]);
    setup.bucket.configure(&mut command);
    let common::Watched { run, took, .. } = run_watched(&mut command, std::time::Duration::from_secs(60));
    assert!(
        took < std::time::Duration::from_secs(20),
        "stopped near verify.timeout (3s), took {took:?}\n{}",
        run.stderr
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    // Stopped between pages, during one, or at the entry cap, whichever a busy machine reaches first.
    assert!(run.stderr.contains("Airflow API /dags: "), "{}", run.stderr);
    assert!(run.stderr.contains("stopped (verify.timeout bounds the whole check)"), "{}", run.stderr);
    let pages = runtime.block_on(endless.received_requests()).unwrap().len();
    common::figure(&format!("endless pages: stopped after {took:?} and {pages} requests"));

    let setup = Setup::new(&huge, "");
    let mut command = dagship_command(setup.repo.path());
    command.args(["deploy", "--env", "test"]);
    setup.bucket.configure(&mut command);
    let common::Watched { run, took, .. } = run_watched(&mut command, std::time::Duration::from_secs(60));
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("the answer is over 16 MB; not read"), "{}", run.stderr);
    common::figure(&format!("huge body: refused after {took:?}"));
}

/// A DAG Airflow lists from a parse older than the deploy is the old file, not the deployed one: never reported as
/// verified; after verify.timeout it is a "not parsed" warning.
#[test]
fn a_parse_from_before_the_deploy_does_not_verify_the_new_file() {
    let (_runtime, airflow) = airflow("v2", StaleDags, ImportErrors(Vec::new()));
    let setup = Setup::new(&airflow, "");
    let run = setup.deploy();
    run.assert_code(0);
    assert!(
        run.stderr.contains("had not parsed dags/good.py within verify.timeout")
            && run.stderr.contains("0 files parsed"),
        "{}",
        run.stderr
    );
}
