//! Episodes: per instance, the start-up attempts that run from its first line to its exit.
//! The correlation asks of them what ended each one, and what came after.

use super::Cluster;
use super::cluster::{CauseKind, Role, SymptomKind};
use crate::model::Severity;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

/// After an exit, lines this close still belong to the attempt that exited.
const AFTER_EXIT_NS: i64 = 10_000_000_000;

/// One event, as much as the correlation needs of it: kept small, there is one per event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occurrence {
    /// Index of its cluster.
    pub cluster: u32,
    /// 0 when the entry named no instance.
    pub instance: u32,
    /// Nanoseconds since the epoch.
    pub t: i64,
    /// 0 when the entry had no trace.
    pub trace: u32,
    /// The request it names (`GET /orders/7`), 0 for none.
    pub request: u32,
    /// How long the request took in milliseconds, for request logs (`u32::MAX` for none).
    pub latency_ms: u32,
    /// Part of a handled report (a logging library's error block).
    pub handled: bool,
    pub severity: Severity,
    /// An exit with status 0: a job's task that finished, not a crash.
    pub clean_exit: bool,
    /// Written by the platform (Cloud Run's system log), not by the container.
    pub platform: bool,
}

/// Lines an application wrote without a trace, inside a request its logger names, take the
/// trace of that request's log: the same request (method and path) on the same instance,
/// the nearest within its latency and two seconds. A line whose request left no log here (it
/// went through: only failed requests are kept) gets a trace of its own, shared with
/// nothing, so that "in 9 of 10 of its requests" still counts the requests that went well.
pub fn trace_by_request(occurrences: &mut [Occurrence]) {
    const SLACK_NS: i64 = 2_000_000_000;
    /// When a traced line was written, how far from it its request reaches, its trace.
    type Traced = (i64, i64, u32);
    let mut traced: HashMap<(u32, u32), Vec<Traced>> = HashMap::new();
    for o in occurrences.iter() {
        if o.trace != 0 && o.request != 0 && o.instance != 0 {
            let latency = if o.latency_ms == u32::MAX {
                0
            } else {
                i64::from(o.latency_ms) * 1_000_000
            };
            traced.entry((o.instance, o.request)).or_default().push((
                o.t,
                latency + SLACK_NS,
                o.trace,
            ));
        }
    }
    // Traces of their own count down from the top, past every interned one.
    let mut own = u32::MAX;
    for o in occurrences.iter_mut() {
        if o.trace != 0 || o.request == 0 {
            continue;
        }
        o.trace = match traced
            .get(&(o.instance, o.request))
            .and_then(|candidates| nearest(candidates, o.t))
        {
            Some(trace) => trace,
            None => {
                own -= 1;
                own + 1
            }
        };
    }
}

/// The trace of the traced line nearest to `t` whose request reaches it; none when two
/// different ones are equally near.
fn nearest(candidates: &[(i64, i64, u32)], t: i64) -> Option<u32> {
    let mut best: Option<(i64, u32)> = None;
    let mut tie = false;
    for &(at, reach, trace) in candidates {
        let d = (t - at).abs();
        if d > reach {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, bt)) if d == bd => tie |= bt != trace,
            _ => (best, tie) = (Some((d, trace)), false),
        }
    }
    best.filter(|_| !tie).map(|(_, trace)| trace)
}

