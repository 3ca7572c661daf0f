//! `dagship ci` end to end, as the GitHub Action runs it: the binary as a subprocess on a simulated runner (event
//! payload file, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY), buckets on the S3 and GCS emulators, real dbt on DuckDB,
//! and the GitHub API served by wiremock (the sticky comment, deployments and their statuses).
use crate::common;

use std::collections::BTreeSet;

use common::actions::{REPOSITORY, TOKEN, dispatch, pull_request, push, run_ci, run_ci_at};
use common::buckets::{Backend, Bucket};
use common::dbt::{DbtProject, PROJECT_DIR};
use common::github::GitHub;
use common::{Repo, ZEROS, airflow_python, dagship_command};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// `INPUT_*` variables of one run.
type Inputs<'a> = &'a [(&'a str, &'a str)];
type Input<'a> = (&'a str, &'a str);

/// A repository with DAGs and job folders deploying to one bucket as `test` from `main` and `release`.
fn deploy_repo(bucket: &Bucket) -> Repo {
    let repo = Repo::new();
    let config = format!(
        "dags_dir: dags\nfilters:\n  dag_files: [\"dags/**\"]\n  job_files: [\"jobs/**\"]\njobs:\n  roots: [\"jobs/**\"]\n  \
         marker: tests\nenvironments:\n  test: {{ platform: {}, bucket: \"{}\", branches: [main, release] }}\n\
         dags_check:\n  python: \"{}\"\n",
        bucket.backend.platform(),
        bucket.url,
        airflow_python()
    );
    repo.write("dagship.yml", &config)
        .write("dags/daily.py", "# daily\n")
        .write("jobs/brevo/main.py", "print(1)\n")
        .write("jobs/brevo/tests/test_main.py", "def test(): pass\n");
    repo.commit("project");
    repo
}

fn ci_command(repo: &Repo, bucket: &Bucket) -> std::process::Command {
    let mut command = dagship_command(repo.path());
    bucket.configure(&mut command);
    command
}

