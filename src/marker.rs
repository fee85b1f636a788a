//! The hidden markers that tie an issue or a comment to a root cause: the report writes
//! them, the sweep finds issues again by them.

use regex::Regex;
use std::sync::LazyLock;

/// The part of an update comment that says which root cause it is about.
pub const UPDATE: &str = "<!-- log-gardener:update";

/// The prefix of the label every issue of a service carries (`service:NAME`).
pub const SERVICE_LABEL: &str = "service:";

/// The marker at the end of a "not seen since" comment.
pub fn quiet(fingerprint: &str) -> String {
    format!("<!-- log-gardener:quiet fingerprint={fingerprint} -->")
}

/// The marker every issue body carries; how the App finds its issues again.
pub fn issue(fingerprint: &str) -> String {
    format!("<!-- log-gardener:fingerprint={fingerprint} -->")
}

/// The marker at the end of an update comment.
pub fn update(fingerprint: &str) -> String {
    format!("{UPDATE} fingerprint={fingerprint} -->")
}

static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<!-- log-gardener:fingerprint=([0-9a-f]{16}) -->").unwrap());

/// The fingerprint of a body's marker (the last one: log text cannot fake it, see
/// `report::markdown`, and the App writes its marker at the end).
pub fn fingerprint_in(body: &str) -> Option<String> {
    MARKER.captures_iter(body).last().map(|c| c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_marker_of_a_body_counts() {
        let body = format!("text\n{}\n", issue("0123456789abcdef"));
        assert_eq!(fingerprint_in(&body).as_deref(), Some("0123456789abcdef"));
        assert_eq!(
            fingerprint_in("<!-- log-gardener:fingerprint=xyz -->"),
            None
        );
        // A defused marker inside log text does not count.
        let defused = crate::report::markdown::fence(&issue("ffffffffffffffff"), "text");
        assert_eq!(fingerprint_in(&defused), None);
    }
}
