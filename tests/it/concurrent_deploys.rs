//! N deploys of N different sources started at once against one environment (moto S3). moto's request
//! recorder gives the order in which the server received the writes: each deploy's uploads must form one
//! contiguous block (no two deploys ever write at the same time), and the bucket must end as exactly the source of
//! the deploy whose block came last, which is also the commit its marker names.
use crate::common;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};

use common::buckets::{Backend, read_tree};
use common::project::Project;
use common::{Repo, Run, dagship_command, finish, moto, wait_until};

const DEPLOYS: usize = 6;
const FILES: usize = 40;

/// A write the server received, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// An object upload by deploy N (its files are under `dags/source_N/`).
    Upload(usize),
    /// The lock object deleted: a deploy released it.
    Unlock,
}

/// The recorded uploads of deploys' own files and the lock releases under `bucket`, in arrival order.
fn recorded_writes(recording: &str, bucket: &str) -> Vec<Write> {
    let sources = format!("/{bucket}/airflow/dags/source_");
    let lock = format!("/{bucket}/airflow/.dagship/lock.json");
    recording
        .lines()
        .filter_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let url = entry["url"].as_str()?;
            match entry["method"].as_str()? {
                "PUT" => url.split_once(&sources)?.1.split('/').next()?.parse().ok().map(Write::Upload),
                "DELETE" if url.split('?').next()?.ends_with(&lock) => Some(Write::Unlock),
                _ => None,
            }
        })
        .collect()
}

fn upload_writers(writes: &[Write]) -> Vec<usize> {
    writes.iter().filter_map(|write| if let Write::Upload(index) = write { Some(*index) } else { None }).collect()
}

/// What the bucket should hold for a clone's source.
/// What an S3 (MWAA) bucket holds for `repo`: DAGs and data; MWAA takes plugins only as plugins.zip.
fn expected(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (folder, prefix) in [("dags", "dags/"), ("data", "data/")] {
        for (relative, bytes) in read_tree(&repo.path().join(folder)) {
            files.insert(format!("{prefix}{relative}"), bytes);
        }
    }
    files
}