#[test]
fn a_pull_request_is_checked_commented_once_then_updated_and_the_bucket_untouched() {
    let project = DbtProject::new(Backend::S3, &format!("dags_check:\n  python: \"{}\"", airflow_python()));
    project.run(&["deploy", "--env", "prod"]).assert_code(0);
    let before = project.bucket.objects();

    project.repo.checkout_new("feature", "main");
    project.repo.write(
        &format!("{PROJECT_DIR}/models/marts/customer_orders.sql"),
        "select customer_id, count(*) as orders from {{ ref('stg_orders') }} group by 1\n",
    );
    project.repo.write(
        "dags/weekly.py",
        "from datetime import datetime\nfrom airflow import DAG\n\nwith DAG('weekly', start_date=datetime(2026, 1, 1), \
         schedule=None):\n    pass\n",
    );
    let head = project.repo.commit("edit a model, add a DAG");

    let github = GitHub::start();
    let comments = format!("/repos/{REPOSITORY}/issues/7/comments");
    // The first run finds no comment of dagship's; the second finds the one the first made.
    github.runtime.block_on(
        Mock::given(method("GET"))
            .and(path(&comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "body": "unrelated"}])))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&github.server),
    );
    github.mount(Mock::given(method("GET")).and(path(&comments)).respond_with(
        ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "body": "unrelated"},
            {"id": 99, "user": {"login": "github-actions[bot]"}, "body": "<!-- dagship:pr-comment dagship.yml -->\n## dagship: check"}
        ])),
    ));
    github.mount(
        Mock::given(method("POST"))
            .and(path(&comments))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 99})))
            .expect(1),
    );
    github.mount(
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/{REPOSITORY}/issues/comments/99")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 99})))
            .expect(1),
    );

    let payload = pull_request(7, "main", Some(REPOSITORY));
    let mut command = project.command(&[]);
    command.env("INPUT_GITHUB-TOKEN", TOKEN).env("INPUT_COMMAND", "auto");
    let first = run_ci(command, "pull_request", &payload, &github.uri(), &head);
    first.run.assert_code(0);
    assert_eq!(first.output("mode"), "check");
    assert_eq!(first.output("environment"), "prod");
    assert_eq!(first.output("dbt_changed"), "true");
    assert_eq!(first.output("modified_models"), r#"["customer_orders"]"#);
    assert_eq!(first.output("downstream_models"), r#"["customer_summary"]"#);
    assert_eq!(first.output("deployed"), "false");
    assert_eq!(first.output("plan_uploads"), "2", "the changed model and the new DAG\n{}", first.summary);
    assert_eq!(first.output("plan_deletions"), "0");
    // The new DAG file was imported with the repository's Airflow.
    assert_eq!(first.output("dags_ok"), "true");
    assert_eq!(first.output("dag_ids"), r#"["weekly"]"#);
    for expected in ["2 changed files", "Deploy plan: `prod`", "customer_orders"] {
        assert!(first.summary.contains(expected), "summary lacks {expected}:\n{}", first.summary);
    }

    let posted = github.bodies("POST", &comments);
    assert_eq!(posted.len(), 1);
    let body = posted[0]["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- dagship:pr-comment dagship.yml -->"), "{body}");
    for expected in [
        "## dagship: check against `prod`",
        "2 changed files",
        "Deploy plan: `prod`",
        "customer_summary",
        "weekly",
        "https://github.com/octo/shop/actions/runs/4242",
    ] {
        assert!(body.contains(expected), "comment lacks {expected}:\n{body}");
    }

    // The second run (a new push to the pull request) updates the comment in place.
    let mut command = project.command(&[]);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let second = run_ci(command, "pull_request", &payload, &github.uri(), &head);
    second.run.assert_code(0);
    let patched = github.bodies("PATCH", &format!("/repos/{REPOSITORY}/issues/comments/99"));
    assert_eq!(patched.len(), 1);
    assert!(patched[0]["body"].as_str().unwrap().contains("customer_orders"));
    github.verify();

    assert_eq!(project.bucket.objects(), before, "a pull request check writes nothing to the bucket");

    // The token is registered as a secret and never printed or written anywhere else.
    for run in [&first, &second] {
        let mask_line = format!("::add-mask::{TOKEN}");
        assert!(run.run.stdout.lines().next() == Some(mask_line.as_str()), "mask first:\n{}", run.run.stdout);
        assert_eq!(run.run.stdout.matches(TOKEN).count(), 1, "{}", run.run.stdout);
        assert!(!run.run.stderr.contains(TOKEN));
        assert!(!run.summary.contains(TOKEN));
        assert!(run.outputs.values().all(|value| !value.contains(TOKEN)));
    }
    let authorization = github.runtime.block_on(github.server.received_requests()).unwrap()[0]
        .headers
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_string());
    assert_eq!(authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
}

#[test]
fn pull_request_events_asking_to_deploy_are_refused_and_write_nothing() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("feature", "main").write("dags/new.py", "# new\n");
    let head = repo.commit("new DAG");
    let github = GitHub::start();
    let fork = pull_request(3, "main", Some("evil/shop"));
    let deleted_fork = pull_request(3, "main", None);
    let same_repo = pull_request(3, "main", Some(REPOSITORY));
    let cases: [(&str, &str, Inputs); 5] = [
        ("pull_request", &fork, &[("INPUT_COMMAND", "deploy")]),
        ("pull_request", &deleted_fork, &[("INPUT_DRY-RUN", "false")]),
        ("pull_request_target", &fork, &[("INPUT_DRY-RUN", "false"), ("INPUT_ENVIRONMENT", "test")]),
        ("pull_request", &same_repo, &[("INPUT_COMMAND", "deploy"), ("INPUT_ENVIRONMENT", "test")]),
        ("pull_request_review", &same_repo, &[("INPUT_COMMAND", "deploy")]),
    ];
    for (event, payload, inputs) in cases {
        let mut command = ci_command(&repo, &bucket);
        command.envs(inputs.iter().copied()).env("INPUT_GITHUB-TOKEN", TOKEN);
        let ci = run_ci(command, event, payload, &github.uri(), &head);
        ci.run.assert_code(3);
        assert!(ci.run.stderr.contains(&format!("refusing to deploy on a `{event}` event")), "{}", ci.run.stderr);
        assert!(ci.outputs.is_empty(), "{:?}", ci.outputs);
    }
    assert_eq!(bucket.keys(), Vec::<String>::new(), "nothing written");
    let requests = github.runtime.block_on(github.server.received_requests()).unwrap();
    assert!(requests.is_empty(), "no GitHub call either: {requests:?}");
}

