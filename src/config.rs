//! The repository configuration, `.github/log-gardener.yml` (SPEC section 5): every key has a
//! default, unknown keys and bad values are errors that name the key.

use crate::model::{Severity, parse_duration};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Where the App looks for the configuration in a repository.
pub const CONFIG_PATH: &str = ".github/log-gardener.yml";

/// A root cause's priority: P0 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P0,
    P1,
    P2,
    P3,
}

impl Priority {
    pub fn label(self) -> &'static str {
        match self {
            Priority::P0 => "P0",
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
        }
    }

    /// What the priority means to someone on call.
    pub fn meaning(self) -> &'static str {
        match self {
            Priority::P0 => "service down",
            Priority::P1 => "errors that keep happening while the service is up",
            Priority::P2 => "warnings",
            Priority::P3 => "notices",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    /// `P0` … `P3`, as labels and the configuration write them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Priority::P0, Priority::P1, Priority::P2, Priority::P3]
            .into_iter()
            .find(|p| p.label() == text)
            .ok_or_else(|| format!("{text:?} is not a priority (P0, P1, P2 or P3)"))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A duration written as `30s`, `15m`, `1h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub chrono::Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Span)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_span(self.0))
    }
}

/// A duration, or `off` (never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanOrOff(pub Option<chrono::Duration>);

impl<'de> Deserialize<'de> for SpanOrOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            // YAML 1.1 readers take a bare `off` for false.
            Bool(bool),
        }
        match Form::deserialize(d)
            .map_err(|_| serde::de::Error::custom("a duration such as 7d, or off"))?
        {
            Form::Bool(false) => Ok(SpanOrOff(None)),
            Form::Bool(true) => Err(serde::de::Error::custom("a duration such as 7d, or off")),
            Form::Text(t) if t.trim().eq_ignore_ascii_case("off") => Ok(SpanOrOff(None)),
            Form::Text(t) => parse_duration(&t)
                .map(|d| SpanOrOff(Some(d)))
                .map_err(|e| serde::de::Error::custom(format!("{e} (or off)"))),
        }
    }
}

impl Serialize for SpanOrOff {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(d) => s.serialize_str(&format_span(d)),
            None => s.serialize_str("off"),
        }
    }
}

/// `90m` → `1h30m`; the inverse of [`parse_duration`].
pub fn format_span(d: chrono::Duration) -> String {
    let mut secs = d.num_seconds();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// A Cloud Run service to sweep: a name, or a name with its own extra filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub filter: String,
}

impl<'de> Deserialize<'de> for ServiceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(String),
            Full(Full),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            name: String,
            #[serde(default)]
            filter: String,
        }
        match Form::deserialize(d)
            .map_err(|_| serde::de::Error::custom("each service is a name or {name, filter}"))?
        {
            Form::Name(name) => Ok(ServiceSpec {
                name,
                filter: String::new(),
            }),
            Form::Full(f) => Ok(ServiceSpec {
                name: f.name,
                filter: f.filter,
            }),
        }
    }
}

/// `schedule:` — whether the App sweeps by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Hourly,
    Off,
}

/// Thresholds behind the priorities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Start-up failures (failed probes, exits, "could not start") in one window that make a
    /// restart loop, and so P0.
    pub restart_loop: u64,
    /// Occurrences of an error in one window for it to count as "keeps happening" (P1).
    pub repeated_errors: u64,
    /// Fraction of the window over which failing health checks mean the service is down (P0).
    pub health_check_span: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            restart_loop: 3,
            repeated_errors: 3,
            health_check_span: 0.5,
        }
    }
}

/// `.github/log-gardener.yml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The Google Cloud project whose logs are read; required for Cloud Logging sweeps.
    pub gcp_project: Option<String>,
    /// Cloud Run service names, or `{name, filter}`.
    pub services: Vec<ServiceSpec>,
    /// An extra Cloud Logging filter, ANDed to every query.
    pub filter: String,
    /// Look-back of a command that names none.
    pub window: Span,
    /// `hourly` or `off`.
    pub schedule: Schedule,
    /// Entries below this severity are counted, never filed.
    pub min_severity: Severity,
    /// Priorities that get issues; the rest appear only in the worklog.
    pub file_priorities: Vec<Priority>,
    /// Labels added to every issue the App files.
    pub labels: Vec<String>,
    /// At most one update comment per issue per cooldown, unless the priority rises.
    pub comment_cooldown: Span,
    /// A fixed root cause that comes back reopens its issue.
    pub reopen_closed: bool,
    /// Extra regular expressions whose matches are masked.
    pub redact: Vec<String>,
    /// Prefix of stack-trace paths inside the container, stripped to link to the repository.
    pub source_root: String,
    /// At most this many new issues per sweep; the rest are reported in the worklog.
    pub max_new_issues: usize,
    /// An open tracked root cause not seen for this long gets one "not seen since" comment.
    pub quiet_after: Span,
    /// Then it is closed as completed after this long; `off` (the default) never.
    pub resolve_after: SpanOrOff,
    /// Whether the suggested owners (CODEOWNERS) are @-mentioned; off by default.
    pub mention_owners: bool,
    /// The revision label that names the commit it was built from (Cloud Build's
    /// `commit-sha` by default).
    pub commit_label: String,
    /// A container environment variable that names the commit, read when the label is
    /// absent; empty (the default) for none.
    pub commit_env: String,
    /// Thresholds behind the priorities.
    pub thresholds: Thresholds,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gcp_project: None,
            services: Vec::new(),
            filter: String::new(),
            window: Span(chrono::Duration::hours(1)),
            schedule: Schedule::Hourly,
            min_severity: Severity::Warning,
            file_priorities: vec![Priority::P0, Priority::P1],
            labels: vec!["log-gardener".to_string()],
            comment_cooldown: Span(chrono::Duration::hours(6)),
            reopen_closed: true,
            redact: Vec::new(),
            source_root: "/app".to_string(),
            max_new_issues: 5,
            quiet_after: Span(chrono::Duration::hours(24)),
            resolve_after: SpanOrOff(None),
            mention_owners: false,
            commit_label: "commit-sha".to_string(),
            commit_env: String::new(),
            thresholds: Thresholds::default(),
        }
    }
}

