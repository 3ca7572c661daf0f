//! SIGKILL at random (seeded) points of a deploy, 20 times, with the source changing between kills. After each
//! kill a plain deploy must converge to the exact source (compared file by file with the bucket directory, not
//! through dagship's plan), taking over the dead deploy's lock. While each deploy runs, a watcher checks the
//! phase invariant on the bucket: a new version's DAGs never exist before all of that version's data and
//! plugins, and an old version's plugins are never deleted while its DAGs remain.
use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::buckets::{Backend, read_tree};
use common::project::Project;
use common::run_command;

const KILLS: usize = 20;
const FILES_PER_PHASE: usize = 60;

/// The local backend writes `.dagship/partial/.<name>.dagship-partial-<hex>` and renames it into place; a killed
/// deploy can leave one there (counted), never among the objects.
const PARTIAL: &str = ".dagship-partial-";

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Version `v` of the source: data and plugins under `v{v}/`, DAGs under `dags/v{v}/` that import them. The
/// previous version's files are removed, so every deploy uploads a version and deletes the one before.
fn write_version(project: &Project, version: usize) {
    let root = project.repo.path();
    for folder in ["data", "plugins", "dags"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && path.file_name().unwrap().to_string_lossy().starts_with('v') {
                std::fs::remove_dir_all(path).unwrap();
            }
        }
    }
    for index in 0..FILES_PER_PHASE {
        let filler = "# padding\n".repeat(50 + index);
        project.repo.write(&format!("data/v{version}/table_{index:03}.csv"), &format!("id\n{version}{index}\n"));
        project
            .repo
            .write(&format!("plugins/v{version}/operator_{index:03}.py"), &format!("VERSION = {version}\n{filler}"));
        project.repo.write(
            &format!("dags/v{version}/dag_{index:03}.py"),
            &format!("from v{version}.operator_{index:03} import VERSION  # reads data/v{version}\n{filler}"),
        );
    }
    project.repo.commit(&format!("version {version}"));
}

/// The file names in the bucket directory.
fn bucket_keys(root: &Path) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                keys.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    keys
}

/// Every file in the bucket directory but dagship's own records, path -> bytes.
fn deployed_objects(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    read_tree(root).into_iter().filter(|(key, _)| !key.starts_with(".dagship/")).collect()
}

/// Which keys differ between the bucket and the source, for a readable failure.
fn difference(
    bucket: &std::collections::BTreeMap<String, Vec<u8>>,
    source: &std::collections::BTreeMap<String, Vec<u8>>,
) -> String {
    let missing: Vec<&String> = source.keys().filter(|key| !bucket.contains_key(*key)).collect();
    let extra: Vec<&String> = bucket.keys().filter(|key| !source.contains_key(*key)).collect();
    let changed: Vec<&String> =
        source.keys().filter(|key| bucket.get(*key).is_some_and(|b| b != &source[*key])).collect();
    format!("missing {missing:?}, extra {extra:?}, different {changed:?}")
}

fn expected_keys(version: usize, phase: &str) -> Vec<String> {
    let (prefix, extension) = match phase {
        "data" => ("data", "table_{i}.csv"),
        "plugins" => ("plugins", "operator_{i}.py"),
        _ => ("dags", "dag_{i}.py"),
    };
    (0..FILES_PER_PHASE)
        .map(|index| format!("{prefix}/v{version}/{}", extension.replace("{i}", &format!("{index:03}"))))
        .collect()
}

/// The keys under the given folders of the bucket, read folder after folder in the order given.
fn keys_in_order(root: &Path, folders: &[String]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for folder in folders {
        for key in bucket_keys(&root.join(folder)) {
            keys.insert(format!("{folder}/{key}"));
        }
    }
    keys
}

/// The phase-order invariant, for a deploy from version `version - 1` to `version`; a violation as text.
/// A directory walk is no snapshot, so each half reads the side that changes later first: new DAGs before their
/// data and plugins (a DAG seen first proves its dependencies were complete by then), old plugins before old
/// DAGs (a plugin missing first, then a DAG still there, means both held at the first read).
fn phase_violation(root: &Path, version: usize) -> Option<String> {
    let new = |folder: &str| format!("{folder}/v{version}");
    let keys = keys_in_order(root, &[new("dags"), new("data"), new("plugins")]);
    if keys.iter().any(|key| key.starts_with(&format!("dags/v{version}/"))) {
        for phase in ["data", "plugins"] {
            if let Some(missing) = expected_keys(version, phase).into_iter().find(|key| !keys.contains(key)) {
                return Some(format!("a v{version} DAG exists while {missing} does not"));
            }
        }
    }
    if version > 0 {
        let old = |folder: &str| format!("{folder}/v{}", version - 1);
        let keys = keys_in_order(root, &[old("plugins"), old("dags")]);
        let old_dags = keys.iter().any(|key| key.starts_with(&format!("dags/v{}/", version - 1)));
        if old_dags
            && let Some(missing) = expected_keys(version - 1, "plugins").into_iter().find(|key| !keys.contains(key))
        {
            return Some(format!("a v{} DAG remains while its plugin {missing} is deleted", version - 1));
        }
    }
    None
}