#[test]
fn a_push_to_a_mapped_branch_deploys_with_a_github_deployment() {
    let bucket = Bucket::new(Backend::Gcs);
    let repo = deploy_repo(&bucket);
    let first = repo.head();
    repo.write("dags/daily.py", "# daily, edited\n").write("jobs/brevo/main.py", "print(2)\n");
    let head = repo.commit("edit");
    let github = GitHub::start();
    github.accept_deployments(1);

    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "push", &push("refs/heads/main", &first, &head, false), &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("mode"), "deploy");
    assert_eq!(ci.output("deployed"), "true");
    assert_eq!(ci.output("deployed_environments"), r#"["test"]"#);
    assert_eq!(ci.output("changed_files_count"), "2", "push {first}..{head}");
    assert_eq!(ci.output("dag_files"), "true");
    assert_eq!(ci.output("matrix"), r#"{"include":[{"job":"jobs/brevo","name":"brevo"}]}"#);
    let objects = bucket.objects();
    assert_eq!(objects.get("dags/daily.py").map(Vec::as_slice), Some(&b"# daily, edited\n"[..]));

    github.verify();
    let created = github.bodies("POST", &format!("/repos/{REPOSITORY}/deployments"));
    assert_eq!(created[0]["ref"], head.as_str());
    assert_eq!(created[0]["environment"], "test");
    assert_eq!(created[0]["auto_merge"], false);
    assert_eq!(created[0]["required_contexts"], json!([]));
    assert_eq!(github.statuses(), ["in_progress", "success"]);
    let status = &github.bodies("POST", &format!("/repos/{REPOSITORY}/deployments/5/statuses"))[1];
    assert_eq!(status["log_url"], "https://github.com/octo/shop/actions/runs/4242");
}

#[test]
fn a_new_branch_and_a_force_push_are_compared_with_the_default_branch() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let github = GitHub::start();

    // A new mapped branch: before is all zeros, the range starts where it left main.
    repo.checkout_new("release", "main").write("dags/release_only.py", "# r\n");
    let dropped = repo.commit("release work");
    let ci = run_ci(
        ci_command(&repo, &bucket),
        "push",
        &push("refs/heads/release", ZEROS, &dropped, false),
        &github.uri(),
        &dropped,
    );
    ci.run.assert_code(0);
    assert_eq!(ci.output("changed_files_count"), "1");
    assert_eq!(ci.output("changes"), r#"["dag_files"]"#);
    assert_eq!(ci.output("deployed"), "true");
    assert!(ci.run.stderr.contains("no github-token"), "laptop-style run: a notice, {}", ci.run.stderr);

    // A force push replaces that commit: `before` is no longer an ancestor of the new head.
    repo.git(&["reset", "-q", "--hard", "main"]);
    repo.write("jobs/brevo/main.py", "print(3)\n");
    let rewritten = repo.commit("rewritten release");
    let mut command = ci_command(&repo, &bucket);
    // The dropped DAG is one of two objects: over the default 10% deletion limit without this.
    command.env("INPUT_ALLOW-DELETES", "1");
    let ci =
        run_ci(command, "push", &push("refs/heads/release", &dropped, &rewritten, true), &github.uri(), &rewritten);
    ci.run.assert_code(0);
    assert!(ci.run.stderr.contains("force push"), "{}", ci.run.stderr);
    assert_eq!(ci.output("changes"), r#"["job_files"]"#, "only the rewritten commit's change");
    assert_eq!(ci.output("jobs"), r#"["jobs/brevo"]"#);
    assert!(!bucket.keys().contains(&"dags/release_only.py".to_string()), "the dropped DAG was deleted");
}

#[test]
fn pushes_of_tags_unmapped_branches_and_other_events_do_nothing_and_say_so() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    let cases = [
        ("push", push("refs/heads/feature/x", ZEROS, &head, false), "no environment deploys from branch `feature/x`"),
        ("push", push("refs/tags/v1.0", ZEROS, &head, false), "a push of tag `v1.0`: tags do not deploy"),
        (
            "schedule",
            json!({"schedule": "0 3 * * *"}).to_string(),
            "dagship ci has nothing to do for a `schedule` event",
        ),
        (
            "issue_comment",
            json!({"action": "created"}).to_string(),
            "dagship ci has nothing to do for a `issue_comment` event",
        ),
    ];
    for (event, payload, notice) in cases {
        let ci = run_ci(ci_command(&repo, &bucket), event, &payload, &github.uri(), &head);
        ci.run.assert_code(0);
        assert!(ci.run.stderr.contains(&format!("::notice::{notice}")), "{event}: {}", ci.run.stderr);
        assert_eq!(ci.output("mode"), "skip");
        assert_eq!(ci.output("deployed"), "false");
    }
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

#[test]
fn a_manual_run_deploys_the_chosen_environment_counting_changes_since_its_last_deploy() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    github.accept_deployments(1);
    let payload = dispatch("refs/heads/main", json!({"environment": "test", "dry_run": "true", "full": false}));

    // dry_run from the workflow_dispatch inputs: everything planned, nothing written, no deployment.
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "workflow_dispatch", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed"), "false");
    assert_eq!(ci.output("plan_uploads"), "1");
    assert!(ci.run.stderr.contains("no deploy marker yet"), "{}", ci.run.stderr);
    assert_eq!(bucket.keys(), Vec::<String>::new(), "a dry run writes nothing");
    assert!(github.statuses().is_empty());

    // The action's input wins over the dispatch input: a real deploy, wrapped in a deployment.
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN).env("INPUT_DRY-RUN", "false");
    let ci = run_ci(command, "workflow_dispatch", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed_environments"), r#"["test"]"#);
    assert!(bucket.keys().contains(&"dags/daily.py".to_string()));
    assert_eq!(github.statuses(), ["in_progress", "success"]);
    github.verify();

    // The next manual run's base is that deploy's marker: nothing changed since.
    let payload = dispatch("refs/heads/main", json!({"environment": "test"}));
    let ci = run_ci(ci_command(&repo, &bucket), "workflow_dispatch", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("changed_files_count"), "0");
    assert_eq!(ci.output("deployed"), "false", "up to date");
}

#[test]
fn a_failing_deploy_marks_the_deployment_failed() {
    let buckets = tempfile::tempdir().unwrap();
    // The bucket path is a regular file: every write fails.
    let blocked = buckets.path().join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let repo = Repo::new();
    repo.write(
        "dagship.yml",
        &format!(
            "dags_dir: dags\nenvironments:\n  test: {{ platform: local, bucket: \"file://{}\", branches: [main] }}\n",
            blocked.display()
        ),
    )
    .write("dags/daily.py", "# daily\n");
    let head = repo.commit("project");
    let github = GitHub::start();
    github.accept_deployments(1);
    let mut command = dagship_command(repo.path());
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "push", &push("refs/heads/main", ZEROS, &head, false), &github.uri(), &head);
    assert_ne!(ci.run.code, 0, "{}", ci.run.stderr);
    assert_eq!(github.statuses(), ["in_progress", "failure"]);
    assert_eq!(ci.output("deployed"), "false");
    github.verify();
}

#[test]
fn file_names_cannot_forge_outputs() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("feature", "main")
        .write("dags/::set-output name=x::y.py", "# hostile\n")
        .write("dags/a\nhacked<<EOF\nb.py", "# hostile\n")
        .write("jobs/brevo/x\nmode=deploy.py", "# hostile\n");
    let head = repo.commit("hostile names");
    // GitHub refuses the comment (a fork's read-only token): a warning, the check still passes.
    let github = GitHub::start();
    github.mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPOSITORY}/issues/9/comments")))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible"})))
            .expect(1),
    );
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "pull_request", &pull_request(9, "main", None), &github.uri(), &head);
    // A name with a newline can never be deployed: the check fails on it, naming it, and forges nothing.
    ci.run.assert_code(3);
    assert!(ci.run.stderr.contains("has a control character"), "{}", ci.run.stderr);
    assert!(
        ci.run
            .stderr
            .contains("::warning::could not comment on pull request #9: GitHub API: HTTP 403 Forbidden: Resource"),
        "{}",
        ci.run.stderr
    );
    github.verify();
    let keys: BTreeSet<&str> = ci.outputs.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "dag_files",
        "job_files",
        "jobs",
        "changes",
        "matrix",
        "has_jobs",
        "changed_files_count",
        "base",
        "head",
        "dbt_changed",
        "modified_models",
        "downstream_models",
        "deleted_models",
        "plan_uploads",
        "plan_deletions",
        "environment",
        "deployed",
        "deployed_environments",
        "mode",
        "dags_ok",
        "dag_import_errors",
        "dag_ids",
        "dags_added",
        "dags_removed",
        "impacted_dags",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(ci.output("mode"), "check");
    assert_eq!(ci.output("changed_files_count"), "3");
    assert!(!ci.run.stderr.lines().any(|line| line.starts_with("::set-output")), "{}", ci.run.stderr);
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

