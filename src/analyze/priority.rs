//! Priorities (SPEC section 1) that follow the evidence: P0 when the service is down (its
//! start-ups keep failing while nothing else serves, health checks failing throughout) or an
//! entry of the root cause was logged at CRITICAL or above; P1 a failure that keeps happening
//! while the service keeps serving, however loud; P2 warnings and handled, retried errors that
//! never fail a request; P3 notices.

use super::Cluster;
use super::cluster::{Role, SymptomKind};
use super::correlate::CrashFacts;
use super::episodes::Traffic;
use crate::config::{Priority, Thresholds};
use crate::model::{Severity, Window};
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// Words of an error that is retried, not given up on.
static RETRIED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:retry(?:ing)?|retries|will retry|retrying in|backing off|reconnecting|attempt \d+ of \d+|trying again|will try again)\b").unwrap()
});

/// A client that cannot reach what it connects to: the kind of error a reconnecting client
/// logs at every attempt.
static UNREACHABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|connection refused|connection reset|(?:could not|cannot|can't|unable to|failed to) (?:connect|reach|resolve)|name or service not known|no route to host|network is unreachable)\b").unwrap()
});

/// Errors all logged within this many seconds are one burst.
const BURST_SECONDS: i64 = 10;

/// The priority of a root cause (its clusters, cause first) and the reasons for it.
/// `traffic` says what the service served meanwhile.
pub fn prioritise(
    clusters: &[Cluster],
    crash: &CrashFacts,
    traffic: &Traffic,
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
    let service = clusters[0].stats.service.as_str();
    let empty = BTreeMap::new();
    let served = traffic.by_minute.get(service).unwrap_or(&empty);
    let failed_requests: u64 = clusters.iter().map(|c| c.stats.server_errors()).sum();
    // Without instances to tell attempts apart, the exits and failed start-ups are counted.
    let (crashes, startup_failures) = if crash.crashed_attempts > 0 {
        (crash.crashed_attempts, crash.startup_failures)
    } else {
        let n = clusters
            .iter()
            .filter(|c| matches!(c.role, Role::Symptom(k) if k.means_down()))
            .map(|c| c.stats.count)
            .max()
            .unwrap_or(0);
        (n, n)
    };
    let span = crash_span(clusters, crash);
    let served_meanwhile: u64 =
        span.map_or(0, |(lo, hi)| served.range(lo..=hi).map(|(_, n)| n).sum());
    let keeps_serving = served_meanwhile > 0
        && served_meanwhile as f64 >= 0.5 * (served_meanwhile + failed_requests) as f64;
    // The revisions whose start-ups fail, and whether they are the ones that serve.
    let failing_revisions: Vec<&str> = clusters[0]
        .stats
        .revisions
        .iter()
        .map(String::as_str)
        .collect();
    let by_revision = traffic.by_revision.get(service);
    let failing_serves = failing_revisions
        .iter()
        .any(|r| by_revision.is_some_and(|m| m.get(*r).is_some_and(|n| *n > 0)));
    let serving_others: Vec<&str> = by_revision
        .map(|m| {
            m.iter()
                .filter(|(r, n)| **n > 0 && !failing_revisions.contains(&r.as_str()))
                .map(|(r, _)| r.as_str())
                .collect()
        })
        .unwrap_or_default();
    let is_job = traffic.jobs.contains(service);

    // A worker serves no requests: whether it is down is whether its work goes on.
    let worker = traffic.serves_no_requests(service) && !is_job;
    let work = if worker {
        traffic.work_minutes(service)
    } else {
        BTreeMap::new()
    };
    let worked = span.map_or(0, |(lo, hi)| work.range(lo..=hi).count() as i64);
    // Instances lost after they had worked, not start-ups that failed.
    let lost = crashes.saturating_sub(startup_failures);
    if let Some((lo, hi)) = span
        && worked * 2 > hi - lo
        && lost >= thresholds.restart_loop
        && startup_failures < thresholds.restart_loop
    {
        reasons.push(format!(
            "{lost} instance{} of this worker {} lost and replaced while its work went on (lines of its work in {worked} of those {} minutes)",
            plural(lost),
            if lost == 1 { "was" } else { "were" },
            hi - lo + 1
        ));
        reasons.push("not P0: loud is not down".to_string());
        return (Priority::P1, reasons);
    }
    if crashes >= thresholds.restart_loop && is_job {
        reasons.push(format!(
            "{crashes} task attempt{} of the job failed; a job serves no traffic, so nothing is down",
            plural(crashes)
        ));
        return (Priority::P1, reasons);
    }
    if startup_failures >= thresholds.restart_loop {
        if failing_serves || !keeps_serving {
            reasons.push(if failing_serves {
                format!(
                    "{startup_failures} start-up{} failed on {}, the revision that serves traffic: it cannot start new instances",
                    plural(startup_failures),
                    failing_revisions.join(", ")
                )
            } else {
                format!(
                    "{startup_failures} start-up{} failed and {}: the service is down (restart loop)",
                    plural(startup_failures),
                    if served_meanwhile == 0 {
                        format!("no request went through meanwhile ({failed_requests} failed)")
                    } else {
                        format!("almost nothing was served meanwhile ({served_meanwhile} requests went through, {failed_requests} failed)")
                    }
                )
            });
            return (Priority::P0, reasons);
        }
        reasons.push(format!(
            "{startup_failures} start-up{} of {} failed while Cloud Run kept {} serving ({served_meanwhile} requests went through meanwhile)",
            plural(startup_failures),
            if failing_revisions.is_empty() { "a revision".to_string() } else { failing_revisions.join(", ") },
            if serving_others.is_empty() { "an older revision".to_string() } else { serving_others.join(", ") },
        ));
        reasons.push(
            "not P0: the failing revision takes no traffic; the service keeps serving".to_string(),
        );
        return (Priority::P1, reasons);
    }
    if crashes >= thresholds.restart_loop {
        if keeps_serving || served_meanwhile > 0 {
            reasons.push(format!(
                "{crashes} instance{} that had been serving crashed and {} replaced; the service kept serving ({served_meanwhile} requests went through meanwhile, {failed_requests} failed)",
                plural(crashes),
                if crashes == 1 { "was" } else { "were" }
            ));
            reasons.push("not P0: loud is not down".to_string());
            return (Priority::P1, reasons);
        }
        reasons.push(format!(
            "{crashes} instance{} crashed and nothing was served meanwhile: the service is down",
            plural(crashes)
        ));
        return (Priority::P0, reasons);
    }

    // A service that serves no requests (a worker) shows its work in its own lines: when they
    // stop as the failure begins and do not come back while it goes on, nothing is done.
    if failing
        && worker
        && let Some(reason) = work_stopped(clusters, &work, window)
    {
        reasons.push(reason);
        return (Priority::P0, reasons);
    }

    // Four in five requests to the application failing, minute after minute, for most of the
    // window is an outage, even with instances up and health checks passing.
    if failing
        && failed_requests >= thresholds.repeated_errors
        && let Some((lo, hi)) = span
    {
        let minutes = (hi - lo + 1) as f64;
        let share = minutes / window_minutes;
        let failing_minutes: BTreeSet<i64> = clusters
            .iter()
            .filter(|c| c.stats.server_errors() > 0)
            .flat_map(|c| c.stats.minutes.keys().copied())
            .collect();
        if share >= thresholds.health_check_span
            && failing_minutes.len() as f64 >= thresholds.health_check_span * minutes
            && served_meanwhile * 4 <= failed_requests
        {
            reasons.push(format!(
                "{failed_requests} requests failed over {:.0}% of the window and {served_meanwhile} went through (health checks and static files aside): the service is down for its users",
                (share * 100.0).min(100.0)
            ));
            return (Priority::P0, reasons);
        }
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
    let handled = head.stats.mostly_handled();
    // The message says so, on its first line or a line of text right after it (Celery's
    // `Trying again in 2.00 seconds... (1/100)`), not in the frames of a traceback.
    let retried = head.stats.examples.iter().any(|e| {
        RETRIED.is_match(super::joiner::headline(e))
            || e.lines()
                .skip(1)
                .take(2)
                .take_while(|l| !l.starts_with(char::is_whitespace) && !l.starts_with("Traceback"))
                .any(|l| RETRIED.is_match(l))
    });
    // A dependency out of reach while every request is answered: the service does without
    // it (a cache, an exporter) and its client keeps reconnecting in the background, so no
    // exception of it is raised through the service's own frames. One that is (a job that
    // cannot send its mail) is a failure of its own.
    let unexplained = traffic.unexplained_failures.get(service);
    let library_loop = head.stats.exception.as_ref().is_none_or(|e| {
        e.frames
            .iter()
            .all(|f| super::cluster::in_app_path(f, "").is_none())
    });
    let does_without = served_meanwhile > 0
        && library_loop
        && UNREACHABLE.is_match(super::joiner::headline(
            head.stats.examples.first().map_or("", String::as_str),
        ))
        && span
            .is_some_and(|(lo, hi)| unexplained.is_none_or(|m| m.range(lo..=hi).next().is_none()));
    if failing && does_without && failed_requests == 0 && crashes == 0 {
        reasons.push(format!(
            "{errors} error(s) reaching a dependency while the service answered its requests ({served_meanwhile} went through and none failed for want of it): degraded, not failing"
        ));
        return (Priority::P2, reasons);
    }
    if failing && crash.survived_startups > 0 && failed_requests == 0 && crashes == 0 {
        reasons.push(format!(
            "{errors} error(s), logged only while instances started, and {} start-up{} that logged it went on to serve: survived, and no request failed because of it",
            crash.survived_startups,
            plural(crash.survived_startups)
        ));
        return (Priority::P2, reasons);
    }
    if failing && (handled || retried) && failed_requests == 0 && crashes == 0 {
        reasons.push(format!(
            "{errors} error(s), {} and no request failed because of it",
            if head.stats.answered_4xx * 2 > head.stats.count {
                format!(
                    "{} of {} logged while serving requests answered with a client error (4xx): the client's mistake, handled",
                    head.stats.answered_4xx, head.stats.count
                )
            } else if handled {
                "handled by the library that reported it".to_string()
            } else {
                "retried".to_string()
            }
        ));
        return (Priority::P2, reasons);
    }
    // One burst in a service that serves requests (every error within seconds, a dependency
    // restarting under idle connections) that failed none of them and crashed nothing does
    // not keep happening. (A worker's or a job's burst may be all of its work failing.)
    if failing
        && !worker
        && !is_job
        && failed_requests == 0
        && crashes == 0
        && let Some((first, last)) = seen_span(clusters)
        && (last - first).num_seconds() < BURST_SECONDS
    {
        reasons.push(format!(
            "{errors} error(s) in one burst of {} s, no request failed and nothing crashed: it does not keep happening",
            (last - first).num_seconds()
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

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// For a service that serves no requests: its work (`work`, lines per minute at INFO or below,
/// start-ups aside) went on before
/// the failure and stopped when it began, while the failure lasted to the end of the window.
fn work_stopped(
    clusters: &[Cluster],
    work: &BTreeMap<i64, u64>,
    window: &Window,
) -> Option<String> {
    let failing = || {
        clusters
            .iter()
            .filter(|c| matches!(c.role, Role::Cause(_) | Role::Symptom(_)))
    };
    let first = failing().filter_map(|c| c.stats.first_seen).min()?;
    let last = failing().filter_map(|c| c.stats.last_seen).max()?;
    let onset = first.timestamp().div_euclid(60);
    let until = last.timestamp().div_euclid(60);
    let end = window.end.timestamp().div_euclid(60);
    let failing_minutes: BTreeSet<i64> = failing()
        .flat_map(|c| c.stats.minutes.keys().copied())
        .collect();
    let lasted = until - onset + 1;
    if end - until > 5 || lasted < 10 || (failing_minutes.len() as i64) * 2 < lasted {
        return None;
    }
    let before = work.range(..onset).count();
    let after = work.range(onset + 2..).count();
    (before >= 3 && after <= 2).then(|| {
        format!(
            "the service serves no requests and its own work stopped when this began: lines of its work in {before} minute{} before, in {after} of the {} minutes since, while this went on to the end of the window",
            if before == 1 { "" } else { "s" },
            lasted - 1
        )
    })
}

/// The minutes in which the root cause kept the service failing.
fn crash_span(clusters: &[Cluster], crash: &CrashFacts) -> Option<(i64, i64)> {
    if let (Some(lo), Some(hi)) = (crash.first_ns, crash.last_ns) {
        return Some((lo.div_euclid(60_000_000_000), hi.div_euclid(60_000_000_000)));
    }
    let (lo, hi) = seen_span(clusters)?;
    Some((lo.timestamp().div_euclid(60), hi.timestamp().div_euclid(60)))
}

/// When the root cause was first and last seen, across its clusters.
fn seen_span(clusters: &[Cluster]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = clusters.iter().filter_map(|c| c.stats.first_seen).min()?;
    let last = clusters.iter().filter_map(|c| c.stats.last_seen).max()?;
    Some((first, last))
}
