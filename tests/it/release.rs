//! The release scripts: the install script installs a binary only when it matches the release's SHA256SUMS, and
//! the release step pins action.yml and adapters/<name>/action.yml to the released images by digest.
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = "v1.2.3";

fn sha256(bytes: &[u8], dir: &Path) -> String {
    std::fs::write(dir.join("hash-me"), bytes).unwrap();
    let output = Command::new("sha256sum").arg(dir.join("hash-me")).output().unwrap();
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// A release folder as GitHub serves it (`<url>/<version>/<asset>`) for both Linux targets.
fn fake_release(dir: &Path, binary: &[u8], sums_for: &[u8]) -> String {
    let release = dir.join("releases").join(VERSION);
    std::fs::create_dir_all(&release).unwrap();
    let sum = sha256(sums_for, dir);
    let mut sums = String::new();
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        std::fs::write(release.join(format!("dagship-{target}")), binary).unwrap();
        sums.push_str(&format!("{sum}  dagship-{target}\n"));
    }
    std::fs::write(release.join("SHA256SUMS"), sums).unwrap();
    format!("file://{}", dir.join("releases").display())
}

fn install(dir: &Path, url: &str) -> std::process::Output {
    Command::new("sh")
        .arg(Path::new(ROOT).join("scripts/install.sh"))
        .arg(VERSION)
        .env("DAGSHIP_RELEASE_URL", url)
        .env("DAGSHIP_INSTALL_DIR", dir.join("bin"))
        .output()
        .unwrap()
}

#[test]
fn the_install_script_installs_a_binary_that_matches_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let binary = b"#!/bin/sh\necho dagship 1.2.3\n";
    let url = fake_release(dir.path(), binary, binary);
    let output = install(dir.path(), &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(dir.path().join("bin/dagship")).unwrap(), binary);
}

#[test]
fn the_install_script_refuses_a_binary_whose_checksum_differs_and_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = fake_release(dir.path(), b"tampered", b"the released bytes");
    let output = install(dir.path(), &url);
    assert!(!output.status.success(), "a mismatching binary must fail the install");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(!dir.path().join("bin/dagship").exists(), "nothing installed");
}

/// A copy of the files the release step reads and writes.
fn release_checkout(dir: &Path) {
    for file in ["action.yml", "release/adapters.txt", "scripts/release-action.sh", "scripts/install.sh"] {
        let target = dir.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(file), target).unwrap();
    }
}

fn release_action(dir: &Path, digests: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(dir.join("scripts/release-action.sh"))
        .args(["ghcr.io/octo/dagship", VERSION, "octo/dagship"])
        .arg(digests)
        .output()
        .unwrap()
}

#[test]
fn a_release_pins_every_action_file_to_its_adapter_image_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    release_checkout(dir.path());
    let digests = dir.path().join("digests");
    std::fs::create_dir(&digests).unwrap();
    let adapters = ["bigquery", "snowflake", "redshift", "databricks", "postgres", "duckdb"];
    for (index, adapter) in adapters.iter().enumerate() {
        std::fs::write(digests.join(adapter), format!("sha256:{}\n", format!("{index}").repeat(64))).unwrap();
    }
    let output = release_action(dir.path(), &digests);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let root_action = std::fs::read_to_string(dir.path().join("action.yml")).unwrap();
    assert!(root_action.contains(&format!("  image: docker://ghcr.io/octo/dagship@sha256:{}\n", "0".repeat(64))));
    assert!(!root_action.contains("image: Dockerfile"));
    let snowflake = std::fs::read_to_string(dir.path().join("adapters/snowflake/action.yml")).unwrap();
    assert!(snowflake.contains(&format!("  image: docker://ghcr.io/octo/dagship@sha256:{}\n", "1".repeat(64))));
    assert_eq!(std::fs::read_to_string(dir.path().join("VERSION")).unwrap(), "v1.2.3\n");
    let install = std::fs::read_to_string(dir.path().join("scripts/install.sh")).unwrap();
    assert!(install.contains("\ndefault_repository=octo/dagship\n"), "install.sh downloads from this repository");
}

#[test]
fn a_release_without_the_digest_of_an_adapter_image_stops_before_pinning_anything_wrong() {
    let dir = tempfile::tempdir().unwrap();
    release_checkout(dir.path());
    let digests = dir.path().join("digests");
    std::fs::create_dir(&digests).unwrap();
    std::fs::write(digests.join("bigquery"), format!("sha256:{}", "a".repeat(64))).unwrap();
    let output = release_action(dir.path(), &digests);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no digest for the snowflake image"));
    let root_action = std::fs::read_to_string(dir.path().join("action.yml")).unwrap();
    assert!(root_action.contains("image: Dockerfile"), "the root action is left as it was");
}