#[test]
fn hostile_or_broken_event_payloads_stop_with_the_field_named() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    let pr = |pull_request: Value| json!({"pull_request": pull_request}).to_string();
    let good_base = json!({"ref": "main", "repo": {"full_name": REPOSITORY}});
    let cases: Vec<(&str, String, Vec<Input>, &str)> = vec![
        ("push", json!({"ref": "refs/heads/main"}).to_string(), vec![], "`before` is missing"),
        ("push", json!({"ref": "refs/heads/main", "before": 12}).to_string(), vec![], "`before` must be a string"),
        ("push", push("refs/heads/main; rm -rf /", ZEROS, &head, false), vec![], "`ref`"),
        ("push", push("refs/heads/a b", ZEROS, &head, false), vec![], "`ref` `a b` holds characters"),
        ("push", push("refs/heads/a..b", ZEROS, &head, false), vec![], "`ref` `a..b` is not a valid git branch name"),
        ("push", push("main", ZEROS, &head, false), vec![], "`ref` must be refs/heads/"),
        ("push", push("refs/heads/main", "$(id)", &head, false), vec![], "`before` `$(id)` is not a full commit id"),
        (
            "pull_request",
            r#"{"pull_request": {"number": 99999999999999999999999999}}"#.to_string(),
            vec![],
            "`pull_request.number` must be a pull request number",
        ),
        ("pull_request", pr(json!({"number": "7"})), vec![], "`pull_request.number` must be a number"),
        ("pull_request", pr(json!({"number": -1})), vec![], "`pull_request.number` must be a pull request number"),
        ("pull_request", json!({"action": "opened"}).to_string(), vec![], "`pull_request.number` is missing"),
        (
            "pull_request",
            pr(json!({"number": 7, "base": {"ref": "a b", "repo": {"full_name": REPOSITORY}}})),
            vec![],
            "`pull_request.base.ref` `a b`",
        ),
        (
            "pull_request",
            pr(json!({"number": 7, "base": good_base, "head": {"repo": "x"}})),
            vec![],
            "`pull_request.head.repo` must be an object or null",
        ),
        ("pull_request", "[]".to_string(), vec![], "must be a JSON object"),
        ("push", "{not json".to_string(), vec![], "is not JSON"),
        (
            "workflow_dispatch",
            dispatch("refs/heads/main", json!({"environment": "test; rm -rf /"})),
            vec![],
            "input `environment` is `test; rm -rf /`",
        ),
        (
            "workflow_dispatch",
            dispatch("refs/heads/main", json!({"environment": "test"})),
            vec![("INPUT_DRY-RUN", "yes")],
            "input `dry-run` is `yes`: must be true or false",
        ),
        (
            "workflow_dispatch",
            dispatch("refs/heads/main", json!({"environment": "nope"})),
            vec![],
            "no environment `nope` in dagship.yml",
        ),
        ("push", push("refs/heads/main", ZEROS, &head, false), vec![("INPUT_COMMAND", "rm -rf")], "input `command`"),
    ];
    for (event, payload, inputs, expected) in cases {
        let mut command = ci_command(&repo, &bucket);
        command.envs(inputs);
        let ci = run_ci(command, event, &payload, &github.uri(), &head);
        assert_eq!(ci.run.code, 2, "{event} {payload}: {}", ci.run.stderr);
        assert!(ci.run.stderr.contains(expected), "{event} {payload}: expected {expected:?} in\n{}", ci.run.stderr);
        assert_eq!(ci.run.stderr.lines().filter(|line| line.starts_with("error:")).count(), 1, "{}", ci.run.stderr);
    }
    assert_eq!(bucket.keys(), Vec::<String>::new(), "no payload reached a bucket");
}

