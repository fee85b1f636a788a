//! The store on both databases: a real SQLite file and the machine's PostgreSQL. Every
//! scenario runs on each.

mod support;

use chrono::{Duration, Utc};
use log_gardener::config::Priority;
use log_gardener::store::Store;
use serde_json::json;
use support::pg::TempDatabase;

/// Runs a scenario on a fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("state.db").display());
                let store = log_gardener::store::Store::connect(&url)
                    .await
                    .expect("SQLite store");
                super::$scenario(store, &url).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = super::TempDatabase::create().await else {
                    return;
                };
                let store = log_gardener::store::Store::connect(&db.url)
                    .await
                    .expect("PostgreSQL store");
                super::$scenario(store, &db.url).await;
                db.drop_database().await;
            }
        }
    };
}

on_both!(deliveries_are_stored_once);
async fn deliveries_are_stored_once(store: Store, _url: &str) {
    let now = Utc::now();
    let payload = json!({"event": "ping"});
    assert!(
        store
            .accept_delivery("d-1", "ping", &payload, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_delivery("d-1", "ping", &payload, now)
            .await
            .unwrap()
    );
    assert_eq!(store.job_counts().await.unwrap().get("queued"), Some(&1));
}

on_both!(fifty_concurrent_redeliveries_queue_one_job);
async fn fifty_concurrent_redeliveries_queue_one_job(store: Store, url: &str) {
    // Several connections (pools) at once, as several replicas would.
    let mut stores = vec![store.clone()];
    for _ in 0..2 {
        stores.push(Store::connect(url).await.unwrap());
    }
    let now = Utc::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                s.accept_delivery("same", "issue_comment", &json!({"n": i}), now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1);
    assert_eq!(store.job_counts().await.unwrap().get("queued"), Some(&1));
}

on_both!(a_job_is_leased_and_taken_again_when_its_worker_dies);
async fn a_job_is_leased_and_taken_again_when_its_worker_dies(store: Store, _url: &str) {
    let now = Utc::now();
    store
        .enqueue("sweep", &json!({"repo": "a/b"}), None, now)
        .await
        .unwrap();
    let lease = Duration::seconds(60);
    let job = store.claim("w1", lease, now).await.unwrap().expect("a job");
    assert_eq!(job.attempts, 1);
    assert_eq!(job.payload["repo"], "a/b");
    assert!(
        store.claim("w2", lease, now).await.unwrap().is_none(),
        "leased"
    );
    // w1 died: once the lease ends, w2 takes the job again.
    let later = now + Duration::seconds(61);
    let again = store
        .claim("w2", lease, later)
        .await
        .unwrap()
        .expect("re-taken");
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 2);
    store.finish_job(again.id, later).await.unwrap();
    assert!(
        store
            .claim("w3", lease, later + Duration::hours(1))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.job_counts().await.unwrap().get("done"), Some(&1));
}

