//! Titles: what an issue is called. A title names the failing thing: the exception and its
//! meaningful detail, the host of an upstream URL, the address that refused; never a
//! logging prefix or a report's decoration.

use super::Cluster;
use super::cluster::Role;
use super::joiner::{headline, strip_log_prefix};

/// The next line of an exception's message when its first says only that something failed
/// (`FlywayValidateException: Validate failed: Migrations have failed validation`, then
/// `Migration checksum mismatch for migration version 7`): the line that says what.
fn message_detail<'a>(example: &'a str, kind: &str, message: &str) -> Option<&'a str> {
    let first = message.lines().next().unwrap_or("").trim();
    // A message that ends in a colon says its detail is on the next line, indented or not
    // (`ConfigValidationException: Configuration validation failed:`, then `\tSRCFG00014: …`;
    // `ResponseValidationError: 1 validation errors:`, then `  {'type': 'missing', …}`).
    let continues = first.len() > 1 && first.ends_with(':');
    let generic = !first.is_empty()
        && first.len() < 80
        && (continues
            || (!first.contains(|c: char| c.is_ascii_digit() || "'\"`/=".contains(c))
                && !super::entities::names_something(first)));
    if !generic {
        return None;
    }
    let mut lines = example.lines();
    lines.find(|l| l.contains(kind) && l.contains(first))?;
    let next = lines.next()?;
    let mut detail = next.trim();
    if continues && detail.len() > 160 {
        let mut cut = 160;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail = &detail[..cut];
    }
    let plain = (continues || !next.starts_with([' ', '\t']))
        && !detail.starts_with("File \"")
        && (8..=160).contains(&detail.len())
        && strip_log_prefix(next).len() == next.len()
        && !detail.starts_with("Caused by")
        && !detail.starts_with("at ")
        && !detail.starts_with("...")
        && !detail.starts_with("Traceback")
        && !super::joiner::EXCEPTION_LINE.is_match(detail);
    plain.then_some(detail)
}

/// The title of a root cause headed by `head`.
pub fn title(head: &Cluster) -> String {
    let base = match (&head.stats.exception, head.role) {
        (Some(e), _) => {
            let messages: Vec<String> = head
                .stats
                .messages
                .iter()
                .map(|m| format!("{}: {m}", e.kind))
                .collect();
            let mut title = sharpen(&head.template, &messages);
            if let Some(detail) = head
                .stats
                .examples
                .iter()
                .find_map(|x| message_detail(x, &e.kind, &e.message))
            {
                title = format!("{title}: {detail}");
            }
            // A structured log that says what it was doing names what failed when the
            // exception does not (`AxiosError: Request failed with status code 503`).
            let said: Vec<&str> = head.stats.examples.iter().map(|x| headline(x)).collect();
            match said.first() {
                Some(line)
                    if said.iter().all(|l| l == line)
                        && !line.contains(e.kind.as_str())
                        && !super::entities::names_something(&e.message)
                        && super::entities::names_something(line) =>
                {
                    // From the exception the message names, when it names one.
                    let detail = super::traceback::embedded_exception_start(line)
                        .map_or(*line, |i| &line[i..]);
                    format!(
                        "{title} ({})",
                        detail.trim_end_matches(|c: char| " ]".contains(c))
                    )
                }
                _ => title,
            }
        }
        (None, Role::Symptom(kind)) => {
            let text = sharpen_template(head);
            // A request log with a text says which route; one route is part of the title.
            match head.stats.routes.as_slice() {
                [route] if !text.contains(route.as_str()) => {
                    format!("{}: {route}: {text}", kind.describe())
                }
                _ => format!("{}: {text}", kind.describe()),
            }
        }
        (None, _) => sharpen_template(head),
    };
    let line = base.lines().next().unwrap_or("");
    strip_log_prefix(line).trim().to_string()
}

/// A cause that is no exception (gunicorn's `WORKER TIMEOUT (pid:<*>)`) names nothing that
/// failed; when every failed request folded into it asked one route, that route is the place
/// (`… on GET /search`).
fn with_failed_route(base: String, group: &[Cluster]) -> String {
    if !group[0].stats.http_statuses.is_empty() || super::entities::names_a_place(&base) {
        return base;
    }
    let routes: std::collections::BTreeSet<&str> = group[1..]
        .iter()
        .filter(|c| c.stats.http_statuses.keys().any(|s| *s >= 500))
        .filter_map(|c| {
            let (route, status) = c.template.rsplit_once(' ')?;
            (status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit())).then_some(route)
        })
        .collect();
    match routes.first() {
        Some(route) if routes.len() == 1 && route.contains(" /") && !base.contains(route) => {
            format!("{base} on {route}")
        }
        _ => base,
    }
}

