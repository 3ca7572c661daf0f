//! A repository with DAGs, plugins and data that deploys to one test bucket, for the deploy tests.

use std::collections::BTreeMap;
use std::process::Command;

use super::buckets::{Backend, Bucket, read_tree};
use super::{Repo, Run, dagship_command, run_command};

/// A repository with DAGs, plugins and data, deploying to one bucket as environment `test`.
pub struct Project {
    pub repo: Repo,
    pub bucket: Bucket,
}

impl Project {
    pub fn new(backend: Backend, deploy_config: &str) -> Project {
        Project::with_bucket(Bucket::new(backend), deploy_config)
    }

    /// The same project deploying to `bucket`.
    pub fn with_bucket(bucket: Bucket, deploy_config: &str) -> Project {
        let backend = bucket.backend;
        let platform = backend.platform();
        let repo = Repo::new();
        // MWAA reads plugins only from the plugins.zip its `mwaa` step installs (tests/it/mwaa.rs): without that
        // step an MWAA environment takes no plugins folder.
        let plugins = if backend == Backend::S3 { "" } else { "plugins_dir: plugins\n" };
        let config = format!(
            "dags_dir: dags\n{plugins}data_dir: data\n\
             environments:\n  test: {{ platform: {platform}, bucket: \"{}\" }}\n{deploy_config}",
            bucket.url
        );
        repo.write("dagship.yml", &config)
            .write("dags/daily.py", "from operators.slack import notify\n")
            .write("dags/sql/report.sql", "select 1\n")
            .write("plugins/operators/slack.py", "def notify(): pass\n")
            .write("data/lookup.csv", "id,name\n1,a\n")
            .write("README.md", "# project\n");
        repo.commit("project");
        Project { repo, bucket }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = dagship_command(self.repo.path());
        command.args(args);
        self.bucket.configure(&mut command);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_command(&mut self.command(args))
    }

    pub fn deploy_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["deploy", "--env", "test", "--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        run.assert_code(0);
        run.json()
    }

    /// The deployed objects, without dagship's own `.dagship/` records.
    pub fn deployed(&self) -> BTreeMap<String, Vec<u8>> {
        self.bucket.objects().into_iter().filter(|(key, _)| !key.starts_with(".dagship/")).collect()
    }

    /// What the bucket should hold: every deployable file under its prefix. MWAA (the S3 backend's platform)
    /// reads plugins only from plugins.zip, so its bucket gets no `plugins/` mirror.
    pub fn expected(&self) -> BTreeMap<String, Vec<u8>> {
        let mut expected = BTreeMap::new();
        let mut folders = vec![("dags", "dags/"), ("data", "data/")];
        if self.bucket.backend != Backend::S3 {
            folders.push(("plugins", "plugins/"));
        }
        for (folder, prefix) in folders {
            for (relative, bytes) in read_tree(&self.repo.path().join(folder)) {
                expected.insert(format!("{prefix}{relative}"), bytes);
            }
        }
        expected
    }
}

pub fn summary(json: &serde_json::Value) -> (u64, u64, u64, u64) {
    let summary = &json["plan"]["summary"];
    let count = |name: &str| summary[name].as_u64().unwrap();
    (count("uploads"), count("replacements"), count("deletions"), count("unchanged"))
}