#[test]
fn command_detect_and_unmapped_base_branches_read_no_bucket() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let base = repo.head();
    repo.checkout_new("feature/x", "main").write("jobs/brevo/main.py", "print(9)\n");
    let head = repo.commit("job edit");
    let github = GitHub::start();

    // `command: detect` on a push to an unmapped branch: the outputs of detect, no deploy.
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_COMMAND", "detect");
    let ci = run_ci(command, "push", &push("refs/heads/feature/x", &base, &head, false), &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("mode"), "detect");
    assert_eq!(ci.output("changes"), r#"["job_files"]"#);
    assert_eq!(ci.output("matrix"), r#"{"include":[{"job":"jobs/brevo","name":"brevo"}]}"#);
    assert_eq!(ci.run.json()["jobs"], json!(["jobs/brevo"]), "detect's JSON on stdout");

    // A pull request into a branch no environment deploys from: detect only, said in a notice.
    let ci = run_ci(
        ci_command(&repo, &bucket),
        "pull_request",
        &pull_request(4, "feature/x", Some(REPOSITORY)),
        &github.uri(),
        &head,
    );
    ci.run.assert_code(0);
    assert!(ci.run.stderr.contains("::notice::no environment deploys from `feature/x`"), "{}", ci.run.stderr);
    assert_eq!(ci.output("mode"), "check");
    assert_eq!(ci.output("environment"), "");
    assert!(!ci.outputs.contains_key("plan_uploads"), "{:?}", ci.outputs);
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

/// A payload with its `action` replaced (and `extra` merged in at the top level).
fn with_action(payload: &str, action: &str, extra: Value) -> String {
    let mut value: Value = serde_json::from_str(payload).unwrap();
    value["action"] = json!(action);
    if let Value::Object(extra) = extra {
        for (key, field) in extra {
            value[key] = field;
        }
    }
    value.to_string()
}

#[test]
fn pull_request_actions_that_change_no_code_are_not_checked_again() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("feature", "main").write("dags/new.py", "# new\n");
    let head = repo.commit("new DAG");
    let github = GitHub::start();
    let payload = pull_request(5, "main", Some(REPOSITORY));
    for action in ["closed", "labeled", "unlabeled", "assigned", "converted_to_draft", "edited"] {
        let mut command = ci_command(&repo, &bucket);
        command.env("INPUT_GITHUB-TOKEN", TOKEN);
        let ci = run_ci(command, "pull_request", &with_action(&payload, action, json!({})), &github.uri(), &head);
        ci.run.assert_code(0);
        assert_eq!(ci.output("mode"), "skip", "{action}: {}", ci.run.stderr);
        assert!(ci.run.stderr.contains(&format!("`{action}`")), "{action}: the notice names it: {}", ci.run.stderr);
    }
    let requests = github.runtime.block_on(github.server.received_requests()).unwrap();
    assert!(requests.is_empty(), "no comment for actions that change no code: {requests:?}");

    // A new base branch is a new range: checked.
    let retargeted = with_action(&payload, "edited", json!({"changes": {"base": {"ref": {"from": "release"}}}}));
    let ci = run_ci(ci_command(&repo, &bucket), "pull_request", &retargeted, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("mode"), "check");
    assert_eq!(ci.output("changed_files_count"), "1");
    for action in ["opened", "synchronize", "reopened", "ready_for_review"] {
        let ci = run_ci(
            ci_command(&repo, &bucket),
            "pull_request",
            &with_action(&payload, action, json!({})),
            &github.uri(),
            &head,
        );
        ci.run.assert_code(0);
        assert_eq!(ci.output("mode"), "check", "{action}");
    }
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

#[test]
fn a_merge_queue_group_is_checked_not_skipped() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("gh-readonly-queue/main/pr-5-abc", "main").write("dags/new.py", "# new\n");
    let head = repo.commit("queued merge");
    let github = GitHub::start();
    let payload = json!({
        "action": "checks_requested",
        "merge_group": {"head_sha": head, "head_ref": "refs/heads/gh-readonly-queue/main/pr-5-abc",
                        "base_ref": "refs/heads/main", "base_sha": ZEROS},
        "repository": {"full_name": REPOSITORY, "default_branch": "main"}
    })
    .to_string();
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "merge_group", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("mode"), "check", "a required check must run in the queue: {}", ci.run.stderr);
    assert_eq!(ci.output("changed_files_count"), "1");
    assert_eq!(ci.output("environment"), "test");
    assert_eq!(ci.output("plan_uploads"), "2");
    assert_eq!(ci.output("deployed"), "false");
    let requests = github.runtime.block_on(github.server.received_requests()).unwrap();
    assert!(requests.is_empty(), "no pull request to comment on: {requests:?}");

    // A broken DAG in the queue fails the check: the queue cannot pass a failing required check.
    repo.write("dags/broken.py", "from airflow import DAG\nimport no_such_module_anywhere\n");
    let broken = repo.commit("broken DAG");
    let ci = run_ci(ci_command(&repo, &bucket), "merge_group", &payload, &github.uri(), &broken);
    assert_eq!(ci.run.code, 1, "{}", ci.run.stderr);
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

#[test]
fn pull_request_target_is_refused_because_its_checkout_is_the_base() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    let payload = with_action(&pull_request(6, "main", Some("evil/shop")), "opened", json!({}));
    for inputs in [&[][..], &[("INPUT_COMMAND", "detect")][..]] {
        let mut command = ci_command(&repo, &bucket);
        command.envs(inputs.iter().copied());
        let ci = run_ci(command, "pull_request_target", &payload, &github.uri(), &head);
        ci.run.assert_code(3);
        assert!(ci.run.stderr.contains("refusing to run on a `pull_request_target` event"), "{}", ci.run.stderr);
        assert!(ci.run.stderr.contains("default checkout is the base branch"), "{}", ci.run.stderr);
    }
    assert_eq!(bucket.keys(), Vec::<String>::new());
}

