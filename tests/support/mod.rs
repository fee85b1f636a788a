pub mod fake_github;
pub mod fake_logging;
pub mod harness;
pub mod loghub;
pub mod pg;
pub mod proxy;
pub mod webhooks;
