//! Correlation: clusters that are one failure become one root cause, a cause with its symptoms.
//! Evidence is what the entries share: service, instance and minute, trace, and who came first.

use super::Cluster;
use super::cluster::{CauseKind, ClusterStats, Role};
use std::collections::HashMap;

/// A symptom joins the cause it co-occurs with at least this often.
const SYMPTOM_CO_OCCURRENCE: f64 = 0.5;
/// An error or a failure warning joins a cause only when it nearly always follows it.
const FOLLOW_CO_OCCURRENCE: f64 = 0.8;
const FOLLOW_PRECEDENCE: f64 = 0.8;

/// Clusters grouped into root causes: the first cluster of each group is the cause (or, for a
/// group of symptoms with no cause in the logs, the largest symptom).
pub fn correlate(clusters: Vec<Cluster>) -> Vec<Vec<Cluster>> {
    let mut by_service: HashMap<String, Vec<Cluster>> = HashMap::new();
    for c in clusters {
        by_service
            .entry(c.stats.service.clone())
            .or_default()
            .push(c);
    }
    let mut services: Vec<_> = by_service.into_iter().collect();
    services.sort_by(|a, b| a.0.cmp(&b.0));
    services
        .into_iter()
        .flat_map(|(_, clusters)| correlate_service(clusters))
        .collect()
}

fn cause_rank(c: &Cluster) -> (CauseKind, i64) {
    let kind = match c.role {
        Role::Cause(k) => k,
        _ => CauseKind::Error,
    };
    let first = c
        .stats
        .first_seen
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(i64::MAX);
    (kind, first)
}

