//! Masks secrets and personal data before any text can leave the process (SPEC section 7).
//!
//! The rules follow what gitleaks and trufflehog detect (providers' token formats, secret-named
//! fields) and Sentry's default scrubbing (`@common`: IP and e-mail addresses, card numbers,
//! IBANs, US SSNs, PEM keys, URL credentials, password fields). One `RegexSet` pass says which
//! rules can apply, so a clean line costs one scan. Percent- and base64-encoded tokens are
//! decoded, and masked whole when the decoded text holds a secret.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a masked secret is replaced with.
pub const MASK: &str = "[REDACTED]";
/// What an e-mail address is replaced with.
pub const EMAIL: &str = "[EMAIL]";
/// What a public IPv4 or IPv6 address is replaced with (a port after it stays).
pub const IP: &str = "[IP]";
const PRIVATE_KEY: &str = "[REDACTED PRIVATE KEY]";

/// How deep encoded text is decoded: base64 inside percent-encoding, and no further.
const MAX_DEPTH: u8 = 2;

/// Providers' token formats, masked whole wherever they appear. Most have a prefix distinctive
/// enough to need no word boundary, so `%2Fghp_…` is found too.
const TOKENS: &str = concat!(
    // GitHub
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    // GitLab
    r"|gl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat|agent|ffct|wt)-[A-Za-z0-9_\-]{20,}|GR1348941[A-Za-z0-9_\-]{20,}",
    // Google: API keys, OAuth access and refresh tokens, OAuth client secrets
    r"|AIza[0-9A-Za-z_\-]{30,}|ya29\.[0-9A-Za-z_\-.]{20,}|\b1//[0-9A-Za-z_\-]{20,}|GOCSPX-[0-9A-Za-z_\-]{20,}",
    // AWS access key ids
    r"|\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    // Slack bot, user and app tokens
    r"|xox[abposre]-[A-Za-z0-9\-]{8,}|xapp-\d-[A-Za-z0-9\-]{8,}",
    // Stripe keys and webhook secrets
    r"|\b(?:sk|rk|pk)_(?:live|test|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}",
    // npm, PyPI, RubyGems, Docker Hub
    r"|npm_[A-Za-z0-9]{30,}|pypi-AgE[A-Za-z0-9_\-]{50,}|rubygems_[a-f0-9]{48}|dckr_pat_[A-Za-z0-9_\-]{20,}",
    // OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-api03-)
    r"|\bsk-[A-Za-z0-9_\-]{20,}",
    // SendGrid, Mailgun, Mailchimp, Brevo
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}|\bkey-[0-9a-f]{32}\b|\b[0-9a-f]{32}-us\d{1,2}\b|xkeysib-[0-9a-f]{64}-[A-Za-z0-9]{16}",
    // Twilio API keys and account SIDs
    r"|\b(?:SK|AC)[0-9a-fA-F]{32}\b",
    // Azure AD client secrets
    r"|\b[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}",
    // HashiCorp Vault and Terraform Cloud
    r"|hv[sb]\.[A-Za-z0-9_\-]{24,}|\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,}",
    // Shopify, Square, PlanetScale, Sentry, Doppler, Dynatrace, DigitalOcean, Databricks
    r"|shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}|sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,}",
    r"|pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-.=]{32,}|sntry[su]_[A-Za-z0-9+/=_\-]{40,}",
    r"|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}|dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
    r"|do[por]_v1_[0-9a-f]{64}|\bdapi[0-9a-f]{32}",
    // Grafana, Hugging Face, Linear, New Relic, Postman, Pulumi, Prefect, Heroku, Fly.io
    r"|gl(?:c|sa)_[A-Za-z0-9+/_]{32,}={0,2}|\bhf_[A-Za-z]{34}\b|api_org_[A-Za-z]{34}",
    r"|lin_api_[A-Za-z0-9]{40}|NRAK-[A-Z0-9]{27}|PMAK-[0-9a-f]{24}-[0-9a-f]{34}",
    r"|pul-[0-9a-f]{40}|pnu_[A-Za-z0-9]{36}|HRKU-[A-Za-z0-9_\-]{40,}|fo1_[A-Za-z0-9_\-]{40,}",
    // age, Alibaba, Atlassian, Facebook, Discord bot tokens
    r"|AGE-SECRET-KEY-1[0-9A-Z]{58}|\bLTAI[A-Za-z0-9]{20}\b|ATATT3[A-Za-z0-9_\-=]{50,}",
    r"|EAA[MC][A-Za-z0-9]{80,}|\b[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,}",
);

/// The prefixes of `TOKENS`, for the prefilter.
const TOKEN_HINTS: &str = concat!(
    r"gh[pousr]_|github_pat_|gl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat|agent|ffct|wt)-|GR1348941",
    r"|AIza|ya29\.|1//|GOCSPX-|A3T|AKIA|ASIA|ABIA|ACCA|xox[abposre]-|xapp-",
    r"|_(?:live|test|prod)_|whsec_|npm_|pypi-|rubygems_|dckr_pat_|sk-|SG\.|key-|-us\d",
    r"|xkeysib-|(?:SK|AC)[0-9a-fA-F]{8}|\dQ~|hv[sb]\.|\.atlasv1\.|shp(?:at|ca|pa|ss)_|sq0",
    r"|pscale_|sntry[su]_|dp\.|dt0c01\.|do[por]_v1_|dapi|gl(?:c|sa)_|hf_|api_org_|lin_api_",
    r"|NRAK-|PMAK-|pul-|pnu_|HRKU-|fo1_|AGE-SECRET-KEY-|LTAI|ATATT3|EAA[MC]",
    r"|[MNO][A-Za-z0-9_\-]{23}\.",
);

/// What a rule does with a match.
#[derive(Debug, Clone, Copy)]
enum Mask {
    /// Replaced by this template (`$name` keeps a captured part).
    With(&'static str),
    /// Decided in code: a check, a decoding, or a replacement that depends on the match.
    Check(fn(&Scan<'_>, &Captures<'_>) -> Verdict),
}

/// A check's decision on one match.
enum Verdict {
    Mask(String),
    /// Not a secret: the search goes on after the match.
    Keep,
    /// Not a secret here: the search goes on one character later (a shorter match may be one).
    Retry,
}

/// The text a rule runs over, and the redactor for decoded text.
struct Scan<'a> {
    redactor: &'a Redactor,
    depth: u8,
    text: &'a str,
}

