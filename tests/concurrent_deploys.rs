//! N deploys of N different sources started at once against one environment (moto S3). moto's request
//! recorder gives the order in which the server received the writes: each deploy's uploads must form one
//! contiguous block (no two deploys ever write at the same time), and the bucket must end as exactly the source of
//! the deploy whose block came last, which is also the commit its marker names.
mod common;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};

use common::buckets::{Backend, block_on, read_tree};
use common::project::Project;
use common::{Repo, Run, dagship_command};

const DEPLOYS: usize = 6;
const FILES: usize = 40;

fn moto(path: &str, endpoint: &str) -> String {
    block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{endpoint}/moto-api/recorder/{path}");
        let response = if path == "download-recording" { client.get(url) } else { client.post(url) };
        let response = response.send().await.unwrap();
        assert!(response.status().is_success(), "moto recorder {path}: {}", response.status());
        response.text().await.unwrap()
    })
}

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
    let endpoint = project.bucket.endpoint.clone().unwrap();
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

    moto("reset-recording", &endpoint);
    moto("start-recording", &endpoint);
    let children: Vec<Child> = clones
        .iter()
        .map(|clone| {
            let mut command = dagship_command(clone.path());
            command.args(["deploy", "--env", "test", "--format", "json", "--concurrency", "4"]);
            project.bucket.configure(&mut command);
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start dagship deploy")
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .collect();
    let recording = moto("download-recording", &endpoint);
    moto("stop-recording", &endpoint);

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
    eprintln!(
        "concurrency: {DEPLOYS} parallel deploys, {waited} waited for the lock, write blocks in order {blocks:?}"
    );
}