/// What was served, for "the service kept serving" and "this instance was up".
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Requests that went through, per service and minute.
    pub by_minute: HashMap<String, BTreeMap<i64, u64>>,
    /// Per instance, the first and last request it served.
    pub by_instance: HashMap<u32, (i64, i64)>,
    /// Requests that went through, per service and revision.
    pub by_revision: HashMap<String, BTreeMap<String, u64>>,
    /// Requests answered with a client error (4xx, not 408 or 429): instance, start and end
    /// in nanoseconds, trace (0 for none). At most `MAX_CLIENT_ERRORS`.
    pub client_errors: Vec<(u32, i64, i64, u32)>,
    /// Per instance: its service, its first line, and per second its application's own lines
    /// at INFO or below (its work: "task succeeded"), platform lines and request logs aside.
    activity: HashMap<u32, (String, i64, BTreeMap<i64, u64>)>,
    /// Per service, the minutes with failed requests that no logged cause explains (root
    /// causes that are only 5xx request logs); filled once the root causes are known.
    pub unexplained_failures: HashMap<String, BTreeSet<i64>>,
    /// Services that were sent requests, whatever their answer.
    pub requested: HashSet<String>,
    /// Services that are Cloud Run jobs: they serve nothing, so they are never down.
    pub jobs: BTreeSet<String>,
    /// The slowest requests that went through and had a trace (latency, trace), at most
    /// `MAX_SLOW`: a request cut at the platform's limit may still say 200.
    slow: BinaryHeap<Reverse<(u32, String)>>,
    /// Those of `slow` whose trace an occurrence has: trace id → latency in milliseconds.
    pub slow_by_trace: HashMap<u32, u32>,
}

/// What an instance prints this soon after its first line is its start-up.
const STARTUP_NS: i64 = 30_000_000_000;
/// How many requests answered with a client error are kept, for the errors they explain.
const MAX_CLIENT_ERRORS: usize = 1 << 20;
/// A line of a request may be written a little after the request's log says it ended.
const AFTER_REQUEST_NS: i64 = 50_000_000;

/// How many of the slowest served requests are kept.
const MAX_SLOW: usize = 1024;

impl Occurrence {
    /// How long the request took, for request logs.
    pub fn latency_ns(&self) -> Option<i64> {
        (self.latency_ms != u32::MAX).then(|| i64::from(self.latency_ms) * 1_000_000)
    }
}

impl Traffic {
    /// Keeps a served request among the slowest ones, for requests cut at a limit.
    pub fn slow_request(&mut self, latency_ms: u32, trace: &str) {
        if self.slow.len() < MAX_SLOW {
            self.slow.push(Reverse((latency_ms, trace.to_string())));
        } else if self
            .slow
            .peek()
            .is_some_and(|Reverse((l, _))| *l < latency_ms)
        {
            self.slow.pop();
            self.slow.push(Reverse((latency_ms, trace.to_string())));
        }
    }

    /// Resolves the slowest requests' traces to the ids the occurrences use.
    pub fn resolve_slow(&mut self, traces: &HashMap<String, u32>) {
        for Reverse((latency, trace)) in std::mem::take(&mut self.slow) {
            if let Some(&id) = traces.get(&trace) {
                self.slow_by_trace.insert(id, latency);
            }
        }
    }

    /// Records a request that went through.
    pub fn served(&mut self, service: &str, revision: Option<&str>, instance: u32, t: i64) {
        if !self.by_minute.contains_key(service) {
            self.by_minute.insert(service.to_string(), BTreeMap::new());
        }
        if let Some(minutes) = self.by_minute.get_mut(service) {
            *minutes.entry(t.div_euclid(60_000_000_000)).or_default() += 1;
        }
        if instance != 0 {
            let w = self.by_instance.entry(instance).or_insert((t, t));
            w.0 = w.0.min(t);
            w.1 = w.1.max(t);
        }
        if let Some(r) = revision {
            if !self.by_revision.contains_key(service) {
                self.by_revision
                    .insert(service.to_string(), BTreeMap::new());
            }
            if let Some(revisions) = self.by_revision.get_mut(service) {
                match revisions.get_mut(r) {
                    Some(n) => *n += 1,
                    None => {
                        revisions.insert(r.to_string(), 1);
                    }
                }
            }
        }
    }

    /// Notes a line of an instance, and whether it is one of the application's own work.
    pub fn seen(&mut self, service: &str, instance: u32, t: i64, work: bool) {
        if instance == 0 {
            return;
        }
        let entry = self
            .activity
            .entry(instance)
            .or_insert_with(|| (service.to_string(), t, BTreeMap::new()));
        entry.1 = entry.1.min(t);
        if work {
            *entry.2.entry(t.div_euclid(1_000_000_000)).or_default() += 1;
        }
    }