/// What tells, in one pass over a line, that a rule may apply. A hint must match wherever the
/// rule's pattern does; it is cheaper (literals, short repetitions), so that the set of all
/// hints stays one small automaton.
enum Prefilter {
    /// The pattern itself.
    Pattern,
    Hint(&'static str),
    /// A function, for what a regular expression finds too often (long runs of letters).
    Scan(ScanFn),
}

/// A prefilter function: whether a rule may apply to the text.
type ScanFn = fn(&str) -> bool;

/// A built-in rule.
struct Rule {
    pattern: &'static str,
    prefilter: Prefilter,
    mask: Mask,
}

/// The built-in rules, in the order they apply: a rule that needs the text whole (a URL, a
/// header) comes before one that would mask a part of it (an e-mail address, an IP address).
const RULES: &[Rule] = &[
    // Private-key blocks (PEM, PGP), also when the END line was cut off.
    Rule {
        pattern: r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        prefilter: Prefilter::Hint("-----BEGIN "),
        mask: Mask::With(PRIVATE_KEY),
    },
    // JSON Web Tokens.
    Rule {
        pattern: r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
        prefilter: Prefilter::Hint("eyJ"),
        mask: Mask::With(MASK),
    },
    // Webhook URLs whose path is the secret: the host stays.
    Rule {
        pattern: r"(?P<hook>hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/|\.webhook\.office\.com/webhookb2/|outlook\.office\.com/webhook/)[A-Za-z0-9+/_\-@.]{16,}",
        prefilter: Prefilter::Hint(
            r"hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/|webhook\.office\.com/|outlook\.office\.com/webhook/",
        ),
        mask: Mask::With("${hook}[REDACTED]"),
    },
    // user:password@ in URLs; the password may hold `/` and `@` (up to the last `@`).
    Rule {
        // The user may already be masked (`[EMAIL]`): the password after it still goes.
        pattern: r#"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]*://(?:\[[A-Z ]+\]|[^\s:/?#@"'<>\[\]]*)):(?P<pass>[^\s"'<>?#]*)@"#,
        prefilter: Prefilter::Hint(r#"://(?:\[[A-Z ]+\]|[^\s:/?#@"'<>\[\]]*):"#),
        mask: Mask::Check(url_password),
    },
    // Authorization, Proxy-Authorization, Cookie and Set-Cookie: the whole value, any scheme.
    Rule {
        pattern: r#"(?i)(?P<key>\b[A-Za-z0-9_\-]*?(?:authorization|cookie))(?P<kq>\\?["']?)(?P<sep>[ \t]*(?:[:=]|,)[ \t]*)(?P<value>\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?:=[ \t]*"[^"\r\n]*"|[^\r\n"'\\&])+)"#,
        prefilter: Prefilter::Hint(r"(?i)authorization|cookie"),
        mask: Mask::Check(header_value),
    },
    // key=value, key: value, "key": "value with spaces", ?key=value where the key names a
    // secret (see `is_secret_key`): the key stays, the value goes.
    Rule {
        pattern: r#"(?P<key>\b[A-Za-z_][A-Za-z0-9_.\-]*|\b(?i:api|access|secret|private)[ ](?i:key|token))(?P<kq>\\?["']?)(?P<sep>[ \t]*(?:=>|[=:])[ \t]*)(?P<value>\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"',;&<>(){}\[\]:=][^\s"',;&<>(){}\[\]]*)"#,
        prefilter: Prefilter::Hint(
            r"(?i)pass|pw|secret|token|key|auth|sig|cookie|credential|session|sessid|csrf|xsrf|otp|bearer",
        ),
        mask: Mask::Check(secret_pair),
    },
    // Authorization schemes outside a header: `Bearer abc`, `Basic dXNlcjpw…`, `token ghp…`.
    Rule {
        pattern: r"(?i)\b(?P<scheme>bearer|basic|token|negotiate)[ \t]+(?P<cred>[A-Za-z0-9\-._~+/]+=*)",
        prefilter: Prefilter::Hint(r"(?i)bearer|basic|token|negotiate"),
        mask: Mask::Check(scheme_credentials),
    },
    // An AWS secret key right after its access key id.
    Rule {
        pattern: r#"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?P<sep>[\s"',:;=|]{1,4})[A-Za-z0-9/+]{40}\b"#,
        prefilter: Prefilter::Hint("A3T|AKIA|ASIA|ABIA|ACCA"),
        mask: Mask::With("[REDACTED]${sep}[REDACTED]"),
    },
    Rule {
        pattern: TOKENS,
        prefilter: Prefilter::Hint(TOKEN_HINTS),
        mask: Mask::With(MASK),
    },
    // Card numbers of the major networks: 13 to 19 digits in groups, Luhn-checked.
    Rule {
        pattern: r"\b(?:4\d{3}|5[1-5]\d\d|2[2-7]\d\d|3\d{3}|6\d{3})(?:[ \-]?\d{4,6}){1,3}(?:[ \-]?\d{1,4})?\b",
        prefilter: Prefilter::Hint(r"\b[2-6]\d{3}[ \-]?\d{4,6}[ \-]?\d{2}"),
        mask: Mask::Check(card_number),
    },
    // IBANs, checked with their mod-97 checksum.
    Rule {
        pattern: r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b",
        prefilter: Prefilter::Hint(r"\b[A-Z]{2}\d{2}[ ]?[A-Z0-9]{4}"),
        mask: Mask::Check(iban),
    },
    // US social security numbers (not the ranges never issued).
    Rule {
        pattern: r"\b\d{3}-\d{2}-\d{4}\b",
        prefilter: Prefilter::Pattern,
        mask: Mask::Check(us_ssn),
    },
    // E-mail addresses: plus-addressed, Unicode, percent-encoded `%40`.
    Rule {
        pattern: r"\b[\p{L}\p{N}._+\-]+(?:@|%40)[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.(?P<tld>\p{L}{2,}|xn--[a-z0-9\-]+)",
        prefilter: Prefilter::Hint("@|%40"),
        mask: Mask::Check(email),
    },
    // Public IPv6 addresses: eight groups, or a `::` form (validated by the standard library).
    Rule {
        pattern: r"(?i)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|[0-9a-f:]*::[0-9a-f:.]*(?:%[0-9a-z]+)?",
        prefilter: Prefilter::Hint(r"(?i)[0-9a-f]::|::[0-9a-f]|(?:[0-9a-f]{1,4}:){7}[0-9a-f]"),
        mask: Mask::Check(ipv6),
    },
    // Public IPv4 addresses: four octets up to 255, not part of a longer dotted number.
    Rule {
        pattern: r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b",
        prefilter: Prefilter::Hint(r"\d\.\d{1,3}\.\d{1,3}\.\d"),
        mask: Mask::Check(ipv4),
    },
    // Percent-encoded text that decodes to a secret (`password%3D…`, `%2Fghp_…`).
    Rule {
        pattern: r#"(?P<key>[A-Za-z0-9_.\-]+=)?(?P<value>[^\s"'<>&;,?(){}\[\]|=]*%[0-9A-Fa-f]{2}[^\s"'<>&;,?(){}\[\]|]*)"#,
        prefilter: Prefilter::Hint(r"%[0-9A-Fa-f]{2}"),
        mask: Mask::Check(percent_encoded),
    },
    // Base64 that decodes to a secret or to `user:password`.
    Rule {
        pattern: r"[A-Za-z0-9+/_\-]{16,}={0,2}",
        prefilter: Prefilter::Scan(has_base64_run),
        mask: Mask::Check(base64_encoded),
    },
];

/// A set of masking rules, compiled once.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// The prefilter: one hint for each rule of `hinted`.
    any: RegexSet,
    hinted: Vec<usize>,
    /// The rules prefiltered by a function instead.
    scans: Vec<(usize, ScanFn)>,
    rules: Vec<(Regex, Mask)>,
}

/// A rule compiled with a small lazy-DFA cache: over a hundred rules, each with a cache per
/// thread, must not cost the process hundreds of megabytes on a hostile text (the regex
/// engine falls back to a slower search when the cache is full, never to more memory).
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).dfa_size_limit(256 << 10).build()
}

