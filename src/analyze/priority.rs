//! Priorities (SPEC section 1): P0 service down, P1 errors that keep happening while it is up,
//! P2 warnings, P3 notices. Severity alone does not decide: `Container called exit(1).` is a
//! WARNING that, repeated, means a restart loop.

use super::Cluster;
use super::cluster::Role;
use crate::config::{Priority, Thresholds};
use crate::model::{Severity, Window};

/// The priority of a root cause (its clusters, cause first) and the reasons for it.
pub fn prioritise(
    clusters: &[Cluster],
    thresholds: &Thresholds,
    window: &Window,
) -> (Priority, Vec<String>) {
    let mut reasons = Vec::new();
    let severity = clusters
        .iter()
        .map(|c| c.stats.severity())
        .max()
        .unwrap_or(Severity::Default);
    let failing = clusters
        .iter()
        .any(|c| matches!(c.role, Role::Cause(_) | Role::Symptom(_)));

    if failing && severity >= Severity::Critical {
        reasons.push(format!("logged at {severity}"));
        return (Priority::P0, reasons);
    }

    let down: u64 = clusters
        .iter()
        .filter(|c| matches!(c.role, Role::Symptom(k) if k.means_down()))
        .map(|c| c.stats.count)
        .sum();
    if down >= thresholds.restart_loop {
        reasons.push(format!(
            "{down} start-up failures and container exits in the window: the service cannot start (restart loop)"
        ));
        return (Priority::P0, reasons);
    }

    let window_minutes = (window.duration().num_seconds() as f64 / 60.0).max(1.0);
    for c in clusters {
        if let Role::Symptom(super::cluster::SymptomKind::HealthCheck) = c.role
            && c.stats.count >= thresholds.restart_loop
            && let (Some(first), Some(last)) = (c.stats.first_seen, c.stats.last_seen)
        {
            let span = ((last - first).num_seconds() as f64 / 60.0 + 1.0) / window_minutes;
            if span >= thresholds.health_check_span {
                reasons.push(format!(
                    "health checks failing over {:.0}% of the window",
                    (span * 100.0).min(100.0)
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
    let server_errors: u64 = clusters.iter().map(|c| c.stats.server_errors()).sum();
    if failing
        && (errors >= thresholds.repeated_errors || server_errors >= thresholds.repeated_errors)
    {
        reasons.push(format!(
            "{errors} errors in the window while the service keeps running"
        ));
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