#[test]
fn parallel_deploys_to_one_environment_serialize_and_the_last_one_wins() {
    let project = Project::new(Backend::S3, "deploy:\n  max_delete: 100%\n");
    let clones: Vec<Repo> = (0..DEPLOYS)
        .map(|index| {
            let clone = Repo::clone_from(&project.repo, &[]);
            for file in 0..FILES {
                clone.write(&format!("dags/source_{index}/dag_{file:03}.py"), &format!("# deploy {index}, {file}\n"));
            }
            clone.write("dags/shared.py", &format!("SOURCE = {index}\n"));
            clone.commit(&format!("source {index}"));
            clone
        })
        .collect();

    let _recorder = moto::exclusive();
    moto::recorder("reset-recording");
    moto::recorder("start-recording");
    let children: Vec<Child> = clones
        .iter()
        .map(|clone| {
            let mut command = dagship_command(clone.path());
            command.args(["deploy", "--env", "test", "--format", "json", "--concurrency", "4"]);
            project.bucket.configure(&mut command);
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start dagship deploy")
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let recording = moto::recorder("download-recording");
    moto::recorder("stop-recording");

    for run in &runs {
        run.assert_code(0);
    }
    let waited = runs.iter().filter(|run| run.stderr.contains("waiting for the deploy lock held by")).count();
    assert!(waited >= 1, "deploys started together waited for each other's lock");

    let writes = recorded_writes(&recording, &project.bucket.name);
    // Between the last upload of one deploy and the first of the next, the lock was released.
    for pair in writes.windows(2) {
        if let [Write::Upload(a), Write::Upload(b)] = pair {
            assert_eq!(a, b, "deploy {b} wrote while deploy {a} held the lock: {writes:?}");
        }
    }
    let unlocks = writes.iter().filter(|write| **write == Write::Unlock).count();
    assert_eq!(unlocks, DEPLOYS, "each deploy released the lock once, none was taken over: {writes:?}");
    let writers = upload_writers(&writes);
    let mut blocks: Vec<usize> = writers.clone();
    blocks.dedup();
    let mut seen = blocks.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), DEPLOYS, "every deploy uploaded its files: {blocks:?}");
    assert_eq!(blocks.len(), DEPLOYS, "each deploy's uploads are one block, never interleaved: {blocks:?}");
    for index in 0..DEPLOYS {
        assert_eq!(writers.iter().filter(|writer| **writer == index).count(), FILES, "deploy {index} uploads");
    }

    let last = *blocks.last().unwrap();
    assert_eq!(project.deployed(), expected(&clones[last]), "the bucket holds the last deploy's source ({last})");
    let marker: serde_json::Value =
        serde_json::from_slice(&project.bucket.objects()[".dagship/last-deploy.json"]).unwrap();
    assert_eq!(marker["commit"], clones[last].head(), "the marker names the last deploy");
    assert!(!project.bucket.keys().contains(&".dagship/lock.json".to_string()), "the lock is released");
    common::figure(&format!(
        "concurrency: {DEPLOYS} parallel deploys, {waited} waited for the lock, write blocks in order {blocks:?}"
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// The lock as a lease (issue 14 item 3). Cloud backends run through `FaultProxy::start_conditional`: moto checks
// If-Match and then writes in two steps on parallel threads, and gcp-storage-emulator ignores ifGenerationMatch,
// so the proxy makes conditional requests atomic and enforces GCS generations as the real services do (it
// enforces the preconditions dagship sends; one it did not send would go through and the period check below would
// catch the overlap). The proxy's log is the server's request order, with send and answer times.

use std::time::{Duration, Instant};

use common::buckets::Bucket;
use common::fault_proxy::{Fault, FaultProxy, Flavor, Logged, Rule};
use common::project::Project as LockProject;

const LOCK: &str = ".dagship/lock.json";
const MARKER: &str = ".dagship/last-deploy.json";

fn flavor(backend: Backend) -> Flavor {
    match backend {
        Backend::S3 => Flavor::S3,
        Backend::Gcs => Flavor::Gcs,
        Backend::Local => panic!("the local backend has no server to proxy"),
    }
}

/// Points a dagship command at the proxy instead of the emulator.
fn through(command: &mut std::process::Command, backend: Backend, proxy: Option<&FaultProxy>) {
    match (backend, proxy) {
        (Backend::S3, Some(proxy)) => command.env("AWS_ENDPOINT_URL_S3", &proxy.url),
        (Backend::Gcs, Some(proxy)) => command.env("STORAGE_EMULATOR_HOST", &proxy.url),
        _ => command,
    };
}

/// A logged request as the key it wrote and the bytes of the object it carried.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    key: String,
    status: u16,
    body: String,
    received: Duration,
    forwarded: Duration,
    answered: Duration,
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[index + 1..index + 3], 16).unwrap());
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The key (relative to the bucket's prefix) a logged request addressed, if it addressed one object.
fn key_of(entry: &Logged, bucket: &Bucket) -> Option<String> {
    let path = entry.target.split('?').next().unwrap();
    let name = match bucket.backend {
        Backend::S3 => path.strip_prefix(&format!("/{}/", bucket.name))?.to_string(),
        _ => match path.split_once("/o/") {
            Some((_, encoded)) => percent_decode(encoded),
            // A media upload names the object in the query, a multipart one in its metadata part.
            None if entry.target.contains("name=") => {
                let query = entry.target.split_once('?')?.1;
                query.split('&').find_map(|pair| pair.strip_prefix("name="))?.to_string()
            }
            None => {
                let body = entry.body_text();
                let start = body.find("\"name\":\"")? + 8;
                body[start..start + body[start..].find('"')?].to_string()
            }
        },
    };
    Some(percent_decode(&name).strip_prefix(&bucket.prefix)?.to_string())
}

fn requests(proxy: &FaultProxy, bucket: &Bucket) -> Vec<Request> {
    proxy
        .log()
        .into_iter()
        .filter_map(|entry| {
            Some(Request {
                key: key_of(&entry, bucket)?,
                method: entry.method.clone(),
                status: entry.status,
                body: entry.body_text(),
                received: entry.received,
                forwarded: entry.forwarded,
                answered: entry.answered,
            })
        })
        .collect()
}

/// The `"commit": "..."` a lock or marker body names (pretty or compact JSON).
fn commit_in(body: &str) -> Option<String> {
    let after_key = &body[body.find("\"commit\":")? + 9..];
    let value = after_key.trim_start().strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

/// Who held the lock when: from each successful lock write by a new holder (it may have been applied any time
/// between its send and its answer, so the previous period ends at the send and the new one starts at the
/// answer) to the next such write or a successful delete.
#[derive(Debug)]
struct Period {
    commit: String,
    start: Duration,
    end: Duration,
}

fn periods(requests: &[Request]) -> Vec<Period> {
    let mut periods: Vec<Period> = Vec::new();
    for request in requests.iter().filter(|request| request.key == LOCK && (200..300).contains(&request.status)) {
        let open = periods.last().is_some_and(|period| period.end == Duration::MAX);
        match request.method.as_str() {
            "DELETE" if open => periods.last_mut().unwrap().end = request.forwarded,
            "PUT" | "POST" => {
                let commit = commit_in(&request.body).expect("a lock body names its commit");
                if open && periods.last().unwrap().commit == commit {
                    continue; // a renewal
                }
                if open {
                    periods.last_mut().unwrap().end = request.forwarded;
                }
                periods.push(Period { commit, start: request.answered, end: Duration::MAX });
            }
            _ => {}
        }
    }
    periods
}

/// Every successful write other than the lock's falls inside one lock-holding period, and a write that names
/// its deploy (through `owner`) inside that deploy's own period.
fn assert_writes_inside_periods(requests: &[Request], owner: impl Fn(&Request) -> Option<String>) -> usize {
    let periods = periods(requests);
    let mut checked = 0;
    for request in requests.iter().filter(|request| {
        request.key != LOCK
            && request.method != "GET"
            && request.method != "HEAD"
            && (200..300).contains(&request.status)
    }) {
        let period = periods
            .iter()
            .find(|period| period.start <= request.forwarded && request.answered <= period.end)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} at {:?} is outside every lock period: {periods:?}",
                    request.method, request.key, request.forwarded
                )
            });
        if let Some(owner) = owner(request) {
            assert_eq!(
                owner, period.commit,
                "{} {} was written in another deploy's lock period",
                request.method, request.key
            );
        }
        checked += 1;
    }
    checked
}