impl Redactor {
    /// The built-in rules plus `extra` patterns from the configuration (masked whole).
    pub fn new(extra: &[String]) -> Result<Self, regex::Error> {
        let mut rules = Vec::with_capacity(RULES.len() + extra.len());
        let mut hints = Vec::with_capacity(RULES.len() + extra.len());
        let mut hinted = Vec::with_capacity(RULES.len() + extra.len());
        let mut scans = Vec::new();
        for (i, rule) in RULES.iter().enumerate() {
            rules.push((compile(rule.pattern)?, rule.mask));
            match rule.prefilter {
                Prefilter::Pattern => hints.push(rule.pattern.to_string()),
                Prefilter::Hint(hint) => hints.push(hint.to_string()),
                Prefilter::Scan(scan) => {
                    scans.push((i, scan));
                    continue;
                }
            }
            hinted.push(i);
        }
        for pattern in extra {
            hinted.push(rules.len());
            rules.push((compile(pattern)?, Mask::With(MASK)));
            hints.push(pattern.clone());
        }
        let any = RegexSetBuilder::new(&hints)
            .dfa_size_limit(8 << 20)
            .build()?;
        Ok(Redactor {
            any,
            hinted,
            scans,
            rules,
        })
    }

    /// The text with every secret masked; borrowed when there was nothing to mask.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Cow::Owned(mut out) = self.redact_at(text, 0) else {
            return Cow::Borrowed(text);
        };
        // A mask can uncover a secret: the e-mail of `smtp://me@x.io:pw@host` masked leaves
        // `smtp://[EMAIL]:pw@host`. Again, until nothing changes (a pass or two).
        for _ in 0..4 {
            match self.redact_at(&out, 0) {
                Cow::Owned(next) if next != out => out = next,
                _ => break,
            }
        }
        Cow::Owned(out)
    }

    /// `redact` of text found at `depth` decodings.
    fn redact_at<'t>(&self, text: &'t str, depth: u8) -> Cow<'t, str> {
        let mut hits: Vec<usize> = self
            .any
            .matches(text)
            .iter()
            .map(|h| self.hinted[h])
            .collect();
        hits.extend(
            self.scans
                .iter()
                .filter(|(_, scan)| scan(text))
                .map(|(i, _)| *i),
        );
        hits.sort_unstable();
        let mut out = Cow::Borrowed(text);
        for i in hits {
            let (regex, mask) = &self.rules[i];
            let scan = Scan {
                redactor: self,
                depth,
                text: &out,
            };
            if let Some(masked) = scan.apply(regex, *mask) {
                out = Cow::Owned(masked);
            }
        }
        out
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[]).expect("the built-in redaction rules compile")
    }
}

impl Scan<'_> {
    /// The text with this rule's matches masked, or `None` when nothing was.
    fn apply(&self, regex: &Regex, mask: Mask) -> Option<String> {
        let text = self.text;
        let mut out = String::new();
        let mut copied = 0;
        let mut changed = false;
        let mut at = 0;
        while at <= text.len() {
            let Some(caps) = regex.captures_at(text, at) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            let verdict = match mask {
                Mask::With(template) => {
                    let mut s = String::new();
                    caps.expand(template, &mut s);
                    Verdict::Mask(s)
                }
                Mask::Check(check) => check(self, &caps),
            };
            let next_char = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            let past = if m.is_empty() { next_char } else { m.end() };
            at = match verdict {
                Verdict::Mask(s) if s != m.as_str() => {
                    out.push_str(&text[copied..m.start()]);
                    out.push_str(&s);
                    copied = m.end();
                    changed = true;
                    past
                }
                Verdict::Mask(_) | Verdict::Keep => past,
                Verdict::Retry => next_char,
            };
        }
        changed.then(|| {
            out.push_str(&text[copied..]);
            out
        })
    }

    /// Whether decoded text holds something to mask.
    fn reveals_secret(&self, decoded: &str) -> bool {
        matches!(
            self.redactor.redact_at(decoded, self.depth + 1),
            Cow::Owned(_)
        )
    }
}

