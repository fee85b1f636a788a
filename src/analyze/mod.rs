//! The pure heart of log-gardener: entries in, root causes out. No I/O and no clock here; the
//! caller feeds entries one at a time and passes `now` in.
//!
//! entries → redact → join tracebacks → cluster (exception signature or mined template)
//! → correlate → prioritise → fingerprint.

pub mod cluster;
pub mod correlate;
pub mod fingerprint;
pub mod joiner;
pub mod miner;
pub mod priority;
pub mod redact;
pub mod traceback;

use crate::config::{Config, Priority, Thresholds};
use crate::model::{LogEntry, Severity, Window};
use chrono::{DateTime, Utc};
use cluster::{
    ClusterStats, Role, classify, in_app_path, is_health_path, missing_module, truncate,
};
use joiner::Joiner;
use redact::Redactor;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use traceback::{Event, Exception};

/// A title longer than this is cut.
const TITLE_CHARS: usize = 180;

/// One cluster: events with one template or one exception signature.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The template (`<*>` for variables), or `Type: message` for an exception.
    pub template: String,
    pub role: Role,
    /// What names the cluster across windows (exception signature or template).
    pub signature: String,
    pub stats: ClusterStats,
}

/// One failure: a cause and its symptoms, in one service.
#[derive(Debug, Clone)]
pub struct RootCause {
    pub fingerprint: String,
    pub title: String,
    pub priority: Priority,
    /// Why this priority, and why the clusters belong together.
    pub reasons: Vec<String>,
    pub service: String,
    pub count: u64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    /// The cause first, then its symptoms by count.
    pub clusters: Vec<Cluster>,
}

impl RootCause {
    /// The cause's exception, when the cause is one.
    pub fn exception(&self) -> Option<&Exception> {
        self.clusters
            .first()
            .and_then(|c| c.stats.exception.as_ref())
    }

    /// Whether the first cluster is a real cause (not a symptom whose cause is not logged).
    pub fn has_cause(&self) -> bool {
        self.clusters
            .first()
            .is_some_and(|c| !matches!(c.role, Role::Symptom(_)))
    }

    /// Events per severity over all clusters.
    pub fn by_severity(&self) -> BTreeMap<Severity, u64> {
        let mut out = BTreeMap::new();
        for c in &self.clusters {
            for (s, n) in &c.stats.by_severity {
                *out.entry(*s).or_default() += n;
            }
        }
        out
    }

    pub fn revisions(&self) -> BTreeSet<String> {
        self.clusters
            .iter()
            .flat_map(|c| c.stats.revisions.iter().cloned())
            .collect()
    }

    pub fn instances(&self) -> BTreeSet<String> {
        self.clusters
            .iter()
            .flat_map(|c| c.stats.instances.iter().cloned())
            .collect()
    }

    /// Events per minute, over all clusters.
    pub fn minutes(&self) -> BTreeMap<i64, u64> {
        let mut out = BTreeMap::new();
        for c in &self.clusters {
            for (m, n) in &c.stats.minutes {
                *out.entry(*m).or_default() += n;
            }
        }
        out
    }
}

/// Counts over the whole window, filed or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Entries read inside the window.
    pub entries: u64,
    pub by_severity: BTreeMap<Severity, u64>,
    /// Entries that could not be read, skipped.
    pub malformed: u64,
    /// Entries outside the window, skipped.
    pub outside_window: u64,
    /// Entries below `min_severity` that belong to no root cause.
    pub below_min_severity: u64,
    /// Logical events after joining tracebacks.
    pub events: u64,
}

/// What a sweep found.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub window: Window,
    pub services: Vec<String>,
    pub totals: Totals,
    /// Sorted by priority, then count.
    pub root_causes: Vec<RootCause>,
}

/// What the analysis needs of the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    pub min_severity: Severity,
    pub source_root: String,
    pub thresholds: Thresholds,
    pub redact: Vec<String>,
    /// Entries outside it are counted and skipped; `None` takes the entries' own span.
    pub window: Option<Window>,
    /// The service of entries that name none (plain text).
    pub default_service: String,
}