/// A lock left by a deploy that died: it will never change again.
fn dead_lock() -> Vec<u8> {
    br#"{"id": "dead-deploy", "commit": "dead", "host": "gone-runner", "pid": 4242, "acquired_at": 0,
        "environment": "test", "ttl_seconds": 1, "renewal": 7, "renewed_at": 0}"#
        .to_vec()
}

fn racing_takers(backend: Backend) {
    const TAKERS: usize = 6;
    let files = if backend == Backend::Gcs { 8 } else { 20 };
    let project = LockProject::new(backend, "deploy:\n  lock_ttl: 3s\n  max_delete: 100%\n");
    let proxy = (backend != Backend::Local)
        .then(|| FaultProxy::start_conditional(project.bucket.endpoint.as_ref().unwrap(), flavor(backend)));
    let clones: Vec<Repo> = (0..TAKERS)
        .map(|index| {
            let clone = Repo::clone_from(&project.repo, &[]);
            for file in 0..files {
                clone.write(&format!("dags/source_{index}/dag_{file:03}.py"), &format!("# deploy {index}, {file}\n"));
            }
            clone.write("dags/shared.py", &format!("SOURCE = {index}\n"));
            clone.commit(&format!("source {index}"));
            clone
        })
        .collect();
    project.bucket.seed(LOCK, &dead_lock());

    let children: Vec<Child> = clones
        .iter()
        .map(|clone| {
            let mut command = dagship_command(clone.path());
            command.args(["deploy", "--env", "test", "--format", "json", "--concurrency", "4"]);
            project.bucket.configure(&mut command);
            through(&mut command, backend, proxy.as_ref());
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start dagship deploy")
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    for run in &runs {
        run.assert_code(0);
    }
    let takers: Vec<usize> =
        (0..TAKERS).filter(|index| !runs[*index].json()["took_over_lock_from"].is_null()).collect();
    assert_eq!(takers.len(), 1, "exactly one of {TAKERS} racers took over the stale lock: {takers:?}");
    assert_eq!(runs[takers[0]].json()["took_over_lock_from"]["pid"], 4242);
    let announced = runs.iter().filter(|run| run.stderr.contains("taking over the deploy lock")).count();
    assert_eq!(announced, 1, "one takeover announced");

    // The bucket holds exactly the source of the deploy its marker names.
    let marker: serde_json::Value = serde_json::from_slice(&project.bucket.objects()[MARKER]).unwrap();
    let last = clones.iter().position(|clone| marker["commit"] == clone.head()).expect("the marker names a racer");
    assert_eq!(project.deployed(), expected_with_plugins(&project, &clones[last]));
    assert!(!project.bucket.keys().contains(&LOCK.to_string()), "the last holder released the lock");

    if let Some(proxy) = &proxy {
        let requests = requests(proxy, &project.bucket);
        let commits: Vec<String> = clones.iter().map(Repo::head).collect();
        let owner = |request: &Request| -> Option<String> {
            if request.key == MARKER {
                return commit_in(&request.body);
            }
            let index: usize = request.key.strip_prefix("dags/source_")?.split('/').next()?.parse().ok()?;
            (request.method != "DELETE").then(|| commits[index].clone())
        };
        let checked = assert_writes_inside_periods(&requests, owner);
        let periods = periods(&requests);
        assert_eq!(periods.len(), TAKERS, "one lock period per deploy: {periods:?}");
        let conditional_takeovers = requests
            .iter()
            .filter(|request| request.key == LOCK && request.method != "GET" && request.status == 412)
            .count();
        common::figure(&format!(
            "{backend:?}: {TAKERS} racers on a stale lock: 1 took it over, {conditional_takeovers} lock writes \
             refused by their precondition (creates while held, losing takeovers), {checked} writes all inside \
             their deploy's lock period"
        ));
    }
}

/// What a bucket holds for a clone's source on this backend.
fn expected_with_plugins(project: &LockProject, repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    let mut files = expected(repo);
    if project.bucket.backend != Backend::S3 {
        for (relative, bytes) in read_tree(&repo.path().join("plugins")) {
            files.insert(format!("plugins/{relative}"), bytes);
        }
    }
    files
}

#[test]
fn racing_takers_of_a_stale_lock_on_s3_exactly_one_wins() {
    racing_takers(Backend::S3);
}

#[test]
fn racing_takers_of_a_stale_lock_on_gcs_exactly_one_wins() {
    racing_takers(Backend::Gcs);
}

#[test]
fn racing_takers_of_a_stale_lock_locally_exactly_one_wins() {
    racing_takers(Backend::Local);
}

/// A project whose deploy takes several TTLs. Through the proxy every request is delayed (50-450 ms) and one
/// runs at a time (`--concurrency 1`); locally there is no network to slow, so the deploy has many files.
fn slow_project(backend: Backend, files: usize) -> (LockProject, Option<FaultProxy>) {
    // 5,000 local files took 2.5 s on a quiet 2-core machine (under the 4 s this test needs): 15,000 keep the
    // deploy past its TTL with room to spare.
    let files = if backend == Backend::Local { files * 300 } else { files };
    let project = LockProject::new(backend, "deploy:\n  lock_ttl: 3s\n");
    for file in 0..files {
        project.repo.write(&format!("dags/slow/dag_{file:04}.py"), &format!("# {file}\n"));
    }
    project.repo.commit("slow");
    if backend == Backend::Local {
        return (project, None);
    }
    let proxy = FaultProxy::start_conditional(project.bucket.endpoint.as_ref().unwrap(), flavor(backend));
    proxy.set_kinds(&[Fault::Delay]);
    proxy.set_rate(1.0);
    (project, Some(proxy))
}

fn spawn_through(project: &LockProject, proxy: Option<&FaultProxy>, args: &[&str]) -> Child {
    let mut command = project.command(args);
    through(&mut command, project.bucket.backend, proxy);
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start dagship")
}

fn outlives_its_ttl(backend: Backend) {
    let (project, proxy) = slow_project(backend, if backend == Backend::Local { 50 } else { 30 });
    let started = Instant::now();
    let first =
        spawn_through(&project, proxy.as_ref(), &["deploy", "--env", "test", "--format", "json", "--concurrency", "1"]);
    wait_until("the first deploy's lock", Duration::from_secs(60), || {
        project.bucket.keys().contains(&LOCK.to_string())
    });
    // The waiter deploys another commit, so the server's log tells the two deploys apart.
    let other = Repo::clone_from(&project.repo, &[]);
    other.write("dags/waiter.py", "# the waiting deploy\n");
    let waiter_commit = other.commit("waiter");
    let mut command = dagship_command(other.path());
    command.args(["deploy", "--env", "test", "--format", "json"]);
    project.bucket.configure(&mut command);
    through(&mut command, backend, proxy.as_ref());
    let waiter = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the waiting deploy");
    let first = finish(first);
    let held = started.elapsed();
    let waiter = finish(waiter);
    first.assert_code(0);
    waiter.assert_code(0);
    assert!(held > Duration::from_secs(4), "the first deploy held its 3 s lock well past its TTL ({held:?})");
    assert!(first.json()["marker_written"] == true);
    assert!(waiter.stderr.contains("waiting for the deploy lock"), "{}", waiter.stderr);
    assert!(waiter.json()["took_over_lock_from"].is_null(), "a renewed lock is never taken over: {}", waiter.stderr);
    assert!(!waiter.stderr.contains("taking over"), "{}", waiter.stderr);
    assert_eq!(project.deployed(), expected_with_plugins(&project, &other), "the waiter deployed after the first");
    let Some(proxy) = proxy else {
        common::figure(&format!(
            "{backend:?}: a deploy held its 3s lock for {held:?}; the waiter did not take it over"
        ));
        return;
    };

    let requests = requests(&proxy, &project.bucket);
    let head = project.repo.head();
    let renewals = requests
        .iter()
        .filter(|request| request.key == LOCK && request.method != "GET" && request.status / 100 == 2)
        .filter(|request| commit_in(&request.body).as_deref() == Some(head.as_str()))
        .count();
    assert!(renewals >= 4, "the lock was renewed while the deploy ran: {renewals} lock writes");
    let checked = assert_writes_inside_periods(&requests, |request| match request.key.as_str() {
        MARKER => commit_in(&request.body),
        "dags/waiter.py" => Some(waiter_commit.clone()),
        key if key.starts_with("dags/slow/") && request.method != "DELETE" => Some(head.clone()),
        _ => None,
    });
    assert_eq!(periods(&requests).len(), 2, "two lock periods, one per deploy");
    common::figure(&format!(
        "{backend:?}: a deploy held its 3s lock for {held:?} with {renewals} lock writes; the waiter did not take it over; {checked} writes inside lock periods"
    ));
}

#[test]
fn a_deploy_that_outlives_its_ttl_keeps_its_lock_on_s3() {
    outlives_its_ttl(Backend::S3);
}

#[test]
fn a_deploy_that_outlives_its_ttl_keeps_its_lock_on_gcs() {
    outlives_its_ttl(Backend::Gcs);
}

#[test]
fn a_deploy_that_outlives_its_ttl_keeps_its_lock_locally() {
    outlives_its_ttl(Backend::Local);
}

fn stolen_lock_stops_the_deploy(backend: Backend) {
    let (project, proxy) = slow_project(backend, 40);
    let deploy =
        spawn_through(&project, proxy.as_ref(), &["deploy", "--env", "test", "--format", "json", "--concurrency", "1"]);
    wait_until("the deploy's first uploads", Duration::from_secs(60), || {
        project.bucket.keys().iter().filter(|key| key.starts_with("dags/slow/")).count() >= 3
    });
    let thief = br#"{"id": "thief", "commit": "thief", "host": "elsewhere", "pid": 1, "acquired_at": 0}"#;
    match &proxy {
        Some(proxy) => project.bucket.seed_through(&proxy.url, LOCK, thief),
        None => project.bucket.seed(LOCK, thief),
    }
    let run = finish(deploy);
    run.assert_code(4);
    assert!(run.stdout.is_empty(), "no report for a stopped deploy: {}", run.stdout);
    assert!(run.stderr.contains("lost the deploy lock of environment `test`"), "{}", run.stderr);
    assert!(run.stderr.contains("another deploy took it over") && run.stderr.contains("elsewhere"), "{}", run.stderr);
    assert!(run.stderr.contains("No marker was written"), "{}", run.stderr);
    let objects = project.bucket.objects();
    assert!(!objects.contains_key(MARKER), "no marker from a deploy that lost its lock");
    assert_eq!(objects[LOCK], thief.to_vec(), "the new holder's lock was left alone");
    let uploaded = objects.keys().filter(|key| key.starts_with("dags/slow/")).count();
    let files = project.expected().keys().filter(|key| key.starts_with("dags/slow/")).count();
    assert!(uploaded < files, "the deploy stopped part-way ({uploaded} of {files})");
    let Some(proxy) = proxy else {
        common::figure(&format!(
            "{backend:?}: lock stolen; the deploy stopped after {uploaded} of {files} uploads, exit 4, no marker"
        ));
        return;
    };

    // In the server's order: after the failed renewal (412) and the read that found the thief, the deploy sent
    // no write at all (`received`: when the proxy had the request, before its injected delay).
    let requests = requests(&proxy, &project.bucket);
    let head = project.repo.head();
    let refused = requests
        .iter()
        .position(|request| request.key == LOCK && request.status == 412)
        .expect("the deploy's renewal was refused by its precondition");
    // A versioned read is one GET on S3, and a metadata GET then a download of that generation on GCS.
    let reads_per_version = if backend == Backend::Gcs { 2 } else { 1 };
    let noticed = requests[refused..]
        .iter()
        .filter(|request| request.key == LOCK && request.method == "GET")
        .nth(reads_per_version - 1)
        .map_or(requests[refused].answered, |request| request.answered);
    let stolen_at = requests
        .iter()
        .find(|request| request.key == LOCK && commit_in(&request.body).as_deref() == Some("thief"))
        .unwrap()
        .answered;
    let late: Vec<&Request> = requests
        .iter()
        .filter(|request| request.key != LOCK && request.method != "GET" && request.method != "HEAD")
        // The deploy learns it a moment after the proxy answered (the answer's travel and parsing): 100 ms.
        .filter(|request| request.received > noticed + Duration::from_millis(100))
        .collect();
    assert!(late.is_empty(), "writes sent after the deploy knew it lost its lock: {late:?}");
    let in_between = requests
        .iter()
        .filter(|request| request.key.starts_with("dags/") && request.method != "GET")
        .filter(|request| request.received > stolen_at && request.received <= noticed)
        .count();
    assert!(commit_in(&String::from_utf8_lossy(&objects[LOCK])).as_deref() != Some(head.as_str()));
    common::figure(&format!(
        "{backend:?}: lock stolen after {uploaded} uploads; {in_between} write(s) were sent before the next renewal \
         noticed (renewal every 0.75 s), none after; exit 4, no marker"
    ));
}

#[test]
fn a_deploy_whose_lock_is_stolen_stops_before_its_next_write_on_s3() {
    stolen_lock_stops_the_deploy(Backend::S3);
}

#[test]
fn a_deploy_whose_lock_is_stolen_stops_before_its_next_write_on_gcs() {
    stolen_lock_stops_the_deploy(Backend::Gcs);
}

#[test]
fn a_deploy_whose_lock_is_stolen_stops_before_its_next_write_locally() {
    stolen_lock_stops_the_deploy(Backend::Local);
}

#[test]
fn unlock_refuses_a_live_lock_naming_its_holder_and_force_stops_that_deploy() {
    let (project, proxy) = slow_project(Backend::S3, 40);
    let deploy = spawn_through(&project, proxy.as_ref(), &["deploy", "--env", "test", "--concurrency", "1"]);
    wait_until("the deploy's lock", Duration::from_secs(60), || project.bucket.keys().contains(&LOCK.to_string()));
    let refused = project.run(&["unlock", "--env", "test"]);
    refused.assert_code(3);
    assert!(refused.stderr.contains("environment `test`") && refused.stderr.contains("is live"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&project.repo.head()[..12]), "names whose lock it is: {}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(project.bucket.keys().contains(&LOCK.to_string()), "the live lock stays");

    let forced = project.run(&["unlock", "--env", "test", "--force"]);
    forced.assert_code(0);
    assert!(forced.stdout.contains("removed the lock of environment `test`"), "{}", forced.stdout);
    let run = finish(deploy);
    run.assert_code(4);
    assert!(run.stderr.contains("it was removed"), "{}", run.stderr);
    assert!(!project.bucket.keys().contains(&MARKER.to_string()), "no marker");
}

/// A deploy uses the plan it made before taking the lock only when nothing dagship writes changed in between
/// (src/deploy/first_look.rs). Here another deploy runs whole while this one's lock request is held silent by the
/// proxy (after its plan, before its lock): it adds a file this commit does not have. Once this deploy holds the
/// lock it must see that deploy's marker and record, plan again, and delete the file; a deploy that went on with
/// its first plan would leave the file in the bucket under a marker naming a commit without it.
#[test]
fn a_deploy_that_finished_between_a_plan_and_its_lock_makes_the_plan_be_made_again() {
    let project = LockProject::new(Backend::S3, "deploy:\n  request_timeout: 4s\n  max_delete: 100%\n");
    project.deploy_json(&[]);
    let other = Repo::clone_from(&project.repo, &[]);
    other.write("dags/from_the_other_deploy.py", "# not in the first deploy's commit\n");
    other.commit("the other deploy's file");
    project.repo.write("dags/daily.py", "from operators.slack import notify  # v2\n");
    project.repo.commit("this deploy's change");

    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::S3, 0.0, 1, &[]);
    proxy.add_rule(Rule::once("PUT", LOCK, 1, Fault::StallBefore));
    let mut command = dagship_command(project.repo.path());
    command.args(["deploy", "--env", "test", "--format", "json"]);
    project.bucket.configure(&mut command);
    command.env("AWS_ENDPOINT_URL_S3", &proxy.url);
    let first = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start dagship deploy");
    wait_until("the first deploy asks for the lock", Duration::from_secs(60), || {
        proxy.writes().iter().any(|write| write.starts_with("PUT") && write.contains(LOCK))
    });

    let mut other_deploy = dagship_command(other.path());
    other_deploy.args(["deploy", "--env", "test", "--format", "json"]);
    project.bucket.configure(&mut other_deploy);
    common::run_command(&mut other_deploy).assert_code(0);
    assert!(project.bucket.keys().contains(&"dags/from_the_other_deploy.py".to_string()));

    let first = finish(first);
    first.assert_code(0);
    assert_eq!(first.json()["plan"]["summary"]["deletions"], 1, "{}", first.stdout);
    assert_eq!(project.deployed(), project.expected(), "the bucket holds the commit: {}", first.stderr);
    assert_eq!(project.marker_commit(), Some(project.repo.head()));
}

/// The other way round: nothing changed between the plan and the lock, so the deploy lists the bucket once.
#[test]
fn a_deploy_with_nothing_changed_since_its_plan_lists_the_bucket_once() {
    let project = LockProject::new(Backend::S3, "");
    project.deploy_json(&[]);
    project.repo.write("dags/daily.py", "from operators.slack import notify  # v2\n");
    project.repo.commit("a change");
    let proxy = FaultProxy::start(&project.bucket.endpoint.clone().unwrap(), Flavor::S3, 0.0, 1, &[]);
    project.deploy_through(&proxy, &[]).assert_code(0);
    let dags_listings = proxy
        .log()
        .iter()
        .filter(|entry| {
            entry.method == "GET" && entry.target.contains("list-type=2") && entry.target.contains("dags%2F")
        })
        .count();
    assert!(dags_listings >= 1, "{:#?}", proxy.log().iter().map(|entry| &entry.target).collect::<Vec<_>>());
    let before_lock = {
        let log = proxy.log();
        let lock_at = log.iter().position(|entry| entry.method == "PUT" && entry.target.contains(LOCK)).unwrap();
        log[..lock_at]
            .iter()
            .filter(|entry| entry.target.contains("list-type=2") && entry.target.contains("dags%2F"))
            .count()
    };
    assert_eq!(dags_listings, before_lock, "no listing of dags/ after the lock was taken");
    assert_eq!(project.deployed(), project.expected());
}