/// Watches the bucket while `child` runs, recording phase-order violations.
/// Returns how many times it read the bucket.
fn watch(root: &Path, version: usize, running: Arc<AtomicBool>, violations: Arc<Mutex<Vec<String>>>) -> usize {
    let mut reads = 0;
    while running.load(Ordering::SeqCst) {
        if let Some(violation) = phase_violation(root, version) {
            violations.lock().unwrap().push(violation);
        }
        reads += 1;
    }
    reads
}

/// A deploy whose file-backend writes are appended to `journal` as they start.
fn spawn_deploy(project: &Project, journal: &Path) -> Child {
    let mut command = project.command(&["deploy", "--env", "test", "--format", "json", "--concurrency", "2"]);
    command.env("DAGSHIP_FILE_JOURNAL", journal).stdout(Stdio::null()).stderr(Stdio::null());
    command.spawn().expect("start dagship deploy")
}

#[test]
fn twenty_kills_at_random_points_each_repaired_by_the_next_deploy() {
    let project = Project::new(Backend::Local, "deploy:\n  lock_ttl: 2s\n  max_delete: 100%\n");
    let root = project.bucket.dir();
    write_version(&project, 0);
    // The first deploy also counts the writes one makes, to spread the kills over them (aimed by the file
    // backend's journal, not by the clock, so the machine's load does not move them out of the writes).
    let journal = project.repo.path().parent().unwrap().join(format!("kill-journal-{}", std::process::id()));
    let mut child = spawn_deploy(&project, &journal);
    assert!(child.wait().unwrap().success(), "the first deploy succeeds");
    let first_writes = journal_writes(&journal);
    assert_eq!(project.deployed(), project.expected());

    let mut rng = XorShift(0x00c0_ffee_d00d);
    let violations = Arc::new(Mutex::new(Vec::new()));
    let (mut interrupted, mut takeovers, mut partials, mut reads) = (0, 0, 0, 0);
    for version in 1..=KILLS {
        write_version(&project, version);
        let running = Arc::new(AtomicBool::new(true));
        let watcher = {
            let (root, running, violations) = (root.clone(), running.clone(), violations.clone());
            std::thread::spawn(move || watch(&root, version, running, violations))
        };
        let _ = std::fs::remove_file(&journal);
        let mut child = spawn_deploy(&project, &journal);
        // Kills land after a random number of started writes (a deploy of a new version writes about twice what
        // the first did: uploads, then deletions); before the first write a kill leaves nothing to repair.
        let aim = 1 + rng.below(2 * first_writes as u64) as usize;
        let mut finished = None;
        while journal_writes(&journal) < aim && finished.is_none() {
            finished = child.try_wait().unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished.is_none() {
            child.kill().unwrap(); // SIGKILL
        }
        let status = match finished {
            Some(status) => status,
            None => child.wait().unwrap(),
        };
        running.store(false, Ordering::SeqCst);
        reads += watcher.join().unwrap();
        if let Some(violation) = phase_violation(&root, version) {
            violations.lock().unwrap().push(format!("at the kill point: {violation}"));
        }
        let lock_left = root.join(".dagship/lock.json").exists();
        if !status.success() && (lock_left || deployed_objects(&root) != project.expected()) {
            interrupted += 1;
        }
        let files = read_tree(&root);
        let stray: Vec<&String> =
            files.keys().filter(|key| key.contains(PARTIAL) && !key.starts_with(".dagship/partial/")).collect();
        assert!(stray.is_empty(), "kill {version}: partial files among the objects: {stray:?}");
        partials += files.keys().filter(|key| key.contains(PARTIAL)).count();

        let run = run_command(&mut project.command(&["deploy", "--env", "test", "--format", "json"]));
        run.assert_code(0);
        if lock_left {
            assert!(run.stderr.contains("taking over the deploy lock"), "kill {version}: {}", run.stderr);
            assert!(run.json()["took_over_lock_from"]["pid"].as_u64().is_some());
            takeovers += 1;
        }
        let (bucket, source) = (deployed_objects(&root), project.expected());
        assert!(
            bucket == source,
            "kill {version} (after write {aim}): the bucket differs: {}",
            difference(&bucket, &source)
        );
        assert!(!root.join(".dagship/lock.json").exists(), "kill {version}: the lock is released");
        let marker: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(".dagship/last-deploy.json")).unwrap()).unwrap();
        assert_eq!(marker["commit"], project.repo.head(), "kill {version}: the marker names the source");
    }
    let violations = violations.lock().unwrap();
    assert!(violations.is_empty(), "phase order broken: {violations:?}");
    eprintln!(
        "crash recovery: {KILLS} kills (the first deploy makes {first_writes} writes), {interrupted} interrupted a deploy, \
         {takeovers} stale locks taken over, {partials} partial files left in .dagship/partial, all {KILLS} converged; the phase watcher read the \
         bucket {reads} times"
    );
    assert!(reads >= KILLS, "the watcher read the bucket during the deploys");
    assert!(interrupted >= KILLS / 2, "most kills land inside a deploy: {interrupted} of {KILLS}");
    assert!(takeovers >= KILLS / 4, "kills leave locks that are taken over: {takeovers} of {KILLS}");
}

