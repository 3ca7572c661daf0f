//! Deploys through the fault-injecting proxy (tests/common/fault_proxy.rs): 503s, 429s, connection resets
//! before and after the server applied a write, delays and truncated bodies. The bucket is then compared with
//! the source through the emulator directly (listing + every object's bytes), never through dagship's plan.
mod common;

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
    // The GCS emulator is slow per object (see DESIGN.md); hundreds of objects exercise the same paths.
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
