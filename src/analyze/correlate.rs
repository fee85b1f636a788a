//! Correlation from evidence: clusters that are one failure become one root cause, and every
//! fold says why. Evidence is what the entries share, never a coincidence of minutes:
//!
//! - **attempt**: per instance, a start-up attempt runs to its exit; the exception that ends
//!   it (resolved past wrappers and outer exceptions to the most fundamental one) is the cause,
//!   and what the attempt logs after it (exits, failed probes, outer errors) are its symptoms;
//! - **chain**: an exception logged separately that the cause's chain names;
//! - **trace**: the same request;
//! - **statistics**: a request that failed on the instance while the error was logged in it,
//!   more often than chance allows (lift), or a symptom that happens only while the service is
//!   down because of a cause;
//! - **entity**: the same specific thing (module, address, host, variable) named at the same
//!   time.
//!
//! An error the process survives (a handled report, or one followed by the start-up going on)
//! is a root cause of its own.

use super::Cluster;
use super::cluster::{CauseKind, Role, SymptomKind};
use super::episodes::{Attempt, Occurrence, Traffic, attempts};
use regex::Regex;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

/// A symptom is folded into a cause when at least this share of its occurrences show it.
const CONFIDENCE: f64 = 0.8;
/// And when that happens at least this many times more often than chance would make it.
const MIN_LIFT: f64 = 3.0;
/// Most, and far more often than chance: failed requests that join a cause on their share.
const MOSTLY: f64 = 0.6;
const STRONG_LIFT: f64 = 10.0;
/// Requests that all end at one latency of at least this long end at a limit.
const LIMIT_MIN_NS: i64 = 1_000_000_000;
/// How far apart the latencies of requests ended by one limit may be (a share of it).
const LIMIT_SPREAD: f64 = 0.01;
/// Around a failed request, how far an error in it may be logged (beyond its latency).
const REQUEST_SLACK_NS: i64 = 1_000_000_000;
/// At most this many occurrences of a cluster are looked at for a statistic.
const MAX_SAMPLE: usize = 500;
/// Two things named together: within this much of each other.
const ENTITY_NEAR_NS: i64 = 60_000_000_000;
/// The same address or host, failing two ways: within this much of each other.
const UPSTREAM_NEAR_NS: i64 = 15 * 60_000_000_000;
/// A symptom inside a crash loop's span, give or take this much.
const DOWN_SLACK_NS: i64 = 120_000_000_000;

/// Why a cluster belongs to its root cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// One sentence for a person.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    Chain,
    Trace,
    Attempt,
    Entity,
    Statistics,
}

/// What the episodes say about a root cause, for its priority.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrashFacts {
    /// Attempts that this root cause ended.
    pub crashed_attempts: u64,
    /// Of those, attempts that never served a request nor did any work: start-ups that failed.
    pub startup_failures: u64,
    /// When the first of them began and the last ended.
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// Start-ups that logged the cause and went on to serve, when it is only ever logged
    /// while starting: an error the process survives.
    pub survived_startups: u64,
}

/// One root cause before it is prioritised: its clusters (cause first) with their evidence.
pub struct Group {
    pub clusters: Vec<Cluster>,
    pub crash: CrashFacts,
}

/// What the links look up again and again, computed once: occurrence times per cluster,
/// the entities each cluster names, each service's span, and which causes own a trace.
struct Index {
    handled: Vec<bool>,
    /// Plain text that says something failed.
    says_failure: Vec<bool>,
    times: Vec<Vec<i64>>,
    entities: Vec<BTreeSet<String>>,
    spans: HashMap<String, i64>,
    trace_causes: HashMap<u32, Vec<usize>>,
    /// How many instances each service ran.
    instances: HashMap<String, usize>,
    /// For each cause that names a specific thing, when it first happened on each instance.
    first_on: HashMap<usize, HashMap<u32, i64>>,
    /// Instances already up when the window began (seen in its first minute): what happened
    /// on them before it is not in it.
    up_before: BTreeSet<u32>,
}

impl Index {
    fn new(
        clusters: &[Cluster],
        occurrences: &[Occurrence],
        times: Vec<Vec<i64>>,
        entities: Vec<BTreeSet<String>>,
        says_failure: Vec<bool>,
    ) -> Self {
        let mut spans: HashMap<String, (i64, i64)> = HashMap::new();
        for (c, t) in times.iter().enumerate() {
            if let (Some(&lo), Some(&hi)) = (t.first(), t.last()) {
                let s = spans
                    .entry(clusters[c].stats.service.clone())
                    .or_insert((lo, hi));
                s.0 = s.0.min(lo);
                s.1 = s.1.max(hi);
            }
        }
        let mut trace_causes: HashMap<u32, Vec<usize>> = HashMap::new();
        // A warning that names what failed (`connect to db:5432 failed`) is the cause of a
        // request whose only error is a wrapper or its 5xx: (trace, warnings).
        let mut trace_warnings: HashMap<u32, Vec<usize>> = HashMap::new();
        let names: Vec<bool> = clusters
            .iter()
            .map(|c| {
                matches!(c.role, Role::FailureWarning)
                    && c.stats
                        .examples
                        .iter()
                        .any(|e| super::entities::names_something(super::joiner::headline(e)))
            })
            .collect();
        for o in occurrences {
            let a = o.cluster as usize;
            if o.trace == 0 {
                continue;
            }
            let table = if matches!(clusters[a].role, Role::Cause(_)) {
                &mut trace_causes
            } else if names[a] {
                &mut trace_warnings
            } else {
                continue;
            };
            let owners = table.entry(o.trace).or_default();
            if !owners.contains(&a) {
                owners.push(a);
            }
        }
        for (trace, warnings) in trace_warnings {
            trace_causes.entry(trace).or_insert(warnings);
        }
        let mut seen: HashMap<&str, BTreeSet<u32>> = HashMap::new();
        let mut first_on: HashMap<usize, HashMap<u32, i64>> = HashMap::new();
        let specific: Vec<bool> = clusters
            .iter()
            .zip(&entities)
            .map(|(c, e)| {
                matches!(c.role, Role::Cause(_))
                    && e.iter().any(|x| super::entities::is_specific(x))
            })
            .collect();
        for o in occurrences {
            let a = o.cluster as usize;
            if o.instance == 0 {
                continue;
            }
            seen.entry(clusters[a].stats.service.as_str())
                .or_default()
                .insert(o.instance);
            if specific[a] {
                let first = first_on
                    .entry(a)
                    .or_default()
                    .entry(o.instance)
                    .or_insert(o.t);
                *first = (*first).min(o.t);
            }
        }
        let instances = seen
            .into_iter()
            .map(|(s, i)| (s.to_string(), i.len()))
            .collect();
        let mut instance_first: HashMap<u32, i64> = HashMap::new();
        for o in occurrences.iter().filter(|o| o.instance != 0) {
            let t = instance_first.entry(o.instance).or_insert(o.t);
            *t = (*t).min(o.t);
        }
        let window_start = instance_first.values().copied().min().unwrap_or(0);
        let up_before = instance_first
            .into_iter()
            .filter(|&(_, t)| t <= window_start.saturating_add(60_000_000_000))
            .map(|(i, _)| i)
            .collect();
        Index {
            handled: clusters.iter().map(is_handled).collect(),
            says_failure,
            times,
            entities,
            spans: spans
                .into_iter()
                .map(|(k, (lo, hi))| (k, hi.saturating_sub(lo)))
                .collect(),
            trace_causes,
            instances,
            first_on,
            up_before,
        }
    }

    /// Whether cluster `a` occurs within `near` of `t`.
    fn occurs_near(&self, a: usize, t: i64, near: i64) -> bool {
        has_near(&self.times[a], t, near)
    }
}

/// Each cluster's occurrence times, sorted.
fn sorted_times(occurrences: &[Occurrence], by_cluster: &[Vec<usize>]) -> Vec<Vec<i64>> {
    by_cluster
        .iter()
        .map(|list| {
            let mut t: Vec<i64> = list.iter().map(|&i| occurrences[i].t).collect();
            t.sort_unstable();
            t
        })
        .collect()
}

/// Whether sorted `times` hold one within `near` of `t`.
fn has_near(times: &[i64], t: i64, near: i64) -> bool {
    let k = times.partition_point(|&x| x < t.saturating_sub(near));
    times.get(k).is_some_and(|&x| x <= t.saturating_add(near))
}