#[test]
fn runs_triggered_by_pull_requests_forks_or_comments_never_deploy() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    let workflow_run = |event: &str, head_repository: Value| {
        json!({"action": "completed",
               "workflow_run": {"event": event, "head_sha": head, "head_repository": head_repository},
               "repository": {"full_name": REPOSITORY}})
        .to_string()
    };
    let deploy: Inputs = &[("INPUT_COMMAND", "deploy"), ("INPUT_ENVIRONMENT", "test")];
    let cases: Vec<(&str, String, &str)> = vec![
        ("workflow_run", workflow_run("pull_request", json!({"full_name": REPOSITORY})), "`pull_request` run"),
        ("workflow_run", workflow_run("push", json!({"full_name": "evil/shop"})), "from a fork"),
        ("workflow_run", workflow_run("push", Value::Null), "from a fork"),
        ("workflow_run", json!({"action": "completed"}).to_string(), "`unknown` run"),
        ("workflow_run", workflow_run("workflow_run", json!({"full_name": REPOSITORY})), "`workflow_run` run"),
        ("issue_comment", json!({"action": "created", "issue": {"number": 3}}).to_string(), "anyone can comment"),
        ("issues", json!({"action": "opened"}).to_string(), "anyone can start it"),
        ("brand_new_event", json!({}).to_string(), "fail closed"),
    ];
    for (event, payload, expected) in cases {
        let mut command = ci_command(&repo, &bucket);
        command.envs(deploy.iter().copied());
        let ci = run_ci_at(command, event, &payload, &github.uri(), &head, Some("refs/heads/main"));
        ci.run.assert_code(3);
        assert!(ci.run.stderr.contains(&format!("refusing to deploy on a `{event}` event")), "{}", ci.run.stderr);
        assert!(ci.run.stderr.contains(expected), "{event}: expected {expected:?} in {}", ci.run.stderr);
    }
    assert_eq!(bucket.keys(), Vec::<String>::new(), "nothing written");

    // The same repository's push run, on a branch that deploys `test`: `command: deploy` deploys.
    let mut command = ci_command(&repo, &bucket);
    command.envs(deploy.iter().copied());
    let payload = workflow_run("push", json!({"full_name": REPOSITORY}));
    let ci = run_ci_at(command, "workflow_run", &payload, &github.uri(), &head, Some("refs/heads/main"));
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed"), "true");
}