/// Whether a field's name says its value is a secret: `password`, `db_pass`, `pw`,
/// `X-Api-Key`, `privateKeyId`, `AccountKey`, `client_secret`, `sig`, `session_id`… Words are
/// compared whole (`author`, `passed`, `max_tokens` are no secrets).
fn is_secret_key(key: &str) -> bool {
    const PARTS: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "passcode",
        "secret",
        "credential",
        "cookie",
        "signature",
        "authorization",
        "apikey",
        "accesskey",
        "privatekey",
        "accountkey",
        "secretkey",
        "signingkey",
        "encryptionkey",
        "masterkey",
        "sessionkey",
        "sessionid",
        "sessid",
        "csrf",
        "xsrf",
        "mysqlpwd",
        "bearer",
    ];
    const WORDS: &[&str] = &["pass", "pw", "pwd", "auth", "sig", "otp", "token"];
    let words = key_words(key);
    let compact = words.concat();
    PARTS.iter().any(|p| compact.contains(p))
        || words.iter().any(|w| WORDS.contains(&w.as_str()))
        || words.last().is_some_and(|w| w == "session")
        || (compact.contains("token")
            && !compact.contains("tokens")
            && !compact.contains("tokeniz"))
}

/// Whether a key is a file's name rather than a field's: the last part of a path
/// (`open /secrets/credentials.json: no such file`) or a name with a file extension
/// (`secret.yaml: not found`). What follows a file name is a message, not its value.
fn names_file(key: &str, before: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        "json",
        "yaml",
        "yml",
        "toml",
        "ini",
        "env",
        "conf",
        "cfg",
        "txt",
        "pem",
        "crt",
        "p12",
        "pfx",
        "jks",
        "xml",
        "properties",
    ];
    before.ends_with(['/', '\\'])
        || key
            .rsplit_once('.')
            .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext))
}

/// The lowercase words of a name: `X-Goog-Signature` → x, goog, signature; `privateKeyId` →
/// private, key, id.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// The quotes around a value, if it has them.
fn quotes_of(value: &str) -> &'static str {
    ["\\\"", "\"", "'"]
        .into_iter()
        .find(|q| value.len() >= 2 * q.len() && value.starts_with(q) && value.ends_with(q))
        .unwrap_or("")
}

/// Values that are no secret and tell the reader something: `password: null`, `token=""`.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || v.starts_with("[REDACTED")
        || (v.len() >= 3 && v.chars().all(|c| matches!(c, '*' | 'x' | 'X')))
        || ["null", "none", "nil", "true", "false", "undefined"]
            .iter()
            .any(|p| v.eq_ignore_ascii_case(p))
}

/// `key`, its closing quote, the separator and the masked value in the value's quotes.
fn masked_pair(caps: &Captures<'_>, value: &str) -> Verdict {
    let quote = quotes_of(value);
    let inner = &value[quote.len()..value.len() - quote.len()];
    if is_placeholder(inner) {
        return Verdict::Keep;
    }
    Verdict::Mask(format!(
        "{}{}{}{quote}{MASK}{quote}",
        &caps["key"], &caps["kq"], &caps["sep"]
    ))
}

fn secret_pair(scan: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let start = caps.get(0).map_or(0, |m| m.start());
    if !is_secret_key(&caps["key"]) || names_file(&caps["key"], &scan.text[..start]) {
        return Verdict::Retry;
    }
    masked_pair(caps, &caps["value"])
}

fn header_value(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    // `('Cookie', 'a=b')` is a header; `cookie, then` is prose.
    if caps["sep"].contains(',') && caps["kq"].is_empty() {
        return Verdict::Retry;
    }
    let raw = &caps["value"];
    let value = raw.trim_end();
    match masked_pair(caps, value) {
        Verdict::Mask(s) => Verdict::Mask(s + &raw[value.len()..]),
        other => other,
    }
}

fn url_password(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let pass = &caps["pass"];
    if is_placeholder(pass) {
        return Verdict::Keep;
    }
    // `host:8443/users/@me` is a port and a path, not a password.
    let port = pass.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=5).contains(&port) && pass.as_bytes().get(port) == Some(&b'/') {
        return Verdict::Retry;
    }
    Verdict::Mask(format!("{}:{MASK}@", &caps["pre"]))
}

fn scheme_credentials(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let scheme = &caps["scheme"];
    let cred = &caps["cred"];
    let has_digit = cred.bytes().any(|b| b.is_ascii_digit());
    let mixed = cred.bytes().any(|b| b.is_ascii_uppercase())
        && cred.bytes().any(|b| b.is_ascii_lowercase());
    // `Bearer` is always followed by a credential; the others are words of prose too.
    let secret = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => true,
        "token" => cred.len() >= 16 && has_digit,
        _ => cred.len() >= 8 && (has_digit || mixed || cred.contains(['=', '+', '/'])),
    };
    if secret {
        Verdict::Mask(format!("{scheme} {MASK}"))
    } else {
        Verdict::Retry
    }
}

fn card_number(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let digits: Vec<u32> = caps[0].chars().filter_map(|c| c.to_digit(10)).collect();
    let luhn = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match d * (1 + (i % 2) as u32) {
            doubled if doubled > 9 => doubled - 9,
            digit => digit,
        })
        .sum::<u32>()
        % 10
        == 0;
    if (13..=19).contains(&digits.len()) && luhn {
        Verdict::Mask(MASK.to_string())
    } else {
        Verdict::Retry
    }
}

fn iban(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let compact: String = caps[0].chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return Verdict::Keep;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder = 0u32;
    for c in tail.chars().chain(head.chars()) {
        let Some(v) = c.to_digit(36) else {
            return Verdict::Keep;
        };
        remainder = if v >= 10 {
            remainder * 100 + v
        } else {
            remainder * 10 + v
        } % 97;
    }
    if remainder == 1 {
        Verdict::Mask(MASK.to_string())
    } else {
        Verdict::Keep
    }
}

fn us_ssn(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let s = &caps[0];
    let (area, group, serial) = (&s[0..3], &s[4..6], &s[7..11]);
    let issued = area != "000"
        && area != "666"
        && !area.starts_with('9')
        && group != "00"
        && serial != "0000";
    if issued {
        Verdict::Mask(MASK.to_string())
    } else {
        Verdict::Keep
    }
}

fn email(_: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    // `logo@2x.png` is a file.
    const FILES: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "mjs", "json", "map",
        "html", "txt",
    ];
    let tld = caps["tld"].to_ascii_lowercase();
    if FILES.contains(&tld.as_str()) {
        Verdict::Keep
    } else {
        Verdict::Mask(EMAIL.to_string())
    }
}

