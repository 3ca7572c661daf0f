//! Deploys through the fault-injecting proxy (tests/it/common/fault_proxy.rs): 503s, 429s, connection resets
//! before and after the server applied a write, delays and truncated bodies. The bucket is then compared with
//! the source through the emulator directly (listing + every object's bytes), never through dagship's plan.
use crate::common;

use std::time::Instant;

use common::buckets::{Backend, S3_VARIABLE};
use common::fault_proxy::{ALL_FAULTS, Fault, FaultProxy, Flavor};
use common::project::{Project, summary};
use common::{Run, run_command};

/// The seed every proxy here uses; a failure is replayed by running the test again (request order under
/// concurrency varies, the fault sequence does not).
const SEED: u64 = 0x5eed_da65_41b0;

fn add_files(project: &Project, count: usize, version: &str) {
    for index in 0..count {
        // 0.1-2 KB of DAG-like text, different per file and per version.
        let body = format!("# dag {index} {version}\n{}", "x = 1\n".repeat(20 + index % 300));
        project.repo.write(&format!("dags/generated/{:02}/dag_{index:04}.py", index % 50), &body);
    }
    project.repo.commit(&format!("{count} files, {version}"));
}

/// A deploy whose S3 or GCS endpoint is the proxy.
fn deploy_through(project: &Project, proxy: &FaultProxy, extra: &[&str]) -> Run {
    let mut command = project.command(&["deploy", "--env", "test", "--format", "json"]);
    command.args(extra);
    match project.bucket.backend {
        Backend::S3 => command.env("AWS_ENDPOINT_URL_S3", &proxy.url),
        Backend::Gcs => command.env("STORAGE_EMULATOR_HOST", &proxy.url),
        Backend::Local => panic!("the local backend has no network to fault"),
    };
    run_command(&mut command)
}

fn report(name: &str, proxy: &FaultProxy, started: Instant) {
    // The figures the README quotes (run with --nocapture to see them).
    eprintln!(
        "{name}: {} requests, {} faults injected {:?}, {:.1} s",
        proxy.requests(),
        proxy.total_faults(),
        proxy.counts(),
        started.elapsed().as_secs_f64()
    );
}

fn converges_through_faults(backend: Backend, flavor: Flavor, files: usize) {
    // A TTL well above the proxy's delays and the retries' backoff, so the lease is renewed through the faults.
    let project = Project::new(backend, "deploy:\n  lock_ttl: 20s\n");
    add_files(&project, files, "v1");
    let upstream = project.bucket.endpoint.clone().unwrap();
    let proxy = FaultProxy::start(&upstream, flavor, 0.10, SEED, &ALL_FAULTS);
    let started = Instant::now();

    let run = deploy_through(&project, &proxy, &[]);
    run.assert_code(0);
    assert_eq!(summary(&run.json()).0 as usize, project.expected().len(), "every file planned as an upload");
    assert_eq!(project.deployed(), project.expected(), "the bucket equals the source after the first deploy");

    // A second version: edits, deletions and additions, through the same faults.
    for index in (0..files).step_by(7) {
        project.repo.write(&format!("dags/generated/{:02}/dag_{index:04}.py", index % 50), "# edited\n");
    }
    for index in (3..files).step_by(97) {
        std::fs::remove_file(project.repo.path().join(format!("dags/generated/{:02}/dag_{index:04}.py", index % 50)))
            .unwrap();
    }
    project.repo.write("dags/generated/new_one.py", "# new\n");
    project.repo.commit("v2");
    let run = deploy_through(&project, &proxy, &["--allow-deletes", "1000"]);
    run.assert_code(0);
    assert_eq!(project.deployed(), project.expected(), "the bucket equals the source after the second deploy");
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the lock is released");
    report(&format!("{backend:?} {files} files"), &proxy, started);

    for (kind, count) in proxy.counts() {
        assert!(count > 0, "no {kind:?} fault was injected: {:?}", proxy.counts());
    }
    let share = proxy.total_faults() as f64 / proxy.requests() as f64;
    assert!((0.07..0.13).contains(&share), "about 10% of requests faulted: {share}");
}

#[test]
fn two_thousand_files_deploy_through_ten_percent_faults_on_s3() {
    converges_through_faults(Backend::S3, Flavor::S3, 2000);
}

#[test]
fn three_hundred_files_deploy_through_ten_percent_faults_on_gcs() {
    // The GCS emulator is slow per object (a metadata snapshot per write); hundreds of objects exercise the same paths.
    converges_through_faults(Backend::Gcs, Flavor::Gcs, 300);
}