fn correlate_service(mut clusters: Vec<Cluster>) -> Vec<Vec<Cluster>> {
    // Most fundamental and earliest causes first, so they become the roots.
    clusters.sort_by(|a, b| {
        let key = |c: &Cluster| match c.role {
            Role::Cause(_) => 0,
            Role::FailureWarning => 1,
            Role::Symptom(_) => 2,
            Role::Noise => 3,
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| cause_rank(a).cmp(&cause_rank(b)))
            .then_with(|| b.stats.count.cmp(&a.stats.count))
            .then_with(|| a.template.cmp(&b.template))
    });
    let n = clusters.len();
    // parent[i]: the root cause cluster i belongs to.
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut is_root = vec![false; n];
    for i in 0..n {
        match clusters[i].role {
            Role::Cause(_) | Role::FailureWarning => {
                let best = (0..i)
                    .filter(|&a| is_root[a] && matches!(clusters[a].role, Role::Cause(_)))
                    .filter(|&a| follows(&clusters[a], &clusters[i]))
                    .max_by(|&a, &b| {
                        co_occurrence(&clusters[i].stats, &clusters[a].stats)
                            .total_cmp(&co_occurrence(&clusters[i].stats, &clusters[b].stats))
                            .then_with(|| b.cmp(&a))
                    });
                match best {
                    Some(a) => parent[i] = Some(a),
                    None => is_root[i] = true,
                }
            }
            Role::Symptom(_) => {
                let best = (0..i)
                    .filter(|&a| is_root[a] && matches!(clusters[a].role, Role::Cause(_)))
                    .map(|a| (a, co_occurrence(&clusters[i].stats, &clusters[a].stats)))
                    .filter(|(_, score)| *score >= SYMPTOM_CO_OCCURRENCE)
                    .max_by(|x, y| x.1.total_cmp(&y.1).then_with(|| y.0.cmp(&x.0)));
                parent[i] = best.map(|(a, _)| a);
            }
            Role::Noise => is_root[i] = true,
        }
    }
    // Symptoms with no cause in the logs stay together: one outage whose cause is not logged.
    let orphans: Vec<usize> = (0..n)
        .filter(|&i| matches!(clusters[i].role, Role::Symptom(_)) && parent[i].is_none())
        .collect();
    if let Some(&head) = orphans.iter().max_by(|&&a, &&b| {
        clusters[a]
            .stats
            .count
            .cmp(&clusters[b].stats.count)
            .then(b.cmp(&a))
    }) {
        is_root[head] = true;
        for &i in &orphans {
            if i != head {
                parent[i] = Some(head);
            }
        }
    }

    let mut slots: Vec<Option<Cluster>> = clusters.into_iter().map(Some).collect();
    let mut groups: Vec<(usize, Vec<Cluster>)> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        if is_root[i] {
            group_of.insert(i, groups.len());
            if let Some(c) = slots[i].take() {
                groups.push((i, vec![c]));
            }
        }
    }
    for i in 0..n {
        if let (Some(p), Some(c)) = (parent[i], slots[i].take())
            && let Some(&g) = group_of.get(&p)
        {
            groups[g].1.push(c);
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Whether `later` is an error raised while handling `cause`: it nearly always happens on the
/// same instances in the same minutes, after it; or the cause's chain names it; or they share
/// their traces.
fn follows(cause: &Cluster, later: &Cluster) -> bool {
    if let Some(e) = &cause.stats.exception
        && e.raised_while_handling.iter().any(|r| {
            later.template.starts_with(r.as_str())
                || r.starts_with(later.template.trim_end_matches("<*>"))
        })
    {
        return true;
    }
    if !later.stats.traces.is_empty() {
        let shared = later
            .stats
            .traces
            .iter()
            .filter(|t| cause.stats.traces.contains(t))
            .count();
        if shared as f64 / later.stats.traces.len() as f64 >= FOLLOW_CO_OCCURRENCE {
            return true;
        }
    }
    if later.stats.contexts.is_empty() || cause.stats.contexts.is_empty() {
        return false;
    }
    instance_co_occurrence(&later.stats, &cause.stats) >= FOLLOW_CO_OCCURRENCE
        && precedence(&cause.stats, &later.stats) >= FOLLOW_PRECEDENCE
}

/// How much of `symptom` happens where `cause` happens: by instance and minute when both
/// know their instances, else by minute; shared traces count too.
pub fn co_occurrence(symptom: &ClusterStats, cause: &ClusterStats) -> f64 {
    let by_trace = if symptom.traces.is_empty() {
        0.0
    } else {
        symptom
            .traces
            .iter()
            .filter(|t| cause.traces.contains(t))
            .count() as f64
            / symptom.traces.len() as f64
    };
    let by_place = if !symptom.contexts.is_empty() && !cause.contexts.is_empty() {
        instance_co_occurrence(symptom, cause)
    } else {
        minute_co_occurrence(symptom, cause)
    };
    by_trace.max(by_place)
}

/// Fraction of `a`'s (instance, minute) contexts where `b` was on the same instance within a
/// minute.
fn instance_co_occurrence(a: &ClusterStats, b: &ClusterStats) -> f64 {
    let hits = a
        .contexts
        .keys()
        .filter(|(inst, minute)| (-1..=1).any(|d| b.contexts.contains_key(&(*inst, minute + d))))
        .count();
    hits as f64 / a.contexts.len() as f64
}

/// Fraction of `a`'s events in minutes (give or take one) when `b` happened.
fn minute_co_occurrence(a: &ClusterStats, b: &ClusterStats) -> f64 {
    let total: u64 = a.minutes.values().sum();
    if total == 0 {
        return 0.0;
    }
    let hits: u64 = a
        .minutes
        .iter()
        .filter(|(m, _)| (-1..=1).any(|d| b.minutes.contains_key(&(**m + d))))
        .map(|(_, n)| n)
        .sum();
    hits as f64 / total as f64
}

/// In the contexts both share, how often `first` came no later than `second`. Ties go to
/// `first`, which the caller ranked as the more fundamental cause.
fn precedence(first: &ClusterStats, second: &ClusterStats) -> f64 {
    let (mut shared, mut before) = (0u64, 0u64);
    for (key, t2) in &second.contexts {
        if let Some(t1) = first.contexts.get(key) {
            shared += 1;
            before += u64::from(t1 <= t2);
        }
    }
    if shared == 0 {
        0.0
    } else {
        before as f64 / shared as f64
    }
}
