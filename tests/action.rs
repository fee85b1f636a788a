//! The GitHub Action (`action.yml`) runs `log-gardener` with its inputs as arguments: every
//! argument it writes must parse, with the defaults and with values set.

use clap::Parser;
use log_gardener::cli::{Cli, Command};
use std::collections::HashMap;

/// The action's arguments with `${{ inputs.X }}` replaced by `set` or the input's default.
fn arguments(set: &[(&str, &str)]) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
        .expect("action.yml at the repository's root");
    let action: serde_norway::Value = serde_norway::from_str(&text).expect("action.yml is YAML");
    let mut values: HashMap<String, String> = action["inputs"]
        .as_mapping()
        .expect("inputs")
        .iter()
        .map(|(k, v)| {
            let default = v["default"].as_str().unwrap_or_default().to_string();
            (format!("inputs.{}", k.as_str().unwrap()), default)
        })
        .collect();
    values.insert("github.repository".into(), "acme/shop".into());
    for (k, v) in set {
        values.insert(format!("inputs.{k}"), v.to_string());
    }
    assert_eq!(action["runs"]["using"].as_str(), Some("docker"));
    let mut args = vec!["log-gardener".to_string()];
    for a in action["runs"]["args"].as_sequence().expect("args") {
        let mut a = a.as_str().expect("a string").to_string();
        for (k, v) in &values {
            a = a.replace(&format!("${{{{ {k} }}}}"), v);
        }
        assert!(!a.contains("${{"), "an unknown expression in {a}");
        args.push(a);
    }
    args
}

#[test]
fn the_action_arguments_parse_with_defaults_and_with_values() {
    let Command::Sweep(defaults) = Cli::try_parse_from(arguments(&[])).expect("parses").command
    else {
        panic!("the action runs a sweep");
    };
    assert_eq!(defaults.repo.as_deref(), Some("acme/shop"));
    assert_eq!(defaults.since.as_deref(), Some("75m"));
    assert!(!defaults.dry_run);
    assert_eq!(
        defaults.services,
        [""],
        "an empty input, ignored by the sweep"
    );

    let set = [
        ("services", "api,worker"),
        ("dry-run", "true"),
        ("project", "acme-prod"),
    ];
    let Command::Sweep(args) = Cli::try_parse_from(arguments(&set))
        .expect("parses")
        .command
    else {
        panic!("the action runs a sweep");
    };
    assert_eq!(args.services, ["api", "worker"]);
    assert!(args.dry_run);
    assert_eq!(args.project.as_deref(), Some("acme-prod"));
}
