//! The plan: a pure function of (root causes, the repository's issues, stored state, now) to
//! one action per root cause. Nothing is written while planning.

use crate::analyze::RootCause;
use crate::config::{Config, Priority};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// What to do about one root cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// File a new issue.
    Create,
    /// Comment on the open issue that tracks it.
    Comment,
    /// Reopen the issue closed as completed: the root cause came back.
    Reopen,
    /// Nothing to write (not filed, muted, cooling down, closed as not planned, limit reached).
    None,
}

/// One planned action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    /// The issue acted on; `None` for a `create` not yet applied.
    pub issue: Option<u64>,
    /// Why, in words for the worklog.
    #[serde(skip)]
    pub reason: String,
    /// Whether the issue's priority label must be raised.
    #[serde(skip)]
    pub raise_priority: bool,
    /// The issue is a human-filed one adopted for this root cause.
    #[serde(skip)]
    pub adopt: bool,
}

impl Action {
    fn new(kind: ActionKind, issue: Option<u64>, reason: impl Into<String>) -> Self {
        Action {
            kind,
            issue,
            reason: reason.into(),
            raise_priority: false,
            adopt: false,
        }
    }
}

/// Whether an issue is open or how it was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IssueState {
    Open,
    ClosedCompleted,
    ClosedNotPlanned,
}

/// An issue of the repository, as far as planning needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownIssue {
    pub number: u64,
    pub title: String,
    pub state: IssueState,
    /// The fingerprint in the body's marker, for issues the App filed.
    pub fingerprint: Option<String>,
    pub labels: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// What the App remembers of a fingerprint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracked {
    pub issue: Option<u64>,
    pub muted_until: Option<DateTime<Utc>>,
    /// `/gardener merge #N`: this root cause is #N's from now on.
    pub merged_into: Option<u64>,
    pub last_comment_at: Option<DateTime<Utc>>,
    pub priority: Option<Priority>,
    /// The service it was seen in.
    pub service: Option<String>,
    /// Its last occurrence in a sweep.
    pub last_seen: Option<DateTime<Utc>>,
    /// Sweeps of its service that have not seen it since.
    pub quiet_sweeps: u64,
    /// When its issue was told "not seen since" (cleared when it is seen again).
    pub quiet_noted_at: Option<DateTime<Utc>>,
}

/// The plan for every root cause, in the same order.
pub fn plan(
    root_causes: &[RootCause],
    issues: &[KnownIssue],
    state: &HashMap<String, Tracked>,
    config: &Config,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let by_number: HashMap<u64, &KnownIssue> = issues.iter().map(|i| (i.number, i)).collect();
    let mut created = 0usize;
    let mut adopted: Vec<u64> = Vec::new();
    root_causes
        .iter()
        .map(|rc| {
            let action = plan_one(rc, issues, &by_number, state, config, now, &adopted);
            if action.kind == ActionKind::Create {
                created += 1;
                if created > config.max_new_issues {
                    return Action::new(
                        ActionKind::None,
                        None,
                        format!(
                            "not filed: the limit of {} new issues per sweep was reached",
                            config.max_new_issues
                        ),
                    );
                }
            }
            if action.adopt
                && let Some(n) = action.issue
            {
                adopted.push(n);
            }
            action
        })
        .collect()
}

