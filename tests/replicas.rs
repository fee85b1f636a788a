//! Several replicas and the faults a deployment meets: three servers on one PostgreSQL
//! database, a crash between filing and recording, a worker killed mid-job, the database going
//! away and coming back, Cloud Logging failing in the middle of a window.

mod support;

use chrono::Utc;
use serde_json::json;
use std::time::Duration;
use support::harness::{Harness, INSTALLATION, REPO};
use support::pg::TempDatabase;
use support::proxy::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_one_database_file_one_issue() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let h = Harness::with_database(Some(db.url.clone())).await;
    let r2 = h.start_server(&db.url, |_| {}).await;
    let r3 = h.start_server(&db.url, |_| {}).await;
    let urls = [
        h.url.clone(),
        format!("http://{}", r2.addr),
        format!("http://{}", r3.addr),
    ];

    // One command delivered 50 times at once, spread over the replicas: run once.
    let chat = h.help_issue();
    let (payload, comment) = h.comment_payload(chat, "alice", "User", "/gardener sweep");
    let sends: Vec<_> = (0..50)
        .map(|i| h.delivery(&urls[i % 3], "issue_comment", "same-delivery", &payload))
        .collect();
    let statuses = all(sends).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 200),
        "{statuses:?}"
    );
    h.done(comment).await;
    assert_eq!(h.p0_issues().len(), 1);
    let bot = h.github.app_bot_login();
    let replies = |h: &Harness| {
        h.github
            .comments(REPO, chat)
            .iter()
            .filter(|c| c.author == bot)
            .count()
    };
    assert_eq!(replies(&h), 1, "one reply to one command");

    // Six different commands at once on the three replicas: still one issue.
    let mut comments = Vec::new();
    let mut sends = Vec::new();
    for i in 0..6 {
        let (payload, comment) = h.comment_payload(chat, "alice", "User", "/gardener sweep");
        comments.push(comment);
        sends.push(h.delivery(&urls[i % 3], "issue_comment", &format!("cmd-{i}"), &payload));
    }
    assert!(all(sends).await.iter().all(|s| *s == 202));
    for c in comments {
        h.done(c).await;
    }
    let p0 = h.p0_issues();
    assert_eq!(p0.len(), 1, "{:#?}", h.github.issues(REPO));
    // Filing started comment_cooldown: none of the six commented, none filed again.
    assert!(h.github.comments(REPO, p0[0].number).is_empty());

    // Cloud Scheduler calling every replica in the same hour: one sweep.
    wait_for_installations(&h).await;
    let mut queued = 0;
    for url in &urls {
        let resp = h
            .http
            .post(format!("{url}/api/sweep"))
            .header("authorization", "Bearer sweep-token")
            .send()
            .await
            .expect("POST /api/sweep");
        assert_eq!(resp.status().as_u16(), 202);
        let body: serde_json::Value =
            serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON");
        queued += body["queued"].as_u64().unwrap_or(0);
    }
    assert_eq!(queued, 1);
    h.idle().await;
    assert!(h.has_cursor("netra-backend").await);
    assert_eq!(h.p0_issues().len(), 1);

    r2.stop().await;
    r3.stop().await;
    db.drop_database().await;
}

/// Waits for every delivery task.
async fn all(tasks: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("delivery task"));
    }
    out
}