#[test]
fn a_manual_run_from_a_branch_the_environment_does_not_deploy_from_is_refused_unless_overridden() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("feature", "main").write("dags/experiment.py", "# experiment\n");
    let head = repo.commit("experiment");
    let github = GitHub::start();
    for full_ref in ["refs/heads/feature", "refs/tags/v1"] {
        let payload = dispatch(full_ref, json!({"environment": "test"}));
        let ci = run_ci(ci_command(&repo, &bucket), "workflow_dispatch", &payload, &github.uri(), &head);
        ci.run.assert_code(3);
        assert!(ci.run.stderr.contains("refusing to deploy test from"), "{}", ci.run.stderr);
        assert!(ci.run.stderr.contains("test deploys from [main, release]"), "{}", ci.run.stderr);
        assert!(ci.run.stderr.contains("allow-any-branch: true"), "names the override: {}", ci.run.stderr);
    }
    // `command: deploy` on a schedule is gated the same way.
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_COMMAND", "deploy").env("INPUT_ENVIRONMENT", "test");
    let ci = run_ci_at(command, "schedule", "{}", &github.uri(), &head, Some("refs/heads/feature"));
    ci.run.assert_code(3);
    assert_eq!(bucket.keys(), Vec::<String>::new(), "nothing written");

    // The documented override, as a dispatch input: deployed, with a warning.
    let payload = dispatch("refs/heads/feature", json!({"environment": "test", "allow_any_branch": true}));
    let ci = run_ci(ci_command(&repo, &bucket), "workflow_dispatch", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert!(ci.run.stderr.contains("::warning::deploying test from branch `feature`"), "{}", ci.run.stderr);
    assert!(bucket.keys().contains(&"dags/experiment.py".to_string()));

    // A mapped branch needs no override. (A new commit: main's old tip is an ancestor of the deployed experiment,
    // which `ci` refuses to put back except through a rollback, tests/history.rs.)
    repo.checkout("main");
    repo.write("dags/next.py", "# next\n");
    repo.commit("next");
    let payload = dispatch("refs/heads/main", json!({"environment": "test"}));
    let ci = run_ci(ci_command(&repo, &bucket), "workflow_dispatch", &payload, &github.uri(), &repo.head());
    ci.run.assert_code(0);
}

#[test]
fn legal_branch_names_are_handled_not_refused() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    for branch in ["fix=1", "feature/café", "$(id)", "a;b"] {
        let payload = push(&format!("refs/heads/{branch}"), ZEROS, &head, false);
        let ci = run_ci(ci_command(&repo, &bucket), "push", &payload, &github.uri(), &head);
        ci.run.assert_code(0);
        assert_eq!(ci.output("mode"), "skip");
        assert!(
            ci.run.stderr.contains(&format!("no environment deploys from branch `{branch}`")),
            "{branch}: {}",
            ci.run.stderr
        );
    }
    // A mapped branch with such a name deploys.
    let config = std::fs::read_to_string(repo.path().join("dagship.yml")).unwrap();
    repo.write("dagship.yml", &config.replace("branches: [main, release]", "branches: [\"fix=1\"]"));
    let head = repo.commit("deploy from fix=1");
    let payload = push("refs/heads/fix=1", ZEROS, &head, false);
    let ci = run_ci(ci_command(&repo, &bucket), "push", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed"), "true", "{}", ci.run.stderr);
}

#[test]
fn malformed_dry_run_inputs_never_deploy() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let head = repo.head();
    let github = GitHub::start();
    let cases: Vec<(Value, Vec<Input>, &str)> = vec![
        (json!({"environment": "test", "dry_run": 1}), vec![], "input `dry_run` is `1`: must be true or false"),
        (json!({"environment": "test", "dry_run": 0}), vec![], "input `dry_run` is `0`"),
        (json!({"environment": "test", "dry_run": ""}), vec![], "input `dry_run` is empty"),
        (json!({"environment": "test", "dry_run": "flase"}), vec![], "input `dry_run` is `flase`"),
        (json!({"environment": "test", "dry_run": "True"}), vec![], "input `dry_run` is `True`"),
        (json!({"environment": "test", "dry_run": ["true"]}), vec![], "input `dry_run` is"),
        (json!({"environment": "test", "dryrun": "true"}), vec![], "input `dryrun` is not an input dagship reads"),
        (json!({"environment": "test", "dry-rnu": true}), vec![], "input `dry-rnu` is not an input"),
        (json!({"environment": "test", "DryRun": true}), vec![], "input `DryRun` is not an input"),
        (json!({"environment": "test"}), vec![("INPUT_DRY-RUN", "no")], "input `dry-run` is `no`"),
        (json!({"environment": "test"}), vec![("INPUT_DRY-RUN", "0")], "input `dry-run` is `0`"),
    ];
    for (inputs, action_inputs, expected) in cases {
        let mut command = ci_command(&repo, &bucket);
        command.envs(action_inputs);
        let payload = dispatch("refs/heads/main", inputs.clone());
        let ci = run_ci(command, "workflow_dispatch", &payload, &github.uri(), &head);
        assert_eq!(ci.run.code, 2, "{inputs}: {}", ci.run.stderr);
        assert!(ci.run.stderr.contains(expected), "{inputs}: expected {expected:?} in {}", ci.run.stderr);
    }
    assert_eq!(bucket.keys(), Vec::<String>::new(), "no malformed dry run deployed");
}

