//! dagship: CI/CD for repositories holding Airflow DAGs, a dbt project and Python job folders.
//!
//! The code is layered as docs/architecture.md describes (the flow as folders, and what each floor may import):
//! `cli` parses; `commands` adapt arguments into domain requests; `flow` runs the stages the CLI and `ci` share
//! (detect -> plan/deploy -> verify, compile); the engines (`detect`, `deploy`, `store`, `dbt`, `dags`,
//! `config`, `platform`, `git`) do the work; `github` and `report` are the edges; the leaves (`notice`,
//! `error_kind`, `exit_code`, `output_keys`, `hash`, `random`, `glob`, `change_status`, `redact`) import nothing
//! above them. `scripts/arch-check.py` checks the import rules.
pub mod cancel;
pub mod change_status;
pub mod child;
pub mod cli;
pub mod cli_help;
pub mod commands;
pub mod config;
pub mod dags;
pub mod dbt;
pub mod deploy;
pub mod detect;
pub mod doctor;
pub mod error;
pub mod error_kind;
pub mod exit_code;
pub mod flow;
pub mod git;
pub mod github;
pub mod glob;
pub mod hash;
pub mod impact;
pub mod init;
pub mod malloc_arenas;
pub mod notice;
pub mod output_keys;
pub mod platform;
pub mod plural;
pub mod progress;
pub mod random;
pub mod redact;
pub mod report;
pub mod store;
pub mod style;
pub mod verbose;
pub mod workspace;