/// Waits until the start-up listing of installations reached the store.
async fn wait_for_installations(h: &Harness) {
    for _ in 0..200 {
        if !h.store().installations().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the installations were never listed");
}

#[tokio::test]
async fn a_crash_between_filing_and_recording_files_nothing_twice() {
    // First life: the App files the issue.
    let h = Harness::new().await;
    let chat = h.help_issue();
    h.sweep(chat).await;
    assert_eq!(h.p0_issues().len(), 1);
    // Second life on an empty store, as after a crash before the record was written: the
    // marker on GitHub is found, and the issue is commented on instead of filed again.
    let dir = tempfile::tempdir().unwrap();
    let fresh = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let second = h.start_server(&fresh, |_| {}).await;
    let (payload, c2) = h.comment_payload(chat, "alice", "User", "/gardener sweep");
    let url = format!("http://{}", second.addr);
    assert_eq!(
        h.deliver_to(&url, "issue_comment", "after-crash", &payload)
            .await,
        202
    );
    h.done(c2).await;
    let p0 = h.p0_issues();
    assert_eq!(p0.len(), 1, "{:#?}", h.github.issues(REPO));
    assert_eq!(h.github.comments(REPO, p0[0].number).len(), 1);
    second.stop().await;
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_again() {
    let h = Harness::new().await;
    let chat = h.help_issue();
    let (payload, comment) = h.comment_payload(chat, "alice", "User", "/gardener sweep");
    // A previous process accepted the command into its store and died while running it:
    // the job is `running` under a lease that has ended.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("orphan.db").display());
    let store = log_gardener::store::Store::connect(&url).await.unwrap();
    let long_ago = Utc::now() - chrono::Duration::seconds(120);
    let job = json!({"event": "issue_comment", "delivery": "orphan", "body": payload});
    assert!(
        store
            .accept_delivery("orphan", "issue_comment", &job, long_ago)
            .await
            .unwrap()
    );
    let taken = store
        .claim("dead-worker", chrono::Duration::seconds(1), long_ago)
        .await
        .unwrap()
        .expect("the dead worker held the job");
    // The next process on that database takes the job again and finishes it.
    let next = h.start_server(&url, |_| {}).await;
    h.done(comment).await;
    assert_eq!(h.p0_issues().len(), 1);
    // The reaction is the job's last write; its outcome is recorded right after.
    let mut counts = Default::default();
    for _ in 0..100 {
        counts = next.state.store.job_counts().await.unwrap();
        if counts.get("done") == Some(&1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts.get("done"), Some(&1), "{counts:?}");
    let _ = taken;
    next.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_going_away_and_coming_back_loses_nothing() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let through_proxy = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let h = Harness::with_database(Some(through_proxy)).await;
    let ready = |h: &Harness| {
        let req = h.http.get(format!("{}/readyz", h.url)).send();
        async move { req.await.expect("GET /readyz").status().as_u16() }
    };
    assert_eq!(ready(&h).await, 200);

    proxy.set_down(true);
    assert_eq!(ready(&h).await, 503);
    let chat = h.help_issue();
    let (payload, comment) = h.comment_payload(chat, "alice", "User", "/gardener sweep");
    // Not stored, so not acknowledged: GitHub shows it as failed and it can be redelivered.
    assert_eq!(
        h.deliver("issue_comment", "during-outage", &payload).await,
        503
    );

    proxy.set_down(false);
    let mut status = 0;
    for _ in 0..100 {
        status = ready(&h).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(
        h.deliver("issue_comment", "during-outage", &payload).await,
        202
    );
    h.done(comment).await;
    assert_eq!(h.p0_issues().len(), 1);
    drop(h);
    db.drop_database().await;
}

#[tokio::test]
async fn cloud_logging_failing_mid_window_does_not_advance_the_cursor() {
    let h = Harness::new().await;
    wait_for_installations(&h).await;
    // Page 1 of the window fails on every attempt of the first job (5 jobs attempts × 6 page
    // attempts): the job fails for good, nothing is filed, the cursor stays.
    h.logging.set_empty_pages(2);
    h.logging.fail_on_page(1, 503, 30);
    let sweep = || {
        h.http
            .post(format!("{}/api/sweep", h.url))
            .header("authorization", "Bearer sweep-token")
            .send()
    };
    assert_eq!(sweep().await.unwrap().status().as_u16(), 202);
    h.idle().await;
    assert_eq!(h.store().cursor(REPO, "netra-backend").await.unwrap(), None);
    assert!(h.p0_issues().is_empty());
    let counts = h.store().job_counts().await.unwrap();
    assert_eq!(counts.get("failed"), Some(&1), "{counts:?}");

    // Quota errors in the middle of the next window are waited out: the whole window is read.
    h.logging.fail_on_page(2, 429, 3);
    assert_eq!(sweep().await.unwrap().status().as_u16(), 202);
    h.idle().await;
    assert!(h.has_cursor("netra-backend").await);
    assert_eq!(h.p0_issues().len(), 1);
    let _ = INSTALLATION;
}
