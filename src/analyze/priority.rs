//! Priorities (SPEC section 1) that follow the evidence: P0 when the service is down (its
//! start-ups keep failing while nothing else serves, health checks failing throughout) or an
//! entry of the root cause was logged at CRITICAL or above; P1 a failure that keeps happening
//! while the service keeps serving, however loud; P2 warnings and handled, retried errors that
//! never fail a request; P3 notices.

use super::Cluster;
use super::cluster::{Role, SymptomKind};
use super::correlate::CrashFacts;
use crate::config::{Priority, Thresholds};
use crate::model::{Severity, Window};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Words of an error that is retried, not given up on.
static RETRIED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:retry(?:ing)?|retries|will retry|retrying in|backing off|reconnecting|attempt \d+ of \d+)\b").unwrap()
});

/// The priority of a root cause (its clusters, cause first) and the reasons for it.
/// `served` counts the service's requests that went through, per minute.
pub fn prioritise(
    clusters: &[Cluster],
    crash: &CrashFacts,
    served: &BTreeMap<i64, u64>,
    thresholds: &Thresholds,
    window: &Window,
) -> (Priority, Vec<String>) {
    let mut reasons = Vec::new();
    let failing = clusters
        .iter()
        .any(|c| matches!(c.role, Role::Cause(_) | Role::Symptom(_)));
    // The severity field, never a word in the text: inferred severities stop at ERROR.
    let severity = clusters
        .iter()
        .map(|c| c.stats.severity())
        .max()
        .unwrap_or(Severity::Default);
    if failing && severity >= Severity::Critical {
        reasons.push(format!("an entry of it is logged at {severity}"));
        return (Priority::P0, reasons);
    }

    let window_minutes = (window.duration().num_seconds() as f64 / 60.0).max(1.0);
    let failed_requests: u64 = clusters.iter().map(|c| c.stats.server_errors()).sum();
    let crashes = if crash.crashed_attempts > 0 {
        crash.crashed_attempts
    } else {
        // No instances to tell attempts apart: count the exits and failed start-ups.
        clusters
            .iter()
            .filter(|c| matches!(c.role, Role::Symptom(k) if k.means_down()))
            .map(|c| c.stats.count)
            .max()
            .unwrap_or(0)
    };
    let span = crash_span(clusters, crash);
    let served_meanwhile = span.map_or(0, |(lo, hi)| served.range(lo..=hi).map(|(_, n)| n).sum());
    let failed_meanwhile = failed_requests;
    let keeps_serving = served_meanwhile > 0
        && served_meanwhile as f64 >= 0.5 * (served_meanwhile + failed_meanwhile) as f64;
    let revisions = clusters[0].stats.revisions.clone();

    if crashes >= thresholds.restart_loop {
        if keeps_serving {
            let revs: Vec<&str> = revisions.iter().map(String::as_str).collect();
            reasons.push(format!(
                "{crashes} instance{} crashed{}, but the service kept serving: {served_meanwhile} requests went through meanwhile, {failed_meanwhile} failed",
                if crashes == 1 { "" } else { "s" },
                if revs.is_empty() { String::new() } else { format!(" on revision {}", revs.join(", ")) },
            ));
            reasons.push(
                "not P0: a failure while the service keeps serving (a crash-looping new revision while Cloud Run keeps an older one serving, or instances replaced within seconds) is P1".to_string(),
            );
            return (Priority::P1, reasons);
        }
        reasons.push(format!(
            "{crashes} start-up attempt{} failed and no request went through meanwhile: the service is down (restart loop)",
            if crashes == 1 { "" } else { "s" }
        ));
        return (Priority::P0, reasons);
    }

    for c in clusters {
        if let Role::Symptom(SymptomKind::HealthCheck) = c.role
            && c.stats.count >= thresholds.restart_loop
            && let (Some(first), Some(last)) = (c.stats.first_seen, c.stats.last_seen)
        {
            let share = ((last - first).num_seconds() as f64 / 60.0 + 1.0) / window_minutes;
            let lo = first.timestamp().div_euclid(60);
            let hi = last.timestamp().div_euclid(60);
            let served_then: u64 = served.range(lo..=hi).map(|(_, n)| n).sum();
            if share >= thresholds.health_check_span && served_then == 0 {
                reasons.push(format!(
                    "health checks failing over {:.0}% of the window and no request went through: the service is down",
                    (share * 100.0).min(100.0)
                ));
                return (Priority::P0, reasons);
            }
        }
    }

    let errors: u64 = clusters
        .iter()
        .filter(|c| matches!(c.role, Role::Cause(_) | Role::Symptom(_)))
        .map(|c| {
            c.stats
                .by_severity
                .range(Severity::Error..)
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum();
    let head = &clusters[0];
    let handled = head.stats.handled * 2 > head.stats.count;
    let retried = head.stats.examples.iter().any(|e| RETRIED.is_match(e));
    if failing && (handled || retried) && failed_requests == 0 && crashes == 0 {
        reasons.push(format!(
            "{errors} error(s), {} and no request failed because of it",
            if handled {
                "handled by the library that reported it"
            } else {
                "retried"
            }
        ));
        return (Priority::P2, reasons);
    }
    if failing
        && (errors >= thresholds.repeated_errors || failed_requests >= thresholds.repeated_errors)
    {
        reasons.push(if failed_requests > 0 {
            format!("{failed_requests} failed requests and {errors} errors in the window while the service keeps running")
        } else {
            format!("{errors} errors in the window while the service keeps running")
        });
        if crashes > 0 {
            reasons.push(format!("{crashes} instance(s) crashed and were replaced"));
        }
        return (Priority::P1, reasons);
    }
    if severity >= Severity::Warning {
        if failing && errors > 0 {
            reasons.push(format!(
                "{errors} error(s), fewer than the {} that make it recurring",
                thresholds.repeated_errors
            ));
        } else {
            reasons.push(format!("highest severity {severity}"));
        }
        return (Priority::P2, reasons);
    }
    reasons.push(format!("highest severity {severity}"));
    (Priority::P3, reasons)
}

/// The minutes in which the root cause kept the service failing.
fn crash_span(clusters: &[Cluster], crash: &CrashFacts) -> Option<(i64, i64)> {
    if let (Some(lo), Some(hi)) = (crash.first_ns, crash.last_ns) {
        return Some((lo.div_euclid(60_000_000_000), hi.div_euclid(60_000_000_000)));
    }
    let lo = clusters.iter().filter_map(|c| c.stats.first_seen).min()?;
    let hi = clusters.iter().filter_map(|c| c.stats.last_seen).max()?;
    Some((lo.timestamp().div_euclid(60), hi.timestamp().div_euclid(60)))
}