/// The title of a root cause (its clusters, cause first). When the cause's own title names
/// no place, it gets what the rest of the root cause agrees on: the one upstream the other
/// clusters name (`… (rates-engine.internal:443)`), else where the service's own code raised
/// it (`… in handlers.binLabel`), as an on-call engineer would say it.
pub fn of_root_cause(group: &[Cluster], source_root: &str) -> String {
    let head = &group[0];
    let base = title(head);
    let Some(e) = &head.stats.exception else {
        return with_failed_route(base, group);
    };
    if super::entities::names_a_place(&base) {
        return base;
    }
    let mut upstreams = std::collections::BTreeSet::new();
    // What the service itself called: a caller's error naming this service is no upstream,
    // nor the referrer of a request it was asked (the client's page, in an access line).
    for c in group.iter().filter(|c| {
        c.stats.service == head.stats.service
            && c.stats.http_statuses.is_empty()
            && !c.signature.starts_with("line:")
    }) {
        upstreams.extend(super::entities::upstreams_of(c));
    }
    if let [upstream] = upstreams.iter().collect::<Vec<_>>().as_slice() {
        return format!("{base} ({upstream})");
    }
    let in_app =
        |f: &&super::traceback::Frame| super::cluster::in_app_path(f, source_root).is_some();
    // A Rust panic names where it happened, not a function: the place, as it was printed.
    if let Some(f) = e.frames.last().filter(in_app)
        && f.function.starts_with("thread '")
        && !base.contains(&f.file)
    {
        return match f.line {
            Some(line) => format!("{base} at {}:{line}", f.file),
            None => format!("{base} at {}", f.file),
        };
    }
    let culprit = e
        .frames
        .iter()
        .rev()
        // An anonymous function names nothing a reader could look for.
        .find(|f| in_app(f) && !f.function.is_empty() && !f.function.contains("<anonymous>"))
        .map(|f| short_function(&f.function));
    match culprit {
        Some(function) if !function.is_empty() && !base.contains(&function) => {
            format!("{base} in {function}")
        }
        _ => base,
    }
}

/// A title cut to `max` characters that still names the place that failed: when the place
/// comes past the cut (a client's long message that names its server at the end), the title
/// keeps it (`RedisConnectionException: It was not possible to connect… (10.61.0.3:6379)`).
pub fn fit(title: &str, max: usize) -> String {
    let cut = super::cluster::truncate(title, max);
    if cut.len() == title.len() || super::entities::names_a_place(&cut) {
        return cut;
    }
    let Some(place) = super::entities::first_place(title) else {
        return cut;
    };
    let room = max.saturating_sub(place.chars().count() + 4).max(max / 2);
    let kept: String = title.chars().take(room).collect();
    format!("{}… ({place})", kept.trim_end())
}

/// `github.com/acme/api/internal/handlers.binLabel(...)` as `handlers.binLabel`;
/// `com.acme.billing.TaxService.rate` as `TaxService.rate`; a Go method with its package,
/// which says where it is (`suggest.(*Ranker).boost` as `suggest.Ranker.boost`).
fn short_function(function: &str) -> String {
    // Go names a function by its package's path.
    let go_method = function.contains('/') || function.contains("(*");
    let name = function.replace("(*", "").replace(").", ".");
    let name = name.split('(').next().unwrap_or(&name);
    // A PHP namespace (`App\Services\Builder->vatBlock`) as a path.
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let parts: Vec<&str> = name.split(['.', ':']).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [.., p, a, b] if go_method => format!("{p}.{a}.{b}"),
        [.., a, b] => format!("{a}.{b}"),
    }
}

fn sharpen_template(c: &Cluster) -> String {
    let lines: Vec<String> = c
        .stats
        .examples
        .iter()
        .map(|e| headline(e).to_string())
        .collect();
    let template = headline(&c.template).to_string();
    sharpen(&template, &lines)
}