    /// Whether the instance logged lines of its own work, its start-up aside, between
    /// `start` and `end`: a worker that serves no requests was up when it did.
    pub fn instance_worked(&self, instance: u32, start: i64, end: i64) -> bool {
        self.activity
            .get(&instance)
            .is_some_and(|(_, first, seconds)| {
                let from = start
                    .max(first.saturating_add(STARTUP_NS))
                    .div_euclid(1_000_000_000);
                let to = end.div_euclid(1_000_000_000);
                from <= to && seconds.range(from..=to).next().is_some()
            })
    }

    /// Per minute, the lines of a service's own work, its instances' start-ups aside (what
    /// an instance prints in its first `STARTUP_NS` is its start, not its work).
    pub fn work_minutes(&self, service: &str) -> BTreeMap<i64, u64> {
        let mut out = BTreeMap::new();
        for (s, first, seconds) in self.activity.values() {
            if s != service {
                continue;
            }
            let from = first.saturating_add(STARTUP_NS).div_euclid(1_000_000_000);
            for (second, n) in seconds.range(from..) {
                *out.entry(second.div_euclid(60)).or_default() += n;
            }
        }
        out
    }

    /// Keeps a request answered with a client error.
    pub fn client_error(
        &mut self,
        status: u16,
        instance: u32,
        start: i64,
        latency_ns: i64,
        trace: u32,
    ) {
        if (400..500).contains(&status)
            && !matches!(status, 408 | 429)
            && (instance != 0 || trace != 0)
            && self.client_errors.len() < MAX_CLIENT_ERRORS
        {
            self.client_errors.push((
                instance,
                start,
                start.saturating_add(latency_ns.max(0)),
                trace,
            ));
        }
    }

    /// Per cluster, how many of its events (request logs aside) were logged while a request
    /// answered with a client error was being served: the same trace, or on the same instance
    /// within that request and within no failed (5xx) request.
    pub fn answered_4xx(&mut self, clusters: &[Cluster], occurrences: &[Occurrence]) -> Vec<u64> {
        let mut out = vec![0u64; clusters.len()];
        if self.client_errors.is_empty() {
            return out;
        }
        self.client_errors.sort_unstable();
        let traces: std::collections::HashSet<u32> = self
            .client_errors
            .iter()
            .map(|r| r.3)
            .filter(|t| *t != 0)
            .collect();
        let failed: Vec<(u32, i64, i64)> = {
            let mut v: Vec<_> = occurrences
                .iter()
                .filter_map(|o| Some((o.instance, o.t, o.t.saturating_add(o.latency_ns()?))))
                .filter(|r| r.0 != 0)
                .collect();
            v.sort_unstable();
            v
        };
        let within = |list: &[(u32, i64, i64)], instance: u32, t: i64| {
            let end = list.partition_point(|r| (r.0, r.1) <= (instance, t));
            list[..end]
                .iter()
                .rev()
                .take(64)
                .take_while(|r| r.0 == instance)
                .any(|r| r.2.saturating_add(AFTER_REQUEST_NS) >= t)
        };
        let requests: Vec<(u32, i64, i64)> =
            self.client_errors.iter().map(|r| (r.0, r.1, r.2)).collect();
        for o in occurrences {
            if o.latency_ns().is_some()
                || o.severity < Severity::Warning
                || !clusters[o.cluster as usize].stats.http_statuses.is_empty()
            {
                continue;
            }
            let by_trace = o.trace != 0 && traces.contains(&o.trace);
            let by_time = o.instance != 0
                && within(&requests, o.instance, o.t)
                && !within(&failed, o.instance, o.t);
            if by_trace || by_time {
                out[o.cluster as usize] += 1;
            }
        }
        out
    }

