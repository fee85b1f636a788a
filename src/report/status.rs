//! The reply to `/gardener status`: the configuration in force, the last sweeps, the next
//! scheduled sweep and the jobs that failed for good. Every text from elsewhere (a summary,
//! an error) is escaped or redacted here, so that a caller cannot forget to.

use super::markdown;
use crate::analyze::redact::Redactor;
use crate::config::{Schedule, format_span};
use crate::store::SweepRecord;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What `/gardener status` shows of a repository.
pub struct Status<'a> {
    pub repo: &'a str,
    /// The configuration in force, as YAML with its defaults filled in.
    pub config_yaml: &'a str,
    pub schedule: Schedule,
    /// The server's `SWEEP_INTERVAL` (`None`: off).
    pub interval: Option<Duration>,
    /// Newest first.
    pub sweeps: &'a [SweepRecord],
    /// (job id, error) of the last jobs that failed for good.
    pub failed: &'a [(i64, String)],
}

/// The status reply, in markdown.
pub fn status_reply(status: &Status, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "**log-gardener status for {}**\n\nConfiguration in force (`{}`, defaults filled in):\n{}\n",
        markdown::inline(status.repo),
        crate::config::CONFIG_PATH,
        markdown::fence(status.config_yaml, "yaml")
    );
    text.push_str("\n**Last sweeps**\n\n");
    if status.sweeps.is_empty() {
        text.push_str("None yet.\n");
    } else {
        text.push_str("| finished | trigger | window | outcome |\n|---|---|---|---|\n");
        for s in status.sweeps {
            text.push_str(&format!(
                "| {} | {} | {} – {} | {}: {} |\n",
                markdown::inline(&s.finished_at),
                markdown::inline(&s.trigger),
                markdown::inline(&s.window_start),
                markdown::inline(&s.window_end),
                markdown::inline(&s.outcome),
                markdown::inline(&s.summary)
            ));
        }
    }
    let next = match (status.schedule, status.interval) {
        (Schedule::Off, _) => "none: `schedule: off`".to_string(),
        (_, None) => {
            "none from this server (SWEEP_INTERVAL=off); Cloud Scheduler may call /api/sweep"
                .to_string()
        }
        (_, Some(interval)) => {
            let secs = interval.as_secs().max(1) as i64;
            let next = (now.timestamp() / secs + 1) * secs;
            DateTime::<Utc>::from_timestamp(next, 0)
                .map(|t| {
                    format!(
                        "about {} (every {})",
                        crate::model::rfc3339(&t),
                        format_span(chrono::Duration::seconds(secs))
                    )
                })
                .unwrap_or_default()
        }
    };
    text.push_str(&format!("\n**Next scheduled sweep:** {next}\n"));
    if !status.failed.is_empty() {
        text.push_str("\n**Failed jobs** (after all retries)\n\n");
        let redactor = Redactor::default();
        for (id, error) in status.failed {
            text.push_str(&format!(
                "- job {id}: {}\n",
                markdown::code(&redactor.redact(error))
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(summary: &str) -> SweepRecord {
        SweepRecord {
            trigger: "command".into(),
            window_start: "2026-12-04T10:00:00Z".into(),
            window_end: "2026-12-04T11:00:00Z".into(),
            outcome: "done".into(),
            summary: summary.into(),
            finished_at: "2026-12-04T11:00:05Z".into(),
        }
    }

    #[test]
    fn texts_from_elsewhere_cannot_break_the_table_mention_anyone_or_leak_a_secret() {
        let sweeps = [record("1 filed | @octo-team ping")];
        let failed = [(
            7,
            "GitHub said 401 for token ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
        )];
        let text = status_reply(
            &Status {
                repo: "acme/shop",
                config_yaml: "labels: [\"```\"]\n",
                schedule: Schedule::Hourly,
                interval: Some(Duration::from_secs(3600)),
                sweeps: &sweeps,
                failed: &failed,
            },
            DateTime::parse_from_rfc3339("2026-12-04T11:20:00Z")
                .unwrap()
                .into(),
        );
        let row = text.lines().find(|l| l.contains("octo-team")).unwrap();
        let pipes = row.matches('|').count() - row.matches("\\|").count();
        assert_eq!(pipes, 5, "one row of four cells: {row}");
        assert!(!text.contains("@octo-team"), "{text}");
        assert!(
            !text.contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "{text}"
        );
        assert!(
            text.contains("about 2026-12-04T12:00:00Z (every 1h)"),
            "{text}"
        );
        assert!(
            text.contains("````yaml"),
            "a fence longer than the config's backticks: {text}"
        );
    }

    #[test]
    fn a_schedule_that_is_off_says_so() {
        let text = status_reply(
            &Status {
                repo: "acme/shop",
                config_yaml: "",
                schedule: Schedule::Off,
                interval: Some(Duration::from_secs(3600)),
                sweeps: &[],
                failed: &[],
            },
            Utc::now(),
        );
        assert!(text.contains("None yet."), "{text}");
        assert!(text.contains("none: `schedule: off`"), "{text}");
        assert!(!text.contains("Failed jobs"), "{text}");
    }
}