fn ipv4(scan: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Keep;
    };
    let mut before = scan.text[..m.start()].chars().rev();
    let mut after = scan.text[m.end()..].chars();
    let longer_number = match (before.next(), before.next()) {
        (Some('.'), Some(c)) => c.is_ascii_digit(),
        // `Chrome/120.0.0.0` is a product's version.
        (Some('/'), Some(c)) => c.is_ascii_alphabetic(),
        _ => false,
    } || matches!((after.next(), after.next()), (Some('.'), Some(c)) if c.is_ascii_digit());
    match m.as_str().parse::<Ipv4Addr>() {
        Ok(address) if !longer_number && !is_internal_v4(address) => Verdict::Mask(IP.to_string()),
        _ => Verdict::Keep,
    }
}

/// Private, loopback, link-local and unspecified addresses name a service's own
/// infrastructure (`10.0.0.5:5432` refused), not a person: they stay, as the diagnosis needs
/// them.
fn is_internal_v4(address: Ipv4Addr) -> bool {
    address.is_private()
        || address.is_loopback()
        || address.is_link_local()
        || address.is_unspecified()
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    match address.to_ipv4_mapped() {
        Some(v4) => is_internal_v4(v4),
        None => {
            address.is_loopback()
                || address.is_unspecified()
                || address.is_unique_local()
                || address.is_unicast_link_local()
        }
    }
}

fn ipv6(scan: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Keep;
    };
    let before = scan.text[..m.start()].chars().next_back();
    let after = scan.text[m.end()..].chars().next();
    // `std::io`, `Foo::bar` and `12:30:45` are no addresses.
    let joined = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if joined(before)
        || before == Some(':')
        || joined(after)
        || !m.as_str().bytes().any(|b| b.is_ascii_digit())
    {
        return Verdict::Retry;
    }
    let candidate = m.as_str();
    let address = candidate.split('%').next().unwrap_or(candidate);
    let trimmed = address.trim_end_matches(':');
    let (parsed, tail) = match address.parse::<Ipv6Addr>() {
        Ok(a) => (a, ""),
        Err(_) if trimmed.len() + 1 == address.len() => match trimmed.parse::<Ipv6Addr>() {
            Ok(a) => (a, ":"),
            Err(_) => return Verdict::Retry,
        },
        Err(_) => return Verdict::Retry,
    };
    if is_internal_v6(parsed) {
        Verdict::Keep
    } else {
        Verdict::Mask(format!("{IP}{tail}"))
    }
}

fn percent_encoded(scan: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    if scan.depth >= MAX_DEPTH {
        return Verdict::Keep;
    }
    let value = &caps["value"];
    let mut decoded: String = match percent_encoding::percent_decode_str(value).decode_utf8() {
        Ok(d) => d.into_owned(),
        Err(_) => return Verdict::Keep,
    };
    // Encoded twice (`%253D`): once more.
    if decoded.contains('%')
        && let Ok(again) = percent_encoding::percent_decode_str(&decoded).decode_utf8()
    {
        decoded = again.into_owned();
    }
    if decoded != value && scan.reveals_secret(&decoded) {
        let key = caps.name("key").map_or("", |k| k.as_str());
        Verdict::Mask(format!("{key}{MASK}"))
    } else {
        Verdict::Keep
    }
}

/// Standard and URL-safe base64, with or without padding (stripped before decoding).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Whether the text has a run of 16 or more base64 characters with both cases: what
/// `base64_encoded` looks at (hex ids, words and lowercase paths are not).
fn has_base64_run(text: &str) -> bool {
    let (mut run, mut upper, mut lower) = (0usize, false, false);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-') {
            run += 1;
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
            if run >= 16 && upper && lower {
                return true;
            }
        } else {
            (run, upper, lower) = (0, false, false);
        }
    }
    false
}

fn base64_encoded(scan: &Scan<'_>, caps: &Captures<'_>) -> Verdict {
    let body = caps[0].trim_end_matches('=');
    // Cheap refusals first: most long tokens of logs are hex ids, words and paths.
    let bytes = body.as_bytes();
    if scan.depth >= MAX_DEPTH
        || body.len() % 4 == 1
        || !bytes.iter().any(u8::is_ascii_uppercase)
        || !bytes.iter().any(u8::is_ascii_lowercase)
        || bytes.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-')
    {
        return Verdict::Keep;
    }
    let engine = if body.contains(['-', '_']) {
        &BASE64_URL
    } else {
        &BASE64
    };
    let Ok(decoded) = engine.decode(body) else {
        return Verdict::Keep;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return Verdict::Keep;
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Verdict::Keep;
    }
    if is_credentials(&text) || scan.reveals_secret(&text) {
        Verdict::Mask(MASK.to_string())
    } else {
        Verdict::Keep
    }
}

