//! The App's user-facing behaviour again on PostgreSQL (the replicas' database), and the
//! installation events that tell it which repositories to sweep, on both databases.

mod support;

use support::harness::{Harness, REPO};
use support::pg::TempDatabase;
use support::webhooks;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_command_files_one_issue_through_faults_and_redelivery() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let h = Harness::with_database(Some(db.url.clone())).await;
    h.logging.fail_next(503, 2);
    h.github.fail_next(
        "POST",
        "/repos/acme/netra/issues",
        429,
        &[("retry-after", "1")],
        1,
    );
    h.github
        .fail_after_apply("POST", "/repos/acme/netra/issues", 502, 1);
    let chat = h.help_issue();
    let (delivery, comment) = h.comment(chat, "alice", "User", "/gardener sweep").await;
    let reactions = h.done(comment).await;
    assert!(reactions.contains(&"rocket".to_string()), "{reactions:?}");
    assert_eq!(h.p0_issues().len(), 1, "{:#?}", h.github.issues(REPO));

    let payload = webhooks::issue_comment_created_from(
        REPO,
        support::harness::INSTALLATION,
        h.github.issue_json(REPO, chat),
        h.github.comment_json(REPO, comment),
    );
    assert_eq!(h.deliver("issue_comment", &delivery, &payload).await, 200);
    h.idle().await;
    assert_eq!(h.replies(chat).len(), 1);
    assert_eq!(h.p0_issues().len(), 1);
    drop(h);
    db.drop_database().await;
}

async fn installation_events_decide_what_is_swept(h: Harness) {
    let store = h.store();
    let created = webhooks::installation_created(42, "octo-org", &["octo-org/api", "octo-org/web"]);
    assert_eq!(h.deliver("installation", "inst-1", &created).await, 202);
    let added = webhooks::installation_repositories_added(42, &["octo-org/worker"]);
    assert_eq!(
        h.deliver("installation_repositories", "inst-2", &added)
            .await,
        202
    );
    h.idle().await;
    let repos: Vec<String> = store
        .installations()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, id)| *id == 42)
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        repos,
        vec!["octo-org/api", "octo-org/web", "octo-org/worker"]
    );
}

#[tokio::test]
async fn installation_events_on_sqlite() {
    installation_events_decide_what_is_swept(Harness::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installation_events_on_postgres() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    installation_events_decide_what_is_swept(Harness::with_database(Some(db.url.clone())).await)
        .await;
    db.drop_database().await;
}