fn plan_one(
    rc: &RootCause,
    issues: &[KnownIssue],
    by_number: &HashMap<u64, &KnownIssue>,
    state: &HashMap<String, Tracked>,
    config: &Config,
    now: DateTime<Utc>,
    adopted: &[u64],
) -> Action {
    if !config.file_priorities.contains(&rc.priority) {
        return Action::new(
            ActionKind::None,
            None,
            format!(
                "{} is not in file_priorities: reported here only",
                rc.priority
            ),
        );
    }
    let tracked = state.get(&rc.fingerprint);
    if let Some(until) = tracked.and_then(|t| t.muted_until)
        && until > now
    {
        return Action::new(
            ActionKind::None,
            tracked.and_then(|t| t.issue),
            format!("muted until {}", crate::model::rfc3339(&until)),
        );
    }

    // Where this root cause is tracked: a merge target, the stored issue, the body marker.
    let target = tracked
        .and_then(|t| t.merged_into.or(t.issue))
        .and_then(|n| by_number.get(&n).copied())
        .or_else(|| tracking_issue(issues, &rc.fingerprint));
    let target = match target {
        Some(t) => Some((t, false)),
        None => adoptable(rc, issues, adopted).map(|i| (i, true)),
    };
    let Some((issue, adopt)) = target else {
        return Action::new(ActionKind::Create, None, "new root cause");
    };
    let risen = tracked
        .and_then(|t| t.priority)
        .is_some_and(|p| rc.priority < p);
    match issue.state {
        IssueState::Open => {
            if !adopt
                && !risen
                && let Some(last) = tracked.and_then(|t| t.last_comment_at)
                && now - last < config.comment_cooldown.0
            {
                return Action::new(
                    ActionKind::None,
                    Some(issue.number),
                    format!(
                        "commented at {}; comment_cooldown is {}",
                        crate::model::rfc3339(&last),
                        crate::config::format_span(config.comment_cooldown.0)
                    ),
                );
            }
            let mut a = Action::new(
                ActionKind::Comment,
                Some(issue.number),
                if adopt {
                    "adopts the open issue that already tracks this error"
                } else if risen {
                    "priority rose"
                } else {
                    "still happening"
                },
            );
            a.raise_priority = risen;
            a.adopt = adopt;
            a
        }
        IssueState::ClosedCompleted if config.reopen_closed => {
            let mut a = Action::new(ActionKind::Reopen, Some(issue.number), "regressed");
            a.raise_priority = risen;
            a
        }
        IssueState::ClosedCompleted => Action::new(
            ActionKind::None,
            Some(issue.number),
            "closed as completed and reopen_closed is false",
        ),
        IssueState::ClosedNotPlanned => Action::new(
            ActionKind::None,
            Some(issue.number),
            "closed as not planned: left closed",
        ),
    }
}

/// What to do about an open issue whose root causes a sweep no longer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietKind {
    /// One "not seen since" comment, after `quiet_after`.
    Note,
    /// The comment, then closed as completed, after `resolve_after`.
    Resolve,
}

/// One open issue that has gone quiet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quiet {
    pub kind: QuietKind,
    pub issue: u64,
    pub service: String,
    /// The last occurrence of any root cause the issue tracks.
    pub since: DateTime<Utc>,
    /// Sweeps of the service that have not seen it, this one included.
    pub sweeps: u64,
    /// The fingerprints the issue tracks.
    #[serde(skip)]
    pub fingerprints: Vec<String>,
}

/// The open tracked issues this sweep did not see, and what is due for each: a tracked
/// root cause counts only where its service was read (`swept`) and the sweep saw none of the
/// fingerprints routed to the same issue. Muted ones are left alone.
pub fn quiet(
    seen: &[&str],
    swept: &[String],
    issues: &[KnownIssue],
    state: &HashMap<String, Tracked>,
    config: &Config,
    now: DateTime<Utc>,
) -> Vec<Quiet> {
    // Every fingerprint routed to each issue.
    let mut routed: HashMap<u64, Vec<(&String, &Tracked)>> = HashMap::new();
    for (fingerprint, t) in state {
        if let Some(n) = t.merged_into.or(t.issue) {
            routed.entry(n).or_default().push((fingerprint, t));
        }
    }
    let mut out: Vec<Quiet> = routed
        .into_iter()
        .filter_map(|(number, rows)| {
            let issue = issues.iter().find(|i| i.number == number)?;
            if issue.state != IssueState::Open
                || rows.iter().any(|(f, t)| {
                    seen.contains(&f.as_str()) || t.muted_until.is_some_and(|u| u > now)
                })
            {
                return None;
            }
            let service = rows
                .iter()
                .find_map(|(_, t)| t.service.clone())
                .or_else(|| labelled_service(issue))?;
            if !swept.contains(&service) {
                return None;
            }
            let since = rows.iter().filter_map(|(_, t)| t.last_seen).max()?;
            let quiet_for = now - since;
            let kind = match config.resolve_after.0 {
                Some(after) if quiet_for >= after => QuietKind::Resolve,
                _ if quiet_for >= config.quiet_after.0
                    && !rows
                        .iter()
                        .any(|(_, t)| t.quiet_noted_at.is_some_and(|at| at >= since)) =>
                {
                    QuietKind::Note
                }
                _ => return None,
            };
            let mut fingerprints: Vec<String> = rows.iter().map(|(f, _)| (*f).clone()).collect();
            fingerprints.sort();
            Some(Quiet {
                kind,
                issue: number,
                service,
                since,
                sweeps: rows.iter().map(|(_, t)| t.quiet_sweeps).max().unwrap_or(0) + 1,
                fingerprints,
            })
        })
        .collect();
    out.sort_by_key(|q| q.issue);
    out
}

