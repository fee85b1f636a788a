//! Entities: the specific things a message names (a module, an address, a host, a variable,
//! a file and line). Two clusters that name the same one at the same time are one failure.

use super::Cluster;
use super::cluster::missing_module;
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"['"`]([^'"`\s][^'"`]{2,120})['"`]"#).unwrap());
static MODULE: LazyLock<Regex> = LazyLock::new(|| {
    // A class only when quoted: `Class "App\Models\Invoice" not found`, not "class path resource".
    Regex::new(r#"(?:No module named|Cannot find module|cannot load such file --) ['"]?([\w./@\\-]+)|[Cc]lass ['"]([\w./@\\-]+)['"]"#).unwrap()
});
static SOCKET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,3}(?:\.\d{1,3}){3}|[a-z][\w-]*(?:\.[\w-]+)+)(?::|', |\x22, |\s+port\s+|', port=)(\d{2,5})\b").unwrap()
});
static URL_HOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?([\w.-]+)").unwrap());
/// The host a name lookup failed for: Node's `getaddrinfo ENOTFOUND db.internal`, Go's
/// `lookup db.internal on …: no such host`, Java's `UnknownHostException: db.internal`,
/// curl's `Could not resolve host: db.internal`, libpq's `could not translate host name`.
static LOOKUP_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:\bENOTFOUND|\bEAI_AGAIN|UnknownHostException:|\blookup|[Cc]ould not resolve host:?|[Ff]ailed to resolve|translate host name|[Uu]nknown host:?)\s+['"]?([a-zA-Z0-9][\w-]*(?:\.[\w-]+)+)"#).unwrap()
});
/// A host named bare (`fx rate feed degraded (fx-gateway.example.com)`): lower-case DNS
/// labels ending in a public or an internal top-level name (not a class or a module path).
static BARE_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s(\[,;'\x22=])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|net|org|io|dev|app|cloud|internal|local|svc|co|ai|de|uk|fr|eu|us|nl|jp))(?:$|[\s)\],;'\x22/]|\.(?:\s|$))").unwrap()
});
/// A Cloud SQL instance by its connection name (`project:europe-west1:orders-pg`), as the
/// connectors, the proxy and the `/cloudsql/` socket path name it.
static CLOUD_SQL_INSTANCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([a-z][a-z0-9-]{4,62}:[a-z]+-[a-z]+\d{1,2}:[a-z][a-z0-9-]{0,95})\b").unwrap()
});
static ENV_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b").unwrap());
static SIGNAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(SIG(?:KILL|SEGV|ABRT|BUS|TERM|ILL|FPE))\b").unwrap());
static FILE_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([\w./-]+\.(?:py|js|ts|go|java|rb|php|rs|kt)):(\d+)").unwrap());

/// Quoted words too common to name anything.
const COMMON: [&str; 12] = [
    "NoneType",
    "None",
    "null",
    "undefined",
    "object",
    "str",
    "int",
    "dict",
    "list",
    "true",
    "false",
    "utf-8",
];

/// What a cluster names: from its exception (the missing module first) and its examples.
pub fn of_cluster(c: &Cluster) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(e) = &c.stats.exception {
        if let Some(m) = missing_module(e) {
            out.insert(format!("module '{m}'"));
        }
        named_in(&e.message, &mut out);
        // What the chain around it names (urllib3's `HTTPSConnectionPool(host=…)` wraps an
        // SSL error that names no host).
        for outer in &e.raised_while_handling {
            named_in(outer, &mut out);
        }
        // The same exception text, raised from two places at the same time.
        // A wrapper's text says something only when it is long enough to be specific.
        if e.message.len() >= if c.wrapper { 20 } else { 12 } {
            out.insert(format!(
                "exception text `{}: {}`",
                e.kind,
                without_numbers(&e.message)
            ));
            // The same failure of different operations (`Operation `listings.find()`
            // buffering timed out after 10000ms`, then `agents.findOne()`): the text without
            // what it quotes, when enough of it is left to say what failed.
            let form = QUOTED.replace_all(&e.message, "<*>");
            if form != e.message && form.replace("<*>", "").trim().len() >= 24 {
                out.insert(format!("exception text `{}: {form}`", e.kind));
            }
        }
    }
    for example in &c.stats.examples {
        named_in(example.lines().next().unwrap_or(""), &mut out);
    }
    out
}