/// How many writes the file backend's journal has recorded (0 before the first).
fn journal_writes(journal: &Path) -> usize {
    std::fs::read_to_string(journal).map_or(0, |text| text.lines().count())
}

fn marker_commit(root: &Path) -> Option<String> {
    let bytes = std::fs::read(root.join(".dagship/last-deploy.json")).ok()?;
    let marker: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    marker["commit"].as_str().map(str::to_string)
}

/// GitHub cancels a job with SIGINT (then SIGTERM, then SIGKILL). SIGINT at random points of 10 deploys, with the
/// default lock settings: each exits promptly with 0 (done) or 130 (cancelled), leaves no lock behind, and its
/// marker tells the truth (it names the new commit only when the bucket holds all of it); the next deploy
/// completes the work without taking over anything.
#[test]
fn sigint_at_random_points_releases_the_lock_and_writes_no_false_marker() {
    const SIGNALS: usize = 10;
    let project = Project::new(Backend::Local, "deploy:\n  max_delete: 100%\n");
    let root = project.bucket.dir();
    write_version(&project, 0);
    // The signals are aimed by the writes a deploy has started (the file backend's journal), not by the clock: a
    // deploy of a new version writes about twice what the first one does (uploads, then deletions).
    let journal = project.repo.path().parent().unwrap().join(format!("journal-{}", std::process::id()));
    let mut first = project.command(&["deploy", "--env", "test", "--concurrency", "2"]);
    first.env("DAGSHIP_FILE_JOURNAL", &journal);
    run_command(&mut first).assert_code(0);
    let first_writes = journal_writes(&journal);
    assert!(first_writes > FILES_PER_PHASE, "the journal records the first deploy's writes: {first_writes}");

    let mut rng = XorShift(0x5eed_1a7e);
    let mut cancelled_inside = 0;
    for version in 1..=SIGNALS {
        let previous = project.repo.head();
        write_version(&project, version);
        let _ = std::fs::remove_file(&journal);
        let mut command = project.command(&["deploy", "--env", "test", "--concurrency", "2"]);
        command.env("DAGSHIP_FILE_JOURNAL", &journal);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start dagship deploy");
        // Drained as it comes, so a full pipe cannot stall the deploy while the loop below waits for its writes.
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stderr_pipe, &mut text).unwrap();
            text
        });
        // One signal in four before any write (start-up, planning); the rest after a random number of writes.
        let aim = if rng.below(4) == 0 { 0 } else { 1 + rng.below(2 * first_writes as u64) as usize };
        let mut finished = None;
        while journal_writes(&journal) < aim {
            finished = child.try_wait().unwrap();
            if finished.is_some() {
                break; // aimed past the deploy's last write: it finished before the signal
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let signalled = Instant::now();
        if finished.is_none() {
            let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
            assert!(kill.success(), "kill -INT");
        }
        let status = match finished {
            Some(status) => status,
            None => child.wait().unwrap(),
        };
        let stderr = stderr_reader.join().unwrap();
        assert!(signalled.elapsed() < Duration::from_secs(10), "signal {version}: the deploy stops promptly");
        // 0: done before the signal; 130: cancelled; killed by the signal itself: it came before dagship's
        // handler was installed (process start, reading the config), before anything could be written.
        let code = status.code();
        let died_of_sigint = std::os::unix::process::ExitStatusExt::signal(&status) == Some(2);
        assert!(matches!(code, Some(0) | Some(130)) || died_of_sigint, "signal {version}: exit {code:?}\n{stderr}");
        assert!(!root.join(".dagship/lock.json").exists(), "signal {version}: the lock is released\n{stderr}");
        let marker = marker_commit(&root);
        if marker.as_deref() == Some(project.repo.head().as_str()) {
            assert!(deployed_objects(&root) == project.expected(), "signal {version}: a marker for a partial deploy");
        } else {
            assert_eq!(marker.as_deref(), Some(previous.as_str()), "signal {version}: {stderr}");
        }
        if stderr.contains("cancelling the deploy") {
            cancelled_inside += 1;
            assert_eq!(code, Some(130), "signal {version}: {stderr}");
        }

        // A short lock timeout: a lock left behind would fail here rather than wait for its TTL.
        let run = run_command(&mut project.command(&["deploy", "--env", "test", "--lock-timeout", "5s"]));
        run.assert_code(0);
        assert!(!run.stderr.contains("taking over"), "signal {version}: {}", run.stderr);
        assert!(deployed_objects(&root) == project.expected(), "signal {version}: the next deploy converges");
        assert_eq!(marker_commit(&root).as_deref(), Some(project.repo.head().as_str()));
    }
    eprintln!("cancellation: {SIGNALS} SIGINTs, {cancelled_inside} landed inside a deploy's writes");
    assert!(cancelled_inside >= 2, "the signals exercise a cancellation mid-deploy: {cancelled_inside}");
}
