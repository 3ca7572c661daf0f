//! The GitHub API on wiremock, driven from sync tests through its own runtime (the server runs on its thread;
//! a container reaches it on 127.0.0.1 through the host network). One builder for every test that talks to GitHub.
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate, Times};

use super::actions::REPOSITORY;

pub struct GitHub {
    pub runtime: tokio::runtime::Runtime,
    pub server: MockServer,
}

impl GitHub {
    pub fn start() -> GitHub {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(MockServer::start());
        GitHub { runtime, server }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn mount(&self, mock: Mock) {
        self.runtime.block_on(mock.mount(&self.server));
    }

    /// Pull request `number` has no comment yet; creating one is accepted `posts` times.
    pub fn accept_new_comment(&self, number: u64, posts: impl Into<Times>) {
        let comments = format!("/repos/{REPOSITORY}/issues/{number}/comments");
        self.mount(
            Mock::given(method("GET"))
                .and(path(&comments))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!([]))),
        );
        self.mount(
            Mock::given(method("POST"))
                .and(path(&comments))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 99})))
                .expect(posts),
        );
    }

    /// Deployments get id 5 (`expected_deployments` of them); every status is accepted.
    pub fn accept_deployments(&self, expected_deployments: u64) {
        let deployments = format!("/repos/{REPOSITORY}/deployments");
        self.mount(
            Mock::given(method("POST"))
                .and(path(&deployments))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5})))
                .expect(expected_deployments),
        );
        self.mount(
            Mock::given(method("POST"))
                .and(path(format!("{deployments}/5/statuses")))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1}))),
        );
    }

    pub fn requests(&self) -> Vec<wiremock::Request> {
        self.runtime.block_on(self.server.received_requests()).unwrap()
    }

    /// The JSON bodies of the requests received for `route` with `verb`, in order.
    pub fn bodies(&self, verb: &str, route: &str) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|request| request.method.as_str() == verb && request.url.path() == route)
            .map(|request| serde_json::from_slice(&request.body).unwrap())
            .collect()
    }

    /// Every request body received, as text.
    pub fn texts(&self) -> Vec<String> {
        self.requests().iter().map(|request| String::from_utf8_lossy(&request.body).into_owned()).collect()
    }

    /// The states of the statuses posted to deployment 5, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.bodies("POST", &format!("/repos/{REPOSITORY}/deployments/5/statuses"))
            .iter()
            .map(|body| body["state"].as_str().unwrap().to_string())
            .collect()
    }

    /// Checks every mounted mock's expected call count.
    pub fn verify(&self) {
        self.runtime.block_on(self.server.verify());
    }
}
