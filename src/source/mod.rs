//! Where entries come from: log files, and Cloud Logging through Google's official client.

pub mod file;
pub mod logentry;
pub mod logfile;

pub use file::{Format, Malformed, ReadSummary, read_entries};
pub use logentry::entry_from_json;
pub mod cloud;