/// `user:password`, as HTTP Basic and many clients encode them.
fn is_credentials(text: &str) -> bool {
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    (1..=64).contains(&user.len())
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || "._-+@".contains(c))
        && (1..=128).contains(&password.len())
        && password.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static REDACTOR: LazyLock<Redactor> = LazyLock::new(Redactor::default);

    fn r(text: &str) -> String {
        REDACTOR.redact(text).into_owned()
    }

    fn base64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn percent(text: &str) -> String {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    /// Tokens that say what they are: masked bare, after any key, in JSON, in a URL's query,
    /// percent-encoded and base64-encoded. (kind, token, its distinctive part)
    #[rustfmt::skip]
    const TOKENS_PLANTED: &[(&str, &str, &str)] = &[
        ("GitHub classic PAT", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "aBcDeFgHiJkLmNoPq"),
        ("GitHub server token", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c"),
        ("GitHub fine-grained PAT", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "11ABCDEFG0123"),
        ("GitLab PAT", "glpat-xYz12AbCdEfGhIjKlMnO", "xYz12AbCdEf"),
        ("GitLab runner token", "glrt-t1_AbCdEfGhIjKlMnOpQrStUv", "t1_AbCdEfGh"),
        ("Google API key", "AIzaSyA1234567890abcdefghijklmnopqrstu", "SyA1234567890abc"),
        ("Google OAuth access token", "ya29.a0AfH6SMBx3kLmN0pQrStUvWxYz_1234567890abcdEFG", "a0AfH6SMBx3k"),
        ("Google OAuth refresh token", "1//0gLmNoPqRsTuVwXyZ-abcdefGHIJKL0123456789", "0gLmNoPqRsTu"),
        ("Google OAuth client secret", "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", "1a2B3c4D5e6F"),
        ("AWS access key id", "AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
        ("AWS temporary key id", "ASIAY34FZKBOKMUTVV7A", "Y34FZKBOKMUTVV7A"),
        ("Slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOp"),
        ("Slack user token", "xoxp-123456789012-1234567890123-1234567890123-0123456789abcdef", "0123456789abcdef"),
        ("Slack app token", "xapp-1-A01BCDEFGHI-1234567890123-0123456789abcdef0123456789abcdef", "A01BCDEFGHI"),
        ("Stripe secret key", "sk_live_51H8aBcDeFgHiJkLmNoPqRsTuV", "51H8aBcDeFgHi"),
        ("Stripe restricted key", "rk_live_51H8zYxWvUtSrQpOnMlKjIhGfE", "51H8zYxWvUtSr"),
        ("Stripe webhook secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqr"),
        ("npm token", "npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "aBcDeFgHiJkLmNoPq"),
        ("PyPI token", "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZjAxLTIzNDUtNjc4OS1hYmNkLWVmMDEyMzQ1Njc4OQ", "CJGFiY2RlZjAx"),
        ("OpenAI project key", "sk-proj-aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-abcdEFGH", "aBcDeFgHiJkLmNoPq"),
        ("OpenAI legacy key", "sk-aBcDeFgHiJkLmNoPqRsTT3BlbkFJuVwXyZ0123456789abcd", "T3BlbkFJuVwXyZ"),
        ("Anthropic key", "sk-ant-api03-aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-abcdefAA", "aBcDeFgHiJkLmNoPq"),
        ("SendGrid key", "SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234", "wXyZ0123456789aBc"),
        ("Twilio API key", "SK0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
        ("Twilio account SID", "AC9876543210fedcba9876543210fedcba", "9876543210fedcba"),
        ("Mailgun key", "key-0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
        ("Mailchimp key", "0123456789abcdef0123456789abcdef-us12", "0123456789abcdef0123"),
        ("Azure AD client secret", "abc8Q~aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456", "aBcDeFgHiJkLmNoPq"),
        ("Vault token", "hvs.CAESIJlU0vVbnUO9aBcDeFgHiJkLmNoPqRsTuVwXyZ", "CAESIJlU0vVbnUO9"),
        ("DigitalOcean token", "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
        ("Shopify token", "shpat_0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
        ("Hugging Face token", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH", "aBcDeFgHiJkLmNoPq"),
        ("Postman key", "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01", "0123456789abcdef0123"),
        ("Sentry token", "sntrys_eyJpYXQiOjE2ODc0NTc5NjIuMTIzLCJ1cmwiOiJodHRwczovL3NlbnRyeS5pbyJ9", "OjE2ODc0NTc5"),
        ("Grafana token", "glsa_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345_0123abcd", "aBcDeFgHiJkLmNoPq"),
        ("Databricks token", "dapi0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
        ("age secret key", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", "KEY-1QQQQQQQQQQ"),
        ("JSON Web Token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3"),
    ];

    /// Secrets known by where they stand: masked as written, percent-encoded and
    /// base64-encoded. (kind, text, the part that must not survive)
    #[rustfmt::skip]
    const PLANTED: &[(&str, &str, &str)] = &[
        ("bare AWS secret after its key id", "creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY loaded", "wJalrXUtnFEMI"),
        ("dotted config key", "spring.datasource.password=Xk29fjQp0Lm api.key: 7hG2kLp9Qw", "Xk29fjQp0Lm"),
        ("dotted key ending in key", "set api.key: 7hG2kLp9QwZr", "7hG2kLp9QwZr"),
        ("AWS secret key field", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("SigV4 query signature", "GET https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe&X-Amz-Expires=60", "fe5f80f77d5fa3be"),
        ("SigV4 Signature=", "sign AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb", "5d672d79c15b1316"),
        ("SigV4 security token", "X-Amz-Security-Token=FwoGZXIvYXdzEBYaDH7kLmNoPqRsTuVw", "FwoGZXIvYXdzEBYa"),
        ("X-Goog-Signature", "url https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=8f3c2a9b7d6e5f4a3b2c1d0e9f8a7b6c", "8f3c2a9b7d6e5f4a"),
        ("GCP private_key_id", r#"{"type": "service_account", "private_key_id": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"}"#, "1a2b3c4d5e6f7a8b"),
        ("GCP private_key", r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}"#, "MIIEvQIBADANBgkq"),
        ("PEM private key", "key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98\n-----END RSA PRIVATE KEY----- end", "MIIEowIBAAKCAQEA"),
        ("OpenSSH private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXkt"),
        ("Cookie header", "Cookie: sessionid=abc123def456ghi; csrftoken=XyZ987wvu654", "abc123def456ghi"),
        ("Cookie header, second value", "Cookie: theme=dark; sessionid=abc123def456ghi", "abc123def456ghi"),
        ("Set-Cookie header", "Set-Cookie: __Host-auth=QmFzZTY0VmFsdWUx; Path=/; Secure; HttpOnly", "QmFzZTY0VmFsdWUx"),
        ("Cookie in a Python dict", "headers={'Cookie': 'sid=s%3AabcDEF123ghiJKL.sig', 'Host': 'x'}", "abcDEF123ghiJKL"),
        ("Authorization Bearer", "Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789"),
        ("Authorization short Bearer", "Authorization: Bearer x9Zq", "x9Zq"),
        ("Authorization Basic", "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVu"),
        ("Authorization Digest", r#"Authorization: Digest username="bob", realm="api", response="6629fae49393a05397450978507c4ef1""#, "6629fae49393a053"),
        ("Authorization Negotiate", "authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag", "YIIGhgYGKwYBBQUC"),
        ("Authorization SharedKey", "Authorization: SharedKey myaccount:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=", "ctzMq410TV3wS7up"),
        ("Authorization without scheme", "Authorization: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a3928"),
        ("Authorization token scheme", "Authorization: token 0123456789abcdefXYZ", "0123456789abcdefXYZ"),
        ("Authorization in JSON", r#"{"headers": {"Authorization": "Bearer s3cr3t-v4lue with space"}}"#, "s3cr3t-v4lue"),
        ("Authorization in escaped JSON", r#"{"msg": "{\"Authorization\":\"Bearer zq81LmNoPqRs\"}"}"#, "zq81LmNoPqRs"),
        ("Bearer token in prose", "retry with bearer q1w2e3r4t5y6 failed", "q1w2e3r4t5y6"),
        ("Basic credentials in prose", "sent Basic dXNlcjpwYXNzd29yZA== upstream", "dXNlcjpwYXNzd29yZA"),
        ("X-Api-Key header", "X-Api-Key: 4f3e2d1c0b9a8f7e6d5c", "4f3e2d1c0b9a8f7e"),
        ("apiKey field", r#"{"apiKey":"AbC123dEf456GhI789"}"#, "AbC123dEf456"),
        ("api key with a space", "api key: Zq9xW8vU7tS6", "Zq9xW8vU7tS6"),
        ("client_secret", "client_secret=Qw3rTy7uI0pAsDfGhJkL", "Qw3rTy7uI0pA"),
        ("access_token in a URL", "GET /callback?code=ok&access_token=Tk7yU8iO9pLmNb&state=1", "Tk7yU8iO9pLmNb"),
        ("refresh_token in JSON", r#"{"refresh_token": "rT5-6yU7iO8pA9sD"}"#, "rT5-6yU7iO8pA9sD"),
        ("Azure AccountKey", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net", "Eby8vdM02xNOcqFl"),
        ("Azure SharedAccessKey", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abcDEF123456ghiJKL789mnoPQR=", "abcDEF123456ghiJ"),
        ("Azure SAS signature", "https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sp=r&sig=AbCdEf123%2BGhIjKl%3D", "AbCdEf123"),
        ("Slack webhook URL", "post https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/9aBcDeFgHiJkLmNoPqRsTuVw", "9aBcDeFgHiJkLmNo"),
        ("Discord webhook URL", "https://discord.com/api/webhooks/123456789012345678/aBcDeFgHiJkLmNoPqRsTuVwXyZ", "aBcDeFgHiJkLmNoPq"),
        ("Teams webhook URL", "https://acme.webhook.office.com/webhookb2/1a2b3c4d-5e6f@7a8b9c0d/IncomingWebhook/0f1e2d3c4b5a/9e8d7c6b", "0f1e2d3c4b5a"),
        ("Twilio auth token", "twilio auth_token=0123456789abcdef0123456789abcdef", "0123456789abcdef"),
        ("password field", "login password=hunter2 user=bob", "hunter2"),
        ("pass field", "db pass=Tr0ub4dor&3", "Tr0ub4dor"),
        ("pw field", "mysql pw=c0rrectH0rse", "c0rrectH0rse"),
        ("pwd field", "PWD: s3cr3tPwd!", "s3cr3tPwd"),
        ("passphrase field", "gpg passphrase=open-sesame-42", "open-sesame-42"),
        ("DB_PASSWORD env", "DB_PASSWORD=Pa55w0rdEnv", "Pa55w0rdEnv"),
        ("quoted password with spaces", r#"{"password": "correct horse battery staple"}"#, "horse battery"),
        ("single-quoted password", "password='my secret pass'", "my secret pass"),
        ("YAML password", "password: Summer2024!", "Summer2024"),
        ("secret field", "webhook_secret: s3cr3tW3bh00k", "s3cr3tW3bh00k"),
        ("otp field", "otp=913482 accepted", "913482"),
        ("session cookie field", "session=eyQ1w2E3r4T5y6 ok", "eyQ1w2E3r4T5y6"),
        ("URL password with /", "connect redis://default:pa/ss0rd@cache:6379/0", "pa/ss0rd"),
        ("URL password with @", "amqp://user:p@ssw0rd@rabbit:5672/vhost", "p@ssw0rd"),
        ("URL password", "connect postgres://app:s3cr3t@db.internal:5432/app failed", "s3cr3t"),
        ("URL token as password", "git clone https://x-access-token:gho_16C7e42F292c6912E77@github.com/o/r", "gho_16C7e42F292c"),
        ("percent-encoded GitHub token", "next=https%3A%2F%2Fapi.example.com%2Fcb%2Fghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "aBcDeFgHiJkLmNoPq"),
        ("percent-encoded password", "GET /login?q=password%3DHunter2Secret%26user%3Dbob", "Hunter2Secret"),
        ("double percent-encoded password", "redirect=%2Flogin%253Fpassword%253DHunter2Secret", "Hunter2Secret"),
        ("base64 user:password", "creds dXNlcjpwYXNzd29yZA== sent", "dXNlcjpwYXNzd29yZA"),
        ("base64 token", "blob Z2hwX2FCY0RlRmdIaUprTG1Ob1BxUnNUdVZ3WHlaMDEyMzQ1Njc4OQ== end", "Z2hwX2FCY0RlRmdI"),
        ("card number with spaces", "charged card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
        ("card number with dashes", "card=5500-0000-0000-0004", "5500-0000-0000-0004"),
        ("card number plain", "amex 378282246310005 declined", "378282246310005"),
        ("card number Discover", "pan 6011111111111117", "6011111111111117"),
        ("IBAN", "refund to DE89 3704 0044 0532 0130 00 today", "3704 0044 0532"),
        ("IBAN compact", "iban GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("US SSN", "ssn on file 123-45-6789", "123-45-6789"),
        ("e-mail", "mail to jane.doe@example.com now", "jane.doe@example.com"),
        ("plus-addressed e-mail", "invite jane+billing@example.co.uk sent", "jane+billing"),
        ("Unicode e-mail", "user jürgen.müller@beispiel.de signed in", "jürgen.müller"),
        ("IDN e-mail", "用户@例子.广告 bounced", "用户@例子"),
        ("e-mail in a URL", "GET https://app.example.com/users/jane.doe@example.com/profile", "jane.doe@example.com"),
        ("percent-encoded e-mail", "GET /reset?email=jane.doe%40example.com&x=1", "jane.doe%40example"),
        ("mailto", "<a href=\"mailto:ops@acme.io\">", "ops@acme.io"),
        ("IPv4", "connect to 203.0.113.42:5432 refused", "203.0.113.42"),
        ("IPv4 in a URL", "GET http://198.51.100.7/health 200", "198.51.100.7"),
        ("IPv4 forwarded-for", "x-forwarded-for: 192.0.2.1, 10.0.0.5", "192.0.2.1"),
        ("IPv6", "client 2001:db8:85a3::8a2e:370:7334 connected", "2001:db8:85a3"),
        ("IPv6 full", "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "2001:0db8:85a3"),
        ("IPv6 with port", "listening on [2a00:1450:4001:81b::200e]:8080", "2a00:1450"),
        ("IPv6 Google", "from 2a00:1450:4001:81b::200e ok", "4001:81b"),
        ("IPv4-mapped IPv6", "peer ::ffff:192.0.2.128 closed", "192.0.2.128"),
    ];

    /// Where a secret must not be after masking, with the text it was in.
    fn assert_gone(kind: &str, text: &str, secret: &str) {
        let out = r(text);
        assert!(
            !out.contains(secret),
            "{kind}: {secret:?} survives in\n  {text}\n→ {out}"
        );
    }

    #[test]
    fn every_planted_token_is_masked_wherever_it_stands() {
        for (kind, token, part) in TOKENS_PLANTED {
            for text in [
                format!("failed with {token} at startup"),
                format!("value={token}"),
                format!(r#"{{"value": "{token}", "n": 1}}"#),
                format!("GET https://api.example.com/cb?page=2&value={token}&x=1"),
                format!("next={}", percent(&format!("/cb?value={token}"))),
                format!("err=\"{token}\""),
            ] {
                assert_gone(kind, &text, part);
            }
            let encoded = base64(&format!("token {token}"));
            assert_gone(kind, &format!("blob {encoded} end"), &encoded[..16]);
        }
    }

    #[test]
    fn every_planted_secret_is_masked_as_written_and_encoded() {
        for (kind, text, part) in PLANTED {
            assert_gone(kind, text, part);
            // Encodings carry the whole text; the encoded secret must go with it.
            let encoded = percent(text);
            let encoded_part = percent(part);
            assert_gone(kind, &format!("q={encoded}&page=2"), &encoded_part);
            let encoded = base64(text);
            if encoded.len() >= 16 {
                assert_gone(kind, &format!("payload {encoded} end"), &encoded[..16]);
            }
        }
    }

    #[test]
    fn masks_keep_the_structure_around_them() {
        let cases = [
            (
                "connect to 203.0.113.9:5432 refused",
                "connect to [IP]:5432 refused",
            ),
            (
                "listening on [2001:db8::1]:8080",
                "listening on [[IP]]:8080",
            ),
            (
                "connect redis://default:pa/ss@cache:6379/0",
                "connect redis://default:[REDACTED]@cache:6379/0",
            ),
            ("Authorization: Bearer abc", "Authorization: [REDACTED]"),
            (
                r#"{"password": "a b c", "user": "bob"}"#,
                r#"{"password": "[REDACTED]", "user": "bob"}"#,
            ),
            (
                "retry with Bearer abc now",
                "retry with Bearer [REDACTED] now",
            ),
            (
                "post https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/9aBcDeFgHiJk",
                "post https://hooks.slack.com/services/[REDACTED]",
            ),
            (
                "creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "creds [REDACTED] [REDACTED]",
            ),
            (
                "GET /reset?email=jane%40example.com&x=1",
                "GET /reset?email=[EMAIL]&x=1",
            ),
            (
                "GET /login?q=password%3Dx%26u%3Db HTTP/1.1",
                "GET /login?q=[REDACTED] HTTP/1.1",
            ),
            (
                "Cookie: a=b; c=d\nnext line",
                "Cookie: [REDACTED]\nnext line",
            ),
            ("password: null", "password: null"),
        ];
        for (text, want) in cases {
            assert_eq!(r(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_log_text_is_left_alone() {
        let texts = [
            "ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'",
            "Traceback (most recent call last):",
            r#"  File "/app/worker/main.py", line 12, in <module>"#,
            r#"  File "/usr/local/lib/python3.11/site-packages/requests/adapters.py", line 519, in send"#,
            "    raise ConnectionError(e, request=request)",
            "at com.example.OrderService.place(OrderService.java:42)",
            "thread 'main' panicked at src/db.rs:17:5: called `Result::unwrap()` on an `Err` value",
            "error[E0432]: unresolved import std::io::Error in a::b::c",
            "release v1.2.3 deployed, version 2.10.4 next, python3.11",
            "User-Agent: Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36",
            "2024-05-01T12:30:45.123Z took 12:30:45 and 00:00:01.5",
            "2024-05-01 12:30:45,123 INFO worker started",
            "could not connect to db:5432 or redis:6379 or localhost:8080",
            "dial tcp 10.0.0.5:5432 from 172.16.4.2 via 169.254.169.126 and 127.0.0.1",
            "revision api-00042-xyz serving 100% of traffic",
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
            "request 123e4567-e89b-12d3-a456-426614174000 at /v1/items/123e4567-e89b-12d3-a456-426614174000",
            "order 1234567890123 total 1700000000123 ms",
            "author=bob passed=3 max_tokens=100 tokens: 5 keyspace=orders",
            "Basic checks passed; the token expired",
            "served /static/logo@2x.png from cache",
            "mac aa:bb:cc:dd:ee:ff link up",
            "GET https://host:8443/users/@me 200",
            "POST /api/v1/orders?page=3&sort=desc 201 in 35 ms",
            "logName projects/bench/logs/run.googleapis.com%2Fstdout",
            "processed order 4242 for customer 17 in 93 ms (template 12)",
            "BeanCreationException: Error creating bean with name 'entityManagerFactory'",
            "ratio 3/4 at 0.75, 99.9% of 1.5 GB",
            "failed to load config: open /secrets/db/credentials.json: no such file or directory",
            "read secrets.yaml: permission denied",
        ];
        for text in texts {
            let out = REDACTOR.redact(text);
            assert!(matches!(out, Cow::Borrowed(_)), "{text}\n→ {out}");
        }
    }

    #[test]
    fn secret_names_are_told_from_ordinary_ones() {
        for key in [
            "password",
            "DB_PASSWORD",
            "pass",
            "db_pass",
            "pw",
            "pwd",
            "passphrase",
            "secret",
            "client_secret",
            "token",
            "access_token",
            "X-Auth-Token",
            "apiKey",
            "X-Api-Key",
            "api key",
            "private_key_id",
            "AccountKey",
            "SharedAccessKey",
            "X-Goog-Signature",
            "sig",
            "Cookie",
            "session",
            "PHPSESSID",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "author",
            "passed",
            "max_tokens",
            "keyspace",
            "user",
            "bypass",
            "page",
            "email",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
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
