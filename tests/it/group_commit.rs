//! Concurrent `emitEvent` calls sharing transactions, deliveries born leased and handed to the
//! dispatcher, and what happens when a group fails or the handoff is full.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::db_test;
use crate::receiver::Receiver;
use crate::support::{Backend, TestApp, error_code};

db_test!(
    concurrent_emits_each_store_their_own_event_and_deliveries,
    one_failing_emit_fails_alone,
    deliveries_past_the_handoff_are_claimed_and_sent_once,
);

const EMIT: &str =
    "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id deliveries { id hookId status } } }";

async fn emit(app: &TestApp, event_type: &str, n: usize) -> Value {
    app.gql(
        &app.admin(),
        EMIT,
        json!({ "input": { "type": event_type, "data": { "n": n } } }),
    )
    .await
}

/// The `eventId` of every request `receiver` got, checking none came twice.
fn received_once(receiver: &Receiver) -> HashSet<String> {
    let received = receiver.received();
    let ids: HashSet<String> = received
        .iter()
        .map(|r| r.json()["eventId"].as_str().expect("eventId").to_owned())
        .collect();
    assert_eq!(ids.len(), received.len(), "an event arrived twice at one hook");
    ids
}

async fn concurrent_emits_each_store_their_own_event_and_deliveries(backend: Backend) {
    const EMITS: usize = 300;
    let app = TestApp::delivering(backend, |_| {}).await;
    let (a, b) = (Receiver::spawn().await, Receiver::spawn().await);
    let hook_a = app.hook_to(&a.url, &["User.Created"]).await;
    let hook_b = app.hook_to(&b.url, &["User.Created"]).await;

    let responses = join_all((0..EMITS).map(|n| emit(&app, "User.Created", n))).await;
    let mut events = HashSet::new();
    let mut deliveries = HashSet::new();
    for response in &responses {
        assert_eq!(response["errors"], Value::Null, "{response}");
        let event = &response["data"]["emitEvent"];
        events.insert(event["id"].as_str().expect("id").to_owned());
        let hooks: HashSet<&str> = event["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                deliveries.insert(d["id"].as_str().expect("delivery id").to_owned());
                d["hookId"].as_str().expect("hookId")
            })
            .collect();
        let expected: HashSet<&str> = [&hook_a, &hook_b]
            .iter()
            .map(|h| h["id"].as_str().expect("id"))
            .collect();
        assert_eq!(hooks, expected, "one delivery per hook: {event}");
    }
    assert_eq!(events.len(), EMITS, "every call stored its own event");
    assert_eq!(deliveries.len(), 2 * EMITS, "and its own deliveries");
    assert_eq!(app.count_rows("events").await, EMITS as i64);
    assert_eq!(app.count_rows("deliveries").await, 2 * EMITS as i64);

    a.wait_for(EMITS, Duration::from_secs(60)).await;
    b.wait_for(EMITS, Duration::from_secs(60)).await;
    assert_eq!(received_once(&a), events, "hook A got every event once");
    assert_eq!(received_once(&b), events, "hook B got every event once");
    // Every delivery's outcome is stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.count_rows_where("deliveries", "status = 'SUCCEEDED'").await < 2 * EMITS as i64 {
        assert!(std::time::Instant::now() < deadline, "outcomes not stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn one_failing_emit_fails_alone(backend: Backend) {
    const GOOD: usize = 100;
    const BAD: usize = 10;
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    crate::delivery::define(&app, "Boom.Refused").await;
    app.hook_to(&receiver.url, &["User.Created", "Boom.Refused"]).await;
    // The database refuses every `Boom.Refused` event (a fault injected with a trigger), so a
    // group holding one fails as a whole and is stored again one emit at a time.
    let refuse: &[&str] = if backend == Backend::Postgres {
        &[
            "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW \
             WHEN (NEW.type = 'Boom.Refused') EXECUTE FUNCTION refuse_event()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN NEW.type = 'Boom.Refused' \
           BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ]
    };
    for sql in refuse {
        app.state
            .db
            .write
            .execute_unprepared(sql)
            .await
            .expect("install the fault");
    }

    let calls = (0..GOOD + BAD).map(|n| {
        let event_type = if n % 11 == 5 { "Boom.Refused" } else { "User.Created" };
        let app = &app;
        async move { (event_type, emit(app, event_type, n).await) }
    });
    let responses = join_all(calls).await;
    let mut stored = HashSet::new();
    for (event_type, response) in &responses {
        if *event_type == "Boom.Refused" {
            assert_eq!(error_code(response), Some("INTERNAL"), "{response}");
            assert!(
                !response.to_string().contains("refused by the test"),
                "no database text: {response}"
            );
        } else {
            assert_eq!(response["errors"], Value::Null, "{response}");
            let event = &response["data"]["emitEvent"];
            assert_eq!(event["deliveries"].as_array().map(Vec::len), Some(1), "{event}");
            stored.insert(event["id"].as_str().expect("id").to_owned());
        }
    }
    assert_eq!(stored.len(), GOOD);
    // The refused emits left nothing behind; the others are all there.
    assert_eq!(app.count_rows_where("events", "type = 'Boom.Refused'").await, 0);
    assert_eq!(app.count_rows("events").await, GOOD as i64);
    assert_eq!(app.count_rows("deliveries").await, GOOD as i64);
    receiver.wait_for(GOOD, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        received_once(&receiver),
        stored,
        "every stored event arrived once, no other"
    );
}

async fn deliveries_past_the_handoff_are_claimed_and_sent_once(backend: Backend) {
    const EMITS: usize = 40;
    // Two in flight, so the handoff holds two: most new deliveries find no place, are stored
    // PENDING and wait for a claim.
    let app = TestApp::delivering(backend, |raw| raw.max_in_flight = Some("2".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.set_delay(Duration::from_millis(300));
    app.hook_to(&receiver.url, &["User.Created"]).await;

    let responses = join_all((0..EMITS).map(|n| emit(&app, "User.Created", n))).await;
    let statuses: Vec<&str> = responses
        .iter()
        .map(|r| {
            r["data"]["emitEvent"]["deliveries"][0]["status"]
                .as_str()
                .expect("status")
        })
        .collect();
    assert!(statuses.contains(&"PENDING"), "some waited for a claim: {statuses:?}");
    assert!(statuses.contains(&"SENDING"), "some were born leased: {statuses:?}");
    let pending = app
        .gql(
            &app.admin(),
            "{ deliveries(status: PENDING, first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let waiting = pending["data"]["deliveries"]["edges"].as_array().map_or(0, Vec::len);
    assert!(waiting > 0, "the overflow waits PENDING, visible to the API: {pending}");

    receiver.wait_for(EMITS, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received_once(&receiver).len(), EMITS, "each sent once");
    assert_eq!(receiver.overlaps(), 0, "no delivery was in flight twice at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_restart_resends_what_a_dead_run_left_leased() {
    let app = TestApp::delivering(Backend::Sqlite, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    app.wait_for_status(&event_id, "SUCCEEDED").await;
    // As a run killed mid-attempt leaves it: SENDING under a lease an hour long.
    let in_an_hour = chrono::Utc::now().timestamp_millis() + 3_600_000;
    app.state
        .db
        .write
        .execute_unprepared(&format!(
            "UPDATE deliveries SET status = 'SENDING', due_at = {in_an_hour}"
        ))
        .await
        .expect("lease");
    // SQLite has one process: the next start knows no one holds the lease and sends it now.
    let app = app
        .restart(|raw| raw.allowed_targets = Some("127.0.0.0/8".into()))
        .await;
    receiver.wait_for(2, Duration::from_secs(30)).await;
    app.wait_for_status(&event_id, "SUCCEEDED").await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids[0], ids[1], "the same message, sent again");
}
