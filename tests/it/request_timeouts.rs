//! Requests that stall past `deploy.request_timeout`: the fault proxy (tests/it/common/fault_proxy.rs) holds one
//! aimed request silent, before or after the server applied it, until dagship gives up on it. Each stall's length
//! is measured at the proxy (when the client closed the silent connection), and the bucket and the marker are
//! read from the emulator itself, never from dagship's report.
use crate::common;

use std::time::Duration;

use common::buckets::Backend;
use common::fault_proxy::{Fault, FaultProxy, Flavor, Rule};
use common::project::Project;
use common::run_command;

/// Short enough for the suite, and far from the 20 s default and the SDK's own 60 s: a stall that lasted about
/// this long was cut by this setting.
const TIMEOUT: &str = "2s";
/// A lease renewed every 3 s (a quarter TTL), whose write window (half the TTL) outlasts a stalled renewal and its
/// retry.
const SETTINGS: &str = "deploy:\n  request_timeout: 2s\n  lock_ttl: 12s\n";

/// Every stalled request was given up by the client after the configured timeout, not later.
fn assert_cut_at_the_timeout(proxy: &FaultProxy, expected: usize) {
    let log = proxy.log();
    let stalled: Vec<String> = log
        .iter()
        .filter(|entry| entry.stalled_for.is_some())
        .map(|entry| format!("{} {} {:?}", entry.method, entry.target, entry.stalled_for))
        .collect();
    assert_eq!(stalled.len(), expected, "every aimed stall met its request: {stalled:#?}");
    let stalls: Vec<Duration> = log.iter().filter_map(|entry| entry.stalled_for).collect();
    let (shortest, longest) = (stalls.iter().min().unwrap(), stalls.iter().max().unwrap());
    common::figure(&format!(
        "stalls: {} request(s) held silent, given up by dagship after {shortest:.1?} to {longest:.1?} \
         (request_timeout {TIMEOUT})",
        stalls.len()
    ));
    let timeout = humantime::parse_duration(TIMEOUT).unwrap();
    for stall in stalls {
        // The client's clock started before the proxy's (connect, send): a little under the timeout is fine.
        assert!(
            stall >= timeout.mul_f64(0.8) && stall < timeout * 4,
            "a stall lasted {stall:?}: the client gave up at its own pace, not at request_timeout {TIMEOUT}"
        );
    }
}

/// An upload stalled twice (once unseen by the server, once applied with its answer withheld), the first lease
/// renewal applied with its answer withheld, and the marker write stalled once: each attempt is given up at the
/// timeout and retried, the deploy succeeds, and the bucket, the marker and the lock are as they should be.
#[test]
fn stalls_past_the_request_timeout_are_given_up_and_retried() {
    let project = Project::new(Backend::S3, SETTINGS);
    project.add_files(40, "v1");
    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::S3, 0.0, 1, &[]);
    // Two stalls in a row on one upload keep the deploy busy past the first renewal (due 3 s after the lock).
    proxy.add_rule(Rule::once("PUT", "dag_0003.py", 1, Fault::StallBefore));
    proxy.add_rule(Rule::once("PUT", "dag_0003.py", 2, Fault::StallAfter));
    // The 1st lock PUT takes the lock; the 2nd is the first renewal. Its answer is withheld after it landed, so the
    // retry (conditioned on the old version) is refused, and the lease must recognise its own write.
    proxy.add_rule(Rule::once("PUT", ".dagship/lock.json", 2, Fault::StallAfter));
    proxy.add_rule(Rule::once("PUT", ".dagship/last-deploy.json", 1, Fault::StallBefore));

    let run = project.deploy_through(&proxy, &[]);
    run.assert_code(0);
    assert_cut_at_the_timeout(&proxy, 4);
    assert_eq!(proxy.count_of(Fault::StallBefore) + proxy.count_of(Fault::StallAfter), 4);
    assert_eq!(project.deployed(), project.expected(), "the bucket holds the commit: {}", run.stderr);
    assert_eq!(project.marker_commit(), Some(project.repo.head()), "the marker (read from the bucket)");
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the lock is released");
    let renewals =
        proxy.log().iter().filter(|entry| entry.method == "PUT" && entry.target.contains("lock.json")).count();
    assert!(renewals >= 3, "the lock, the stalled renewal and its retry went out: {renewals}");
}

/// An upload that stalls on every attempt: the deploy gives up after its retries with exit 4, writes no marker
/// (the marker still names the previous commit while the bucket still holds that object's previous bytes), and
/// releases its lock. The next deploy converges.
#[test]
fn an_upload_stalled_past_every_retry_fails_with_exit_4_and_no_marker_over_the_missing_object() {
    let project = Project::new(Backend::S3, SETTINGS);
    project.add_files(20, "v1");
    project.deploy_json(&[]);
    let first = project.repo.head();
    let before = project.bucket.objects();

    project.add_files(20, "v2");
    let second = project.repo.head();
    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::S3, 0.0, 1, &[]);
    proxy.add_rule(Rule::from_then_on("PUT", "dag_0003.py", 1, Fault::StallBefore));
    let run = project.deploy_through(&proxy, &["--concurrency", "4"]);
    run.assert_code(4);
    assert!(run.stderr.contains("dag_0003.py"), "names the object: {}", run.stderr);
    assert!(run.stderr.contains("gave up after retries"), "{}", run.stderr);
    // 6 attempts (the retry policy's), each cut at the timeout.
    assert_cut_at_the_timeout(&proxy, 6);

    let key = "dags/generated/03/dag_0003.py";
    assert_eq!(project.bucket.objects().get(key), before.get(key), "the stalled object never landed");
    assert_eq!(project.marker_commit(), Some(first), "no marker over the missing object");
    assert!(!proxy.writes().iter().any(|write| write.contains("last-deploy.json")), "no marker write was even sent");
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the failed deploy released its lock");

    let run = run_command(&mut project.command(&["deploy", "--env", "test", "--format", "json"]));
    run.assert_code(0);
    assert_eq!(project.deployed(), project.expected());
    assert_eq!(project.marker_commit(), Some(second));
}

/// The GCS client takes the same setting: an upload stalled once is given up at the timeout and retried.
#[test]
fn a_stalled_gcs_upload_is_given_up_at_the_request_timeout() {
    let project = Project::new(Backend::Gcs, SETTINGS);
    project.add_files(10, "v1");
    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::Gcs, 0.0, 1, &[]);
    proxy.add_rule(Rule::once("POST", "dag_0003.py", 1, Fault::StallBefore));
    let run = project.deploy_through(&proxy, &[]);
    run.assert_code(0);
    assert_cut_at_the_timeout(&proxy, 1);
    assert_eq!(project.deployed(), project.expected(), "{}", run.stderr);
    assert_eq!(project.marker_commit(), Some(project.repo.head()));
}
