//! The deploy that did it: which revisions of a service the window holds, which deploys its
//! audit log records, and for a root cause the revision it is new in, the earlier revision
//! that was free of it, and who deployed which commit.

use crate::model::{Deploy, LogEntry};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// At most this many revisions and deploys are remembered per service.
const MAX_PER_SERVICE: usize = 200;

/// What a root cause's revisions say of the deploy that brought it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployFacts {
    /// The first revision it was seen in.
    pub new_in: String,
    /// The revision before it that the window holds without it: `None` when the root cause
    /// is in every earlier revision of the window (or there is none).
    pub not_in: Option<String>,
    /// When the revision was deployed and by whom, from its audit log entry (redacted like
    /// every text).
    pub deployed_at: Option<DateTime<Utc>>,
    pub deployed_by: Option<String>,
    /// The commits of the revision and of the one before it, when their deploys carry them.
    pub commit: Option<String>,
    pub previous_commit: Option<String>,
}

/// Revisions and deploys seen, per service.
#[derive(Debug, Default)]
pub struct Deploys {
    /// Per service, each revision and when it was first seen.
    revisions: HashMap<String, BTreeMap<String, DateTime<Utc>>>,
    /// Per service, each deploy and when.
    deploys: HashMap<String, Vec<(DateTime<Utc>, Deploy)>>,
    /// The last (service, revision) noted and when it was first seen: most entries repeat it,
    /// and only an earlier one needs the table.
    last: Option<(String, String, DateTime<Utc>)>,
    /// Where a deploy names its commit (`label:commit-sha`, `env:GIT_COMMIT`), in order; empty
    /// for the default label.
    commit_keys: Vec<String>,
}

impl Deploys {
    /// Deploys whose commit is read from `commit_keys` (`label:NAME`, `env:NAME`), the first
    /// that a deploy has.
    pub fn reading_commits_from(commit_keys: Vec<String>) -> Self {
        Deploys {
            commit_keys,
            ..Deploys::default()
        }
    }

    /// Notes an entry's revision and deploy (the principal already redacted).
    pub fn note(&mut self, entry: &LogEntry) {
        let (Some(service), Some(t)) = (&entry.service, entry.timestamp) else {
            return;
        };
        if let Some(revision) = &entry.revision {
            let known = self
                .last
                .as_ref()
                .is_some_and(|(s, r, first)| s == service && r == revision && *first <= t);
            if !known {
                let revisions = self.revisions.entry(service.clone()).or_default();
                if revisions.len() < MAX_PER_SERVICE || revisions.contains_key(revision) {
                    let first = revisions.entry(revision.clone()).or_insert(t);
                    *first = (*first).min(t);
                    self.last = Some((service.clone(), revision.clone(), *first));
                }
            }
        }
        if let Some(deploy) = &entry.deploy {
            let deploys = self.deploys.entry(service.clone()).or_default();
            if deploys.len() < MAX_PER_SERVICE {
                let mut deploy = deploy.clone();
                if !self.commit_keys.is_empty() {
                    deploy.commit = self
                        .commit_keys
                        .iter()
                        .find_map(|k| deploy.commits.get(k))
                        .cloned();
                }
                deploys.push((t, deploy));
            }
            if let Some(revision) = &deploy.revision {
                let revisions = self.revisions.entry(service.clone()).or_default();
                if revisions.len() < MAX_PER_SERVICE {
                    revisions.entry(revision.clone()).or_insert(t);
                }
            }
        }
    }

    /// The deploy facts of a root cause of `service` seen in `revisions`, first at `first_seen`.
    pub fn facts<'a>(
        &self,
        service: &str,
        revisions: impl IntoIterator<Item = &'a String>,
        first_seen: Option<DateTime<Utc>>,
    ) -> Option<DeployFacts> {
        let known = self.revisions.get(service)?;
        let order = |r: &String| (revision_number(r), known.get(r).copied(), r.clone());
        let mine: Vec<&String> = revisions.into_iter().collect();
        let new_in = mine.iter().min_by_key(|r| order(r))?.to_string();
        let before = order(&new_in);
        // The latest revision before it that never showed it.
        let not_in = known
            .keys()
            .filter(|r| !mine.contains(r) && order(r) < before)
            .max_by_key(|r| order(r))
            .cloned();
        let deploys = self.deploys.get(service);
        let deploy_of = |revision: &str| {
            deploys.and_then(|d| {
                d.iter()
                    .rev()
                    .find(|(_, d)| d.revision.as_deref() == Some(revision))
            })
        };
        // The deploy of the revision; one that names none counts when it came just before.
        let deploy = deploy_of(&new_in).or_else(|| {
            let first = first_seen?;
            deploys?
                .iter()
                .rev()
                .find(|(t, d)| d.revision.is_none() && *t <= first)
        });
        if not_in.is_none() && deploy.is_none() {
            // Seen in every revision the window holds, and no deploy of it: nothing to say.
            return None;
        }
        Some(DeployFacts {
            deployed_at: deploy.map(|(t, _)| *t),
            deployed_by: deploy.and_then(|(_, d)| d.principal.clone()),
            commit: deploy.and_then(|(_, d)| d.commit.clone()),
            previous_commit: not_in
                .as_deref()
                .and_then(deploy_of)
                .and_then(|(_, d)| d.commit.clone()),
            new_in,
            not_in,
        })
    }
}

