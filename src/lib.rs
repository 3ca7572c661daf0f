//! dagship: CI/CD for repositories holding Airflow DAGs, a dbt project and Python job folders.
//!
//! The flow is a chain of plain functions on plain data (see DESIGN.md):
//! context -> detect -> matrix -> report. Each module owns one stage.
pub mod cancel;
pub mod child;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod dags;
pub mod dbt;
pub mod deploy;
pub mod detect;
pub mod error;
pub mod exit_code;
pub mod git;
pub mod github;
pub mod hash;
pub mod impact;
pub mod matrix;
pub mod platform;
pub mod redact;
pub mod report;
pub mod store;
