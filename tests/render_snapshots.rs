//! What people read, pinned: the worklog, the issue body and an update comment for the seed
//! outage. A change to a template or to the analysis shows up here in review.

use chrono::{DateTime, Utc};
use log_gardener::codeowners::CodeOwners;
use log_gardener::config::Config;
use log_gardener::plan::{self, Action, ActionKind};
use log_gardener::report::issue::{issue_body, update_comment};
use log_gardener::report::{Links, Renderer};
use log_gardener::sweep::analyze_file;
use std::collections::HashMap;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-09-15T22:47:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn analysis() -> log_gardener::analyze::Analysis {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-outage.json");
    analyze_file(path, None, &[], &Config::default(), now()).expect("the example")
}

fn links() -> Links {
    Links {
        repo: Some("acme/netra".into()),
        git_ref: "main".into(),
        source_root: "/app".into(),
        gcp_project: Some("netra-staging".into()),
        api_url: "https://api.github.com".into(),
        // The failing file's owners are named, as code: nobody is notified.
        owners: Some(CodeOwners::parse(
            "* @acme/platform\n/netra_backend/app/middleware/ @acme/edge oncall@acme.example\n",
        )),
        ..Links::default()
    }
}

#[test]
fn worklog_of_the_seed_outage() {
    let analysis = analysis();
    let actions = plan::plan(
        &analysis.root_causes,
        &[],
        &HashMap::new(),
        &Config::default(),
        now(),
    );
    let worklog = Renderer::new()
        .unwrap()
        .worklog(&analysis, &actions, &[], &links(), now(), true)
        .unwrap();
    insta::assert_snapshot!(worklog);
}

#[test]
fn issue_body_of_the_seed_outage() {
    let analysis = analysis();
    let body = issue_body(
        &Renderer::new().unwrap(),
        &analysis.root_causes[0],
        &analysis,
        &links(),
    )
    .unwrap();
    insta::assert_snapshot!(body);
}

#[test]
fn update_comment_of_the_seed_outage() {
    let analysis = analysis();
    let action = Action {
        kind: ActionKind::Comment,
        issue: Some(12),
        reason: "still happening".into(),
        raise_priority: false,
        adopt: false,
    };
    let comment = update_comment(
        &Renderer::new().unwrap(),
        &analysis.root_causes[0],
        &analysis,
        &links(),
        &action,
        Some(90),
    )
    .unwrap();
    insta::assert_snapshot!(comment);
}
