//! Titles: what an issue is called. A title names the failing thing: the exception and its
//! meaningful detail, the host of an upstream URL, the address that refused; never a
//! logging prefix or a report's decoration.

use super::Cluster;
use super::cluster::Role;
use super::joiner::{headline, strip_log_prefix};
use super::miner;

/// The title of a root cause headed by `head`.
pub fn title(head: &Cluster) -> String {
    let base = match (&head.stats.exception, head.role) {
        (Some(_), _) => sharpen(&head.template, &head.stats.messages, &|m| miner::mask(m)),
        (None, Role::Symptom(kind)) => {
            format!("{}: {}", kind.describe(), sharpen_template(head))
        }
        (None, _) => sharpen_template(head),
    };
    let line = base.lines().next().unwrap_or("");
    strip_log_prefix(line).trim().to_string()
}

fn sharpen_template(c: &Cluster) -> String {
    let lines: Vec<String> = c
        .stats
        .examples
        .iter()
        .map(|e| headline(e).to_string())
        .collect();
    let template = headline(&c.template).to_string();
    sharpen(&template, &lines, &|m| miner::mask(m))
}

/// Puts back what a template masked but every example says the same way (the address that
/// refused, the module), and the host of a URL whose path varies.
fn sharpen(template: &str, examples: &[String], mask: &dyn Fn(&str) -> String) -> String {
    if examples.is_empty() || !template.contains("<*>") {
        return template.to_string();
    }
    let tokens: Vec<&str> = template.split_whitespace().collect();
    let split: Vec<Vec<&str>> = examples
        .iter()
        .map(|e| e.split_whitespace().collect())
        .collect();
    // Align the examples' words with the template's from the end: a type prefix may differ.
    let n = tokens.len();
    let mut out = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        if !token.contains("<*>") {
            out.push(token.to_string());
            continue;
        }
        let values: Option<Vec<&str>> = split
            .iter()
            .map(|w| w.len().checked_sub(n - i).and_then(|j| w.get(j).copied()))
            .collect();
        let Some(values) = values else {
            out.push(token.to_string());
            continue;
        };
        let shape_fits = values
            .iter()
            .all(|v| mask(v).split_whitespace().next() == Some(*token) || mask(v) == *token);
        if shape_fits && values.windows(2).all(|w| w[0] == w[1]) {
            out.push(values[0].to_string());
        } else if let Some(host) = common_host(&values) {
            out.push(token.replacen("<*>", &format!("{host}/<*>"), 1));
        } else {
            out.push(token.to_string());
        }
    }
    out.join(" ")
}

/// `https://payments.example.com` when every value is a URL on that host.
fn common_host(values: &[&str]) -> Option<String> {
    let hosts: Vec<String> = values
        .iter()
        .map(|v| {
            let v = v.trim_matches(|c: char| "\"'()[]<>,;".contains(c));
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
            &|m| miner::mask(m),
        );
        assert_eq!(
            t,
            "HTTPError: 503 Server Error: Service Unavailable for url: https://payments.internal.example.com/<*>"
        );
        let varying = vec!["user 17 failed".to_string(), "user 18 failed".to_string()];
        assert_eq!(
            sharpen("user <*> failed", &varying, &|m| miner::mask(m)),
            "user <*> failed"
        );
    }
}
