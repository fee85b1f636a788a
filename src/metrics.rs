//! Process-wide counters, exposed by `GET /metrics` in Prometheus' text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter with its Prometheus name and help text.
pub struct Counter {
    pub name: &'static str,
    pub help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Counter {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

pub static WEBHOOKS: Counter = Counter::new(
    "log_gardener_webhooks_total",
    "Webhook deliveries accepted (new deliveries only).",
);
pub static WEBHOOKS_REJECTED: Counter = Counter::new(
    "log_gardener_webhooks_rejected_total",
    "Webhook deliveries refused for a missing or bad signature.",
);
pub static JOBS_DONE: Counter = Counter::new("log_gardener_jobs_done_total", "Jobs that finished.");
pub static JOBS_RETRIED: Counter = Counter::new(
    "log_gardener_jobs_retried_total",
    "Job attempts that failed and will be tried again.",
);
pub static JOBS_FAILED: Counter = Counter::new(
    "log_gardener_jobs_failed_total",
    "Jobs that failed for good after their last attempt.",
);
pub static SWEEPS: Counter = Counter::new("log_gardener_sweeps_total", "Sweeps completed.");
pub static ENTRIES_READ: Counter = Counter::new(
    "log_gardener_entries_read_total",
    "Log entries read from Cloud Logging.",
);
pub static ISSUES_CREATED: Counter =
    Counter::new("log_gardener_issues_created_total", "Issues filed.");
pub static ISSUES_COMMENTED: Counter = Counter::new(
    "log_gardener_issues_commented_total",
    "Update comments written on tracked issues.",
);
pub static ISSUES_REOPENED: Counter = Counter::new(
    "log_gardener_issues_reopened_total",
    "Issues reopened as regressed.",
);
pub static ISSUES_RESOLVED: Counter = Counter::new(
    "log_gardener_issues_resolved_total",
    "Issues closed as completed after resolve_after without being seen.",
);
pub static GITHUB_ERRORS: Counter = Counter::new(
    "log_gardener_github_errors_total",
    "GitHub API calls that failed (before any retry).",
);
pub static GITHUB_RETRIES: Counter = Counter::new(
    "log_gardener_github_retries_total",
    "GitHub API calls retried (rate limits, 5xx on safe calls).",
);
pub static LOGGING_ERRORS: Counter = Counter::new(
    "log_gardener_cloud_logging_errors_total",
    "Cloud Logging calls that failed (before any retry).",
);
pub static LOGGING_RETRIES: Counter = Counter::new(
    "log_gardener_cloud_logging_retries_total",
    "Cloud Logging calls retried after 429 or 5xx.",
);

const ALL: [&Counter; 15] = [
    &WEBHOOKS,
    &WEBHOOKS_REJECTED,
    &JOBS_DONE,
    &JOBS_RETRIED,
    &JOBS_FAILED,
    &SWEEPS,
    &ENTRIES_READ,
    &ISSUES_CREATED,
    &ISSUES_COMMENTED,
    &ISSUES_REOPENED,
    &ISSUES_RESOLVED,
    &GITHUB_ERRORS,
    &GITHUB_RETRIES,
    &LOGGING_ERRORS,
    &LOGGING_RETRIES,
];

/// A gauge the caller measures: name, help, and (labels, value) series.
pub struct Gauge<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub series: Vec<(String, i64)>,
}

/// The counters, plus gauges the caller adds (jobs by status), in Prometheus' text format.
pub fn render(gauges: &[Gauge<'_>]) -> String {
    let mut out = String::new();
    for c in ALL {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} counter\n{} {}\n",
            c.name,
            c.help,
            c.name,
            c.name,
            c.get()
        ));
    }
    for Gauge { name, help, series } in gauges {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in series {
            if labels.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {value}\n"));
            }
        }
    }
    out
}
