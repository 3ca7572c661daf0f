//! An MWAA control plane for tests (moto has none): wiremock answering GetEnvironment and UpdateEnvironment
//! with the real API's shapes (restJson1: GET and PATCH /environments/{Name}, PascalCase members, errors named
//! by `x-amzn-errortype`). It keeps one environment's state and moves it the way MWAA does: an update turns
//! the status to UPDATING for a few reads, then AVAILABLE with the new versions, or, when told to fail,
//! AVAILABLE again with the old versions and a FAILED last update (MWAA rolls a failed update back).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Debug, Clone)]
pub struct FakeEnvironment {
    pub name: String,
    pub status: String,
    pub source_bucket: String,
    /// (S3 path, object version) of plugins.zip, requirements.txt and the startup script.
    pub plugins: Option<(String, String)>,
    pub requirements: Option<(String, String)>,
    pub startup_script: Option<(String, String)>,
    pub last_update: Option<Value>,
    /// Reads that still answer UPDATING after an update (or from the start).
    pub updating_reads_left: u32,
    /// How many reads an update stays UPDATING.
    pub update_reads: u32,
    /// The next update fails with this message (and is rolled back).
    pub fail_next_update: Option<String>,
    /// Reads right after an UpdateEnvironment that still show the state from before it (AVAILABLE, the previous
    /// last update), as MWAA's API does for a moment.
    pub stale_reads_after_update: u32,
    stale_left: u32,
    pending: Option<Value>,
    /// Every UpdateEnvironment request body, in order.
    pub updates: Vec<Value>,
    pub gets: u32,
    /// InvokeRestApi answers by Airflow API path (`/importErrors`, `/dags`).
    pub rest_api: std::collections::BTreeMap<String, Value>,
    /// Every InvokeRestApi request body.
    pub rest_calls: Vec<Value>,
}

pub struct FakeMwaa {
    pub server: MockServer,
    pub state: Arc<Mutex<FakeEnvironment>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeMwaa {
    /// An AVAILABLE environment reading `source_bucket`, running no plugins or requirements yet.
    pub fn start(name: &str, source_bucket: &str) -> FakeMwaa {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let state = Arc::new(Mutex::new(FakeEnvironment {
            name: name.into(),
            status: "AVAILABLE".into(),
            source_bucket: source_bucket.into(),
            plugins: None,
            requirements: None,
            startup_script: None,
            last_update: None,
            updating_reads_left: 0,
            update_reads: 2,
            fail_next_update: None,
            stale_reads_after_update: 0,
            stale_left: 0,
            pending: None,
            updates: Vec::new(),
            gets: 0,
            rest_api: Default::default(),
            rest_calls: Vec::new(),
        }));
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path_regex("^/environments/[^/]+$"))
                .respond_with(GetEnvironment(state.clone()))
                .mount(&server)
                .await;
            Mock::given(method("PATCH"))
                .and(path_regex("^/environments/[^/]+$"))
                .respond_with(UpdateEnvironment(state.clone()))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path_regex("^/restapi/[^/]+$"))
                .respond_with(InvokeRestApi(state.clone()))
                .mount(&server)
                .await;
            server
        });
        FakeMwaa { server, state, _runtime: runtime }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn with<R>(&self, change: impl FnOnce(&mut FakeEnvironment) -> R) -> R {
        change(&mut self.state.lock().unwrap())
    }

    /// Whether an update was requested and has not been seen to finish by any read yet.
    pub fn update_pending(&self) -> bool {
        self.with(|environment| environment.pending.is_some() || environment.updating_reads_left > 0)
    }

    pub fn updates(&self) -> Vec<Value> {
        self.with(|environment| environment.updates.clone())
    }
}

fn not_found(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(404)
        .insert_header("x-amzn-errortype", "ResourceNotFoundException")
        .insert_header("content-type", "application/json")
        .set_body_json(json!({ "message": format!("Environment {name} not found") }))
}

