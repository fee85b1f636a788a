//! Masks secrets and personal data before any text can leave the process (SPEC section 7).

use regex::{Regex, RegexSet};

/// What a masked secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// The built-in rules: a pattern and its replacement (`$name` keeps a captured part).
const RULES: &[(&str, &str)] = &[
    // Private-key blocks, also when the END line was cut off.
    (
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        "[REDACTED PRIVATE KEY]",
    ),
    (
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        MASK,
    ),
    (
        r"(?i)\b(?P<scheme>bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*",
        "$scheme [REDACTED]",
    ),
    (r"\bAIza[0-9A-Za-z_\-]{30,}", MASK),
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", MASK),
    (r"\bgh[pousr]_[A-Za-z0-9]{20,}", MASK),
    (r"\bgithub_pat_[A-Za-z0-9_]{20,}", MASK),
    (r"\bxox[abposr]-[A-Za-z0-9-]{8,}", MASK),
    (r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}", MASK),
    // user:password@ in URLs.
    (
        r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):[^\s@/]+@",
        "$pre:[REDACTED]@",
    ),
    // password=…, "api_key": "…", secret: … — the name stays, the value goes.
    (
        r#"(?i)(?P<key>\b[a-z0-9_\-.]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?|auth)["']?\s*[=:]\s*)(?P<quote>["']?)[^\s"',;&}]+"#,
        "$key$quote[REDACTED]",
    ),
    (
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
        "[EMAIL]",
    ),
];

/// A set of masking rules, compiled once.
#[derive(Debug, Clone)]
pub struct Redactor {
    any: RegexSet,
    rules: Vec<(Regex, String)>,
}

impl Redactor {
    /// The built-in rules plus `extra` patterns from the configuration (masked whole).
    pub fn new(extra: &[String]) -> Result<Self, regex::Error> {
        let mut rules: Vec<(Regex, String)> = RULES
            .iter()
            .map(|(p, r)| Ok((Regex::new(p)?, (*r).to_string())))
            .collect::<Result<_, regex::Error>>()?;
        for pattern in extra {
            rules.push((Regex::new(pattern)?, MASK.to_string()));
        }
        let any = RegexSet::new(rules.iter().map(|(r, _)| r.as_str()))?;
        Ok(Redactor { any, rules })
    }

    /// The text with every secret masked; borrowed when there was nothing to mask.
    pub fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let std::borrow::Cow::Owned(mut out) = self.mask(text) else {
            return std::borrow::Cow::Borrowed(text);
        };
        // A mask can uncover a secret: the e-mail of `smtp://me@x.io:pw@host` masked leaves
        // `smtp://[EMAIL]:pw@host`. Again, until nothing changes (a pass or two).
        for _ in 0..4 {
            match self.mask(&out) {
                std::borrow::Cow::Owned(next) if next != out => out = next,
                _ => break,
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// One pass of every rule that matches.
    fn mask<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let hits = self.any.matches(text);
        if !hits.matched_any() {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for i in hits.iter() {
            let (re, replacement) = &self.rules[i];
            if let std::borrow::Cow::Owned(s) = re.replace_all(&out, replacement.as_str()) {
                out = s;
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[]).expect("the built-in redaction rules compile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        Redactor::default().redact(text).into_owned()
    }

    #[test]
    fn tokens_and_keys_are_masked() {
        let cases = [
            "Authorization: Bearer abcdef0123456789abcdef",
            "auth header Basic dXNlcjpwYXNzd29yZA==",
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "key AIzaSyA1234567890abcdefghijklmnopqrstu",
            "aws AKIAIOSFODNN7EXAMPLE here",
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "slack xoxb-123456789012-abcdefghijkl",
        ];
        for case in cases {
            let out = r(case);
            assert!(out.contains("[REDACTED]"), "{case} -> {out}");
            for secret in [
                "abcdef0123456789",
                "dXNlcjpw",
                "eyJzdWIi",
                "AIzaSy",
                "AKIAIOS",
                "ghp_a",
                "ghs_16",
                "github_pat_11",
                "xoxb-1",
            ] {
                assert!(!out.contains(secret), "{case} leaked {secret}: {out}");
            }
        }
    }

    #[test]
    fn passwords_urls_emails_and_keys() {
        assert_eq!(
            r("connect postgres://app:s3cr3t@db.internal:5432/app failed"),
            "connect postgres://app:[REDACTED]@db.internal:5432/app failed"
        );
        assert_eq!(
            r("login password=hunter2 user=bob"),
            "login password=[REDACTED] user=bob"
        );
        assert_eq!(
            r(r#"{"api_key": "abc123"}"#),
            r#"{"api_key": "[REDACTED]"}"#
        );
        assert_eq!(r("mail to jane.doe@example.com now"), "mail to [EMAIL] now");
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----";
        assert_eq!(r(&format!("k={key} end")), "k=[REDACTED PRIVATE KEY] end");
        assert_eq!(
            r("-----BEGIN PRIVATE KEY-----\nMIIE cut"),
            "[REDACTED PRIVATE KEY]"
        );
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = "ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'";
        assert!(matches!(
            Redactor::default().redact(text),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn configured_patterns_are_masked_and_bad_ones_rejected() {
        let redactor = Redactor::new(&["cust-[0-9]{6}".to_string()]).unwrap();
        assert_eq!(
            redactor.redact("order for cust-123456"),
            "order for [REDACTED]"
        );
        assert!(Redactor::new(&["(unclosed".to_string()]).is_err());
    }
}