/// Whether most of the times `a` come within `near` of one of the sorted times `b`.
fn mostly_near(a: &[i64], b: &[i64], near: i64) -> bool {
    let hits = a.iter().filter(|&&t| has_near(b, t, near)).count();
    !a.is_empty() && hits as f64 / a.len() as f64 >= CONFIDENCE
}

/// Per cluster, what the attempt pass concluded.
#[derive(Default, Clone)]
struct AttemptLink {
    /// Attempts (headed by the head) in which the member occurs, and delays after the head.
    attempts: u64,
    delays_ns: Vec<i64>,
    /// Part of the crash chain (an outer or accompanying error), not a downstream symptom.
    chain: bool,
}

/// Clusters grouped into root causes.
pub fn correlate(
    mut clusters: Vec<Cluster>,
    occurrences: Vec<Occurrence>,
    traffic: &Traffic,
) -> Vec<Group> {
    let n = clusters.len();
    let mut occurrences = occurrences;
    occurrences.sort_by_key(|o| (o.instance, o.t));
    let by_cluster = index_by_cluster(&occurrences, n);
    let (mut handled, piece_of) = handled_reports(&mut clusters);
    let says_failure: Vec<bool> = clusters
        .iter()
        .map(|c| {
            let example = c.stats.examples.first().map_or("", String::as_str);
            super::cluster::FAILURE_WORDS.is_match(super::joiner::headline(example))
        })
        .collect();

    // 1. Attempts: who ends each crashed start-up, and what follows from it.
    let attempts = attempts(&clusters, &occurrences);
    // An error logged while an instance started that then served requests was survived: in
    // a start-up that crashed, it is not what ended it (a lookup database that is missing at
    // every boot, while the database the service needs refuses it).
    let mut survived_in = vec![0u64; n];
    for attempt in attempts.iter().filter(|a| !a.crashed) {
        let mut seen = BTreeSet::new();
        for o in &occurrences[attempt.range.clone()] {
            if o.instance != 0
                && traffic
                    .first_served(o.instance)
                    .is_some_and(|first| o.t < first && first <= attempt.end_ns)
                && seen.insert(o.cluster)
            {
                survived_in[o.cluster as usize] += 1;
            }
        }
    }
    let survived: Vec<bool> = (0..n).map(|c| handled[c] || survived_in[c] > 0).collect();
    // Logged only while instances started (never once they served).
    let only_at_startup = |c: usize| {
        by_cluster[c].iter().all(|&i| {
            let o = &occurrences[i];
            o.instance != 0 && traffic.first_served(o.instance).is_none_or(|f| o.t < f)
        })
    };
    let mut heads: HashMap<usize, Vec<&Attempt>> = HashMap::new();
    let mut links: HashMap<(usize, usize), AttemptLink> = HashMap::new();
    let mut wrappers: HashMap<(usize, usize), u64> = HashMap::new();
    // What start-ups logged before the cause that ended them, outside its chain: the boot
    // going on, not the cause's doing.
    let mut before: HashMap<(usize, usize), u64> = HashMap::new();
    for attempt in attempts.iter().filter(|a| a.crashed) {
        let Some(crash) = resolve_crash(attempt, &clusters, &occurrences, &survived, &says_failure)
        else {
            continue;
        };
        heads.entry(crash.head).or_default().push(attempt);
        let head_t = occurrences[crash.head_occurrence].t;
        let mut seen = BTreeSet::new();
        for i in attempt.range.clone() {
            let o = &occurrences[i];
            let c = o.cluster as usize;
            if c == crash.head || handled[c] || !seen.insert(c) {
                continue;
            }
            let in_chain = crash.chain.contains(&c);
            let after = i > crash.first_chain_occurrence;
            if crash.went_on.is_some_and(|w| i <= w) {
                *before.entry((c, crash.head)).or_default() += 1;
            }
            // The exit that ended the attempt follows from its cause, even a clean one.
            let follows = in_chain
                || attempt.end == Some(i)
                || match clusters[c].role {
                    Role::Symptom(_) => true,
                    Role::Cause(_) | Role::FailureWarning => after,
                    Role::Noise => false,
                };
            if !follows {
                continue;
            }
            let link = links.entry((c, crash.head)).or_default();
            link.attempts += 1;
            link.chain |= in_chain;
            link.delays_ns.push(o.t.saturating_sub(head_t));
            if crash.wrapper == Some(c) {
                *wrappers.entry((c, crash.head)).or_default() += 1;
            }
        }
    }

    // An error that ended attempts (the runtime's report that memory ran out, before the
    // kill) was not survived, whatever the process did right after it.
    for &h in heads.keys() {
        handled[h] = false;
    }

    // A cluster that heads fewer attempts than it follows another head in is a member.
    let mut parent: Vec<Option<(usize, Vec<Evidence>)>> = vec![None; n];
    let mut is_head = vec![false; n];
    for &h in heads.keys() {
        is_head[h] = true;
    }
    let mut member_of: Vec<Option<(usize, AttemptLink)>> = vec![None; n];
    let mut delays: HashMap<usize, i64> = HashMap::new();
    for ((c, h), link) in &links {
        let better = match &member_of[*c] {
            Some((other, l)) => {
                (link.attempts, std::cmp::Reverse(*h)) > (l.attempts, std::cmp::Reverse(*other))
            }
            None => true,
        };
        if better {
            member_of[*c] = Some((*h, link.clone()));
        }
    }
    for c in 0..n {
        let Some((h, link)) = member_of[c].clone() else {
            continue;
        };
        let own = heads.get(&c).map_or(0, |l| l.len() as u64);
        if link.attempts <= own {
            continue;
        }
        // Mostly inside these attempts, not also on its own elsewhere.
        let with_instance = by_cluster[c]
            .iter()
            .filter(|&&i| occurrences[i].instance != 0)
            .count() as f64;
        let inside = link.attempts as f64;
        let occurs_elsewhere = with_instance > 0.0
            && inside / with_instance.max(1.0) < 0.5
            && !matches!(clusters[c].role, Role::Symptom(_));
        if occurs_elsewhere {
            continue;
        }
        let total = heads.get(&h).map_or(0, |l| l.len());
        let delay = median(&link.delays_ns);
        // An error of its own in a long-lived attempt (a worker that runs for minutes before
        // it crashes) belongs to the crash only when it comes with it: in most of its
        // attempts, or right before it.
        let own_error = matches!(
            clusters[c].role,
            Role::Cause(_) | Role::FailureWarning | Role::Symptom(SymptomKind::Timeout)
        );
        if own_error
            && !link.chain
            && (link.attempts as f64) < CONFIDENCE * total as f64
            && delay.abs() > ENTITY_NEAR_NS
        {
            continue;
        }
        is_head[c] = false;
        delays.insert(c, delay);
        let what = if wrappers.contains_key(&(c, h)) {
            "a generic wrapper that ends the same start-ups; the specific error is the cause"
                .to_string()
        } else if link.chain && delay < 0 {
            "logged by the same start-up attempt just before the cause".to_string()
        } else {
            format!("on the same instance {} the cause", describe_delay(delay))
        };
        parent[c] = Some((
            h,
            vec![Evidence {
                kind: EvidenceKind::Attempt,
                detail: format!(
                    "{what}, in {} of {} failed start-up{}",
                    link.attempts.min(total as u64),
                    total,
                    plural(total)
                ),
            }],
        ));
    }
    // Heads whose own head moved on (chains of heads) point at the final head.
    for c in 0..n {
        if let Some((h, _)) = &parent[c]
            && !is_head[*h]
            && let Some((hh, _)) = parent[*h].clone()
            && hh != c
        {
            parent[c].as_mut().expect("set above").0 = hh;
        }
    }

    let times = sorted_times(&occurrences, &by_cluster);
    let entities: Vec<BTreeSet<String>> = clusters
        .iter()
        .map(|c| {
            let mut named = super::entities::of_cluster(c);
            named.retain(|e| !super::entities::is_own_url(e, &c.stats.service));
            named
        })
        .collect();
    let specific = |c: usize| {
        entities[c]
            .iter()
            .filter(|e| super::entities::is_specific(e))
    };

    // Two crash causes that name the same address, host, module or variable at the same time
    // are one failure (instances that lose the database, and new ones that cannot reach it).
    let mut head_list: Vec<usize> = (0..n)
        .filter(|&h| is_head[h] && parent[h].is_none())
        .collect();
    head_list.sort_by_key(|h| (std::cmp::Reverse(heads.get(h).map_or(0, Vec::len)), *h));
    for (k, &small) in head_list.iter().enumerate().rev() {
        let named: BTreeSet<&String> = specific(small).collect();
        if named.is_empty() {
            continue;
        }
        let Some(&big) = head_list[..k].iter().find(|&&big| {
            parent[big].is_none()
                && clusters[big].stats.service == clusters[small].stats.service
                && specific(big).any(|e| named.contains(e))
                && mostly_near(&times[small], &times[big], ENTITY_NEAR_NS)
        }) else {
            continue;
        };
        let shared = specific(big)
            .find(|e| named.contains(e))
            .cloned()
            .unwrap_or_default();
        is_head[small] = false;
        parent[small] = Some((
            big,
            vec![Evidence {
                kind: EvidenceKind::Entity,
                detail: format!(
                    "names the same {shared} as the cause, within a minute of it; it ended {} attempt{} of its own",
                    heads.get(&small).map_or(0, Vec::len),
                    plural(heads.get(&small).map_or(0, Vec::len))
                ),
            }],
        ));
        for (c, link) in parent.iter_mut().enumerate() {
            if let Some((h, _)) = link
                && *h == small
                && c != small
            {
                *h = big;
            }
        }
        if let Some(moved) = heads.remove(&small) {
            heads.entry(big).or_default().extend(moved);
        }
    }

    // A line that ended start-ups is a cause whatever its severity said.
    let mut clusters = clusters;
    for &h in heads.keys() {
        if parent[h].is_none() && clusters[h].role == Role::Noise {
            clusters[h].role = Role::Cause(CauseKind::Error);
        }
    }

    let index = Index::new(&clusters, &occurrences, times, entities, says_failure);

    // 2. Links that need no attempt: chain, trace, statistics, entity.
    let group_of = |parent: &Vec<Option<(usize, Vec<Evidence>)>>, c: usize| -> usize {
        parent[c].as_ref().map_or(c, |(h, _)| *h)
    };
    // Logged before the cause in most of the start-ups it ended: the boot going on, which
    // being near the cause in time does not make its doing.
    // (An error logged then may be the first report of the failure itself, unless it was
    // survived by a start-up that went on to serve.)
    let boot_line = |parent: &Vec<Option<(usize, Vec<Evidence>)>>, c: usize, g: usize| {
        let attempts = heads.get(&g).map_or(0, Vec::len) as u64;
        if survived_in[c] > 0 && !handled[c] {
            return attempts > 0;
        }
        if clusters[c].stats.severity() >= crate::model::Severity::Error {
            return false;
        }
        let n: u64 = before
            .iter()
            .filter(|((x, h), _)| *x == c && group_of(parent, *h) == g)
            .map(|(_, n)| n)
            .sum();
        attempts > 0 && n * 2 >= attempts
    };
    let mut order: Vec<usize> = (0..n).collect();
    // Causes first, so that symptoms can find them.
    order.sort_by_key(|&c| (role_order(clusters[c].role), c));
    for &c in &order {
        if parent[c].is_some() || is_head[c] {
            continue;
        }
        if handled[c] {
            if let Some(report) = piece_of[c] {
                parent[c] = Some((
                    group_of(&parent, report),
                    vec![Evidence {
                        kind: EvidenceKind::Entity,
                        detail:
                            "a piece of the same handled report (the same exception, written apart)"
                                .into(),
                    }],
                ));
                continue;
            }
            // A handled report never causes anything; it may report the failure of another
            // (a log handler that failed while logging the crash).
            if let Some((h, evidence)) = request_link(
                c,
                &clusters,
                &occurrences,
                &by_cluster,
                &parent,
                &index,
                true,
            )
            .filter(|(h, _)| !heads.contains_key(&group_of(&parent, *h)))
            {
                parent[c] = Some((group_of(&parent, h), vec![evidence]));
            }
            continue;
        }
        // A link back into this cluster's own group says nothing: the next kind is tried.
        let elsewhere = |found: &(usize, Evidence)| group_of(&parent, found.0) != c;
        if let Some(found) = chain_link(c, &clusters, &parent, &is_head)
            .filter(elsewhere)
            .or_else(|| {
                trace_link(c, &clusters, &occurrences, &by_cluster, &parent, &index)
                    .filter(elsewhere)
            })
            .or_else(|| {
                request_link(
                    c,
                    &clusters,
                    &occurrences,
                    &by_cluster,
                    &parent,
                    &index,
                    false,
                )
                .filter(elsewhere)
                .filter(|found| !boot_line(&parent, c, group_of(&parent, found.0)))
            })
            .or_else(|| entity_link(c, &clusters, &parent, &handled, &index).filter(elsewhere))
            .or_else(|| {
                down_link(c, &clusters, &occurrences, &by_cluster, &heads, traffic)
                    .filter(elsewhere)
            })
            .or_else(|| port_link(c, &clusters, &parent, &index).filter(elsewhere))
            .or_else(|| {
                limit_link(c, &clusters, &occurrences, &by_cluster, traffic).filter(elsewhere)
            })
            .or_else(|| execution_link(c, &clusters, &handled, &index).filter(elsewhere))
            .or_else(|| span_link(c, &clusters, &parent, &index).filter(elsewhere))
            .or_else(|| {
                instance_link(c, &clusters, &occurrences, &by_cluster, &parent, &index)
                    .filter(elsewhere)
            })
        {
            let (h, evidence) = found;
            parent[c] = Some((group_of(&parent, h), vec![evidence]));
        }
    }

    // 2b. Across services: a root cause whose requests are failed requests of another
    // service, failed there for that service's own cause, is that cause's (the call it made
    // failed downstream).
    cross_service_link(
        &clusters,
        &occurrences,
        &by_cluster,
        &handled,
        &index.entities,
        &mut parent,
    );

    // 3. Groups: heads with their members, cause first.
    let mut slots: Vec<Option<Cluster>> = clusters.into_iter().map(Some).collect();
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    for c in 0..n {
        if parent[c].is_none() {
            let attempts = heads.get(&c);
            let worker = slots[c]
                .as_ref()
                .is_some_and(|cl| traffic.serves_no_requests(&cl.stats.service));
            let crash = CrashFacts {
                crashed_attempts: attempts.map_or(0, |l| l.len() as u64),
                startup_failures: attempts.map_or(0, |l| {
                    l.iter()
                        .filter(|a| {
                            let instance = occurrences[a.range.start].instance;
                            // A worker serves no requests: it was up when it did its work.
                            let up = traffic.instance_served(instance, a.start_ns, a.end_ns)
                                || (worker
                                    && traffic.instance_worked(instance, a.start_ns, a.end_ns));
                            !up
                        })
                        .count() as u64
                }),
                first_ns: attempts.and_then(|l| l.iter().map(|a| a.start_ns).min()),
                last_ns: attempts.and_then(|l| l.iter().map(|a| a.end_ns).max()),
                survived_startups: if survived_in[c] > 0 && only_at_startup(c) {
                    survived_in[c]
                } else {
                    0
                },
            };
            if let Some(cluster) = slots[c].take() {
                groups.insert(
                    c,
                    Group {
                        clusters: vec![cluster],
                        crash,
                    },
                );
            }
        }
    }
    // A cluster linked to one that was itself folded later belongs to that one's root.
    let roots: Vec<usize> = (0..n).map(|c| root_of(&parent, c)).collect();
    for (c, link) in parent.into_iter().enumerate() {
        if let Some((_, evidence)) = link
            && let h = roots[c]
            && let Some(mut cluster) = slots[c].take()
        {
            cluster.evidence = evidence;
            cluster.delay_ns = delays.get(&c).copied();
            match groups.get_mut(&h) {
                Some(g) => g.clusters.push(cluster),
                None => {
                    cluster.evidence.clear();
                    groups.insert(
                        c,
                        Group {
                            clusters: vec![cluster],
                            crash: CrashFacts::default(),
                        },
                    );
                }
            }
        }
    }
    groups.into_values().collect()
}