fn requested_name(request: &Request) -> String {
    request.url.path().rsplit('/').next().unwrap_or_default().to_string()
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

struct GetEnvironment(Arc<Mutex<FakeEnvironment>>);

impl Respond for GetEnvironment {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut environment = self.0.lock().unwrap();
        if requested_name(request) != environment.name {
            return not_found(&requested_name(request));
        }
        environment.gets += 1;
        let stale = environment.stale_left > 0;
        if stale {
            environment.stale_left -= 1;
        } else if environment.updating_reads_left > 0 {
            environment.updating_reads_left -= 1;
            environment.status = "UPDATING".into();
        } else if let Some(update) = environment.pending.take() {
            environment.status = "AVAILABLE".into();
            match environment.fail_next_update.take() {
                Some(message) => {
                    environment.last_update = Some(json!({
                        "Status": "FAILED", "CreatedAt": now(),
                        "Error": { "ErrorCode": "PluginsOrRequirementsInstallFailed", "ErrorMessage": message }
                    }));
                }
                None => {
                    let pick = |path: &str, version: &str| {
                        update
                            .get(path)
                            .and_then(Value::as_str)
                            .map(|path| (path.to_string(), update[version].as_str().unwrap_or_default().to_string()))
                    };
                    if let Some(plugins) = pick("PluginsS3Path", "PluginsS3ObjectVersion") {
                        environment.plugins = Some(plugins);
                    }
                    if let Some(requirements) = pick("RequirementsS3Path", "RequirementsS3ObjectVersion") {
                        environment.requirements = Some(requirements);
                    }
                    if let Some(script) = pick("StartupScriptS3Path", "StartupScriptS3ObjectVersion") {
                        environment.startup_script = Some(script);
                    }
                    environment.last_update = Some(json!({ "Status": "SUCCESS", "CreatedAt": now() }));
                }
            }
        } else if environment.status == "UPDATING" {
            // Someone else's update (set up by a test) has finished.
            environment.status = "AVAILABLE".into();
        }
        let mut body = json!({
            "Name": environment.name,
            "Arn": format!("arn:aws:airflow:us-east-1:123456789012:environment/{}", environment.name),
            "Status": if stale { "AVAILABLE" } else { environment.status.as_str() },
            "SourceBucketArn": format!("arn:aws:s3:::{}", environment.source_bucket),
            "DagS3Path": "dags",
            "AirflowVersion": "2.10.3",
        });
        for (members, value) in [
            (("PluginsS3Path", "PluginsS3ObjectVersion"), &environment.plugins),
            (("RequirementsS3Path", "RequirementsS3ObjectVersion"), &environment.requirements),
            (("StartupScriptS3Path", "StartupScriptS3ObjectVersion"), &environment.startup_script),
        ] {
            if let Some((path, version)) = value {
                body[members.0] = json!(path);
                body[members.1] = json!(version);
            }
        }
        if let Some(last_update) = &environment.last_update {
            body["LastUpdate"] = last_update.clone();
        }
        ResponseTemplate::new(200).set_body_json(json!({ "Environment": body }))
    }
}

struct UpdateEnvironment(Arc<Mutex<FakeEnvironment>>);

impl Respond for UpdateEnvironment {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut environment = self.0.lock().unwrap();
        if requested_name(request) != environment.name {
            return not_found(&requested_name(request));
        }
        let body: Value = serde_json::from_slice(&request.body).expect("UpdateEnvironment sends JSON");
        environment.updates.push(body.clone());
        if environment.status != "AVAILABLE" {
            return ResponseTemplate::new(400)
                .insert_header("x-amzn-errortype", "ValidationException")
                .set_body_json(json!({ "message": "Environment is not AVAILABLE" }));
        }
        environment.status = "UPDATING".into();
        environment.updating_reads_left = environment.update_reads;
        environment.stale_left = environment.stale_reads_after_update;
        environment.pending = Some(body);
        ResponseTemplate::new(200)
            .set_body_json(json!({ "Arn": "arn:aws:airflow:us-east-1:123456789012:environment/x" }))
    }
}

struct InvokeRestApi(Arc<Mutex<FakeEnvironment>>);

impl Respond for InvokeRestApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut environment = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&request.body).expect("InvokeRestApi sends JSON");
        environment.rest_calls.push(body.clone());
        let path = body["Path"].as_str().unwrap_or_default();
        match environment.rest_api.get(path) {
            Some(answer) => {
                ResponseTemplate::new(200).set_body_json(json!({ "RestApiStatusCode": 200, "RestApiResponse": answer }))
            }
            None => ResponseTemplate::new(404)
                .insert_header("x-amzn-errortype", "RestApiClientException")
                .set_body_json(json!({ "RestApiStatusCode": 404, "RestApiResponse": { "title": "Not Found" } })),
        }
    }
}