/// The number Cloud Run gives a revision (`api-00042-xyz` is 42); `u64::MAX` for a name that
/// has none, ordered by when it was first seen then.
fn revision_number(revision: &str) -> u64 {
    let mut parts = revision.rsplit('-');
    let _suffix = parts.next();
    parts
        .next()
        .filter(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 9, 15, 22, minute, 0).unwrap()
    }

    fn line(revision: &str, minute: u32) -> LogEntry {
        let mut e = LogEntry::new("x");
        e.service = Some("api".into());
        e.revision = Some(revision.into());
        e.timestamp = Some(at(minute));
        e
    }

    fn deploy(revision: Option<&str>, commit: Option<&str>, minute: u32) -> LogEntry {
        let mut e = line("api-00000-aud", minute);
        e.revision = None;
        e.deploy = Some(Deploy {
            revision: revision.map(str::to_string),
            principal: Some("[EMAIL]".into()),
            commit: commit.map(str::to_string),
            commits: commit
                .map(|c| [("env:GIT_COMMIT".to_string(), c.to_string())].into())
                .unwrap_or_default(),
        });
        e
    }

    #[test]
    fn the_commit_is_read_where_the_configuration_says() {
        let mut d =
            Deploys::reading_commits_from(vec!["label:commit-sha".into(), "env:GIT_COMMIT".into()]);
        d.note(&line("api-00041-abc", 0));
        d.note(&deploy(Some("api-00042-xyz"), Some("2222222bbbb"), 10));
        d.note(&line("api-00042-xyz", 11));
        let revisions = ["api-00042-xyz".to_string()];
        let facts = d.facts("api", &revisions, Some(at(11))).unwrap();
        assert_eq!(facts.commit.as_deref(), Some("2222222bbbb"));
        // Read from a label only, the same deploy names no commit.
        let mut d = Deploys::reading_commits_from(vec!["label:commit-sha".into()]);
        d.note(&deploy(Some("api-00042-xyz"), Some("2222222bbbb"), 10));
        d.note(&line("api-00042-xyz", 11));
        let facts = d.facts("api", &revisions, Some(at(11))).unwrap();
        assert_eq!(facts.commit, None);
    }

    #[test]
    fn a_root_cause_new_in_a_revision_names_the_revision_before_and_its_deploy() {
        let mut d = Deploys::default();
        d.note(&line("api-00041-abc", 0));
        d.note(&deploy(Some("api-00041-abc"), Some("1111111aaaa"), 1));
        d.note(&deploy(Some("api-00042-xyz"), Some("2222222bbbb"), 10));
        d.note(&line("api-00042-xyz", 11));
        d.note(&line("api-00041-abc", 12));
        let facts = d
            .facts("api", [&"api-00042-xyz".to_string()], Some(at(11)))
            .unwrap();
        assert_eq!(facts.new_in, "api-00042-xyz");
        assert_eq!(facts.not_in.as_deref(), Some("api-00041-abc"));
        assert_eq!(facts.deployed_at, Some(at(10)));
        assert_eq!(facts.deployed_by.as_deref(), Some("[EMAIL]"));
        assert_eq!(facts.commit.as_deref(), Some("2222222bbbb"));
        assert_eq!(facts.previous_commit.as_deref(), Some("1111111aaaa"));
        // In every revision, with no deploy in the window: nothing to say.
        let both = ["api-00041-abc".to_string(), "api-00042-xyz".to_string()];
        let mut quiet = Deploys::default();
        quiet.note(&line("api-00041-abc", 0));
        quiet.note(&line("api-00042-xyz", 5));
        assert_eq!(quiet.facts("api", &both, Some(at(0))), None);
        // Only the new revision, no audit entry: still new in it.
        let facts = quiet
            .facts("api", [&"api-00042-xyz".to_string()], Some(at(5)))
            .unwrap();
        assert_eq!(
            (facts.not_in.as_deref(), facts.deployed_at),
            (Some("api-00041-abc"), None)
        );
    }

    #[test]
    fn revisions_are_ordered_by_their_number() {
        assert_eq!(revision_number("netra-backend-00087-kt2"), 87);
        assert_eq!(revision_number("custom-name"), u64::MAX);
        let mut d = Deploys::default();
        // Seen later in the window, yet the older revision.
        d.note(&line("api-00042-xyz", 0));
        d.note(&line("api-00009-old", 3));
        let facts = d
            .facts("api", [&"api-00042-xyz".to_string()], Some(at(0)))
            .unwrap();
        assert_eq!(facts.not_in.as_deref(), Some("api-00009-old"));
    }
}