    /// A service that was sent no request in the window: a worker. (A service whose every
    /// request failed serves requests: it is down, not a worker.)
    pub fn serves_no_requests(&self, service: &str) -> bool {
        !self.requested.contains(service)
    }

    /// Whether the instance served a request between `start` and `end`.
    /// When the instance answered its first request, if it did.
    pub fn first_served(&self, instance: u32) -> Option<i64> {
        self.by_instance.get(&instance).map(|&(first, _)| first)
    }

    pub fn instance_served(&self, instance: u32, start: i64, end: i64) -> bool {
        self.by_instance
            .get(&instance)
            .is_some_and(|&(first, last)| first <= end && last >= start)
    }
}

/// One start-up attempt of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// Its occurrences, a range of the occurrences sorted by instance and time.
    pub range: std::ops::Range<usize>,
    /// It ended in an exit, a kill, or a start-up that was given up.
    pub crashed: bool,
    /// The occurrence that ended it.
    pub end: Option<usize>,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Whether an occurrence of this cluster ends an attempt.
fn ends_attempt(c: &Cluster) -> bool {
    if !c.stats.http_statuses.is_empty() {
        // A request that failed because no instance started ends nothing: it is not a line
        // of the instance's life.
        return false;
    }
    match c.role {
        Role::Symptom(SymptomKind::Exit) => true,
        // The platform gave up on the instance; an application's own "startup failed" is
        // followed by its exit, which ends the attempt (a second worker may still be failing).
        Role::Symptom(SymptomKind::StartupFailure) => {
            let t = c.template.to_ascii_lowercase();
            t.contains("probe") || t.contains("instance")
        }
        // The platform killed the instance for memory (no exception of the runtime's own).
        Role::Cause(CauseKind::OutOfMemory) => c.stats.exception.is_none(),
        _ => false,
    }
}

/// How soon before a clean exit an unhandled error makes it a crash.
const ERROR_BEFORE_EXIT_NS: i64 = 30_000_000_000;

/// Attempts of every instance; `occurrences` are sorted by instance, then time.
pub fn attempts(clusters: &[Cluster], occurrences: &[Occurrence]) -> Vec<Attempt> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < occurrences.len() {
        let instance = occurrences[i].instance;
        let mut j = i;
        while j < occurrences.len() && occurrences[j].instance == instance {
            j += 1;
        }
        if instance != 0 {
            split_instance(clusters, occurrences, i..j, &mut out);
        }
        i = j;
    }
    out
}