/// The root a cluster's links lead to (itself when it has none); a cycle stops after as many
/// steps as there are clusters.
fn root_of(parent: &[Option<(usize, Vec<Evidence>)>], mut c: usize) -> usize {
    for _ in 0..parent.len() {
        match &parent[c] {
            Some((h, _)) if *h != c => c = *h,
            _ => break,
        }
    }
    c
}

/// Links each root cause of one service whose traces are, in most of its cases, failed
/// requests of another service that belong to a root cause there.
fn cross_service_link(
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    handled: &[bool],
    entities: &[BTreeSet<String>],
    parent: &mut [Option<(usize, Vec<Evidence>)>],
) {
    let n = clusters.len();
    // Traces of failed requests that a root cause explains, with that root; and how long
    // each service's failed request of a trace took (a call lasts no longer than its caller).
    let mut explained: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut took: HashMap<(u32, &str), i64> = HashMap::new();
    for o in occurrences {
        let a = o.cluster as usize;
        if let (true, Some(ns)) = (o.trace != 0, o.latency_ns()) {
            let longest = took
                .entry((o.trace, clusters[a].stats.service.as_str()))
                .or_insert(ns);
            *longest = (*longest).max(ns);
        }
        if o.trace == 0 || parent[a].is_none() || clusters[a].stats.server_errors() == 0 {
            continue;
        }
        let g = root_of(parent, a);
        // A cause, or a platform failure with no cause in the logs (a probe that shut the
        // instances down) heading its own root.
        if matches!(clusters[g].role, Role::Cause(_) | Role::Symptom(_)) {
            let roots = explained.entry(o.trace).or_default();
            if !roots.contains(&g) {
                roots.push(g);
            }
        }
    }
    if explained.is_empty() {
        return;
    }
    // Per service, the roots that explain its failed requests, with how many traces each.
    let mut failing: HashMap<&str, HashMap<usize, usize>> = HashMap::new();
    for roots in explained.values() {
        for &g in roots {
            *failing
                .entry(clusters[g].stats.service.as_str())
                .or_default()
                .entry(g)
                .or_default() += 1;
        }
    }
    // Each root's members, as they stand before callers are linked.
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for c in 0..n {
        let r = root_of(parent, c);
        if r != c {
            members.entry(r).or_default().push(c);
        }
    }
    for h in 0..n {
        // A caller's own error, its timeout waiting for the callee, or its failed requests.
        if parent[h].is_some()
            || handled[h]
            || !matches!(clusters[h].role, Role::Cause(_) | Role::Symptom(_))
        {
            continue;
        }
        let service = &clusters[h].stats.service;
        // What the root and its members name (a caller's failed requests, with the timeout
        // that names the callee's URL).
        let mut named = entities[h].clone();
        for &c in members.get(&h).into_iter().flatten() {
            named.extend(entities[c].iter().cloned());
        }
        if let Some((g, callee)) =
            calls_failing_service(h, clusters, occurrences, by_cluster, &named, &failing)
            && root_of(parent, g) != h
        {
            parent[h] = Some((
                g,
                vec![Evidence {
                    kind: EvidenceKind::Entity,
                    detail: format!(
                        "names {callee}'s own URL: its calls to {callee} failed while {callee} was failing for this cause"
                    ),
                }],
            ));
            continue;
        }
        let traced = traces_of(h, occurrences, by_cluster);
        if traced.len() < 2 {
            continue;
        }
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for t in &traced {
            for &g in explained.get(t).into_iter().flatten() {
                let callee = clusters[g].stats.service.as_str();
                let nested = match (took.get(&(*t, service.as_str())), took.get(&(*t, callee))) {
                    (Some(caller), Some(call)) => call <= caller,
                    _ => true,
                };
                if callee != service && nested {
                    *shared.entry(g).or_default() += 1;
                }
            }
        }
        let Some((g, k)) = shared
            .into_iter()
            .max_by_key(|(g, k)| (*k, std::cmp::Reverse(*g)))
        else {
            continue;
        };
        if (k as f64) < CONFIDENCE * traced.len() as f64 || root_of(parent, g) == h {
            continue;
        }
        parent[h] = Some((
            g,
            vec![Evidence {
                kind: EvidenceKind::Trace,
                detail: format!(
                    "its calls failed in {}, for this cause: the same trace as a failed request there in {k} of {} case{}",
                    clusters[g].stats.service,
                    traced.len(),
                    plural(traced.len())
                ),
            }],
        ));
    }
}

