//! Everything specific to running inside GitHub Actions: workflow commands, `$GITHUB_OUTPUT`,
//! `$GITHUB_STEP_SUMMARY`. The core never calls these; `commands` does, at the edge.
pub mod api;
pub mod comment;
pub mod container;
pub mod edges;
pub mod event;
pub mod event_rules;
pub mod output;