fn split_instance(
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    range: std::ops::Range<usize>,
    out: &mut Vec<Attempt>,
) {
    let mut start = range.start;
    let mut end: Option<usize> = None;
    let mut last_t = occurrences[start].t;
    // The last error of this attempt that nothing handled.
    let mut last_error: Option<i64> = None;
    for i in range.clone() {
        let o = &occurrences[i];
        let cluster = &clusters[o.cluster as usize];
        if let Some(e) = end {
            // After the exit: its echoes stay, anything else begins the next attempt.
            let echo = !matches!(cluster.role, Role::Cause(_))
                && o.t.saturating_sub(occurrences[e].t) <= AFTER_EXIT_NS;
            if !echo {
                out.push(Attempt {
                    range: start..i,
                    crashed: true,
                    end,
                    start_ns: occurrences[start].t,
                    end_ns: last_t,
                });
                start = i;
                end = None;
                last_error = None;
            }
        }
        if matches!(cluster.role, Role::Cause(_))
            && !o.handled
            && o.severity >= Severity::Error
            && cluster.stats.http_statuses.is_empty()
        {
            last_error = Some(o.t);
        }
        // A clean exit ends no crash, unless an error nothing handled came just before it:
        // the process stopped because of it (.NET's host stopping for a failed
        // BackgroundService exits 0).
        let stopped_by_error =
            last_error.is_some_and(|t| o.t.saturating_sub(t) <= ERROR_BEFORE_EXIT_NS);
        let ends = if o.clean_exit {
            // The instance's end, as the platform saw it; a worker process's clean exit
            // inside the container (php-fpm's child) ends no attempt.
            o.platform && stopped_by_error
        } else {
            ends_attempt(cluster)
        };
        if end.is_none() && ends {
            end = Some(i);
        }
        last_t = o.t;
    }
    out.push(Attempt {
        range: start..range.end,
        crashed: end.is_some(),
        end,
        start_ns: occurrences[start].t,
        end_ns: last_t,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(instance: u32, t_ms: i64, trace: u32, request: u32, latency_ms: u32) -> Occurrence {
        Occurrence {
            cluster: 0,
            instance,
            t: t_ms * 1_000_000,
            trace,
            request,
            latency_ms,
            handled: false,
            severity: Severity::Error,
            clean_exit: false,
            platform: false,
        }
    }

    #[test]
    fn a_clean_exit_right_after_an_unhandled_error_ends_a_crashed_attempt() {
        let cluster = |template: &str, role| Cluster {
            template: template.to_string(),
            role,
            signature: template.to_string(),
            stats: crate::analyze::cluster::ClusterStats::new("svc"),
            wrapper: false,
            evidence: Vec::new(),
            delay_ns: None,
        };
        let clusters = vec![
            cluster(
                "System.InvalidOperationException: no queue",
                Role::Cause(CauseKind::Exception),
            ),
            cluster("Container called exit(0).", Role::Noise),
        ];
        let at = |cluster: u32, t_ms: i64, platform: bool| Occurrence {
            cluster,
            clean_exit: cluster == 1,
            platform,
            ..line(1, t_ms, 0, 0, u32::MAX)
        };
        // The error, then the platform's clean exit 0.5 s later: a crash.
        let crashed = attempts(&clusters, &[at(0, 1_000, false), at(1, 1_500, true)]);
        assert!(crashed[0].crashed, "{crashed:?}");
        // A clean exit long after the error, or one the container wrote: no crash.
        let late = attempts(&clusters, &[at(0, 1_000, false), at(1, 60_000, true)]);
        assert!(!late[0].crashed, "{late:?}");
        let inside = attempts(&clusters, &[at(0, 1_000, false), at(1, 1_500, false)]);
        assert!(!inside[0].crashed, "{inside:?}");
    }

    #[test]
    fn lines_without_a_trace_take_the_trace_of_their_request_log() {
        let mut o = vec![
            // The request log of GET /a on instance 1, 3 s long, trace 7.
            line(1, 10_000, 7, 1, 3_000),
            // Lines of the same request: inside it, or within two seconds of its reach.
            line(1, 8_000, 0, 1, u32::MAX),
            line(1, 14_500, 0, 1, u32::MAX),
            // Another instance, another request, too far: a trace of their own each.
            line(2, 9_000, 0, 1, u32::MAX),
            line(1, 9_000, 0, 2, u32::MAX),
            line(1, 30_000, 0, 1, u32::MAX),
            // No request named: left alone.
            line(1, 9_000, 0, 0, u32::MAX),
        ];
        trace_by_request(&mut o);
        let traces: Vec<u32> = o.iter().map(|o| o.trace).collect();
        assert_eq!(&traces[..3], &[7, 7, 7]);
        let own = &traces[3..6];
        assert!(own.iter().all(|&t| t > 1_000_000), "{traces:?}");
        assert!(own[0] != own[1] && own[1] != own[2] && own[0] != own[2]);
        assert_eq!(traces[6], 0);
    }

    #[test]
    fn a_line_between_two_equally_near_requests_keeps_its_own_trace() {
        let mut o = vec![
            line(1, 10_000, 7, 1, 0),
            line(1, 12_000, 8, 1, 0),
            line(1, 11_000, 0, 1, u32::MAX),
            line(1, 11_800, 0, 1, u32::MAX),
        ];
        trace_by_request(&mut o);
        assert!(o[2].trace > 1_000_000);
        assert_eq!(o[3].trace, 8);
    }
}