/// The root cause of another service that `h` calls: `h` names that service's own Cloud Run
/// URL (`https://pricing-svc-4k7q2xnd3a-uc.a.run.app/`), and nearly all of `h` happened while
/// one of that service's root causes failed its requests.
fn calls_failing_service<'a>(
    h: usize,
    clusters: &'a [Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    named: &BTreeSet<String>,
    failing: &HashMap<&'a str, HashMap<usize, usize>>,
) -> Option<(usize, &'a str)> {
    let service = clusters[h].stats.service.as_str();
    let (&callee, roots) = failing.iter().find(|(callee, _)| {
        **callee != service && named.iter().any(|e| super::entities::is_own_url(e, callee))
    })?;
    let (&g, _) = roots
        .iter()
        .max_by_key(|(g, k)| (**k, std::cmp::Reverse(**g)))?;
    let theirs = || by_cluster[g].iter().map(|&i| occurrences[i].t);
    let (first, last) = (theirs().min()?, theirs().max()?);
    let mine = &by_cluster[h];
    let during = mine
        .iter()
        .filter(|&&i| {
            let t = occurrences[i].t;
            t >= first - DOWN_SLACK_NS && t <= last + DOWN_SLACK_NS
        })
        .count();
    (!mine.is_empty() && during as f64 >= CONFIDENCE * mine.len() as f64).then_some((g, callee))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn role_order(role: Role) -> u8 {
    match role {
        Role::Cause(_) => 0,
        Role::FailureWarning => 1,
        Role::Symptom(_) => 2,
        Role::Noise => 3,
    }
}

/// Which clusters are handled reports: those mostly handled, and the pieces of such a report
/// that came apart (two processes writing the same report at once) and carry its exception,
/// the same type and message in the same service: those count as handled, and are pieces of
/// the largest such report.
fn handled_reports(clusters: &mut [Cluster]) -> (Vec<bool>, Vec<Option<usize>>) {
    let mut handled: Vec<bool> = clusters.iter().map(is_handled).collect();
    let mut piece_of = vec![None; clusters.len()];
    let text = |c: &Cluster| {
        c.stats
            .exception
            .as_ref()
            .filter(|e| !e.message.is_empty())
            .map(|e| (c.stats.service.clone(), e.kind.clone(), e.message.clone()))
    };
    // Each handled text, and its largest report.
    let mut survived: HashMap<(String, String, String), usize> = HashMap::new();
    for (i, c) in clusters.iter().enumerate() {
        if let (true, Some(t)) = (handled[i], text(c)) {
            let slot = survived.entry(t).or_insert(i);
            if clusters[*slot].stats.count < c.stats.count {
                *slot = i;
            }
        }
    }
    if survived.is_empty() {
        return (handled, piece_of);
    }
    for i in 0..clusters.len() {
        if handled[i] {
            continue;
        }
        if let Some(&report) = text(&clusters[i]).and_then(|t| survived.get(&t)) {
            handled[i] = true;
            piece_of[i] = Some(report);
            let stats = &mut clusters[i].stats;
            stats.handled = stats.count;
        }
    }
    (handled, piece_of)
}

/// A handled report: most of its events say the library handled it and carried on, or were
/// logged by requests answered with a client error.
fn is_handled(c: &Cluster) -> bool {
    c.stats.mostly_handled()
}

fn index_by_cluster(occurrences: &[Occurrence], n: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); n];
    for (i, o) in occurrences.iter().enumerate() {
        if let Some(v) = out.get_mut(o.cluster as usize) {
            v.push(i);
        }
    }
    out
}

fn median(values: &[i64]) -> i64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// `12 ms after`, `2.4 s after`, `300 ms before`.
fn describe_delay(ns: i64) -> String {
    let word = if ns < 0 { "before" } else { "after" };
    format!("{} {word}", describe_duration(ns))
}

/// A duration for a person (its size, whatever its sign): ms under a second, seconds under
/// two minutes, then minutes.
pub fn describe_duration(ns: i64) -> String {
    let ms = (ns.unsigned_abs() / 1_000_000) as f64;
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1_000.0)
    } else {
        format!("{:.0} min", ms / 60_000.0)
    }
}