#[test]
fn a_fault_storm_beyond_the_retry_budget_fails_clearly_and_a_rerun_converges() {
    // The lease's write window (half the TTL) outlasts the retry budget, so the uploads give up first.
    let project = Project::new(Backend::S3, "deploy:\n  lock_ttl: 12s\n");
    add_files(&project, 300, "v1");
    let upstream = common::buckets::endpoint(S3_VARIABLE);
    let proxy = FaultProxy::start(&upstream, Flavor::S3, 0.0, SEED, &[Fault::Unavailable]);
    // Lock, marker read, listings and some uploads pass; then every request gets a 503.
    proxy.set_storm_after(60);
    let run = deploy_through(&project, &proxy, &["--concurrency", "4"]);
    run.assert_code(4);
    assert!(run.stdout.is_empty(), "no report for a failed deploy: {}", run.stdout);
    assert!(run.stderr.contains("gave up after retries"), "{}", run.stderr);
    assert!(run.stderr.contains("SlowDown") && run.stderr.contains("503"), "names the server's answer: {}", run.stderr);
    assert!(run.stderr.contains(&project.bucket.name), "names the bucket: {}", run.stderr);
    let keys = project.bucket.keys();
    assert!(!keys.contains(&".dagship/last-deploy.json".to_string()), "no marker for a failed deploy");
    assert!(keys.len() < 304, "the storm stopped the deploy half-way ({} objects)", keys.len());

    // The storm passes; a plain re-run (same command) converges, taking over the lock the failed run could
    // not release.
    // It waits until the lock has not changed for its TTL (measured by its own clock, from its first look).
    proxy.set_storm_after(u64::MAX);
    let run = deploy_through(&project, &proxy, &[]);
    run.assert_code(0);
    assert_eq!(project.deployed(), project.expected());
    assert_eq!(run.json()["marker_written"], true);
    eprintln!("storm: {} faults injected, {} requests", proxy.total_faults(), proxy.requests());
}

/// The marker of the last successful deploy, read from the bucket itself.
fn marker_commit(project: &Project) -> Option<String> {
    let bytes = project.bucket.objects().get(".dagship/last-deploy.json").cloned()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["commit"].as_str().map(str::to_string)
}

/// Faults aimed at the few requests uniform faults almost never meet (the lock and the marker are about 5 of
/// 2,500 requests; a multipart part needs a file over the threshold): each is retried, or, past the retry budget,
/// fails the deploy with no marker for it, and the next deploy converges.
#[test]
fn faults_aimed_at_the_lock_the_marker_a_delete_and_a_multipart_part() {
    use common::fault_proxy::Rule;
    let project = Project::new(Backend::S3, "deploy:\n  max_delete: 100%\n");
    // 20 MiB: over the 16 MiB multipart threshold, so it goes in 8 MiB parts.
    let big: String = (0..20 * 1024 * 1024 / 64).map(|line| format!("{line:063}\n")).collect();
    project.repo.write("data/big.csv", &big);
    add_files(&project, 20, "v1");
    let first_commit = project.repo.head();
    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::S3, 0.0, SEED, &[]);
    // Answers lost after the server applied the write, on the lock and the marker; a reset on a part.
    proxy.add_rule(Rule::once("PUT", ".dagship/lock.json", 1, Fault::ResetAfter));
    proxy.add_rule(Rule::once("PUT", ".dagship/last-deploy.json", 1, Fault::ResetAfter));
    proxy.add_rule(Rule::once("PUT", "partNumber=2", 1, Fault::ResetBefore));
    let run = deploy_through(&project, &proxy, &[]);
    run.assert_code(0);
    assert_eq!(project.deployed(), project.expected(), "{}", run.stderr);
    assert_eq!(marker_commit(&project).as_deref(), Some(first_commit.as_str()));
    assert_eq!(proxy.total_faults(), 3, "every aimed fault met its request: {:?}", proxy.counts());

    // A delete answered 503 once: retried. Then the marker refused past every retry: exit 4, and the marker still
    // names the previous deploy, the one the bucket fully held.
    for index in 0..5 {
        project.repo.remove(&format!("dags/generated/{:02}/dag_{index:04}.py", index % 50));
    }
    let second_commit = project.repo.commit("five fewer");
    proxy.add_rule(Rule::once("DELETE", "dags/generated", 1, Fault::Unavailable));
    proxy.add_rule(Rule::from_then_on("PUT", ".dagship/last-deploy.json", 1, Fault::Unavailable));
    let run = deploy_through(&project, &proxy, &[]);
    run.assert_code(4);
    assert!(run.stderr.contains("last-deploy.json"), "{}", run.stderr);
    assert_eq!(marker_commit(&project).as_deref(), Some(first_commit.as_str()), "no marker for a failed deploy");
    assert_eq!(project.deployed(), project.expected(), "the objects themselves were all written");

    // Straight to the emulator: the next deploy takes over nothing it should not, writes the marker, converges.
    let run = run_command(&mut project.command(&["deploy", "--env", "test", "--format", "json"]));
    run.assert_code(0);
    assert_eq!(marker_commit(&project).as_deref(), Some(second_commit.as_str()));
    assert_eq!(project.deployed(), project.expected());
}