/// A configuration that could not be used, with the key at fault when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// `line 3 column 1` or the key, such as `redact[1]`.
    pub location: Option<String>,
    pub message: String,
}

/// `[` and `{` a configuration may hold; the example has 3.
const MAX_BRACKETS: usize = 1000;

impl Config {
    /// Where a deploy names its commit, in the order they are read: the label, then the
    /// environment variable when one is configured.
    pub fn commit_keys(&self) -> Vec<String> {
        let mut keys = vec![format!("label:{}", self.commit_label)];
        if !self.commit_env.is_empty() {
            keys.push(format!("env:{}", self.commit_env));
        }
        keys
    }
}

impl Config {
    /// Parses and checks the YAML text of the configuration.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        // The YAML scanner's work grows with the square of how deep `[` and `{` nest (50 000
        // of them take seconds), so a text with more than any configuration needs is refused
        // before it is parsed. Counted in all, quoted or not, so that no quoting hides them.
        let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
        if brackets > MAX_BRACKETS {
            return Err(ConfigError {
                location: None,
                message: format!(
                    "{brackets} `[` and `{{` in all: a configuration has at most {MAX_BRACKETS}"
                ),
            });
        }
        // An empty file is the defaults.
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                let at = inner
                    .location()
                    .map(|l| format!("line {} column {}", l.line(), l.column()));
                ConfigError {
                    location: match (key.as_str(), at) {
                        (".", at) => at,
                        (key, Some(at)) => Some(format!("{key} ({at})")),
                        (key, None) => Some(key.to_string()),
                    },
                    message: inner.to_string(),
                }
            })?
        };
        config.check()?;
        Ok(config)
    }

    /// Values that parse but cannot be used.
    fn check(&self) -> Result<(), ConfigError> {
        let err = |key: String, message: String| {
            Err(ConfigError {
                location: Some(key),
                message,
            })
        };
        for (i, pattern) in self.redact.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Err(e) => {
                    return err(
                        format!("redact[{i}]"),
                        format!("not a regular expression: {e}"),
                    );
                }
                // `''` or `x*` would mask between every two characters.
                Ok(re) if re.is_match("") => {
                    return err(
                        format!("redact[{i}]"),
                        format!("{pattern:?} matches the empty text, so it would mask everywhere"),
                    );
                }
                Ok(_) => {}
            }
        }
        for (i, label) in self.labels.iter().enumerate() {
            if label.trim().is_empty() || label.chars().count() > 50 || label.contains(',') {
                return err(
                    format!("labels[{i}]"),
                    format!("{label:?} is not a GitHub label (1 to 50 characters, no comma)"),
                );
            }
        }
        if self.window.0 <= chrono::Duration::zero() {
            return err("window".into(), "must be longer than 0s".into());
        }
        if self.window.0 > chrono::Duration::days(30) {
            return err(
                "window".into(),
                "at most 30d (Cloud Logging keeps 30 days)".into(),
            );
        }
        if self.comment_cooldown.0 < chrono::Duration::zero() {
            return err("comment_cooldown".into(), "must not be negative".into());
        }
        if self.comment_cooldown.0 > chrono::Duration::days(365) {
            return err("comment_cooldown".into(), "at most 365d".into());
        }
        if self.quiet_after.0 < chrono::Duration::hours(1)
            || self.quiet_after.0 > chrono::Duration::days(365)
        {
            return err(
                "quiet_after".into(),
                "between 1h (a sweep runs hourly) and 365d".into(),
            );
        }
        if let Some(d) = self.resolve_after.0
            && (d < chrono::Duration::hours(1) || d > chrono::Duration::days(365))
        {
            return err("resolve_after".into(), "between 1h and 365d, or off".into());
        }
        let label_key = |k: &str| {
            k.len() <= 63
                && k.starts_with(|c: char| c.is_ascii_lowercase())
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if !label_key(&self.commit_label) {
            return err(
                "commit_label".into(),
                format!(
                    "{:?} is not a label key (a lowercase letter, then up to 62 lowercase letters, digits, - or _)",
                    self.commit_label
                ),
            );
        }
        let env_name = |k: &str| {
            k.len() <= 128
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !self.commit_env.is_empty() && !env_name(&self.commit_env) {
            return err(
                "commit_env".into(),
                format!(
                    "{:?} is not an environment variable name (letters, digits and _, not starting with a digit)",
                    self.commit_env
                ),
            );
        }
        for (i, s) in self.services.iter().enumerate() {
            if s.name.trim().is_empty() {
                return err(format!("services[{i}]"), "a service needs a name".into());
            }
        }
        if let Some(p) = &self.gcp_project
            && (p.is_empty() || p.contains(['/', ' ', '"']))
        {
            return err("gcp_project".into(), format!("{p:?} is not a project id"));
        }
        if self.file_priorities.is_empty() && self.schedule == Schedule::Hourly {
            // Allowed, but nothing would ever be filed: say so rather than stay silent.
            return err(
                "file_priorities".into(),
                "is empty, so no issue would ever be filed (set schedule: off to only report)"
                    .into(),
            );
        }
        if !(0.0..=1.0).contains(&self.thresholds.health_check_span) {
            return err(
                "thresholds.health_check_span".into(),
                "must be between 0 and 1".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../examples/log-gardener.yml");
        let config = Config::parse(text).unwrap();
        assert_eq!(config.gcp_project.as_deref(), Some("netra-staging"));
        assert_eq!(config.services[0].name, "netra-backend");
        assert_eq!(config.min_severity, Severity::Warning);
        assert_eq!(config.comment_cooldown.0, chrono::Duration::hours(6));
    }

    #[test]
    fn defaults_fill_an_empty_file() {
        let config = Config::parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.file_priorities, vec![Priority::P0, Priority::P1]);
    }

    #[test]
    fn services_take_names_and_filters() {
        let config =
            Config::parse("services: [api, {name: worker, filter: 'severity>=ERROR'}]").unwrap();
        assert_eq!(config.services[0].name, "api");
        assert_eq!(config.services[1].filter, "severity>=ERROR");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::parse("gcp_project: x\nwindw: 1h\n").unwrap_err();
        assert!(e.to_string().contains("windw"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Config::parse("window: soon\n").unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
        let e = Config::parse("min_severity: LOUD\n").unwrap_err();
        assert!(e.to_string().contains("min_severity"), "{e}");
        let e = Config::parse("redact: ['ok', '(bad']\n").unwrap_err();
        assert_eq!(e.location.as_deref(), Some("redact[1]"));
        for (text, key) in [
            ("redact: ['']\n", "redact[0]"),
            ("redact: ['ok', 'x*']\n", "redact[1]"),
            ("labels: ['', 'x']\n", "labels[0]"),
            ("labels: ['a,b']\n", "labels[0]"),
            ("comment_cooldown: 400d\n", "comment_cooldown"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert_eq!(e.location.as_deref(), Some(key), "{text}: {e}");
        }
        let long = format!("labels: ['{}']\n", "x".repeat(51));
        assert_eq!(
            Config::parse(&long).unwrap_err().location.as_deref(),
            Some("labels[0]")
        );
        assert!(Config::parse(&format!("labels: ['{}']\n", "x".repeat(50))).is_ok());
        let e = Config::parse("file_priorities: [P9]\n").unwrap_err();
        assert!(e.to_string().contains("file_priorities"), "{e}");
    }

    #[test]
    fn quiet_and_resolve_spans_and_owner_mentions_are_read_and_checked() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.quiet_after.0, chrono::Duration::hours(24));
        assert_eq!(config.resolve_after.0, None);
        assert!(!config.mention_owners);
        let config =
            Config::parse("quiet_after: 2d\nresolve_after: 7d\nmention_owners: true\n").unwrap();
        assert_eq!(config.quiet_after.0, chrono::Duration::days(2));
        assert_eq!(config.resolve_after.0, Some(chrono::Duration::days(7)));
        assert!(config.mention_owners);
        for off in [
            "resolve_after: off\n",
            "resolve_after: 'off'\n",
            "resolve_after: OFF\n",
        ] {
            assert_eq!(Config::parse(off).unwrap().resolve_after.0, None, "{off}");
        }
        for (text, key) in [
            ("quiet_after: 10m\n", "quiet_after"),
            ("quiet_after: soon\n", "quiet_after"),
            ("resolve_after: 400d\n", "resolve_after"),
            ("resolve_after: later\n", "resolve_after"),
            ("resolve_after: true\n", "resolve_after"),
            ("mention_owners: maybe\n", "mention_owners"),
            ("commit_label: Commit SHA\n", "commit_label"),
            ("commit_label: ''\n", "commit_label"),
            ("commit_env: 1SHA\n", "commit_env"),
            ("commit_env: GIT-COMMIT\n", "commit_env"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_commit_is_read_from_the_configured_label_then_variable() {
        assert_eq!(Config::default().commit_keys(), vec!["label:commit-sha"]);
        let config = Config::parse("commit_label: git-sha\ncommit_env: GIT_COMMIT\n").unwrap();
        assert_eq!(
            config.commit_keys(),
            vec!["label:git-sha", "env:GIT_COMMIT"]
        );
    }

    #[test]
    fn spans_print_as_they_parse() {
        assert_eq!(format_span(chrono::Duration::minutes(90)), "1h30m");
        assert_eq!(format_span(chrono::Duration::days(7)), "7d");
    }
}