/// Puts back what a template masked but every example says the same way (the address that
/// refused, the module), and the host of a URL whose path varies.
fn sharpen(template: &str, examples: &[String]) -> String {
    if examples.is_empty() || !template.contains("<*>") {
        return template.to_string();
    }
    // The template as a pattern: its words literally, each variable a lazy group.
    let mut pattern = String::from("(?s)");
    let parts: Vec<&str> = template.split("<*>").collect();
    for (i, part) in parts.iter().enumerate() {
        let words: Vec<String> = part.split_whitespace().map(regex::escape).collect();
        let lead = part.starts_with(char::is_whitespace);
        let trail = part.ends_with(char::is_whitespace);
        if lead && i > 0 {
            pattern.push_str(r"\s+");
        }
        pattern.push_str(&words.join(r"\s+"));
        if trail && i + 1 < parts.len() && !words.is_empty() {
            pattern.push_str(r"\s+");
        }
        if i + 1 < parts.len() {
            pattern.push_str(if i + 2 == parts.len() && parts[i + 1].trim().is_empty() {
                "(.+)"
            } else {
                "(.+?)"
            });
        }
    }
    let Ok(re) = regex::Regex::new(&pattern) else {
        return template.to_string();
    };
    let captures: Vec<Vec<String>> = examples
        .iter()
        .filter_map(|e| {
            let c = re.captures(e)?;
            Some(
                (1..c.len())
                    .map(|i| c.get(i).map_or("", |m| m.as_str()).to_string())
                    .collect(),
            )
        })
        .collect();
    if captures.len() != examples.len() {
        return template.to_string();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        out.push_str(part);
        if i + 1 == parts.len() {
            break;
        }
        let values: Vec<&str> = captures.iter().map(|c| c[i].as_str()).collect();
        if values.windows(2).all(|w| w[0] == w[1]) && !values[0].contains('\n') {
            out.push_str(values[0]);
        } else if let Some(host) = common_host(&values) {
            out.push_str(&format!("{host}/<*>"));
        } else if let Some(host) = out
            .ends_with("://")
            .then(|| common_host_after_scheme(&values))
            .flatten()
        {
            // The template kept the scheme (`GET https://<*>`): the host is the value's start.
            out.push_str(&format!("{host}/<*>"));
        } else {
            out.push_str("<*>");
        }
    }
    out
}

/// `https://payments.example.com` when every value is a URL on that host.
fn common_host(values: &[&str]) -> Option<String> {
    let hosts: Vec<String> = values
        .iter()
        .map(|v| {
            let v = v.trim_matches(|c: char| "\"'()[]<>,;".contains(c));
            let v = &v[v.find("://").map_or(0, |i| {
                v[..i]
                    .rfind(|c: char| !c.is_ascii_alphanumeric())
                    .map_or(0, |j| j + 1)
            })..];
            let (scheme, rest) = v.split_once("://")?;
            let host = rest.split(['/', '?', '#']).next()?;
            let host = host.rsplit('@').next()?;
            (!host.is_empty()).then(|| format!("{scheme}://{host}"))
        })
        .collect::<Option<Vec<_>>>()?;
    hosts
        .windows(2)
        .all(|w| w[0] == w[1])
        .then(|| hosts[0].clone())
}

