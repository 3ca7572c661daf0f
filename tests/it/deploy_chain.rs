//! Deploy chains: a push to a branch deploys every environment mapped to it, each after the environments its
//! `after` names, and stops at the first failure.
use crate::common;

use common::{Repo, run_dagship};

fn chain_repo(dev_bucket: &str, prod_bucket: &str) -> Repo {
    let repo = Repo::new();
    let config = format!(
        "dags_dir: dags\nenvironments:\n  \
         prod: {{ platform: local, bucket: \"file://{prod_bucket}\", branches: [production], after: dev }}\n  \
         dev: {{ platform: local, bucket: \"file://{dev_bucket}\" }}\n  \
         stg: {{ platform: local, bucket: \"file://{dev_bucket}-stg\", branches: [main] }}\n"
    );
    repo.write("dagship.yml", &config).write("dags/daily.py", "# a DAG\n");
    repo.commit("project");
    repo
}

#[test]
fn a_branch_deploys_its_chain_in_after_order() {
    let buckets = tempfile::tempdir().unwrap();
    let (dev, prod) = (buckets.path().join("dev"), buckets.path().join("prod"));
    let repo = chain_repo(dev.to_str().unwrap(), prod.to_str().unwrap());
    let run = run_dagship(repo.path(), &["deploy", "--branch", "production", "--format", "json"]);
    run.assert_code(0);
    let reports = run.json();
    let order: Vec<&str> =
        reports.as_array().unwrap().iter().map(|report| report["environment"].as_str().unwrap()).collect();
    assert_eq!(order, ["dev", "prod"], "dev (named by prod's `after`) first; stg is not on this branch");
    assert!(dev.join("dags/daily.py").is_file() && prod.join("dags/daily.py").is_file());
    assert!(!buckets.path().join("dev-stg").exists());
}

#[test]
fn a_failed_deploy_stops_the_chain() {
    let buckets = tempfile::tempdir().unwrap();
    // dev's bucket path is a regular file: every write to it fails.
    let dev = buckets.path().join("dev");
    std::fs::write(&dev, "not a folder").unwrap();
    let prod = buckets.path().join("prod");
    let repo = chain_repo(dev.to_str().unwrap(), prod.to_str().unwrap());
    let run = run_dagship(repo.path(), &["deploy", "--branch", "production"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("the deploy to dev failed: not deploying prod after it"), "{}", run.stderr);
    assert!(!prod.exists(), "prod untouched");
}

#[test]
fn a_branch_no_environment_deploys_from_is_a_usage_error() {
    let buckets = tempfile::tempdir().unwrap();
    let repo = chain_repo(buckets.path().join("d").to_str().unwrap(), buckets.path().join("p").to_str().unwrap());
    let run = run_dagship(repo.path(), &["deploy", "--branch", "feature/x"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no environment deploys from branch `feature/x`"), "{}", run.stderr);
}