/// A process's words as it stops its own parts after a failure, before it exits.
static TEARDOWN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:stopping|shutting down|closing|destroying)\b").unwrap());

/// How one crashed attempt ended.
struct Crash {
    head: usize,
    head_occurrence: usize,
    /// Clusters of the crash chain other than the head (outer, accompanying errors).
    chain: Vec<usize>,
    first_chain_occurrence: usize,
    /// The generic wrapper the head was found behind.
    wrapper: Option<usize>,
    /// The last line that shows the start-up going on before its failure began.
    went_on: Option<usize>,
}

/// The cause that ended an attempt: walking back from its end, the unhandled errors logged
/// before it with no sign that start-up went on in between; past a generic wrapper to the
/// specific error; then the most fundamental of them (an import error explains the
/// `RuntimeError` raised because of it).
fn resolve_crash(
    attempt: &Attempt,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    handled: &[bool],
    says_failure: &[bool],
) -> Option<Crash> {
    let end = attempt.end?;
    let mut chain: Vec<usize> = Vec::new();
    let mut wrapper = None;
    // The last thing the process said before it exited, when it says something failed (Go's
    // `log.Fatal` writes no level): the cause when nothing else is.
    let mut last_words: Option<usize> = None;
    // A terminal cause (an OOM kill) is its own crash.
    if matches!(
        clusters[occurrences[end].cluster as usize].role,
        Role::Cause(_)
    ) {
        chain.push(end);
    }
    let is_oom = |c: usize| clusters[c].role == Role::Cause(CauseKind::OutOfMemory);
    // When the platform killed the instance for memory.
    let mut memory_kill = is_oom(occurrences[end].cluster as usize).then_some(occurrences[end].t);
    // Past a sign that the process went on: only the runtime's report that memory ran out,
    // shortly before the kill, is still looked for.
    let mut survived = false;
    let mut went_on = None;
    for i in (attempt.range.start..end).rev() {
        let o = &occurrences[i];
        let c = o.cluster as usize;
        // A kill for memory shortly after the runtime said it ran out of memory is that same
        // exhaustion, even when the process had survived the error it raised.
        let near_kill = memory_kill.is_some_and(|t| t - o.t <= ENTITY_NEAR_NS);
        if near_kill && is_oom(c) && clusters[c].stats.exception.is_some() {
            chain.push(i);
            continue;
        }
        if survived {
            if near_kill {
                continue;
            }
            break;
        }
        if o.handled || handled[c] {
            continue;
        }
        if memory_kill.is_none() && is_oom(c) && clusters[c].stats.exception.is_none() {
            memory_kill = Some(o.t);
        }
        let only_wrappers = !chain.is_empty()
            && chain
                .iter()
                .all(|&j| clusters[occurrences[j].cluster as usize].wrapper);
        match clusters[c].role {
            Role::Cause(_) => chain.push(i),
            Role::Symptom(_) | Role::FailureWarning => {}
            Role::Noise => {
                if says_failure[c] && o.severity == crate::model::Severity::Default {
                    // Plain text that says something failed, with the crash: part of it.
                    if chain.is_empty() {
                        last_words.get_or_insert(i);
                    } else {
                        chain.push(i);
                    }
                    continue;
                }
                // Start-up went on after what came before: those errors were survived. (Only
                // the runtime's report that memory ran out is still looked for, shortly
                // before a kill for memory.) A line of the process tearing itself down
                // (`Stopping service [Tomcat]`) is the failure going on, not the start-up.
                if (!chain.is_empty() || last_words.is_some())
                    && o.severity < crate::model::Severity::Warning
                    && !only_wrappers
                    && !TEARDOWN.is_match(super::joiner::headline(
                        clusters[c]
                            .stats
                            .examples
                            .first()
                            .map_or("", String::as_str),
                    ))
                {
                    if near_kill {
                        survived = true;
                        continue;
                    }
                    went_on = Some(i);
                    break;
                }
            }
        }
    }
    if chain.is_empty()
        && let Some(i) = last_words
    {
        chain.push(i);
    }
    if chain.is_empty() {
        // No cause in the logs: the most telling symptom heads the attempt.
        let best = attempt
            .range
            .clone()
            .filter(|&i| {
                matches!(
                    clusters[occurrences[i].cluster as usize].role,
                    Role::Symptom(_)
                )
            })
            .min_by_key(|&i| {
                let rank = match clusters[occurrences[i].cluster as usize].role {
                    Role::Symptom(SymptomKind::StartupFailure) => 0,
                    Role::Symptom(SymptomKind::HealthCheck) => 1,
                    Role::Symptom(SymptomKind::Exit) => 2,
                    _ => 3,
                };
                (rank, i)
            })?;
        return Some(Crash {
            head: occurrences[best].cluster as usize,
            head_occurrence: best,
            chain: Vec::new(),
            first_chain_occurrence: best,
            wrapper: None,
            went_on: None,
        });
    }
    // Specific before generic, fundamental before derived, the later one on a tie; of two
    // reports that memory ran out, the runtime's exception (it names the code) before the
    // platform's kill; an exception before a plain line.
    let best = *chain.iter().min_by_key(|&&i| {
        let c = &clusters[occurrences[i].cluster as usize];
        let kind = match c.role {
            Role::Cause(k) => k,
            _ => CauseKind::Error,
        };
        let platform_oom = kind == CauseKind::OutOfMemory && c.stats.exception.is_none();
        // An exception before a plain line that sums it up (`fatal: could not connect …`).
        let plain = c.stats.exception.is_none();
        // One that names what failed (the database it could not reach) before one that
        // names nothing (`Unable to determine Dialect without JDBC metadata`).
        let names_nothing = c
            .stats
            .exception
            .as_ref()
            .is_none_or(|e| !super::entities::names_something(&e.message));
        (
            c.wrapper,
            kind,
            platform_oom,
            plain,
            names_nothing,
            std::cmp::Reverse(i),
        )
    })?;
    let head = occurrences[best].cluster as usize;
    if chain
        .iter()
        .any(|&i| clusters[occurrences[i].cluster as usize].wrapper)
        && !clusters[head].wrapper
    {
        wrapper = chain
            .iter()
            .map(|&i| occurrences[i].cluster as usize)
            .find(|&c| clusters[c].wrapper);
    }
    let first = *chain.iter().min().unwrap_or(&best);
    Some(Crash {
        head,
        head_occurrence: best,
        chain: chain
            .iter()
            .map(|&i| occurrences[i].cluster as usize)
            .filter(|&c| c != head)
            .collect(),
        first_chain_occurrence: first,
        wrapper,
        went_on,
    })
}

/// An exception logged on its own that a cause's chain names.
fn chain_link(
    c: usize,
    clusters: &[Cluster],
    parent: &[Option<(usize, Vec<Evidence>)>],
    is_head: &[bool],
) -> Option<(usize, Evidence)> {
    let later = &clusters[c];
    let text = later.template.trim_end_matches("<*>").trim();
    if text.len() < 8 {
        return None;
    }
    (0..clusters.len())
        .filter(|&a| {
            a != c
                && parent[a].is_none()
                && (is_head[a] || matches!(clusters[a].role, Role::Cause(_)))
        })
        .filter(|&a| clusters[a].stats.service == later.stats.service)
        .find(|&a| {
            clusters[a].stats.exception.as_ref().is_some_and(|e| {
                e.raised_while_handling
                    .iter()
                    .any(|r| r.starts_with(text) || later.template.starts_with(r.as_str()))
            })
        })
        .map(|a| {
            (
                a,
                Evidence {
                    kind: EvidenceKind::Chain,
                    detail:
                        "raised while handling the cause (the cause's exception chain names it)"
                            .to_string(),
                },
            )
        })
}

/// The traces of a cluster's occurrences that have one.
fn traces_of(c: usize, occurrences: &[Occurrence], by_cluster: &[Vec<usize>]) -> Vec<u32> {
    by_cluster[c]
        .iter()
        .map(|&i| occurrences[i].trace)
        .filter(|&t| t != 0)
        .collect()
}