/// The service of an issue by its label: what a tracked row from before services were
/// recorded belongs to.
pub fn labelled_service(issue: &KnownIssue) -> Option<String> {
    issue
        .labels
        .iter()
        .find_map(|l| l.strip_prefix(crate::marker::SERVICE_LABEL))
        .map(str::to_string)
}

/// The issue whose marker carries the fingerprint: the open one, else the oldest.
pub fn tracking_issue<'a>(issues: &'a [KnownIssue], fingerprint: &str) -> Option<&'a KnownIssue> {
    issues
        .iter()
        .filter(|i| i.fingerprint.as_deref() == Some(fingerprint))
        .min_by_key(|i| (i.state != IssueState::Open, i.number))
}

/// A human-filed open issue that plainly tracks the same error: its title holds the
/// exception's `Type: message`.
fn adoptable<'a>(
    rc: &RootCause,
    issues: &'a [KnownIssue],
    adopted: &[u64],
) -> Option<&'a KnownIssue> {
    let e = rc.exception()?;
    if e.message.trim().len() < 8 {
        return None;
    }
    let needle = format!("{}: {}", e.kind, e.message.trim()).to_lowercase();
    issues
        .iter()
        .filter(|i| {
            i.fingerprint.is_none() && i.state == IssueState::Open && !adopted.contains(&i.number)
        })
        .filter(|i| i.title.to_lowercase().contains(&needle))
        .min_by_key(|i| i.number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::traceback::Exception;
    use crate::analyze::{Cluster, cluster::CauseKind, cluster::ClusterStats, cluster::Role};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 9, 15, 22, 47, 0).unwrap()
    }

    fn root_cause(fingerprint: &str, priority: Priority) -> RootCause {
        let mut stats = ClusterStats::new("api");
        stats.exception = Some(Exception {
            kind: "KeyError".into(),
            message: "'user_id' missing from request".into(),
            frames: Vec::new(),
            raised_while_handling: Vec::new(),
        });
        RootCause {
            fingerprint: fingerprint.into(),
            title: "KeyError: 'user_id' missing from request".into(),
            priority,
            reasons: Vec::new(),
            service: "api".into(),
            count: 5,
            first_seen: None,
            last_seen: None,
            deploy: None,
            clusters: vec![Cluster {
                template: "KeyError: 'user_id' missing from request".into(),
                role: Role::Cause(CauseKind::Exception),
                signature: "exception:KeyError".into(),
                stats,
                wrapper: false,
                evidence: Vec::new(),
                delay_ns: None,
            }],
        }
    }

    fn issue(number: u64, state: IssueState, fingerprint: Option<&str>, title: &str) -> KnownIssue {
        KnownIssue {
            number,
            title: title.into(),
            state,
            fingerprint: fingerprint.map(str::to_string),
            labels: Vec::new(),
            created_at: None,
        }
    }

    fn one(rc: RootCause, issues: &[KnownIssue], state: &HashMap<String, Tracked>) -> Action {
        plan(&[rc], issues, state, &Config::default(), now()).remove(0)
    }

    #[test]
    fn new_root_causes_are_filed_and_unfiled_priorities_are_not() {
        let a = one(root_cause("aa", Priority::P1), &[], &HashMap::new());
        assert_eq!((a.kind, a.issue), (ActionKind::Create, None));
        let a = one(root_cause("aa", Priority::P2), &[], &HashMap::new());
        assert_eq!(a.kind, ActionKind::None);
        assert!(a.reason.contains("file_priorities"));
    }

    #[test]
    fn an_open_issue_with_the_marker_gets_a_comment_after_the_cooldown() {
        let issues = [issue(4, IssueState::Open, Some("aa"), "x")];
        let a = one(root_cause("aa", Priority::P1), &issues, &HashMap::new());
        assert_eq!((a.kind, a.issue), (ActionKind::Comment, Some(4)));

        let recent = HashMap::from([(
            "aa".to_string(),
            Tracked {
                issue: Some(4),
                last_comment_at: Some(now() - chrono::Duration::hours(1)),
                priority: Some(Priority::P1),
                ..Tracked::default()
            },
        )]);
        let a = one(root_cause("aa", Priority::P1), &issues, &recent);
        assert_eq!((a.kind, a.issue), (ActionKind::None, Some(4)));
        assert!(a.reason.contains("comment_cooldown"));

        // A rise in priority is worth a comment at once, and the label follows.
        let a = one(root_cause("aa", Priority::P0), &issues, &recent);
        assert_eq!(a.kind, ActionKind::Comment);
        assert!(a.raise_priority);
    }

    #[test]
    fn closed_issues_reopen_only_when_closed_as_completed() {
        let done = [issue(4, IssueState::ClosedCompleted, Some("aa"), "x")];
        let a = one(root_cause("aa", Priority::P1), &done, &HashMap::new());
        assert_eq!((a.kind, a.issue), (ActionKind::Reopen, Some(4)));
        let wontfix = [issue(4, IssueState::ClosedNotPlanned, Some("aa"), "x")];
        let a = one(root_cause("aa", Priority::P1), &wontfix, &HashMap::new());
        assert_eq!((a.kind, a.issue), (ActionKind::None, Some(4)));
        let config = Config {
            reopen_closed: false,
            ..Config::default()
        };
        let a = plan(
            &[root_cause("aa", Priority::P1)],
            &done,
            &HashMap::new(),
            &config,
            now(),
        )
        .remove(0);
        assert_eq!(a.kind, ActionKind::None);
    }

    #[test]
    fn muted_and_merged_root_causes_are_routed() {
        let muted = HashMap::from([(
            "aa".to_string(),
            Tracked {
                issue: Some(4),
                muted_until: Some(now() + chrono::Duration::days(1)),
                ..Tracked::default()
            },
        )]);
        let issues = [
            issue(4, IssueState::Open, Some("aa"), "x"),
            issue(9, IssueState::Open, Some("bb"), "y"),
        ];
        assert_eq!(
            one(root_cause("aa", Priority::P0), &issues, &muted).kind,
            ActionKind::None
        );
        let merged = HashMap::from([(
            "aa".to_string(),
            Tracked {
                issue: Some(4),
                merged_into: Some(9),
                ..Tracked::default()
            },
        )]);
        let a = one(root_cause("aa", Priority::P0), &issues, &merged);
        assert_eq!((a.kind, a.issue), (ActionKind::Comment, Some(9)));
    }

    #[test]
    fn a_human_issue_naming_the_error_is_adopted_once() {
        let issues = [
            issue(
                2,
                IssueState::Open,
                None,
                "Prod: KeyError: 'user_id' missing from request on /users",
            ),
            issue(3, IssueState::Open, None, "Unrelated flaky test"),
        ];
        let a = one(root_cause("aa", Priority::P1), &issues, &HashMap::new());
        assert_eq!(
            (a.kind, a.issue, a.adopt),
            (ActionKind::Comment, Some(2), true)
        );
        // A closed human issue is not adopted.
        let closed = [issue(
            2,
            IssueState::ClosedCompleted,
            None,
            "KeyError: 'user_id' missing from request",
        )];
        assert_eq!(
            one(root_cause("aa", Priority::P1), &closed, &HashMap::new()).kind,
            ActionKind::Create
        );
    }

    #[test]
    fn new_issues_per_sweep_are_bounded() {
        let config = Config {
            max_new_issues: 2,
            ..Config::default()
        };
        let rcs: Vec<RootCause> = ["a1", "a2", "a3"]
            .iter()
            .map(|f| root_cause(f, Priority::P0))
            .collect();
        let actions = plan(&rcs, &[], &HashMap::new(), &config, now());
        let kinds: Vec<ActionKind> = actions.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![ActionKind::Create, ActionKind::Create, ActionKind::None]
        );
        assert!(actions[2].reason.contains("limit of 2"));
    }

    fn quiet_state(last_seen: DateTime<Utc>) -> HashMap<String, Tracked> {
        HashMap::from([(
            "aa".to_string(),
            Tracked {
                issue: Some(4),
                service: Some("api".into()),
                last_seen: Some(last_seen),
                quiet_sweeps: 3,
                ..Tracked::default()
            },
        )])
    }

    #[test]
    fn a_root_cause_not_seen_for_quiet_after_is_noted_once_then_resolved_if_configured() {
        let open = [issue(4, IssueState::Open, Some("aa"), "x")];
        let swept = ["api".to_string()];
        let config = Config::default();
        let hours = chrono::Duration::hours;
        // Seen in this sweep, or gone for less than quiet_after: nothing.
        assert!(
            quiet(
                &["aa"],
                &swept,
                &open,
                &quiet_state(now() - hours(30)),
                &config,
                now()
            )
            .is_empty()
        );
        assert!(
            quiet(
                &[],
                &swept,
                &open,
                &quiet_state(now() - hours(23)),
                &config,
                now()
            )
            .is_empty()
        );
        // Gone for 30 hours: one note, counting this sweep.
        let q = quiet(
            &[],
            &swept,
            &open,
            &quiet_state(now() - hours(30)),
            &config,
            now(),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].kind, q[0].issue, q[0].sweeps),
            (QuietKind::Note, 4, 4)
        );
        assert_eq!(q[0].since, now() - hours(30));
        // Noted already since it was last seen: not again.
        let mut noted = quiet_state(now() - hours(30));
        noted.get_mut("aa").unwrap().quiet_noted_at = Some(now() - hours(2));
        assert!(quiet(&[], &swept, &open, &noted, &config, now()).is_empty());
        // With resolve_after, past it: resolved even when noted.
        let resolving = Config {
            resolve_after: crate::config::SpanOrOff(Some(hours(24 * 7))),
            ..Config::default()
        };
        assert!(quiet(&[], &swept, &open, &noted, &resolving, now()).is_empty());
        let mut old = quiet_state(now() - hours(24 * 8));
        old.get_mut("aa").unwrap().quiet_noted_at = Some(now() - hours(24 * 6));
        let q = quiet(&[], &swept, &open, &old, &resolving, now());
        assert_eq!(q[0].kind, QuietKind::Resolve);
    }

    #[test]
    fn quiet_counts_only_open_unmuted_issues_of_a_service_read_with_none_of_its_root_causes_seen() {
        let state = quiet_state(now() - chrono::Duration::hours(30));
        let swept = ["api".to_string()];
        let config = Config::default();
        let open = [issue(4, IssueState::Open, Some("aa"), "x")];
        // Another service was read: this one may simply not have run.
        assert!(quiet(&[], &["worker".to_string()], &open, &state, &config, now()).is_empty());
        // Closed already.
        let closed = [issue(4, IssueState::ClosedCompleted, Some("aa"), "x")];
        assert!(quiet(&[], &swept, &closed, &state, &config, now()).is_empty());
        // Muted.
        let mut muted = state.clone();
        muted.get_mut("aa").unwrap().muted_until = Some(now() + chrono::Duration::days(1));
        assert!(quiet(&[], &swept, &open, &muted, &config, now()).is_empty());
        // A root cause merged into #4 was seen: #4 is not quiet.
        let mut merged = state.clone();
        merged.insert(
            "bb".into(),
            Tracked {
                issue: Some(9),
                merged_into: Some(4),
                service: Some("api".into()),
                last_seen: Some(now()),
                ..Tracked::default()
            },
        );
        assert!(quiet(&["bb"], &swept, &open, &merged, &config, now()).is_empty());
        // A row from before services were recorded: the issue's service label says it.
        let mut legacy = state.clone();
        legacy.get_mut("aa").unwrap().service = None;
        let mut labelled = issue(4, IssueState::Open, Some("aa"), "x");
        labelled.labels = vec!["service:api".into()];
        assert_eq!(
            quiet(&[], &swept, &[labelled], &legacy, &config, now()).len(),
            1
        );
        assert!(quiet(&[], &swept, &open, &legacy, &config, now()).is_empty());
    }
}