/// The text with each word that is a plain number (`5.008`, `(waited 5.012 seconds)`) as
/// `<*>`: how long it waited, or how many, does not make another exception. Addresses, hosts
/// and versions are not plain numbers and stay.
pub fn without_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    let is_number = |word: &str| {
        let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        !core.is_empty()
            && core.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && core.bytes().filter(|&b| b == b'.').count() <= 1
            && core.bytes().next().is_some_and(|b| b.is_ascii_digit())
    };
    if !text.split(' ').any(is_number) {
        return std::borrow::Cow::Borrowed(text);
    }
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if !is_number(word) {
                return word.to_string();
            }
            let start = word.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
            let end = word
                .rfind(|c: char| c.is_ascii_digit())
                .map_or(word.len(), |i| i + 1);
            format!("{}<*>{}", &word[..start], &word[end..])
        })
        .collect();
    std::borrow::Cow::Owned(words.join(" "))
}

/// Whether an entity is the service's own Cloud Run URL (`https://crm-portal-7q3xk2bmya-ew.a.run.app`,
/// `crm-portal-123456789.europe-west1.run.app`), as a referer names it: what the service
/// serves, not what it calls.
pub fn is_own_url(entity: &str, service: &str) -> bool {
    entity.strip_prefix("host ").is_some_and(|host| {
        !service.is_empty()
            && host.ends_with(".run.app")
            && host
                .strip_prefix(service)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// Whether an entity of [`of_cluster`] is specific enough to join two causes: an address, a
/// host, a module, a variable, a file (not a bare quoted word).
pub fn is_specific(entity: &str) -> bool {
    !entity.starts_with('\'')
}

/// Whether a message names a specific place or thing: an address, a host, a module, a
/// variable (a bare quoted key does not count).
pub fn names_something(text: &str) -> bool {
    SOCKET
        .captures_iter(text)
        .any(|c| !is_source_file(text, &c))
        || URL_HOST.is_match(text)
        || LOOKUP_HOST.is_match(text)
        || MODULE.is_match(text)
        || CLOUD_SQL_INSTANCE.is_match(text)
        || ENV_NAME.captures_iter(text).any(|c| !is_status_code(&c[1]))
}

/// Status codes written like variables (`DEADLINE_EXCEEDED`, `ERR_MODULE_NOT_FOUND`): they
/// say what kind of failure, not which thing failed.
fn is_status_code(word: &str) -> bool {
    const GRPC: [&str; 11] = [
        "DEADLINE_EXCEEDED",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "OUT_OF_RANGE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
        "INTERNAL_SERVER_ERROR",
    ];
    // A reason that names a kind of failure by its last word (`CERTIFICATE_VERIFY_FAILED`)
    // is one too.
    const FAILURE: [&str; 6] = [
        "_FAILED",
        "_ERROR",
        "_DENIED",
        "_EXCEEDED",
        "_TIMEOUT",
        "_REFUSED",
    ];
    GRPC.contains(&word)
        || word.starts_with("ERR_")
        || word.starts_with("HTTP_")
        || FAILURE.iter().any(|f| word.ends_with(f))
}

/// Whether a title names the place that failed: an address, a host, a module, a variable
/// (status codes do not count).
pub fn names_a_place(text: &str) -> bool {
    SOCKET
        .captures_iter(text)
        .any(|c| !is_source_file(text, &c))
        || URL_HOST.is_match(text)
        || LOOKUP_HOST.is_match(text)
        || MODULE.is_match(text)
        || FILE_LINE.is_match(text)
        || ENV_NAME.captures_iter(text).any(|c| !is_status_code(&c[1]))
}

/// The first address or host that `text` names, by where it stands.
pub fn first_place(text: &str) -> Option<&str> {
    let sockets = SOCKET
        .captures_iter(text)
        .filter(|c| !is_source_file(text, c))
        .filter_map(|c| c.get(0));
    let urls = URL_HOST
        .captures_iter(text)
        .filter(|c| c.get(0).is_some_and(|m| !is_reading_link(text, m.range())))
        .filter_map(|c| c.get(1));
    let lookups = LOOKUP_HOST.captures_iter(text).filter_map(|c| c.get(1));
    sockets
        .chain(urls)
        .chain(lookups)
        .min_by_key(|m| m.start())
        .map(|m| m.as_str())
}

/// A link for the reader (`see https://cloud.google.com/run/docs/…`, a documentation page):
/// not something the service talks to.
fn is_reading_link(text: &str, url: std::ops::Range<usize>) -> bool {
    static BEFORE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:\bsee|documentation|\bdocs?|more information|troubleshooting|\bvisit|learn more|refer to|read more|details)[\w\s:,-]{0,40}$").unwrap()
    });
    let start = text[..url.start]
        .char_indices()
        .rev()
        .nth(60)
        .map_or(0, |(i, _)| i);
    let link = &text[url.start..];
    let link = &link[..link.find(char::is_whitespace).unwrap_or(link.len())];
    // Host and path, past the scheme.
    let address = link.split("://").nth(1).unwrap_or("");
    BEFORE.is_match(&text[start..url.start])
        || address.starts_with("docs.")
        || address.contains("/docs/")
        || address.contains("/troubleshooting")
}