/// A cluster whose requests are nearly all requests of another root cause.
fn trace_link(
    c: usize,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    parent: &[Option<(usize, Vec<Evidence>)>],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let traced = traces_of(c, occurrences, by_cluster);
    if traced.is_empty() {
        return None;
    }
    let mut owners: HashMap<u32, BTreeSet<usize>> = HashMap::new();
    for t in &traced {
        for &a in index.trace_causes.get(t).into_iter().flatten() {
            if a != c && clusters[a].stats.service == clusters[c].stats.service {
                let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
                owners.entry(*t).or_default().insert(g);
            }
        }
    }
    let mut shared: HashMap<usize, u64> = HashMap::new();
    for t in &traced {
        for g in owners.get(t).into_iter().flatten() {
            *shared.entry(*g).or_default() += 1;
        }
    }
    let (g, k) = shared
        .into_iter()
        .max_by_key(|(g, k)| (*k, std::cmp::Reverse(*g)))?;
    // Requests of one route that failed for two causes in turn are explained all the same:
    // they go with the cause of most of them.
    let explained = traced.iter().filter(|t| owners.contains_key(t)).count() as u64;
    let share = explained as f64 / traced.len() as f64;
    (share >= CONFIDENCE && k * 2 > explained).then(|| {
        let others = if explained > k {
            format!(", {} with another root cause", explained - k)
        } else {
            String::new()
        };
        (
            g,
            Evidence {
                kind: EvidenceKind::Trace,
                detail: format!(
                    "the same trace as the cause in {k} of {} request{}{others}",
                    traced.len(),
                    plural(traced.len())
                ),
            },
        )
    })
}

/// A failed request (or an error) that has the cause logged inside it on the same instance,
/// far more often than the cause's own rate would make happen by chance.
fn request_link(
    c: usize,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    parent: &[Option<(usize, Vec<Evidence>)>],
    index: &Index,
    reports_only: bool,
) -> Option<(usize, Evidence)> {
    let handled = &index.handled;
    let mine = &by_cluster[c];
    if mine.is_empty() || (matches!(clusters[c].role, Role::Noise) && !reports_only) {
        return None;
    }
    let service = &clusters[c].stats.service;
    let span = index.spans.get(service).copied().unwrap_or(0).max(1) as f64;
    // A bounded sample of ours: the share is what matters.
    let step = mine.len().div_ceil(MAX_SAMPLE).max(1);
    let sample: Vec<&Occurrence> = mine
        .iter()
        .step_by(step)
        .map(|&i| &occurrences[i])
        .collect();
    // (A probe that failed and shut the instance down is what failed the requests cut with
    // it, never a warning about one of them.)
    let warns_of_request = match clusters[c].role {
        Role::FailureWarning => true,
        Role::Symptom(kind) => !kind.means_down() && kind != SymptomKind::HealthCheck,
        _ => false,
    };
    let failed_requests = clusters[c].role == Role::Symptom(SymptomKind::ServerError)
        && clusters[c].stats.server_errors() > 0;
    let mut best: Option<(usize, u64, f64)> = None;
    for a in 0..clusters.len() {
        let target = match clusters[a].role {
            Role::Cause(_) => true,
            // A warning about a failed request (a truncated response) joins that request's
            // root cause even when no error was logged.
            Role::Symptom(kind) => {
                (warns_of_request
                    && !clusters[a].stats.http_statuses.is_empty()
                    && clusters[c].stats.http_statuses.is_empty())
                    // A timeout the service logged (a worker that took too long) explains the
                    // requests that failed with it and the kill that ended it.
                    || (kind == SymptomKind::Timeout
                        && clusters[a].stats.http_statuses.is_empty()
                        && (clusters[c].role == Role::Symptom(SymptomKind::Exit)
                            || clusters[c].stats.server_errors() > 0))
                    // A probe that failed and shut the instance down cut the requests that
                    // failed on it then.
                    || (kind == SymptomKind::HealthCheck
                        && clusters[a].stats.http_statuses.is_empty()
                        && failed_requests)
            }
            _ => false,
        };
        if a == c
            || !target
            || handled[a]
            || &clusters[a].stats.service != service
            || by_cluster[a].is_empty()
        {
            continue;
        }
        let mut theirs: Vec<&Occurrence> = by_cluster[a].iter().map(|&j| &occurrences[j]).collect();
        theirs.sort_by_key(|p| p.t);
        let longest = theirs
            .iter()
            .filter_map(|p| p.latency_ns())
            .max()
            .unwrap_or(0);
        let mut hits = 0u64;
        let mut widths = 0f64;
        for o in &sample {
            let (lo, hi) = around(o);
            widths += (hi - lo) as f64;
            let from = theirs.partition_point(|p| p.t < lo.saturating_sub(longest));
            let hit = theirs[from..].iter().take_while(|p| p.t <= hi).any(|p| {
                let (plo, phi) = around(p);
                (p.instance == o.instance || p.instance == 0 || o.instance == 0)
                    && ((p.t >= lo && p.t <= hi) || (o.t >= plo && o.t <= phi))
            });
            hits += u64::from(hit);
        }
        let n = sample.len() as f64;
        let confidence = hits as f64 / n;
        // Chance: the share of the time the window around one of our events covers one of
        // theirs, if theirs fell anywhere, on any of the service's instances when both name
        // theirs (only one on the same instance is a hit).
        let on_instances =
            sample.iter().all(|o| o.instance != 0) && theirs.iter().all(|p| p.instance != 0);
        let instances = if on_instances {
            index.instances.get(service).copied().unwrap_or(1).max(1) as f64
        } else {
            1.0
        };
        let chance = (theirs.len() as f64 * widths / n / span / instances).min(1.0);
        let lift = if chance > 0.0 {
            confidence / chance
        } else {
            f64::INFINITY
        };
        // Failed requests of a route that mostly fail with the cause, far more often than
        // chance, fail for it too: some of them logged nothing of their own (a render that
        // failed on a cached error).
        let strong =
            failed_requests && sample.len() >= 5 && confidence >= MOSTLY && lift >= STRONG_LIFT;
        if (confidence >= CONFIDENCE && lift >= MIN_LIFT || strong)
            && best.is_none_or(|(_, h, _)| hits > h)
        {
            best = Some((a, hits, lift));
        }
    }
    let (a, hits, lift) = best?;
    let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
    let sampled = mine.len().div_ceil(mine.len().div_ceil(MAX_SAMPLE).max(1));
    let what = if !matches!(clusters[a].role, Role::Cause(_)) {
        format!(
            "logged with a failed request of this root cause (\"{}\")",
            clusters[a].template
        )
    } else if clusters[c].stats.http_statuses.is_empty() {
        "logged within a second of the cause on the same instance".to_string()
    } else {
        "failed while the cause was logged on the same instance".to_string()
    };
    Some((
        g,
        Evidence {
            kind: EvidenceKind::Statistics,
            detail: format!(
                "{what} in {hits} of {sampled} case{}{} ({}× more often than chance)",
                plural(sampled),
                if sampled < mine.len() {
                    format!(" (a sample of {})", mine.len())
                } else {
                    String::new()
                },
                if lift.is_finite() {
                    format!("{lift:.0}")
                } else {
                    "far".to_string()
                }
            ),
        },
    ))
}

/// A warning whose requests (by their trace) ran exactly as long as the requests of a
/// failure that all ended at one latency, a limit such as the request timeout: a streamed
/// response cut at the limit says 200 in its request log, and only its warning tells.
fn limit_link(
    c: usize,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    traffic: &Traffic,
) -> Option<(usize, Evidence)> {
    if !matches!(clusters[c].role, Role::Symptom(_) | Role::FailureWarning)
        || !clusters[c].stats.http_statuses.is_empty()
    {
        return None;
    }
    let traced = traces_of(c, occurrences, by_cluster);
    if traced.is_empty() {
        return None;
    }
    let latencies: Vec<i64> = traced
        .iter()
        .filter_map(|t| traffic.slow_by_trace.get(t))
        .map(|&ms| i64::from(ms) * 1_000_000)
        .collect();
    let mut best: Option<(usize, u64, i64)> = None;
    for a in 0..clusters.len() {
        if a == c
            || !matches!(clusters[a].role, Role::Cause(_) | Role::Symptom(_))
            || clusters[a].stats.service != clusters[c].stats.service
        {
            continue;
        }
        let theirs: Vec<i64> = by_cluster[a]
            .iter()
            .filter_map(|&i| occurrences[i].latency_ns())
            .collect();
        let (Some(&lo), Some(&hi)) = (theirs.iter().min(), theirs.iter().max()) else {
            continue;
        };
        // A limit: every request of theirs ended at the same latency, and not a quick one.
        if theirs.len() < 2 || hi < LIMIT_MIN_NS || (hi - lo) as f64 > hi as f64 * LIMIT_SPREAD {
            continue;
        }
        let at_limit = latencies
            .iter()
            .filter(|&&l| {
                (l - hi).abs() as f64 <= hi as f64 * LIMIT_SPREAD + REQUEST_SLACK_NS as f64
            })
            .count() as u64;
        if at_limit as f64 >= traced.len() as f64 * CONFIDENCE
            && best.is_none_or(|(_, k, _)| at_limit > k)
        {
            best = Some((a, at_limit, hi));
        }
    }
    let (a, k, limit) = best?;
    Some((
        a,
        Evidence {
            kind: EvidenceKind::Trace,
            detail: format!(
                "its request (the same trace) ran {:.0} s, the limit at which every request of the cause ended, in {k} of {} case{}",
                limit as f64 / 1e9,
                traced.len(),
                plural(traced.len())
            ),
        },
    ))
}

