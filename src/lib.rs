//! log-gardener reads a Cloud Run service's recent logs, clusters them, works out which
//! clusters are one failure, and keeps exactly one GitHub issue per root cause.
//!
//! # One sweep
//!
//! [`sweep::run`] is the only place a sweep is put together, for `log-gardener sweep` and
//! for the App alike:
//!
//! ```text
//! read a window  ->  analyse  ->  plan against what is known  ->  apply (unless dry run)  ->  outcome
//! source/            analyze/     plan + sweep::Known             sweep -> report -> github    report/
//! ```
//!
//! - [`source`] reads entries (a file, Cloud Logging) into [`model::LogEntry`]; it knows
//!   nothing of the analysis.
//! - [`analyze`] is pure (no I/O, no clock): redact, join multi-line events, mine templates,
//!   cluster, correlate with evidence, prioritise.
//! - [`plan`] decides per root cause: file, comment, reopen, or nothing, and why.
//! - [`report`] renders every text people read (worklog, issue title, body and comments,
//!   JSON result); [`marker`] ties them to their root cause.
//! - [`github`] sends those texts; [`store`] remembers what issues cannot say.
//! - [`cli`] and [`server`] decide the window and the source, call [`sweep::run`], and print
//!   or post its outcome. [`error`] tells the asker's mistakes from failures, in one place.
//!
//! Each module imports only those listed before it (and `model`, `config`, `error`,
//! `codeowners`, which import nothing of the rest): the arrows run one way, with no circle.

pub mod analyze;
pub mod cli;
pub mod codeowners;
pub mod config;
pub mod error;
pub mod github;
pub mod logging;
pub mod marker;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod report;
pub mod server;
pub mod source;
pub mod store;
pub mod sweep;
