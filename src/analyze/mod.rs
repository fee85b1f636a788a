//! The pure heart of log-gardener: entries in, root causes out. No I/O and no clock here; the
//! caller feeds entries one at a time and passes `now` in.
//!
//! entries → redact → join tracebacks → cluster (exception signature or mined template)
//! → correlate → prioritise → fingerprint.

pub mod cluster;
pub mod correlate;
pub mod deploys;
pub mod entities;
pub mod episodes;
pub mod fingerprint;
pub mod joiner;
pub mod miner;
pub mod priority;
pub mod redact;
pub mod title;
pub mod traceback;

use crate::config::{Config, Priority, Thresholds};
use crate::model::{LogEntry, Severity, Window};
use chrono::{DateTime, Utc};
use cluster::{ClusterStats, Role, classify, in_app_path, is_health_path, missing_module};
use episodes::Occurrence;
use joiner::Joiner;
use redact::Redactor;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use traceback::{Event, Exception};

/// `Container called exit(0).`, `exited with code 0`: a process that finished.
static CLEAN_EXIT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\bexit\(0\)|exited with (?:code|status) 0\b|\bexit status 0\b").unwrap()
});

/// Whether a line says a process finished with status 0; a cheap look before the regex.
fn is_clean_exit(message: &str) -> bool {
    message.contains("xit") && message.contains('0') && CLEAN_EXIT.is_match(message)
}

/// Whether an entry is Cloud Run's own (its system log), not the container's.
fn is_platform_log(log_name: Option<&str>) -> bool {
    log_name.is_some_and(|l| l.ends_with("varlog%2Fsystem") || l.ends_with("varlog/system"))
}

/// A title longer than this is cut.
const TITLE_CHARS: usize = 220;

/// One cluster: events with one template or one exception signature.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The template (`<*>` for variables), or `Type: message` for an exception.
    pub template: String,
    pub role: Role,
    /// What names the cluster across windows (exception signature or template).
    pub signature: String,
    pub stats: ClusterStats,
    /// A generic exception that wraps the specific one (`CancelledError`, `TimeoutError`).
    pub wrapper: bool,
    /// Why it belongs to its root cause; empty for the cause.
    pub evidence: Vec<correlate::Evidence>,
    /// How long after the cause it typically happens, where start-ups show it.
    pub delay_ns: Option<i64>,
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
    /// The revision it is new in, and the deploy of it, when the window tells.
    pub deploy: Option<deploys::DeployFacts>,
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
    /// Events put in a service's "other" cluster: past the clusters a sweep keeps apart.
    pub folded: u64,
    /// Messages cut to their first bytes (what is looked at of a message is bounded).
    pub cut: u64,
}

/// What of one message is looked at; the rest is cut (after redaction, so that a secret is
/// masked whole) and the cut counted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// What of a joined event or a stack trace is looked at.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Distinct message forms the miner keeps; later new forms go to "other".
pub const MAX_FORMS: usize = 20_000;
/// Raw clusters (forms and signatures) kept apart while reading.
pub const MAX_RAW_CLUSTERS: usize = 25_000;
/// Clusters kept apart in a sweep's result: the most severe and frequent; the rest are
/// folded into one "other" cluster per service.
pub const MAX_CLUSTERS: usize = 2_000;
/// The template of a service's "other" cluster.
pub const OTHER_TEMPLATE: &str = "(other messages, beyond the clusters a sweep keeps apart)";

/// Before redaction: `text` cut to at most `max` bytes at its last white space (a token cut
/// in two is dropped whole), with a note of what was cut; whether it was cut.
fn precut(text: &mut String, max: usize) -> bool {
    cut_at(text, max, true)
}

/// `text` cut to at most `max` bytes at a character boundary, with a note of what was cut;
/// whether it was cut.
fn cut_to(text: &mut String, max: usize) -> bool {
    cut_at(text, max, false)
}

fn cut_at(text: &mut String, max: usize, at_space: bool) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if at_space {
        end = text[..end].rfind(char::is_whitespace).unwrap_or(0);
    }
    let dropped = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(" … [{dropped} bytes cut]"));
    true
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
    /// Where a deploy names its commit: `label:NAME`, then `env:NAME`.
    pub commit_keys: Vec<String>,
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
            commit_keys: config.commit_keys(),
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
    deploys: deploys::Deploys,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// The cluster table (exception signatures, and mined-template keys per service), and the
/// occurrences the correlation reads episodes from.
struct Clusters {
    miner: miner::Miner,
    /// Raw clusters, by the id `record` hands out.
    raw: Vec<ClusterStats>,
    /// The miner's key of a raw template cluster, `None` for a signature cluster.
    raw_template: Vec<Option<u32>>,
    raw_signature: Vec<String>,
    by_template: HashMap<(String, u32), u32>,
    by_signature: HashMap<String, u32>,
    source_root: String,
    occurrences: Vec<Occurrence>,
    instances: HashMap<String, u32>,
    traces: HashMap<String, u32>,
    /// `GET /orders/7`: the requests app lines and request logs name.
    requests: HashMap<String, u32>,
    traffic: episodes::Traffic,
}