/// The time around one occurrence in which a related error is logged: a request's own span,
/// a line's second.
fn around(o: &Occurrence) -> (i64, i64) {
    match o.latency_ns() {
        Some(latency) => (
            o.t.saturating_sub(REQUEST_SLACK_NS),
            o.t.saturating_add(latency).saturating_add(REQUEST_SLACK_NS),
        ),
        None => (
            o.t.saturating_sub(REQUEST_SLACK_NS),
            o.t.saturating_add(REQUEST_SLACK_NS),
        ),
    }
}

/// How long before a job execution's failure its tasks may have failed.
const EXECUTION_NEAR_NS: i64 = 30 * 60_000_000_000;

/// A job execution that failed (Cloud Run says so without naming a task or an instance):
/// its cause is the error its tasks failed with, the one of the job logged before every such
/// failure, the most often when several were.
fn execution_link(
    c: usize,
    clusters: &[Cluster],
    handled: &[bool],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let example = clusters[c].stats.examples.first()?;
    if !super::cluster::EXECUTION_FAILED.is_match(example) {
        return None;
    }
    let failures = &index.times[c];
    let before = |a: usize, t: i64| {
        let times = &index.times[a];
        let i = times.partition_point(|&x| x <= t);
        i > 0 && t - times[i - 1] <= EXECUTION_NEAR_NS
    };
    let (a, _) = (0..clusters.len())
        .filter(|&a| {
            a != c
                && !handled[a]
                && matches!(clusters[a].role, Role::Cause(_))
                && clusters[a].stats.service == clusters[c].stats.service
                && failures.iter().all(|&t| before(a, t))
        })
        .map(|a| (a, clusters[a].stats.count))
        .max_by_key(|&(a, n)| (n, std::cmp::Reverse(a)))?;
    Some((
        a,
        Evidence {
            kind: EvidenceKind::Statistics,
            detail: format!(
                "the job's execution failed after its tasks failed with the cause, in {} of {} execution{}",
                failures.len(),
                failures.len(),
                plural(failures.len())
            ),
        },
    ))
}

/// The exception text of `e` (`Type: message`, long enough to name something) when the line
/// of `line`, a cluster with no exception of its own, quotes it.
fn quoted_exception(e: &Cluster, line: &Cluster) -> Option<String> {
    let x = e.stats.exception.as_ref()?;
    if line.stats.exception.is_some() || x.message.len() < 12 {
        return None;
    }
    // Whatever numbers each occurrence carried (`waited 5.012 seconds`).
    let text = super::entities::without_numbers(&format!("{}: {}", x.kind, x.message)).into_owned();
    line.stats
        .examples
        .iter()
        .any(|l| super::entities::without_numbers(super::joiner::headline(l)).contains(&text))
        .then(|| format!("exception text `{text}`"))
}

/// The same specific thing named by two clusters at the same time.
fn entity_link(
    c: usize,
    clusters: &[Cluster],
    parent: &[Option<(usize, Vec<Evidence>)>],
    handled: &[bool],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let mine = &index.entities[c];
    // A line that says it failed without a severity, or an error line that does not use
    // the words of failure (`response has no 'fee_breakdown'`), may still name the cause's thing.
    let severity = clusters[c].stats.severity();
    let plain_failure = (severity == crate::model::Severity::Default && index.says_failure[c])
        || severity >= crate::model::Severity::Error;
    // A warning that names an upstream (a retry of the call that then failed) may be the
    // early part of that upstream's failure: by the upstream only.
    let warns_of_upstream = severity == crate::model::Severity::Warning;
    let noise = matches!(clusters[c].role, Role::Noise) && !plain_failure;
    if mine.is_empty() || (noise && !warns_of_upstream) {
        return None;
    }
    for a in 0..clusters.len() {
        let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
        // A cause in this cluster's own group is no link: another may be.
        if a == c
            || g == c
            || handled[a]
            || !matches!(clusters[a].role, Role::Cause(_))
            || clusters[a].stats.service != clusters[c].stats.service
        {
            continue;
        }
        let theirs = &index.entities[a];
        // What both name, the most specific first (an address before a quoted word); an
        // exception's own text quoted in the other's line (`checkout failed: Faraday::
        // ServerError: the server responded with status 503 (POST …)`) counts as named.
        let quoted = quoted_exception(&clusters[c], &clusters[a])
            .or_else(|| quoted_exception(&clusters[a], &clusters[c]));
        let mut shared: Vec<&String> = mine
            .iter()
            .filter(|e| theirs.contains(*e))
            .chain(quoted.as_ref())
            .collect();
        shared.sort_by_key(|e| !super::entities::is_specific(e));
        // Two exceptions of their own are one failure only by a specific thing they both
        // name; a quoted word (a column both statements touch) is no such thing.
        let own_exception = clusters[c].stats.exception.is_some();
        for shared in shared {
            if own_exception && !super::entities::is_specific(shared) {
                continue;
            }
            if noise && !(shared.starts_with("host ") || shared.starts_with("address ")) {
                continue;
            }
            // The same exception text raised from several places is one failure headed by
            // its most frequent cluster: the smaller joins the larger, never the other way,
            // so that the cause (and its fingerprint) does not depend on the order.
            let larger = |x: usize| (clusters[x].stats.count, std::cmp::Reverse(x));
            if shared.starts_with("exception text ") && larger(a) < larger(c) {
                continue;
            }
            // Any instance: one database refusing two instances is one failure. An address or
            // a host failing two ways in one stretch of the window is one upstream down, one
            // exception text raised from two places in it one fault.
            let reach = if shared.starts_with("address ")
                || shared.starts_with("host ")
                || shared.starts_with("exception text ")
            {
                UPSTREAM_NEAR_NS
            } else {
                ENTITY_NEAR_NS
            };
            let near = index.times[c]
                .iter()
                .filter(|&&t| index.occurs_near(a, t, reach))
                .count();
            let total = index.times[c].len();
            if total == 0 || (near as f64 / total as f64) < CONFIDENCE {
                continue;
            }
            return Some((
                g,
                Evidence {
                    kind: EvidenceKind::Entity,
                    detail: format!(
                        "names the same {} as the cause, near it in time in {near} of {total} case{}",
                        shared,
                        plural(total)
                    ),
                },
            ));
        }
    }
    None
}

/// The port a process says it listens on (`Listening at: http://0.0.0.0:8000`, `Uvicorn
/// running on http://0.0.0.0:8000`, `listening on port 3000`, `Tomcat started on port 8081`).
static LISTENS_ON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:listening|running|started|serving|bound)\b[^\n]{0,60}?(?:\bport\s+|:)(\d{2,5})\b")
        .unwrap()
});
/// The port the platform's probe checks (`… STARTUP TCP probe failed … on port 8080.`).
static PROBE_PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bprobe failed\b[^\n]*\bon port (\d{2,5})\b").unwrap());
/// How long before a failed probe the process may have said where it listens.
const PORT_NEAR_NS: i64 = 5 * 60_000_000_000;