on_both!(failures_are_retried_later_then_fail_for_good);
async fn failures_are_retried_later_then_fail_for_good(store: Store, _url: &str) {
    let now = Utc::now();
    assert!(
        store
            .enqueue("sweep", &json!({}), Some("slot-1"), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enqueue("sweep", &json!({}), Some("slot-1"), now)
            .await
            .unwrap(),
        "deduplicated"
    );
    let job = store
        .claim("w", Duration::seconds(60), now)
        .await
        .unwrap()
        .unwrap();
    store
        .fail_job(
            job.id,
            "Cloud Logging 503",
            Some(now + Duration::seconds(30)),
            now,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim("w", Duration::seconds(60), now)
            .await
            .unwrap()
            .is_none(),
        "not yet"
    );
    let job = store
        .claim("w", Duration::seconds(60), now + Duration::seconds(31))
        .await
        .unwrap()
        .expect("due again");
    store
        .fail_job(job.id, "still down", None, now)
        .await
        .unwrap();
    assert_eq!(store.job_counts().await.unwrap().get("failed"), Some(&1));
    assert_eq!(store.failed_jobs(5).await.unwrap()[0].1, "still down");
    // A job that failed for good frees its slot: the sweep can be asked for again.
    assert!(
        store
            .enqueue("sweep", &json!({}), Some("slot-1"), now)
            .await
            .unwrap()
    );
}

on_both!(cursors_only_move_forward);
async fn cursors_only_move_forward(store: Store, _url: &str) {
    let t1 = Utc::now();
    assert_eq!(store.cursor("a/b", "api").await.unwrap(), None);
    store.advance_cursor("a/b", "api", t1).await.unwrap();
    store
        .advance_cursor("a/b", "api", t1 - Duration::hours(1))
        .await
        .unwrap();
    let got = store.cursor("a/b", "api").await.unwrap().unwrap();
    assert_eq!(got.timestamp_micros(), t1.timestamp_micros());
    assert_eq!(store.cursor("a/b", "worker").await.unwrap(), None);
}

on_both!(tracked_root_causes_remember_issue_mute_and_merge);
async fn tracked_root_causes_remember_issue_mute_and_merge(store: Store, _url: &str) {
    let now = Utc::now();
    store
        .record_issue(
            "a/b",
            "00000000000000aa",
            12,
            Some("api"),
            "boom",
            Priority::P1,
            40,
            false,
            now,
        )
        .await
        .unwrap();
    store
        .record_issue(
            "a/b",
            "00000000000000aa",
            12,
            Some("api"),
            "boom",
            Priority::P0,
            41,
            true,
            now,
        )
        .await
        .unwrap();
    store
        .mute("a/b", "00000000000000aa", now + Duration::days(7), now)
        .await
        .unwrap();
    store
        .merge("a/b", "00000000000000aa", 3, now)
        .await
        .unwrap();
    let tracked = store.tracked("a/b").await.unwrap();
    let t = &tracked["00000000000000aa"];
    assert_eq!(t.issue, Some(12));
    assert_eq!(t.priority, Some(Priority::P0));
    assert_eq!(t.merged_into, Some(3));
    assert!(t.muted_until.unwrap() > now);
    assert!(t.last_comment_at.is_some());
    assert_eq!(
        store.last_count("a/b", "00000000000000aa").await.unwrap(),
        Some(41)
    );
    assert_eq!(t.service.as_deref(), Some("api"));
    // The row was written: it counts as seen then, until a sweep says when it last occurred.
    assert!(t.last_seen.is_some());

    // Quiet sweeps count up, being seen again starts over, the note is remembered.
    let seen_at = now - Duration::hours(30);
    store
        .seen("a/b", "00000000000000aa", seen_at, now)
        .await
        .unwrap();
    store.unseen("a/b", "00000000000000aa").await.unwrap();
    store.unseen("a/b", "00000000000000aa").await.unwrap();
    store
        .quiet_noted("a/b", "00000000000000aa", now)
        .await
        .unwrap();
    let t = store.tracked("a/b").await.unwrap()["00000000000000aa"].clone();
    assert_eq!(t.quiet_sweeps, 2);
    assert_eq!(
        t.last_seen.map(|t| t.timestamp_micros()),
        Some(seen_at.timestamp_micros())
    );
    assert!(t.quiet_noted_at.is_some());
    store
        .seen("a/b", "00000000000000aa", now, now)
        .await
        .unwrap();
    let t = store.tracked("a/b").await.unwrap()["00000000000000aa"].clone();
    assert_eq!((t.quiet_sweeps, t.quiet_noted_at), (0, None));
    assert_eq!(
        store.fingerprint_of("a/b", 12).await.unwrap().as_deref(),
        Some("00000000000000aa")
    );
    assert!(store.tracked("other/repo").await.unwrap().is_empty());
}

on_both!(a_repository_lock_has_one_holder_until_it_expires);
async fn a_repository_lock_has_one_holder_until_it_expires(store: Store, _url: &str) {
    let now = Utc::now();
    let lease = Duration::minutes(5);
    assert!(store.try_lock("sweep:a/b", "w1", lease, now).await.unwrap());
    assert!(!store.try_lock("sweep:a/b", "w2", lease, now).await.unwrap());
    assert!(store.try_lock("sweep:c/d", "w2", lease, now).await.unwrap());
    assert!(
        store
            .try_lock("sweep:a/b", "w2", lease, now + Duration::minutes(6))
            .await
            .unwrap()
    );
    store.unlock("sweep:a/b", "w1").await.unwrap();
    assert!(
        !store
            .try_lock("sweep:a/b", "w3", lease, now + Duration::minutes(7))
            .await
            .unwrap(),
        "w1 no longer holds it"
    );
    store.unlock("sweep:a/b", "w2").await.unwrap();
    assert!(
        store
            .try_lock("sweep:a/b", "w3", lease, now + Duration::minutes(7))
            .await
            .unwrap()
    );
}

on_both!(installations_and_sweeps_are_listed);
async fn installations_and_sweeps_are_listed(store: Store, _url: &str) {
    let now = Utc::now();
    store.add_installation("a/b", 7, now).await.unwrap();
    store.add_installation("a/c", 7, now).await.unwrap();
    store.add_installation("x/y", 9, now).await.unwrap();
    store.remove_installation_repo("a/c").await.unwrap();
    store.remove_installation(9).await.unwrap();
    assert_eq!(
        store.installations().await.unwrap(),
        vec![("a/b".to_string(), 7)]
    );
    store
        .record_sweep(
            "a/b",
            "schedule",
            now - Duration::hours(1),
            now,
            "done",
            "160 entries",
            now,
        )
        .await
        .unwrap();
    let sweeps = store.last_sweeps("a/b", 5).await.unwrap();
    assert_eq!(sweeps.len(), 1);
    assert_eq!(sweeps[0].summary, "160 entries");
    assert!(store.ping().await);
}

#[tokio::test]
async fn many_workers_on_postgres_take_each_job_exactly_once() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let first = Store::connect(&db.url).await.unwrap();
    let now = Utc::now();
    for i in 0..60 {
        first
            .enqueue("sweep", &json!({"i": i}), None, now)
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..3 {
        let store = Store::connect(&db.url).await.unwrap();
        workers.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            while let Some(job) = store
                .claim(&format!("w{w}"), Duration::minutes(5), now)
                .await
                .unwrap()
            {
                taken.push(job.payload["i"].as_i64().unwrap());
                store.finish_job(job.id, now).await.unwrap();
            }
            taken
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (0..60).collect::<Vec<i64>>());
    db.drop_database().await;
}

#[tokio::test]
async fn a_bad_database_url_names_the_problem() {
    let e = Store::connect("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("sqlite:// or postgres://"), "{e}");
}