/// `fx-gateway.example.com` when every value (what follows a URL's `://`) is on that host.
fn common_host_after_scheme(values: &[&str]) -> Option<String> {
    let host = |v: &str| {
        let h = v
            .split(['/', '?', '#', ' ', '"', '\''])
            .next()
            .unwrap_or("");
        (h.contains('.') && !h.contains("<*>")).then(|| h.to_string())
    };
    let first = host(values.first()?)?;
    values
        .iter()
        .all(|v| host(v).as_ref() == Some(&first))
        .then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_value_and_an_upstream_host_come_back() {
        let examples = vec![
            "HTTPError: 503 Server Error: Service Unavailable for url: https://payments.internal.example.com/v1/charge/11".to_string(),
            "HTTPError: 503 Server Error: Service Unavailable for url: https://payments.internal.example.com/v1/charge/12".to_string(),
        ];
        let t = sharpen(
            "HTTPError: <*> Server Error: Service Unavailable for url: <*>",
            &examples,
        );
        assert_eq!(
            t,
            "HTTPError: 503 Server Error: Service Unavailable for url: https://payments.internal.example.com/<*>"
        );
        let varying = vec!["user 17 failed".to_string(), "user 18 failed".to_string()];
        assert_eq!(sharpen("user <*> failed", &varying), "user <*> failed");
    }

    #[test]
    fn a_message_that_only_says_it_failed_is_titled_with_its_next_line() {
        let kind = "org.flywaydb.core.api.exception.FlywayValidateException";
        let example = format!(
            "Caused by: {kind}: Validate failed: Migrations have failed validation
Migration checksum mismatch for migration version 7
-> Applied to database : 1460253011
\tat org.flywaydb.core.Flyway.migrate(Flyway.java:177)"
        );
        assert_eq!(
            message_detail(
                &example,
                kind,
                "Validate failed: Migrations have failed validation"
            ),
            Some("Migration checksum mismatch for migration version 7")
        );
        // A message that names what failed needs no more; a frame is no detail.
        let refused =
            "java.net.ConnectException: Connection refused to db.internal:5432\nnext line here";
        assert_eq!(
            message_detail(
                refused,
                "java.net.ConnectException",
                "Connection refused to db.internal:5432"
            ),
            None
        );
        let framed = "java.lang.IllegalStateException: boom failed\n\tat com.acme.A.run(A.java:3)";
        assert_eq!(
            message_detail(framed, "java.lang.IllegalStateException", "boom failed"),
            None
        );
    }

    #[test]
    fn a_url_whose_scheme_the_template_kept_gets_its_host_back() {
        let examples = vec![
            "Server error(GET https://fx.example.com/v1/rates?base=EUR: 503 Service Unavailable"
                .to_string(),
            "Server error(GET https://fx.example.com/v1/rates?base=USD: 503 Service Unavailable"
                .to_string(),
        ];
        assert_eq!(
            sharpen(
                "Server error(GET https://<*>: 503 Service Unavailable",
                &examples
            ),
            "Server error(GET https://fx.example.com/<*>: 503 Service Unavailable"
        );
        let elsewhere = vec![examples[0].clone(), examples[1].replace("fx.", "rates.")];
        assert_eq!(
            sharpen(
                "Server error(GET https://<*>: 503 Service Unavailable",
                &elsewhere
            ),
            "Server error(GET https://<*>: 503 Service Unavailable"
        );
    }

    #[test]
    fn a_long_title_keeps_the_place_past_its_cut() {
        let long = format!(
            "RedisConnectionException: It was not possible to connect. {} UnableToConnect on 10.61.0.3:6379/Interactive",
            "To allow this multiplexer to retry, use abortConnect=false. ".repeat(4)
        );
        let t = fit(&long, 120);
        assert!(t.ends_with("… (10.61.0.3:6379)"), "{t}");
        assert!(
            t.starts_with("RedisConnectionException: It was not possible"),
            "{t}"
        );
        assert!(t.chars().count() <= 120, "{t}");
        // A title that fits, or names its place before the cut, is only cut.
        assert_eq!(fit("short", 120), "short");
        let early = format!("connect ECONNREFUSED 10.0.0.5:5432 {}", "x".repeat(200));
        assert!(fit(&early, 120).ends_with("… (truncated)"));
    }

    #[test]
    fn a_culprit_is_named_by_its_last_two_parts() {
        assert_eq!(
            short_function("github.com/acme/inventory/internal/handlers.binLabel"),
            "handlers.binLabel"
        );
        assert_eq!(
            short_function("com.acme.billing.db.Pool.connect"),
            "Pool.connect"
        );
        assert_eq!(short_function("tax_for"), "tax_for");
        assert_eq!(
            short_function("App\\Services\\Invoices\\InvoicePdfBuilder->vatBlock"),
            "InvoicePdfBuilder->vatBlock"
        );
        assert_eq!(
            short_function("example.com/loyalty/internal/points.(*Server).RedeemPoints"),
            "points.Server.RedeemPoints"
        );
        assert!(!super::super::entities::names_a_place(
            "grpc._channel._InactiveRpcError: DEADLINE_EXCEEDED: Deadline Exceeded"
        ));
        assert!(super::super::entities::names_a_place(
            "config: required key LEDGER_DATABASE_URL missing value"
        ));
    }
}
