//! log-gardener reads a Cloud Run service's recent logs, clusters them, works out which
//! clusters are one failure, and keeps exactly one GitHub issue per root cause.
//!
//! The pipeline (SPEC section 1) and where each step lives:
//!
//! ```text
//! source -> entries -> redact -> cluster -> correlate -> prioritise -> plan -> apply -> report
//! source/    model      analyze/ (pure: no I/O, no clock)             plan   github/  report/
//! ```
//!
//! `analyze` and `plan` are plain functions over plain data; the CLI, the dry run and the
//! server all call them the same way. Everything that talks to the world (files, Cloud
//! Logging, GitHub, the database, HTTP) is an adapter around them.

pub mod analyze;
pub mod cli;
pub mod config;
pub mod github;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod report;
pub mod server;
pub mod source;
pub mod store;