impl Options {
    pub fn from_config(config: &Config) -> Self {
        Options {
            min_severity: config.min_severity,
            source_root: config.source_root.clone(),
            thresholds: config.thresholds.clone(),
            redact: config.redact.clone(),
            window: None,
            default_service: "default".to_string(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::from_config(&Config::default())
    }
}

/// Streams entries into bounded per-cluster figures; memory grows with clusters, not entries.
pub struct Analyzer {
    options: Options,
    redactor: Redactor,
    joiner: Joiner,
    clusters: Clusters,
    totals: Totals,
    services: BTreeSet<String>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// The cluster table: exception signatures, and mined-template keys per service.
struct Clusters {
    miner: miner::Miner,
    by_template: HashMap<(String, u32), ClusterStats>,
    by_signature: HashMap<String, ClusterStats>,
    source_root: String,
}

impl Analyzer {
    /// Fails only when a configured redaction pattern is not a regular expression.
    pub fn new(options: Options) -> Result<Self, regex::Error> {
        let redactor = Redactor::new(&options.redact)?;
        let source_root = options.source_root.clone();
        Ok(Analyzer {
            options,
            redactor,
            joiner: Joiner::new(),
            clusters: Clusters {
                miner: miner::Miner::new(),
                by_template: HashMap::new(),
                by_signature: HashMap::new(),
                source_root,
            },
            totals: Totals::default(),
            services: BTreeSet::new(),
            first: None,
            last: None,
        })
    }

    /// Counts an entry that could not be read.
    pub fn malformed(&mut self) {
        self.totals.malformed += 1;
    }

    /// Takes the next entry, in the order of its source.
    pub fn push(&mut self, mut entry: LogEntry) {
        if let (Some(window), Some(t)) = (&self.options.window, entry.timestamp)
            && !window.contains(t)
        {
            self.totals.outside_window += 1;
            return;
        }
        self.totals.entries += 1;
        *self.totals.by_severity.entry(entry.severity).or_default() += 1;
        if let Some(t) = entry.timestamp {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if entry.service.is_none() {
            entry.service = Some(self.options.default_service.clone());
        }
        if let Some(s) = &entry.service
            && !self.services.contains(s)
        {
            self.services.insert(s.clone());
        }
        // Nothing past this point ever sees a secret.
        if let std::borrow::Cow::Owned(m) = self.redactor.redact(&entry.message) {
            entry.message = m;
        }
        if let Some(trace) = &entry.stack_trace
            && let std::borrow::Cow::Owned(t) = self.redactor.redact(trace)
        {
            entry.stack_trace = Some(t);
        }
        if entry.severity == Severity::Default {
            // Plain text on stdout or stderr: the runtime's words say what it is.
            entry.severity = joiner::infer_severity(&entry.message);
        }
        self.joiner.push(
            entry,
            &mut record_into(&mut self.clusters, &mut self.totals, &self.redactor),
        );
    }

    /// Groups, correlates and prioritises what was read. `now` stands in for the window's end
    /// when no entry had a timestamp.
    pub fn finish(mut self, now: DateTime<Utc>) -> Analysis {
        self.joiner.finish(&mut record_into(
            &mut self.clusters,
            &mut self.totals,
            &self.redactor,
        ));
        let window = self.options.window.unwrap_or(Window {
            start: self.first.unwrap_or(now),
            end: self.last.unwrap_or(now),
        });

        let mut kept = Vec::new();
        for cluster in self.clusters.into_clusters() {
            let below = cluster.stats.severity() < self.options.min_severity;
            let never_alone = matches!(cluster.role, Role::Noise | Role::FailureWarning);
            if below && never_alone {
                self.totals.below_min_severity += cluster.stats.entries;
            } else {
                kept.push(cluster);
            }
        }

        let mut root_causes = Vec::new();
        for mut group in correlate::correlate(kept) {
            // Below `min_severity` throughout: counted, never a root cause (never filed).
            if group
                .iter()
                .all(|c| c.stats.severity() < self.options.min_severity)
            {
                self.totals.below_min_severity +=
                    group.iter().map(|c| c.stats.entries).sum::<u64>();
                continue;
            }
            group[1..].sort_by(|a, b| {
                b.stats
                    .count
                    .cmp(&a.stats.count)
                    .then_with(|| a.template.cmp(&b.template))
            });
            let (priority, mut reasons) =
                priority::prioritise(&group, &self.options.thresholds, &window);
            let head = &group[0];
            if group.len() > 1 {
                reasons.push(format!(
                    "{} cluster(s) happen on the same instances, traces or minutes as the cause and follow from it",
                    group.len() - 1
                ));
            }
            let title = match head.role {
                Role::Symptom(kind) => format!("{}: {}", kind.describe(), head.template),
                _ => head.template.clone(),
            };
            let title = truncate(first_line(&title), TITLE_CHARS);
            let service = head.stats.service.clone();
            let count = group.iter().map(|c| c.stats.count).sum();
            let first_seen = group.iter().filter_map(|c| c.stats.first_seen).min();
            let last_seen = group.iter().filter_map(|c| c.stats.last_seen).max();
            root_causes.push(RootCause {
                fingerprint: fingerprint::fingerprint(&service, &head.signature),
                title,
                priority,
                reasons,
                service,
                count,
                first_seen,
                last_seen,
                clusters: group,
            });
        }
        root_causes.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        Analysis {
            window,
            services: self.services.into_iter().collect(),
            totals: self.totals,
            root_causes,
        }
    }
}

/// Where the joiner's events go: redacted again as a whole (a secret split over lines is
/// masked once its lines are together), counted, then into their cluster.
fn record_into<'a>(
    clusters: &'a mut Clusters,
    totals: &'a mut Totals,
    redactor: &'a Redactor,
) -> impl FnMut(Event) + 'a {
    move |mut event| {
        totals.events += 1;
        if event.entries > 1
            && let std::borrow::Cow::Owned(m) = redactor.redact(&event.entry.message)
        {
            event.entry.message = m;
            event.exception = traceback::parse_exception(&event.entry.full_text());
        }
        clusters.record(event);
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

impl Clusters {
    fn record(&mut self, event: Event) {
        let Event {
            entry,
            exception,
            entries,
            handled: _,
        } = event;
        let service = entry.service.clone().unwrap_or_default();
        let mut severity = entry.severity;
        if exception.is_some() && severity == Severity::Default {
            // A traceback on stderr with no severity is still an error.
            severity = Severity::Error;
        }
        let http = entry.http.as_ref().and_then(|h| {
            let status = h.status?;
            Some((status, is_health_path(h.path())))
        });
        let stats = match &exception {
            Some(e) => {
                let key = format!("{service}\n{}", exception_signature(e, &self.source_root));
                self.by_signature.entry(key).or_insert_with(|| {
                    let mut s = ClusterStats::new(&service);
                    s.exception = Some(e.clone());
                    s
                })
            }
            None if entry
                .http
                .as_ref()
                .is_some_and(|h| h.summary() == entry.message) =>
            {
                // A request log: its route and status are its template, ids masked.
                let h = entry
                    .http
                    .as_ref()
                    .map(request_template)
                    .unwrap_or_default();
                self.by_signature
                    .entry(format!("{service}\nrequest:{h}"))
                    .or_insert_with(|| ClusterStats::new(&service))
            }
            None => {
                let key = self.miner.add(first_line(&entry.message));
                self.by_template
                    .entry((service.clone(), key))
                    .or_insert_with(|| ClusterStats::new(&service))
            }
        };
        stats.record(
            &entry.message,
            severity,
            entries,
            entry.timestamp,
            entry.revision.as_deref(),
            entry.instance.as_deref(),
            entry.trace.as_deref(),
            http,
        );
    }

    fn into_clusters(self) -> Vec<Cluster> {
        let templates = self.miner.finish();
        let mut merged: BTreeMap<(String, usize), ClusterStats> = BTreeMap::new();
        for ((service, key), stats) in self.by_template {
            let index = templates.template_of(key);
            match merged.get_mut(&(service.clone(), index)) {
                Some(existing) => existing.merge(stats),
                None => {
                    merged.insert((service, index), stats);
                }
            }
        }
        let mut out = Vec::new();
        for ((_, index), stats) in merged {
            let template = templates.template(index).to_string();
            let example = stats.examples.first().cloned().unwrap_or_default();
            out.push(Cluster {
                role: classify(&example, &stats),
                signature: format!("template:{template}"),
                template,
                stats,
            });
        }
        for (key, stats) in self.by_signature {
            let e = stats.exception.clone();
            let template = match &e {
                Some(e) if !e.message.is_empty() => {
                    let all_same = stats.examples.len() <= 1;
                    let message = if all_same || missing_module(e).is_some() {
                        e.message.clone()
                    } else {
                        miner::mask(&e.message)
                    };
                    format!("{}: {}", e.kind, message)
                }
                Some(e) => e.kind.clone(),
                None => key
                    .split_once("\nrequest:")
                    .map_or_else(String::new, |(_, r)| r.to_string()),
            };
            let example = stats.examples.first().cloned().unwrap_or_default();
            out.push(Cluster {
                role: classify(&example, &stats),
                signature: key
                    .split_once('\n')
                    .map_or(key.clone(), |(_, s)| s.to_string()),
                template,
                stats,
            });
        }
        out
    }
}

/// `GET /api/users/<*> 500`: method, path with its ids masked, status.
fn request_template(h: &crate::model::HttpRequest) -> String {
    let path: Vec<String> = h
        .path()
        .split('/')
        .map(|seg| {
            if seg.is_empty() {
                String::new()
            } else {
                miner::mask(seg)
            }
        })
        .collect();
    let status = h.status.map(|s| s.to_string()).unwrap_or_default();
    format!(
        "{} {} {}",
        h.method.as_deref().unwrap_or("-"),
        path.join("/"),
        status
    )
}

/// What makes two exceptions one cluster: the type, the missing module of an import error,
/// and the service's own frames without line numbers; the message only when there are no
/// frames, with its variable parts masked.
pub fn exception_signature(e: &Exception, source_root: &str) -> String {
    let frames: Vec<String> = e
        .frames
        .iter()
        .filter_map(|f| in_app_path(f, source_root).map(|p| format!("{p}:{}", f.function)))
        .collect();
    let mut signature = format!("exception:{}", e.kind);
    if let Some(module) = missing_module(e) {
        signature.push_str(&format!("\nmodule:{module}"));
    }
    if frames.is_empty() {
        signature.push_str(&format!("\nmessage:{}", miner::mask(&e.message)));
    } else {
        signature.push_str(&format!("\nframes:{}", frames.join("|")));
    }
    signature
}