/// A process that says it listens on one port while the platform's start-up probe checks
/// another, in the same stretch of time: that line is why the probe fails.
fn port_link(
    c: usize,
    clusters: &[Cluster],
    parent: &[Option<(usize, Vec<Evidence>)>],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let port_in = |re: &Regex, c: &Cluster| {
        c.stats.examples.iter().find_map(|e| {
            re.captures(super::joiner::headline(e))
                .map(|m| m[1].to_string())
        })
    };
    let listens = port_in(&LISTENS_ON, &clusters[c])?;
    for a in 0..clusters.len() {
        // The word first: the pattern only for the few clusters that speak of a probe.
        if a == c
            || clusters[a].stats.service != clusters[c].stats.service
            || !clusters[a].template.contains("probe")
        {
            continue;
        }
        let Some(probed) = port_in(&PROBE_PORT, &clusters[a]) else {
            continue;
        };
        if probed == listens || !mostly_near(&index.times[c], &index.times[a], PORT_NEAR_NS) {
            continue;
        }
        let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
        return Some((
            g,
            Evidence {
                kind: EvidenceKind::Entity,
                detail: format!(
                    "the process listens on port {listens} while the start-up probe checks port {probed}"
                ),
            },
        ));
    }
    None
}

/// A failure that happens only on the instances where a specific cause happened before it,
/// when that cause touched at most half of the service's instances: the cause left those
/// instances broken (a start-up connection that failed and never retried), the others serve.
fn instance_link(
    c: usize,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    parent: &[Option<(usize, Vec<Evidence>)>],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let cluster = &clusters[c];
    if matches!(cluster.role, Role::Noise) || index.handled[c] {
        return None;
    }
    let service = &cluster.stats.service;
    let all = *index.instances.get(service)?;
    let with_instance = || {
        by_cluster[c]
            .iter()
            .map(|&i| &occurrences[i])
            .filter(|o| o.instance != 0)
    };
    // On an instance that was up before the window, the cause may have come before it too:
    // only instances whose start is in the window can tell.
    let mine: Vec<&Occurrence> = with_instance()
        .filter(|o| !index.up_before.contains(&o.instance))
        .collect();
    if mine.len() < 3 || mine.len() * 4 < with_instance().count() {
        return None;
    }
    let mut best: Option<(usize, usize, usize, usize)> = None;
    for (&a, first) in &index.first_on {
        if a == c || index.handled[a] || &clusters[a].stats.service != service {
            continue;
        }
        if first.len() * 2 > all {
            continue;
        }
        let hit: Vec<&&Occurrence> = mine
            .iter()
            .filter(|o| first.get(&o.instance).is_some_and(|&t| t <= o.t))
            .collect();
        // Never before it where it happened: what comes first on an instance is not caused
        // by what comes after (two symptoms of one cause interleave).
        let before = mine
            .iter()
            .filter(|o| first.get(&o.instance).is_some_and(|&t| t > o.t))
            .count();
        let on: BTreeSet<u32> = hit.iter().map(|o| o.instance).collect();
        if on.len() >= 2
            && before * 20 <= hit.len()
            && hit.len() as f64 >= MOSTLY * mine.len() as f64
            // The map's order is arbitrary: the lowest cluster wins a tie.
            && best.is_none_or(|(b, h, _, _)| (hit.len(), std::cmp::Reverse(a)) > (h, std::cmp::Reverse(b)))
        {
            best = Some((a, hit.len(), on.len(), first.len()));
        }
    }
    let (a, hits, on, touched) = best?;
    let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
    Some((
        g,
        Evidence {
            kind: EvidenceKind::Statistics,
            detail: format!(
                "{hits} of {} happened on instances after the cause did there ({on} of the {touched} it touched, of {all})",
                mine.len()
            ),
        },
    ))
}

/// How unlikely by chance the failures of a route must be to all fall inside a cause's
/// stretch of the window.
const SPAN_CHANCE: f64 = 0.05;

/// Failed requests (logged with no text of their own) that all happened while a cause was
/// being logged, when that cause covers so little of the window that all of them falling in
/// it by chance is unlikely: "it never happens without it".
fn span_link(
    c: usize,
    clusters: &[Cluster],
    parent: &[Option<(usize, Vec<Evidence>)>],
    index: &Index,
) -> Option<(usize, Evidence)> {
    let cluster = &clusters[c];
    if cluster.role != Role::Symptom(SymptomKind::ServerError) || cluster.stats.server_errors() == 0
    {
        return None;
    }
    let mine = &index.times[c];
    let (&first, &last) = (mine.first()?, mine.last()?);
    let span = index.spans.get(&cluster.stats.service).copied()? as f64;
    let minutes = mine
        .iter()
        .map(|t| t.div_euclid(60_000_000_000))
        .collect::<BTreeSet<_>>()
        .len();
    let mut best: Option<(usize, f64)> = None;
    for (a, other) in clusters.iter().enumerate() {
        let theirs = &index.times[a];
        if a == c
            || index.handled[a]
            || !matches!(other.role, Role::Cause(_))
            || other.stats.service != cluster.stats.service
            || theirs.len() < 5
        {
            continue;
        }
        let (lo, hi) = (
            theirs[0] - ENTITY_NEAR_NS,
            theirs[theirs.len() - 1] + ENTITY_NEAR_NS,
        );
        if first < lo || last > hi {
            continue;
        }
        // Failures of one minute come together: each minute is one draw.
        let chance = ((hi - lo) as f64 / span.max(1.0))
            .min(1.0)
            .powi(minutes as i32);
        if chance <= SPAN_CHANCE && best.is_none_or(|(_, p)| chance < p) {
            best = Some((a, chance));
        }
    }
    let (a, chance) = best?;
    let g = parent[a].as_ref().map_or(a, |(h, _)| *h);
    Some((
        g,
        Evidence {
            kind: EvidenceKind::Statistics,
            detail: format!(
                "all {} failed while the cause was being logged, in {minutes} minute{} (by chance: {:.1} %)",
                mine.len(),
                plural(minutes),
                chance * 100.0
            ),
        },
    ))
}

/// A symptom of the service being down (failed requests, probes, exits) that happens only
/// while a cause keeps its start-ups failing.
fn down_link(
    c: usize,
    clusters: &[Cluster],
    occurrences: &[Occurrence],
    by_cluster: &[Vec<usize>],
    heads: &HashMap<usize, Vec<&Attempt>>,
    traffic: &Traffic,
) -> Option<(usize, Evidence)> {
    if !matches!(clusters[c].role, Role::Symptom(_)) || by_cluster[c].is_empty() {
        return None;
    }
    // An application's own timeout (a call that it retries) says nothing of being down; a
    // request that timed out at the platform (504) does.
    if clusters[c].role == Role::Symptom(SymptomKind::Timeout)
        && clusters[c].stats.http_statuses.is_empty()
    {
        return None;
    }
    let service = &clusters[c].stats.service;
    let (h, attempts) = heads
        .iter()
        .filter(|(h, _)| &clusters[**h].stats.service == service)
        .max_by_key(|(h, l)| (l.len(), std::cmp::Reverse(**h)))?;
    let lo = attempts.iter().map(|a| a.start_ns).min()?;
    let hi = attempts.iter().map(|a| a.end_ns).max()?;
    // After its last failed start-up the service stays down until it serves again.
    let hi = traffic
        .by_minute
        .get(service)
        .and_then(|minutes| minutes.range(hi.div_euclid(60_000_000_000) + 1..).next())
        .map_or(i64::MAX, |(minute, _)| {
            minute.saturating_mul(60_000_000_000)
        });
    let inside = by_cluster[c]
        .iter()
        .filter(|&&i| {
            let t = occurrences[i].t;
            t >= lo.saturating_sub(DOWN_SLACK_NS) && t <= hi.saturating_add(DOWN_SLACK_NS)
        })
        .count();
    let total = by_cluster[c].len();
    // "The instance could not start": a start-up failure, whenever in the window, is the
    // crash loop's when there is one.
    let says_not_started = clusters[c].role == Role::Symptom(SymptomKind::StartupFailure);
    let inside = if says_not_started { total } else { inside };
    (attempts.len() >= 2 && inside as f64 / total as f64 >= CONFIDENCE).then(|| {
        (
            *h,
            Evidence {
                kind: EvidenceKind::Statistics,
                detail: format!(
                    "{inside} of {total} happen while every start-up fails with the cause ({} failed start-up{} in that time)",
                    attempts.len(),
                    plural(attempts.len())
                ),
            },
        )
    })
}