/// The runner sets every input of action.yml, with its default when the workflow gives none.
fn action_defaults() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let action: Value = yaml_serde::from_str(&text).unwrap();
    action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.as_str() != "github-token")
        .map(|(name, input)| {
            let default = input["default"].as_str().map(str::to_string).unwrap_or_default();
            (format!("INPUT_{}", name.to_uppercase()), default)
        })
        .collect()
}

#[test]
fn action_defaults_never_override_a_manual_runs_inputs() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    let github = GitHub::start();
    let defaults = action_defaults();
    assert!(defaults.iter().any(|(name, _)| name == "INPUT_FULL"), "{defaults:?}");

    let payload = dispatch("refs/heads/main", json!({"environment": "test", "dry_run": false}));
    let mut command = ci_command(&repo, &bucket);
    command.envs(defaults.clone());
    let ci = run_ci(command, "workflow_dispatch", &payload, &github.uri(), &repo.head());
    ci.run.assert_code(0);
    assert_eq!(ci.output("deployed"), "true");

    // Since that deploy nothing changed; `full: true` from the dispatch counts every file.
    let payload = dispatch("refs/heads/main", json!({"environment": "test", "dry_run": true, "full": true}));
    let mut command = ci_command(&repo, &bucket);
    command.envs(defaults.clone());
    let ci = run_ci(command, "workflow_dispatch", &payload, &github.uri(), &repo.head());
    ci.run.assert_code(0);
    assert_eq!(ci.output("changed_files_count"), "4", "the dispatch's `full` counts: {}", ci.run.stderr);
    assert_eq!(ci.output("deployed"), "false", "the dispatch's `dry_run` counts");
}

#[test]
fn a_strangers_comment_holding_the_marker_is_never_edited() {
    let bucket = Bucket::new(Backend::S3);
    let repo = deploy_repo(&bucket);
    repo.checkout_new("feature", "main").write("dags/new.py", "# new\n");
    let head = repo.commit("new DAG");
    let marker = "<!-- dagship:pr-comment dagship.yml -->";
    let comments = format!("/repos/{REPOSITORY}/issues/8/comments");
    let stranger = json!({"id": 66, "user": {"login": "mallory", "type": "User"},
                          "body": format!("{marker}\n## dagship: check\nall good, merge it")});
    let spoofed = json!({"id": 67, "user": {"login": "github-actions", "type": "User"},
                         "body": format!("{marker}\n## dagship")});
    let payload = pull_request(8, "main", Some(REPOSITORY));

    // The Actions token: GET /user is refused, dagship's comments are github-actions[bot]'s.
    let github = GitHub::start();
    github.mount(Mock::given(method("GET")).and(path("/user")).respond_with(
        ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration"})),
    ));
    github.mount(
        Mock::given(method("GET"))
            .and(path(&comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([stranger, spoofed]))),
    );
    github.mount(
        Mock::given(method("POST"))
            .and(path(&comments))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 100})))
            .expect(1),
    );
    github.mount(
        Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200).set_body_json(json!({}))).expect(0),
    );
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "pull_request", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert!(ci.run.stderr.contains("commented on pull request #8"), "{}", ci.run.stderr);
    github.verify();

    // A personal token: GET /user names the login; only that login's comment is edited.
    let github = GitHub::start();
    github.mount(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "ci-bot", "type": "User"}))),
    );
    let ours = json!({"id": 70, "user": {"login": "ci-bot"}, "body": format!("{marker}\n## old")});
    github.mount(
        Mock::given(method("GET"))
            .and(path(&comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([stranger, ours]))),
    );
    github.mount(
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/{REPOSITORY}/issues/comments/70")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 70})))
            .expect(1),
    );
    github
        .mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(201).set_body_json(json!({}))).expect(0));
    let mut command = ci_command(&repo, &bucket);
    command.env("INPUT_GITHUB-TOKEN", TOKEN);
    let ci = run_ci(command, "pull_request", &payload, &github.uri(), &head);
    ci.run.assert_code(0);
    assert!(ci.run.stderr.contains("updated the comment on pull request #8"), "{}", ci.run.stderr);
    github.verify();
}