impl Analyzer {
    /// Fails only when a configured redaction pattern is not a regular expression.
    pub fn new(options: Options) -> Result<Self, regex::Error> {
        let redactor = Redactor::new(&options.redact)?;
        let source_root = options.source_root.clone();
        let deploys = deploys::Deploys::reading_commits_from(options.commit_keys.clone());
        Ok(Analyzer {
            options,
            redactor,
            joiner: Joiner::new(),
            clusters: Clusters {
                miner: miner::Miner::new(),
                raw: Vec::new(),
                raw_template: Vec::new(),
                raw_signature: Vec::new(),
                by_template: HashMap::new(),
                by_signature: HashMap::new(),
                source_root,
                occurrences: Vec::new(),
                instances: HashMap::new(),
                traces: HashMap::new(),
                requests: HashMap::new(),
                traffic: episodes::Traffic::default(),
            },
            totals: Totals::default(),
            services: BTreeSet::new(),
            deploys,
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
        // Who deployed is a person's address: masked like every text.
        if let Some(p) = entry.deploy.as_mut().and_then(|d| d.principal.as_mut())
            && let std::borrow::Cow::Owned(masked) = self.redactor.redact(p)
        {
            *p = masked;
        }
        self.deploys.note(&entry);
        // Redaction's work grows with the text: what is far past what Cloud Logging itself
        // keeps of an entry (256 KB) is cut first, at a space, so that no secret is cut in
        // two and left half unmasked.
        let mut cut = precut(&mut entry.message, MAX_EVENT_BYTES);
        if let Some(trace) = &mut entry.stack_trace {
            cut |= precut(trace, MAX_EVENT_BYTES);
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
        cut |= cut_to(&mut entry.message, MAX_MESSAGE_BYTES);
        if let Some(trace) = &mut entry.stack_trace {
            cut |= cut_to(trace, MAX_EVENT_BYTES);
        }
        self.totals.cut += u64::from(cut);
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

        let (clusters, occurrences, mut traffic, folded) = self.clusters.into_parts();
        self.totals.folded += folded;
        let mut root_causes = Vec::new();
        let groups = correlate::correlate(clusters, occurrences, &traffic);
        for g in &groups {
            if g.clusters
                .iter()
                .all(|c| c.stats.http_statuses.keys().any(|s| *s >= 500))
            {
                let service = g.clusters[0].stats.service.clone();
                let minutes = traffic.unexplained_failures.entry(service).or_default();
                for c in &g.clusters {
                    minutes.extend(c.stats.minutes.keys().copied());
                }
            }
        }
        for group in groups {
            let correlate::Group {
                clusters: mut group,
                crash,
            } = group;
            // Below `min_severity` throughout: counted, never a root cause (never filed).
            if group
                .iter()
                .all(|c| c.stats.severity() < self.options.min_severity)
            {
                self.totals.below_min_severity +=
                    group.iter().map(|c| c.stats.entries).sum::<u64>();
                continue;
            }
            // A failure known only by its symptoms is titled by the first thing the service's
            // own code said about it (the line naming what timed out), not by the request log
            // that ended it.
            if matches!(group[0].role, Role::Symptom(_))
                && !group[0].stats.http_statuses.is_empty()
                && let Some(i) = (1..group.len())
                    .filter(|&i| {
                        let c = &group[i];
                        c.stats.http_statuses.is_empty()
                            && c.stats.severity() >= Severity::Error
                            && c.role != Role::Noise
                            && c.stats.count * 2 >= group[0].stats.count
                    })
                    .min_by_key(|&i| (group[i].stats.first_seen, i))
            {
                group.swap(0, i);
                let evidence = std::mem::take(&mut group[0].evidence);
                group[i].evidence = evidence;
            }
            group[1..].sort_by(|a, b| {
                b.stats
                    .count
                    .cmp(&a.stats.count)
                    .then_with(|| a.template.cmp(&b.template))
            });
            let service = group[0].stats.service.clone();
            let (priority, reasons) =
                priority::prioritise(&group, &crash, &traffic, &self.options.thresholds, &window);
            let title = title::fit(
                &title::of_root_cause(&group, &self.options.source_root),
                TITLE_CHARS,
            );
            let count = group.iter().map(|c| c.stats.count).sum();
            let first_seen = group.iter().filter_map(|c| c.stats.first_seen).min();
            let last_seen = group.iter().filter_map(|c| c.stats.last_seen).max();
            let deploy = self.deploys.facts(
                &service,
                &group[0].stats.revisions,
                group[0].stats.first_seen,
            );
            root_causes.push(RootCause {
                fingerprint: fingerprint::fingerprint(&service, &group[0].signature),
                title,
                priority,
                reasons,
                service,
                count,
                first_seen,
                last_seen,
                deploy,
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
        if event.entries > 1 {
            let mut changed = false;
            if let std::borrow::Cow::Owned(m) = redactor.redact(&event.entry.message) {
                event.entry.message = m;
                changed = true;
            }
            if cut_to(&mut event.entry.message, MAX_EVENT_BYTES) {
                totals.cut += 1;
                changed = true;
            }
            if changed {
                event.exception = traceback::parse_exception(&event.entry.full_text());
            }
        }
        if clusters.record(event) {
            totals.folded += 1;
        }
    }
}

impl Clusters {
    /// Records an event in its cluster; whether that was the service's "other" cluster.
    fn record(&mut self, event: Event) -> bool {
        let Event {
            entry,
            exception,
            entries,
            handled,
        } = event;
        let service = entry.service.clone().unwrap_or_default();
        let severity = entry.severity;
        let http = entry.http.as_ref().and_then(|h| {
            let status = h.status?;
            Some((status, is_health_path(h.path())))
        });
        let access = exception
            .is_none()
            .then(|| access_line_template(joiner::headline(&entry.message)))
            .flatten();
        let id = match &exception {
            Some(e) => {
                let key = format!("{service}\n{}", exception_signature(e, &self.source_root));
                self.signature_cluster(key, &service, Some(e))
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
                self.signature_cluster(format!("{service}\nrequest:{h}"), &service, None)
            }
            None if access.is_some() => {
                // A web server's access line is a request log too: its route and status.
                let line = access.unwrap_or_default();
                self.signature_cluster(format!("{service}\nline:{line}"), &service, None)
            }
            None if is_clean_exit(&entry.message) => {
                // A process that finished is not a crash: never one cluster with exit(1).
                let line = miner::mask(joiner::headline(&entry.message)).replace("<*>", "0");
                self.signature_cluster(format!("{service}\nline:{line}"), &service, None)
            }
            None => match self
                .miner
                .add_within(joiner::headline(&entry.message), MAX_FORMS)
            {
                None => self.other_cluster(&service),
                Some(key) => match self.by_template.get(&(service.clone(), key)) {
                    Some(&id) => id,
                    None if self.raw.len() >= MAX_RAW_CLUSTERS => self.other_cluster(&service),
                    None => {
                        let id = self.raw.len() as u32;
                        self.raw.push(ClusterStats::new(&service));
                        self.raw_template.push(Some(key));
                        self.raw_signature.push(String::new());
                        self.by_template.insert((service.clone(), key), id);
                        id
                    }
                },
            },
        };
        let folded = self.raw_signature[id as usize].ends_with(OTHER_KEY);
        let stats = &mut self.raw[id as usize];
        stats.record(
            &entry.message,
            severity,
            entries,
            entry.timestamp,
            entry.revision.as_deref(),
            entry.instance.as_deref(),
            handled,
            http,
        );
        if entry.response_status.is_some_and(|s| s >= 500) {
            stats.reported_5xx += 1;
        }
        if let Some(e) = &exception {
            stats.note_message(&e.message);
        }
        if let Some(h) = &entry.http
            && h.status.is_some_and(|s| s >= 500)
            && self.raw_template[id as usize].is_some()
            && stats.routes.len() <= 3
        {
            // A failed request with a text: its route goes into the title.
            stats.note_route(&request_template(h));
        }
        let Some(t) = entry.timestamp.and_then(|t| t.timestamp_nanos_opt()) else {
            return folded;
        };
        let instance = intern(&mut self.instances, entry.instance.as_deref());
        if http.is_some_and(|(_, health)| !health) && !self.traffic.requested.contains(&service) {
            self.traffic.requested.insert(service.clone());
        }
        if let Some((status, health)) = http
            && status < 500
        {
            // Requests that went through are only counted: there are many, and they say
            // only that the service served. Health checks and static assets pass without the
            // application's code, so they do not say that it serves its users.
            let path = entry.http.as_ref().map_or("", |h| h.path());
            if !health && !cluster::is_static_path(path) {
                self.traffic
                    .served(&service, entry.revision.as_deref(), instance, t);
            }
            if status >= 400 {
                let trace = intern(&mut self.traces, entry.trace.as_deref());
                let latency_ns = latency_ms(&entry).map_or(0, |ms| (ms * 1e6).min(1e15) as i64);
                self.traffic
                    .client_error(status, instance, t, latency_ns, trace);
            }
            if let (Some(trace), Some(ms)) = (entry.trace.as_deref(), latency_ms(&entry)) {
                self.traffic
                    .slow_request((ms as u32).min(u32::MAX - 1), trace);
            }
            return folded;
        }
        let work = severity <= Severity::Info
            && entry.http.is_none()
            && !is_platform_log(entry.log_name.as_deref());
        self.traffic.seen(&service, instance, t, work);
        if entry.labels.contains_key("run.googleapis.com/task_index")
            || entry
                .labels
                .contains_key("run.googleapis.com/execution_name")
        {
            self.traffic.jobs.insert(service.clone());
        }
        let trace = intern(&mut self.traces, entry.trace.as_deref());
        // A request log names its request by its method and path, an application line as its
        // logger wrote it.
        let logged = entry
            .http
            .as_ref()
            .and_then(|h| h.method.as_deref().map(|m| format!("{m} {}", h.path())));
        let request = intern(
            &mut self.requests,
            logged.as_deref().or(entry.request.as_deref()),
        );
        self.occurrences.push(Occurrence {
            cluster: id,
            instance,
            t,
            trace,
            request,
            // Saturating: a latency from outside can be anything.
            latency_ms: latency_ms(&entry).map_or(u32::MAX, |ms| (ms as u32).min(u32::MAX - 1)),
            handled,
            severity,
            clean_exit: is_clean_exit(&entry.message),
            platform: is_platform_log(entry.log_name.as_deref()),
        });
        folded
    }

    /// The service's cluster of what is past the caps.
    fn other_cluster(&mut self, service: &str) -> u32 {
        self.signature_cluster(format!("{service}{OTHER_KEY}"), service, None)
    }

    fn signature_cluster(&mut self, key: String, service: &str, e: Option<&Exception>) -> u32 {
        if let Some(&id) = self.by_signature.get(&key) {
            return id;
        }
        if self.raw.len() >= MAX_RAW_CLUSTERS && !key.ends_with(OTHER_KEY) {
            return self.other_cluster(service);
        }
        let id = self.raw.len() as u32;
        let mut stats = ClusterStats::new(service);
        stats.exception = e.cloned();
        self.raw.push(stats);
        self.raw_template.push(None);
        self.raw_signature.push(key.clone());
        self.by_signature.insert(key, id);
        id
    }

    /// The clusters, the occurrences pointing at them, what was served, and how many events
    /// were folded into "other" clusters at the end.
    fn into_parts(self) -> (Vec<Cluster>, Vec<Occurrence>, episodes::Traffic, u64) {
        let templates = self.miner.finish();
        // Raw template clusters of one service and one final template are one cluster.
        let mut final_of: HashMap<(String, usize), usize> = HashMap::new();
        let mut raw_to_final = vec![0u32; self.raw.len()];
        let mut out: Vec<Cluster> = Vec::new();
        let mut order: Vec<usize> = (0..self.raw.len()).collect();
        // Deterministic: by what names the cluster, not by arrival.
        let name = |i: usize| match self.raw_template[i] {
            Some(k) => (0, templates.template(templates.template_of(k)).to_string()),
            None => (1, self.raw_signature[i].clone()),
        };
        order.sort_by_cached_key(|&i| (self.raw[i].service.clone(), name(i)));
        let mut raw: Vec<Option<ClusterStats>> = self.raw.into_iter().map(Some).collect();
        for i in order {
            let Some(stats) = raw[i].take() else { continue };
            match self.raw_template[i] {
                Some(key) => {
                    let index = templates.template_of(key);
                    let slot = (stats.service.clone(), index);
                    match final_of.get(&slot) {
                        Some(&f) => {
                            out[f].stats.merge(stats);
                            raw_to_final[i] = f as u32;
                        }
                        None => {
                            let template = templates.template(index).to_string();
                            final_of.insert(slot, out.len());
                            raw_to_final[i] = out.len() as u32;
                            out.push(Cluster {
                                role: Role::Noise,
                                signature: format!("template:{template}"),
                                template,
                                stats,
                                wrapper: false,
                                evidence: Vec::new(),
                                delay_ns: None,
                            });
                        }
                    }
                }
                None => {
                    let key = &self.raw_signature[i];
                    let template = signature_template(key, &stats);
                    raw_to_final[i] = out.len() as u32;
                    out.push(Cluster {
                        role: Role::Noise,
                        signature: key
                            .split_once('\n')
                            .map_or(key.clone(), |(_, s)| s.to_string()),
                        template,
                        stats,
                        wrapper: false,
                        evidence: Vec::new(),
                        delay_ns: None,
                    });
                }
            }
        }
        let (mut out, index, folded) = fold_beyond(out, MAX_CLUSTERS);
        for f in &mut raw_to_final {
            *f = index[*f as usize];
        }
        for c in &mut out {
            let example = c.stats.examples.first().cloned().unwrap_or_default();
            c.role = if c.signature == "other" {
                // Many kinds of message: never a cause of anything else.
                Role::Noise
            } else {
                classify(joiner::headline(&example), &c.stats)
            };
            c.wrapper = cluster::is_wrapper(&c.template, c.stats.exception.as_ref());
        }
        let mut occurrences = self.occurrences;
        for o in &mut occurrences {
            o.cluster = raw_to_final[o.cluster as usize];
        }
        episodes::trace_by_request(&mut occurrences);
        let mut traffic = self.traffic;
        traffic.resolve_slow(&self.traces);
        let answered = traffic.answered_4xx(&out, &occurrences);
        for (c, n) in out.iter_mut().zip(answered) {
            c.stats.answered_4xx = n;
        }
        (out, occurrences, traffic, folded)
    }
}

/// A request log's latency in milliseconds, when it is one a duration can be (from outside,
/// it can be anything).
fn latency_ms(entry: &LogEntry) -> Option<f64> {
    entry
        .http
        .as_ref()
        .and_then(|h| h.latency_ms)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
}

/// The end of the signature key of a service's "other" cluster.
const OTHER_KEY: &str = "\nother";

/// Keeps the `max` clusters that matter most (the most severe, then the most frequent) and
/// folds the others of each service into its "other" cluster; the index each cluster went to.
fn fold_beyond(clusters: Vec<Cluster>, max: usize) -> (Vec<Cluster>, Vec<u32>, u64) {
    if clusters.len() <= max {
        let same = (0..clusters.len() as u32).collect();
        return (clusters, same, 0);
    }
    let mut rank: Vec<usize> = (0..clusters.len()).collect();
    rank.sort_by(|&a, &b| {
        let (a, b) = (&clusters[a], &clusters[b]);
        b.stats
            .severity()
            .cmp(&a.stats.severity())
            .then_with(|| b.stats.count.cmp(&a.stats.count))
            .then_with(|| a.template.cmp(&b.template))
    });
    // Room for the "other" clusters of the services folded into.
    let services: BTreeSet<&str> = clusters.iter().map(|c| c.stats.service.as_str()).collect();
    let keep: std::collections::HashSet<usize> = rank
        .iter()
        .copied()
        .filter(|&i| clusters[i].signature != "other")
        .take(max.saturating_sub(services.len()).max(1))
        .collect();
    let mut index = vec![0u32; clusters.len()];
    let mut out: Vec<Cluster> = Vec::with_capacity(max);
    let mut other_of: HashMap<String, usize> = HashMap::new();
    let mut folded = 0;
    for (i, c) in clusters.into_iter().enumerate() {
        if keep.contains(&i) {
            index[i] = out.len() as u32;
            out.push(c);
            continue;
        }
        if c.signature != "other" {
            folded += c.stats.count;
        }
        match other_of.get(&c.stats.service) {
            Some(&o) => {
                out[o].stats.merge(c.stats);
                index[i] = o as u32;
            }
            None => {
                other_of.insert(c.stats.service.clone(), out.len());
                index[i] = out.len() as u32;
                let mut stats = ClusterStats::new(&c.stats.service);
                stats.merge(c.stats);
                out.push(Cluster {
                    role: Role::Noise,
                    signature: "other".to_string(),
                    template: OTHER_TEMPLATE.to_string(),
                    stats,
                    wrapper: false,
                    evidence: Vec::new(),
                    delay_ns: None,
                });
            }
        }
    }
    (out, index, folded)
}

/// 1 and up for a name, 0 for none.
fn intern(table: &mut HashMap<String, u32>, name: Option<&str>) -> u32 {
    let Some(name) = name else { return 0 };
    if let Some(&id) = table.get(name) {
        return id;
    }
    let id = table.len() as u32 + 1;
    table.insert(name.to_string(), id);
    id
}

/// The template of an exception cluster (`Type: message`, variable parts masked unless every
/// event said the same) or of a request cluster (its route and status).
fn signature_template(key: &str, stats: &ClusterStats) -> String {
    match &stats.exception {
        Some(e) if !e.message.is_empty() => {
            let all_same = stats.messages.len() <= 1;
            let message = if all_same || missing_module(e).is_some() {
                e.message.clone()
            } else {
                miner::mask(&e.message)
            };
            format!("{}: {}", e.kind, message)
        }
        Some(e) => e.kind.clone(),
        None if key.ends_with(OTHER_KEY) => OTHER_TEMPLATE.to_string(),
        None => key
            .split_once("\nrequest:")
            .or_else(|| key.split_once("\nline:"))
            .map_or_else(String::new, |(_, r)| r.to_string()),
    }
}

/// The request of a web server's access line (Apache's and nginx's common and combined
/// formats: `"GET /invoices/48927/pdf HTTP/1.1" 500`), as its template: the path with its
/// ids masked, the status kept.
fn access_line_template(line: &str) -> Option<String> {
    static ACCESS_LINE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""([A-Z]{3,7}) (/\S*) (HTTP/[\d.]+)" (\d{3})\b"#).unwrap()
    });
    if !line.contains(" HTTP/") {
        return None;
    }
    let c = ACCESS_LINE.captures(line)?;
    let path = c[2].split(['?', '#']).next().unwrap_or("/");
    Some(format!(
        "\"{} {} {}\" {}",
        &c[1],
        route_template(path),
        &c[3],
        &c[4]
    ))
}

/// A path with its ids masked; an API's version (`/v1/`) is kept.
fn route_template(path: &str) -> String {
    let path: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.is_empty() {
                String::new()
            } else if is_version_segment(seg) {
                // `/v1/`: the API's version is part of the route, not an id.
                seg.to_string()
            } else {
                miner::mask(seg)
            }
        })
        .collect();
    path.join("/")
}

/// `GET /api/users/<*> 500`: method, path with its ids masked, status.
fn request_template(h: &crate::model::HttpRequest) -> String {
    let status = h.status.map(|s| s.to_string()).unwrap_or_default();
    format!(
        "{} {} {}",
        h.method.as_deref().unwrap_or("-"),
        route_template(h.path()),
        status
    )
}

fn is_version_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() >= 2 && b.len() <= 4 && b[0] == b'v' && b[1..].iter().all(u8::is_ascii_digit)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(message: String, second: i64) -> LogEntry {
        let mut e = LogEntry::new(message);
        e.timestamp = DateTime::from_timestamp(1_750_000_000 + second, 0);
        e.severity = Severity::Error;
        e.service = Some("api".into());
        e.instance = Some(format!("i{}", second % 7));
        e
    }

    fn analyse(entries: impl IntoIterator<Item = LogEntry>) -> Analysis {
        let mut analyzer = Analyzer::new(Options::default()).expect("analyzer");
        for e in entries {
            analyzer.push(e);
        }
        analyzer.finish(Utc::now())
    }

    /// A word no other line shares, so that every line is its own form.
    fn word(mut n: usize) -> String {
        let mut w = String::new();
        for _ in 0..4 {
            w.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
        }
        w
    }

    #[test]
    fn an_access_line_is_templated_by_its_route_and_status() {
        let line = r#"169.254.169.126 - - [12/Mar/2025:15:30:06 +0000] "GET /invoices/48927/pdf?x=1 HTTP/1.1" 500 - "https://a.run.app/" "Mozilla/5.0""#;
        assert_eq!(
            access_line_template(line).as_deref(),
            Some(r#""GET /invoices/<*>/pdf HTTP/1.1" 500"#)
        );
        assert_eq!(access_line_template("GET /health 200"), None);
    }

    #[test]
    fn a_piece_of_a_handled_report_is_handled_and_joins_its_report() {
        let report = "--- Logging error ---\nTraceback (most recent call last):\n  File \"/usr/local/lib/python3.11/logging/__init__.py\", line 449, in format\n    return self._format(record)\nKeyError: 'request_id'\nCall stack:\n  File \"/app/api/views.py\", line 12, in get\nMessage: 'served'";
        // Written apart from its report by a second process at once: its own frames.
        let piece = "Traceback (most recent call last):\n  File \"/app/api/settings.py\", line 10, in <module>\n    log.info(\"settings loaded\")\nKeyError: 'request_id'";
        let mut entries: Vec<LogEntry> =
            (0..6).map(|i| entry(report.to_string(), i * 60)).collect();
        entries.push(entry(piece.to_string(), 90));
        let analysis = analyse(entries);
        let with_key: Vec<&RootCause> = analysis
            .root_causes
            .iter()
            .filter(|rc| {
                rc.clusters
                    .iter()
                    .any(|c| c.template.contains("request_id"))
            })
            .collect();
        assert_eq!(with_key.len(), 1, "{:#?}", analysis.root_causes);
        assert_eq!(with_key[0].clusters.len(), 2);
        assert!(
            with_key[0].priority > Priority::P1,
            "{:?}",
            with_key[0].priority
        );
    }

    #[test]
    fn a_line_that_quotes_an_exception_names_it() {
        let dump = "2025-09-23 14:22:03 - Faraday::ServerError - the server responded with status 503:\n\t/app/lib/paygrid/client.rb:61:in `capture'";
        let mut entries = Vec::new();
        for i in 0..5 {
            entries.push(entry(dump.to_string(), i * 40));
            entries.push(entry(
                format!("checkout failed: Faraday::ServerError: the server responded with status 503 (POST https://api.paygrid.example/v2/intents, cart c{i})"),
                i * 40 + 7,
            ));
        }
        let analysis = analyse(entries);
        assert_eq!(analysis.root_causes.len(), 1, "{:#?}", analysis.root_causes);
        assert_eq!(analysis.root_causes[0].clusters.len(), 2);
    }

    #[test]
    fn a_giant_line_is_cut_after_its_secrets_are_masked() {
        let secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
        let mut text = format!("Error: token={secret} failed:");
        for i in 0..1_000_000 {
            text.push_str(&format!(" t{i}"));
        }
        text.push_str(" password=tail-secret-value");
        let analysis = analyse([entry(text, 0)]);
        assert_eq!(analysis.totals.cut, 1);
        let rc = &analysis.root_causes[0];
        let example = &rc.clusters[0].stats.examples[0];
        assert!(example.len() <= MAX_MESSAGE_BYTES + 64, "{}", example.len());
        assert!(!example.contains(secret));
        assert!(
            rc.clusters
                .iter()
                .all(|c| !c.template.contains("tail-secret"))
        );
    }

    #[test]
    fn a_token_across_the_first_cut_is_dropped_whole() {
        let mut text = "Error: token ghp_0123456789abcdefghijABCDEFGHIJ012345 rest".to_string();
        assert!(precut(&mut text, 20));
        assert!(text.starts_with("Error: token … ["), "{text}");
        assert!(!text.contains("ghp_"), "{text}");
        let mut short = "short".to_string();
        assert!(!precut(&mut short, 20));
        // No space at all: nothing of the token is kept.
        let mut one = "é".repeat(30);
        assert!(precut(&mut one, 21));
        assert!(one.starts_with(" … ["), "{one}");
    }

    #[test]
    fn distinct_lines_past_the_caps_fold_into_other_and_nothing_is_lost() {
        let n = MAX_FORMS + 5_000;
        let lines = (0..n).map(|i| {
            let text = format!(
                "{} {} {} failed",
                word(i),
                word(i * 7 + 3),
                word(i * 13 + 5)
            );
            entry(text, (i % 3_000) as i64)
        });
        let analysis = analyse(lines);
        let clusters: usize = analysis.root_causes.iter().map(|r| r.clusters.len()).sum();
        assert!(clusters <= MAX_CLUSTERS, "{clusters} clusters");
        assert!(analysis.totals.folded > 0);
        let counted: u64 = analysis.root_causes.iter().map(|r| r.count).sum::<u64>()
            + analysis.totals.below_min_severity;
        assert_eq!(counted, n as u64, "every event is in some root cause");
        let other = analysis
            .root_causes
            .iter()
            .flat_map(|r| &r.clusters)
            .find(|c| c.template == OTHER_TEMPLATE)
            .expect("an other cluster");
        assert!(other.stats.count >= analysis.totals.folded.min(5_000));
    }

    fn request(status: u16, latency_s: f64, second: i64, trace: &str) -> LogEntry {
        let mut e = entry(String::new(), second);
        e.severity = if status >= 500 {
            Severity::Error
        } else {
            Severity::Info
        };
        e.trace = Some(trace.to_string());
        e.http = Some(crate::model::HttpRequest {
            method: Some("GET".into()),
            url: Some("https://api.example.run.app/export".into()),
            status: Some(status),
            latency_ms: Some(latency_s * 1000.0),
        });
        // As the source reads them: their own stream, their summary as the message.
        e.log_name = Some("projects/p/logs/run.googleapis.com%2Frequests".into());
        e.message = e.http.as_ref().map(|h| h.summary()).unwrap_or_default();
        e
    }

    /// Four requests ended by the platform at 300 s, and two streamed responses whose
    /// request logs say 200 after `latencies` with a warning that their body was cut.
    fn cut_responses(latencies: [f64; 2]) -> Analysis {
        let mut entries = Vec::new();
        for k in 0..4 {
            let mut timed_out = request(504, 300.0 + k as f64 * 0.001, k * 600, &format!("t{k}"));
            timed_out.message =
                "The request has been terminated because it has reached the maximum request timeout."
                    .into();
            entries.push(timed_out);
        }
        for (k, latency) in (10..).zip(latencies) {
            entries.push(request(200, latency, k * 600, &format!("t{k}")));
            let mut warning = entry(
                "Truncated response body. Usually implies that the request timed out.".into(),
                k * 600 + 300,
            );
            warning.severity = Severity::Warning;
            warning.trace = Some(format!("t{k}"));
            entries.push(warning);
        }
        analyse(entries)
    }

    #[test]
    fn a_warning_of_a_request_cut_at_the_limit_joins_the_timeouts() {
        let analysis = cut_responses([300.0, 300.001]);
        let timeout = analysis
            .root_causes
            .iter()
            .find(|r| r.title.contains("maximum request timeout"))
            .expect("the timeout root cause");
        let warning = timeout
            .clusters
            .iter()
            .find(|c| c.template.starts_with("Truncated"))
            .expect("the truncated responses folded into the timeouts");
        assert!(
            warning.evidence[0].detail.contains("ran 300 s"),
            "{:?}",
            warning.evidence
        );
        // Quick requests were not cut at the limit: their warnings stay apart.
        let analysis = cut_responses([2.0, 3.5]);
        let alone = analysis
            .root_causes
            .iter()
            .find(|r| r.clusters[0].template.starts_with("Truncated"))
            .expect("the warnings of quick requests are a root cause of their own");
        assert_eq!(alone.clusters.len(), 1);
    }

    #[test]
    fn errors_of_requests_answered_4xx_are_the_clients_and_not_filed() {
        // A scanner's bad Host header: Django logs it at ERROR and answers 400, 20 times.
        let mut entries = Vec::new();
        for k in 0..20 {
            let mut r = request(400, 0.004, k * 120, &format!("s{k}"));
            r.instance = Some("i0".into());
            entries.push(r);
            let mut e = entry("Invalid HTTP_HOST header: '34.117.82.10'. You may need to add it to ALLOWED_HOSTS.".into(), k * 120);
            e.instance = Some("i0".into());
            e.timestamp = e.timestamp.map(|t| t + chrono::Duration::milliseconds(3));
            entries.push(e);
        }
        let analysis = analyse(entries.clone());
        let host = analysis
            .root_causes
            .iter()
            .find(|r| r.title.contains("HTTP_HOST"))
            .expect("the errors are reported");
        let answered: Vec<_> = host
            .clusters
            .iter()
            .map(|c| (c.template.clone(), c.stats.answered_4xx))
            .collect();
        assert_eq!(host.clusters[0].stats.answered_4xx, 20, "{answered:?}");
        assert_eq!(host.priority, Priority::P2, "{:?}", host.reasons);
        assert!(
            host.reasons[0].contains("client error"),
            "{:?}",
            host.reasons
        );
        // The same errors while every request fails with 500 are the service's: filed.
        for e in entries.iter_mut().filter(|e| e.http.is_some()) {
            let at = e.timestamp;
            *e = request(500, 0.004, 0, "x");
            e.instance = Some("i0".into());
            e.timestamp = at;
        }
        let analysis = analyse(entries);
        let host = analysis
            .root_causes
            .iter()
            .find(|r| r.title.contains("HTTP_HOST"))
            .expect("the errors are reported");
        assert_eq!(host.clusters[0].stats.answered_4xx, 0);
        assert!(host.priority <= Priority::P1, "{:?}", host.reasons);
    }

    #[test]
    fn one_burst_that_fails_no_request_is_not_filed_and_the_same_errors_spread_are() {
        // A web service answers a request a minute; its idle database clients report the
        // database going away, once each, within a second.
        let mut entries = Vec::new();
        for k in 0..40 {
            let mut r = request(200, 0.02, k * 60, &format!("t{k}"));
            r.instance = Some(format!("i{}", k % 6));
            entries.push(r);
        }
        let burst = |spread: i64| -> Vec<LogEntry> {
            (0..6)
                .map(|i| {
                    let mut e = entry(
                        "unexpected error on idle postgres client: Connection terminated unexpectedly".into(),
                        1200 + i * spread,
                    );
                    e.instance = Some(format!("i{i}"));
                    e
                })
                .collect()
        };
        let priority = |entries: Vec<LogEntry>| {
            let analysis = analyse(entries);
            let rc = analysis
                .root_causes
                .iter()
                .find(|r| r.title.contains("Connection terminated"))
                .expect("the errors are reported")
                .clone();
            (rc.priority, rc.reasons)
        };
        let mut once = entries.clone();
        once.extend(burst(0));
        let (p, reasons) = priority(once);
        assert_eq!(p, Priority::P2, "{reasons:?}");
        assert!(reasons[0].contains("one burst"), "{reasons:?}");
        // The same six errors spread over the hour keep happening: filed.
        entries.extend(burst(400));
        let (p, reasons) = priority(entries);
        assert_eq!(p, Priority::P1, "{reasons:?}");
    }

    #[test]
    fn a_worker_whose_work_stops_when_its_broker_refuses_is_down() {
        // No requests: a queue worker. Tasks succeed each minute for 20 minutes, then the
        // broker refuses every 30 s to the end of the hour and no task runs again.
        let mut entries = Vec::new();
        for m in 0..20 {
            let mut e = entry(
                format!("Task mailer.tasks.send_email[{m:04}] succeeded in 0.7s: None"),
                m * 60,
            );
            e.severity = Severity::Info;
            e.instance = Some("w".into());
            entries.push(e);
        }
        let broker = |s: i64| {
            let mut e = entry("consumer: Cannot connect to amqp://guest:**@10.0.0.4:5672//: [Errno 111] Connection refused.".into(), s);
            e.instance = Some("w".into());
            e
        };
        for k in 0..80 {
            entries.push(broker(20 * 60 + k * 30));
        }
        let analysis = analyse(entries.clone());
        let rc = &analysis.root_causes[0];
        assert!(rc.title.contains("Connection refused"), "{}", rc.title);
        assert_eq!(rc.priority, Priority::P0, "{:?}", rc.reasons);
        assert!(rc.reasons[0].contains("work stopped"), "{:?}", rc.reasons);
        // Had the tasks gone on, the refusals would be a failure while it works, not down.
        for m in 20..60 {
            let mut e = entry(
                format!("Task mailer.tasks.send_email[{m:04}] succeeded in 0.7s: None"),
                m * 60 + 7,
            );
            e.severity = Severity::Info;
            e.instance = Some("w".into());
            entries.push(e);
        }
        let analysis = analyse(entries);
        assert_eq!(analysis.root_causes[0].priority, Priority::P1);
    }

    #[test]
    fn a_dependency_out_of_reach_while_every_request_is_answered_is_not_filed() {
        // A cache client reconnecting every 30 s; every request goes through meanwhile.
        let mut entries = Vec::new();
        for k in 0..120 {
            let mut e = entry(
                "[ioredis] Unhandled error event: Error: connect ECONNREFUSED 10.8.0.3:6379".into(),
                k * 30,
            );
            e.instance = Some("a".into());
            entries.push(e);
            entries.push(request(200, 0.05, k * 30 + 9, &format!("r{k}")));
        }
        let analysis = analyse(entries.clone());
        let rc = &analysis.root_causes[0];
        assert_eq!(rc.priority, Priority::P2, "{:?}", rc.reasons);
        assert!(rc.reasons[0].contains("degraded"), "{:?}", rc.reasons);
        // Requests failing meanwhile, with no cause of their own logged: not "done without".
        for k in 0..20 {
            entries.push(request(500, 0.01, k * 180 + 11, &format!("f{k}")));
        }
        let analysis = analyse(entries);
        let rc = analysis
            .root_causes
            .iter()
            .find(|r| r.title.contains("ECONNREFUSED"))
            .expect("the refusals");
        assert_eq!(rc.priority, Priority::P1, "{:?}", rc.reasons);
    }
}