/// The upstreams (addresses and hosts) a cluster names.
pub fn upstreams_of(c: &Cluster) -> BTreeSet<String> {
    of_cluster(c)
        .into_iter()
        .filter(|e| !is_own_url(e, &c.stats.service))
        .filter_map(|e| {
            e.strip_prefix("address ")
                .or_else(|| e.strip_prefix("host "))
                .map(str::to_string)
        })
        .collect()
}

/// Whether what looks like `host:port` is a source file and its line (`src/flush.rs:88`,
/// `handler.go:41`): a file of a path, or one name with a source file's extension.
fn is_source_file(text: &str, socket: &regex::Captures) -> bool {
    static SOURCE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"\.(?:py|js|mjs|cjs|ts|tsx|jsx|go|java|kt|scala|rb|php|rs|ex|exs|cs|erb|c|h|cc|cpp)$",
        )
        .unwrap()
    });
    let name = &socket[1];
    let start = socket.get(1).map_or(0, |m| m.start());
    SOURCE.is_match(name) && (text[..start].ends_with('/') || name.matches('.').count() == 1)
}

fn named_in(text: &str, out: &mut BTreeSet<String>) {
    for c in MODULE.captures_iter(text) {
        if let Some(name) = c.get(1).or_else(|| c.get(2)) {
            out.insert(format!("module '{}'", name.as_str()));
        }
    }
    for c in SOCKET.captures_iter(text) {
        if !is_source_file(text, &c) {
            out.insert(format!("address {}:{}", &c[1], &c[2]));
        }
    }
    for c in URL_HOST.captures_iter(text) {
        let whole = c.get(0).map_or(0..0, |m| m.range());
        if !is_reading_link(text, whole) {
            out.insert(format!("host {}", &c[1]));
        }
    }
    for c in LOOKUP_HOST.captures_iter(text) {
        out.insert(format!("host {}", &c[1]));
    }
    for c in BARE_HOST.captures_iter(text) {
        out.insert(format!("host {}", &c[1]));
    }
    for c in CLOUD_SQL_INSTANCE.captures_iter(text) {
        out.insert(format!("Cloud SQL instance {}", &c[1]));
    }
    for c in QUOTED.captures_iter(text) {
        let v = &c[1];
        if !COMMON.contains(&v) && v.chars().any(|ch| ch.is_alphanumeric()) && !v.contains("<*>") {
            out.insert(format!("'{v}'"));
        }
    }
    for c in ENV_NAME.captures_iter(text) {
        out.insert(format!("variable {}", &c[1]));
    }
    // The signal that killed a process: every report of that death names it.
    for c in SIGNAL.captures_iter(text) {
        out.insert(format!("signal {}", &c[1]));
    }
    for c in FILE_LINE.captures_iter(text) {
        out.insert(format!("file {}:{}", &c[1], &c[2]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_text_does_not_depend_on_its_numbers() {
        assert_eq!(
            without_numbers("within 5.000 seconds (waited 5.012 seconds); all in use"),
            "within <*> seconds (waited <*> seconds); all in use"
        );
        // Addresses and versions are no plain numbers.
        assert_eq!(
            without_numbers("connect to 10.0.0.5:5432 with v1.2.3"),
            "connect to 10.0.0.5:5432 with v1.2.3"
        );
    }

    fn named(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        named_in(text, &mut out);
        out
    }

    #[test]
    fn the_services_own_url_is_not_what_it_calls() {
        assert!(is_own_url(
            "host crm-portal-7q3xk2bmya-ew.a.run.app",
            "crm-portal"
        ));
        assert!(is_own_url("host api-123456789.europe-west1.run.app", "api"));
        assert!(!is_own_url(
            "host api-123456789.europe-west1.run.app",
            "web"
        ));
        assert!(!is_own_url("host crm-portal.internal", "crm-portal"));
        assert!(!is_own_url(
            "address crm-portal-x.a.run.app:443",
            "crm-portal"
        ));
    }

    #[test]
    fn a_host_named_bare_is_a_host_and_a_class_path_is_not() {
        let hosts = |text: &str| -> Vec<String> {
            named(text)
                .into_iter()
                .filter(|e| e.starts_with("host "))
                .collect()
        };
        assert_eq!(
            hosts("fx rate feed degraded (fx-gateway.northwind-rates.com): 7 of 9 failed"),
            ["host fx-gateway.northwind-rates.com"]
        );
        assert!(hosts("at org.hibernate.engine.jdbc.env.JdbcEnvironment.init").is_empty());
        // A Cloud SQL instance by its connection name is a thing of its own.
        assert!(
            named("[acme-shop-prod:europe-west1:orders-pg] The Cloud SQL Admin API failed")
                .contains("Cloud SQL instance acme-shop-prod:europe-west1:orders-pg")
        );
        assert!(names_something(
            "socket \"/cloudsql/p-prod:us-central1:db/.s.PGSQL.5432\""
        ));
        assert!(!names_something("at 12:30:45 the job failed"));
        assert!(hosts("from billing_api.settings import x; see app.config").is_empty());
    }

    #[test]
    fn a_source_file_and_its_line_is_no_address() {
        let no_address = |text: &str| !named(text).iter().any(|e| e.starts_with("address "));
        assert!(no_address("thread 'main' panicked at src/flush.rs:88:41:"));
        assert!(no_address("panic at handler.go:41"));
        assert!(named("panic at handler.go:41").contains("file handler.go:41"));
        // Python's C module in an SSL error is no host either.
        assert!(no_address("certificate has expired (_ssl.c:1006)"));
        assert_eq!(
            named("dial tcp redis.cache.internal:6379: connect: connection refused"),
            BTreeSet::from(["address redis.cache.internal:6379".to_string()])
        );
    }

    #[test]
    fn the_host_a_lookup_failed_for_is_named() {
        for (text, host) in [
            (
                "getaddrinfo ENOTFOUND reports-replica.db.internal",
                "reports-replica.db.internal",
            ),
            (
                "getaddrinfo EAI_AGAIN redis.cache.internal",
                "redis.cache.internal",
            ),
            (
                "dial tcp: lookup pg.prod.internal on 169.254.169.254:53: no such host",
                "pg.prod.internal",
            ),
            (
                "java.net.UnknownHostException: billing-db.internal",
                "billing-db.internal",
            ),
            (
                "Could not resolve host: api.partner.example",
                "api.partner.example",
            ),
        ] {
            assert!(
                named(text).contains(&format!("host {host}")),
                "{text}: {:?}",
                named(text)
            );
            assert!(names_something(text) && names_a_place(text), "{text}");
        }
        // A dotted name that no lookup failed for is not a host.
        assert!(
            !named("loaded org.springframework.boot settings")
                .iter()
                .any(|e| e.starts_with("host "))
        );
    }
}
