//! The integration tests, in one test binary: one link of the AWS, Google and GitHub clients instead of one per
//! file, and one `cargo test --test it` for all. Each module is one topic (its old test file); `common` holds the
//! helpers they share (git repositories, the dagship runner, buckets on the emulators, the GitHub wiremock).
//! The tests run on parallel threads of one process: none may change the process (its environment, current
//! directory, signal handlers); each passes what it needs to the child `Command` instead.
//! Run one topic with `cargo test --test it deploy::`.

#[macro_use]
mod common;

mod bad_input;
mod ci_flow;
mod comment_pictures;
mod concurrent_deploys;
mod container;
mod crash_recovery;
mod credential_errors;
mod dags;
mod dags_before_deploy;
mod dags_requirements;
mod dbt;
mod deploy;
mod deploy_chain;
mod deploy_reliability;
mod detect_output;
mod detect_ranges;
mod doctor;
mod examples;
mod fault_injection;
mod help;
mod history;
mod history_settings;
mod history_versions;
mod hostile_input;
mod impact;
mod init;
mod mwaa;
mod output_style;
mod properties;
mod release;
mod request_timeouts;
mod resync;
mod secrets;
mod show_then_act;
mod store_conformance;
mod strict_config;
mod verify;
