//! Delivery through real HTTP receivers: signatures, retries, faults, the outbox rule.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db_test;
use crate::receiver::{Receiver, Reply, resetting_listener};
use crate::support::{Backend, TestApp, error_code};

db_test!(
    signatures_verify_with_independent_code,
    rotation_signs_with_both_keys_during_grace,
    retries_until_success_with_a_stable_webhook_id,
    fault_receivers,
    retry_after_is_honoured,
    gone_disables_the_hook,
    disabling_cancels_pending_and_keeps_history,
    failed_emit_stores_nothing,
    a_response_body_with_nul_is_stored,
    an_outcome_that_cannot_be_stored_holds_up_no_other,
    a_delivery_shows_what_was_sent_and_what_came_back,
);

/// Standard Webhooks verification as a receiver would write it: parse every `v1,` entry.
fn standard_verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).expect("secret");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|signature| signature == expected)
}

/// Logto's documented check: hex HMAC-SHA256 of the raw body keyed by the signing key string.
fn logto_signature(key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn the_verifier_accepts_the_standard_webhooks_vector() {
    assert!(standard_verifies(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
        "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ));
}

async fn signatures_verify_with_independent_code(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let created = app
        .gql(
            &app.admin(),
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id signingKey } }",
            json!({ "input": { "name": "r", "events": ["User.Created"], "url": receiver.url,
                "headers": [{ "name": "X-Tenant-Secret", "value": "s3" }] } }),
        )
        .await;
    let hook = &created["data"]["createHook"];
    let key = hook["signingKey"].as_str().expect("key");
    let event_id = app.emit("User.Created", json!({ "id": "u1", "name": "Ada" })).await;
    let request = &receiver.wait_for(1, Duration::from_secs(30)).await[0];

    assert_eq!(
        request.header("logto-signature-sha-256"),
        logto_signature(key, &request.body)
    );
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    assert!(standard_verifies(
        key,
        id,
        timestamp,
        &request.body,
        request.header("webhook-signature")
    ));
    let ts: i64 = timestamp.parse().expect("unix seconds");
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 120);
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("hookd/"));
    assert_eq!(request.header("x-tenant-secret"), "s3");

    // The body: the custom envelope in order, eventId and hookId last.
    let body = request.json();
    let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["event", "createdAt", "data", "eventId", "hookId"]);
    assert_eq!(body["event"], "User.Created");
    assert_eq!(body["data"], json!({ "id": "u1", "name": "Ada" }));
    assert_eq!(body["eventId"], event_id.as_str());
    assert_eq!(body["hookId"], hook["id"]);
    let created_at = body["createdAt"].as_str().expect("createdAt");
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "ISO with ms: {created_at}"
    );

    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    assert_eq!(delivery["id"], id, "webhook-id is the delivery id");
    assert_eq!(delivery["attempts"][0]["responseStatus"], 200);
    assert_eq!(delivery["attempts"][0]["responseBody"], "answered 200");
}

pub(crate) async fn rotation_signs_with_both_keys_during_grace(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let rotate = |id: Value, grace: i64| {
        let app = &app;
        async move {
            let response = app
                .gql(
                    &app.admin(),
                    "mutation($id: ID!, $grace: Int!) { rotateHookSigningKey(id: $id, gracePeriodSeconds: $grace) { signingKey } }",
                    json!({ "id": id, "grace": grace }),
                )
                .await;
            response["data"]["rotateHookSigningKey"]["signingKey"]
                .as_str()
                .expect("key")
                .to_owned()
        }
    };

    // During the grace period: one `v1,` entry per key, and both verify.
    let during = Receiver::spawn().await;
    let hook = app.hook_to(&during.url, &["Role.Created"]).await;
    let old_key = hook["signingKey"].as_str().expect("key").to_owned();
    let new_key = rotate(hook["id"].clone(), 3600).await;
    app.emit("Role.Created", json!({})).await;
    let request = during.wait_for(1, Duration::from_secs(30)).await[0].clone();
    let signature = request.header("webhook-signature");
    assert_eq!(signature.split(' ').count(), 2, "one entry per active key: {signature}");
    let (id, ts) = (request.header("webhook-id"), request.header("webhook-timestamp"));
    assert!(
        standard_verifies(&old_key, id, ts, &request.body, signature),
        "old key still verifies"
    );
    assert!(
        standard_verifies(&new_key, id, ts, &request.body, signature),
        "new key verifies"
    );
    // Logto's header uses the current key only.
    assert_eq!(
        request.header("logto-signature-sha-256"),
        logto_signature(&new_key, &request.body)
    );

    // After the grace period only the new key signs.
    let after = Receiver::spawn().await;
    let hook = app.hook_to(&after.url, &["Role.Deleted"]).await;
    let old_key = hook["signingKey"].as_str().expect("key").to_owned();
    let new_key = rotate(hook["id"].clone(), 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.emit("Role.Deleted", json!({})).await;
    let request = after.wait_for(1, Duration::from_secs(30)).await[0].clone();
    let signature = request.header("webhook-signature");
    let (id, ts) = (request.header("webhook-id"), request.header("webhook-timestamp"));
    assert_eq!(signature.split(' ').count(), 1, "{signature}");
    assert!(standard_verifies(&new_key, id, ts, &request.body, signature));
    assert!(!standard_verifies(&old_key, id, ts, &request.body, signature));
}

pub(crate) async fn retries_until_success_with_a_stable_webhook_id(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("10ms,10ms,10ms".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({ "n": 1 })).await;

    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    assert_eq!(delivery["attemptCount"], 3);
    let attempts = delivery["attempts"].as_array().expect("attempts");
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["responseStatus"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    let numbers: Vec<&Value> = attempts.iter().map(|a| &a["number"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)]);
    assert!(attempts.iter().all(|a| a["trigger"] == "SCHEDULED"));
    assert_eq!(attempts[0]["error"], "receiver answered 500");
    assert_eq!(attempts[2]["error"], Value::Null);

    let received = receiver.wait_for(3, Duration::from_secs(30)).await;
    let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(
        ids,
        [delivery["id"].as_str().expect("id"); 3],
        "the same webhook-id on every attempt"
    );
    assert!(
        received.windows(2).all(|w| w[0].body == w[1].body),
        "the same body on every attempt"
    );
    assert_eq!(receiver.count(), 3, "no fourth request");
}

async fn fault_receivers(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| {
        raw.retry_schedule = Some("10ms".into());
        raw.delivery_timeout = Some("1s".into());
    })
    .await;

    // Hangs: each attempt times out; two attempts, then FAILED.
    let hanging = Receiver::spawn().await;
    hanging.script([Reply::Hang, Reply::Hang]);
    // Resets the connection.
    let (reset_url, resets) = resetting_listener().await;
    // Redirects to another receiver, which must never be hit.
    let target = Receiver::spawn().await;
    let redirecting = Receiver::spawn().await;
    let moved = || Reply::WithHeaders(301, vec![("location", target.url.clone())]);
    redirecting.script([moved(), moved()]);
    // Answers with 10 MiB.
    let huge = Receiver::spawn().await;
    huge.script([Reply::Huge(10 * 1024 * 1024)]);
    // Trickles bytes slower than the timeout allows.
    let trickling = Receiver::spawn().await;
    trickling.script([Reply::Trickle, Reply::Trickle]);

    let cases = [
        ("Hang.Now", hanging.url.clone()),
        ("Reset.Now", reset_url),
        ("Redirect.Now", redirecting.url.clone()),
        ("Huge.Now", huge.url.clone()),
        ("Trickle.Now", trickling.url.clone()),
    ];
    let mut events = Vec::new();
    for (event_type, url) in &cases {
        define(&app, event_type).await;
        app.hook_to(url, &[event_type]).await;
        events.push(app.emit(event_type, json!({})).await);
    }

    let hung = app.wait_for_status(&events[0], "FAILED").await;
    assert_eq!(hung["attemptCount"], 2);
    for attempt in hung["attempts"].as_array().expect("attempts") {
        assert_eq!(attempt["responseStatus"], Value::Null);
        assert!(
            attempt["error"].as_str().unwrap_or_default().contains("timed out"),
            "{attempt}"
        );
    }

    let reset = app.wait_for_status(&events[1], "FAILED").await;
    assert_eq!(reset["attemptCount"], 2);
    assert!(resets.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert_eq!(reset["attempts"][0]["responseStatus"], Value::Null);
    assert!(!reset["attempts"][0]["error"].as_str().unwrap_or_default().is_empty());

    let redirected = app.wait_for_status(&events[2], "FAILED").await;
    assert_eq!(redirected["attempts"][0]["responseStatus"], 301);
    assert_eq!(target.count(), 0, "a redirect is never followed");

    let big = app.wait_for_status(&events[3], "SUCCEEDED").await;
    let stored = big["attempts"][0]["responseBody"].as_str().expect("body");
    assert_eq!(stored.len(), 20 * 1024, "stored truncated to 20 KiB");

    let trickled = app.wait_for_status(&events[4], "FAILED").await;
    assert!(
        trickled["attempts"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{trickled}"
    );
}

/// Defines the custom event type `name`.
pub async fn define(app: &TestApp, name: &str) {
    let response = app
        .gql(
            &app.admin(),
            "mutation($input: DefineEventTypeInput!) { defineEventType(input: $input) { name } }",
            json!({ "input": { "name": name } }),
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
}

async fn retry_after_is_honoured(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("1s".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::WithHeaders(429, vec![("retry-after", "2".into())])]);
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    let gap = received[1].at - received[0].at;
    // The schedule alone would retry after 0.8–1.2 s; Retry-After: 2 (clamped to at most twice
    // the delay) moves it to about 2 s.
    assert!(gap >= Duration::from_millis(1500), "retried after {gap:?}");
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    assert_eq!(delivery["attempts"][0]["responseStatus"], 429);
}

pub(crate) async fn gone_disables_the_hook(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(410)]);
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "FAILED").await;
    assert_eq!(delivery["attemptCount"], 1, "410 is not retried");
    let state = app
        .gql(
            &app.admin(),
            "query($id: ID!) { hook(id: $id) { enabled } }",
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(state["data"]["hook"]["enabled"], false);
    let next = app.emit("User.Created", json!({})).await;
    assert!(
        app.deliveries_of(&next).await.is_empty(),
        "a disabled hook gets no deliveries"
    );
    assert_eq!(receiver.count(), 1);
}

pub(crate) async fn disabling_cancels_pending_and_keeps_history(backend: Backend) {
    // The first attempt fails and the retry is an hour away: the delivery waits PENDING.
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("1h".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let first = app.emit("User.Created", json!({})).await;
    let second = app.emit("User.Created", json!({})).await;
    for event in [&first, &second] {
        let pending = app.wait_for_status(event, "PENDING").await;
        if pending["attemptCount"] == 0 {
            // Not attempted yet; wait for the failed attempt.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while app.deliveries_of(event).await[0]["attemptCount"] == 0 {
                assert!(std::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let pending = app.deliveries_of(&first).await[0].clone();
    let next_at: chrono::DateTime<chrono::Utc> =
        pending["nextAttemptAt"].as_str().expect("next").parse().expect("time");
    assert!(
        next_at > chrono::Utc::now() + chrono::Duration::minutes(40),
        "retry an hour out: {next_at}"
    );

    let disabled = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { updateHook(id: $id, input: { enabled: false }) { enabled } }",
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(disabled["data"]["updateHook"]["enabled"], false);
    let cancelled = app.deliveries_of(&first).await[0].clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["attempts"].as_array().map(Vec::len), Some(1), "history kept");

    // Deleting the hook keeps the deliveries readable; their hook is null.
    app.gql(
        &app.admin(),
        "mutation($id: ID!) { deleteHook(id: $id) }",
        json!({ "id": hook["id"] }),
    )
    .await;
    let after = app
        .gql(
            &app.admin(),
            "query($id: ID!) { delivery(id: $id) { status hook { id } hookId attempts { number } } }",
            json!({ "id": cancelled["id"] }),
        )
        .await;
    assert_eq!(after["data"]["delivery"]["hook"], Value::Null);
    assert_eq!(after["data"]["delivery"]["hookId"], hook["id"]);
    assert_eq!(after["data"]["delivery"]["status"], "CANCELLED");
    assert_eq!(after["data"]["delivery"]["attempts"], json!([{ "number": 1 }]));
    assert_eq!(receiver.count(), 2);
}

async fn failed_emit_stores_nothing(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    // A corrupt hook row (empty id) makes the delivery insert fail after the event insert.
    app.insert_corrupt_hook().await;
    let response = app
        .gql(
            &app.admin(),
            "mutation { emitEvent(input: { type: \"User.Created\", data: {} }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), Some("INTERNAL"), "{response}");
    assert!(
        !response.to_string().to_lowercase().contains("constraint"),
        "no database text: {response}"
    );
    assert_eq!(app.count_rows("events").await, 0, "the event insert was rolled back");
    assert_eq!(app.count_rows("deliveries").await, 0, "no delivery row either");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 0, "nothing was sent");
}

async fn a_response_body_with_nul_is_stored(backend: Backend) {
    // PostgreSQL text cannot hold NUL: before, such an answer failed the recorder's batch and
    // the delivery was sent again after every lease, forever.
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Body(200, b"ok\0bye \xff")]);
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    assert_eq!(delivery["attempts"][0]["responseBody"], "ok\u{FFFD}bye \u{FFFD}");
    assert_eq!(receiver.count(), 1);
}

async fn an_outcome_that_cannot_be_stored_holds_up_no_other(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    define(&app, "Outcome.Refused").await;
    app.hook_to(&receiver.url, &["User.Created", "Outcome.Refused"]).await;
    // The database refuses to mark the `Outcome.Refused` delivery SUCCEEDED (a fault injected
    // with a trigger, installed before that event exists): its outcome cannot be stored, the
    // others' can.
    let postgres = app.state.db.backend() == sea_orm::DbBackend::Postgres;
    let refuse = if postgres {
        vec![
            "CREATE FUNCTION refuse_outcome() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_outcome BEFORE UPDATE ON deliveries FOR EACH ROW \
             WHEN (OLD.event_type = 'Outcome.Refused' AND NEW.status = 'SUCCEEDED') EXECUTE FUNCTION refuse_outcome()",
        ]
    } else {
        vec![
            "CREATE TRIGGER refuse_outcome BEFORE UPDATE ON deliveries \
             WHEN OLD.event_type = 'Outcome.Refused' AND NEW.status = 'SUCCEEDED' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ]
    };
    for sql in &refuse {
        app.state
            .db
            .write
            .execute_unprepared(sql)
            .await
            .expect("install the fault");
    }
    let refused = app.emit("Outcome.Refused", json!({ "refused": true })).await;
    let mut others = Vec::new();
    for n in 0..20 {
        others.push(app.emit("User.Created", json!({ "n": n })).await);
    }
    for event_id in &others {
        app.wait_for_status(event_id, "SUCCEEDED").await;
    }
    let stuck = app.deliveries_of(&refused).await;
    assert_eq!(
        stuck[0]["status"], "SENDING",
        "its outcome is not stored yet: {stuck:?}"
    );
    // The fault clears; the set-aside outcome is stored on a later try, without a new request.
    let clear = if postgres {
        "DROP TRIGGER refuse_outcome ON deliveries"
    } else {
        "DROP TRIGGER refuse_outcome"
    };
    app.state
        .db
        .write
        .execute_unprepared(clear)
        .await
        .expect("clear the fault");
    let delivery = app.wait_for_status(&refused, "SUCCEEDED").await;
    assert_eq!(delivery["attemptCount"], 1, "{delivery}");
    assert_eq!(receiver.count(), 21, "every event was sent once");
}

/// The pairs of a GraphQL `[Header]` list.
fn header_pairs(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h["name"].as_str().expect("name").to_owned(),
                h["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

pub(crate) async fn a_delivery_shows_what_was_sent_and_what_came_back(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("10ms".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([
        Reply::WithHeaders(
            503,
            vec![("x-reason", "busy".to_owned()), ("retry-after", "0".to_owned())],
        ),
        Reply::Status(200),
    ]);
    let created = app
        .gql(
            &app.admin(),
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id signingKey } }",
            json!({ "input": { "name": "detail", "events": ["User.Created"], "url": receiver.url,
                "headers": [{ "name": "X-Team", "value": "identity" }] } }),
        )
        .await;
    let key = created["data"]["createHook"]["signingKey"]
        .as_str()
        .expect("key")
        .to_owned();
    let event_id = app.emit("User.Created", json!({ "id": "u1" })).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;

    let detail = app
        .gql(
            &app.admin(),
            "query($id: ID!) { delivery(id: $id) { requestBody attempts { number responseStatus responseBody
               requestHeaders { name value } responseHeaders { name value } } } }",
            json!({ "id": delivery["id"] }),
        )
        .await;
    let detail = &detail["data"]["delivery"];
    // The body, byte for byte.
    assert_eq!(
        detail["requestBody"].as_str().map(str::as_bytes),
        Some(&received[0].body[..])
    );
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{detail}");
    for (attempt, request) in attempts.iter().zip(&received) {
        // Every header the receiver got is recorded with its value, and nothing else is.
        let mut recorded = header_pairs(&attempt["requestHeaders"]);
        let mut arrived: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().expect("ascii").to_owned()))
            .collect();
        recorded.sort();
        arrived.sort();
        assert_eq!(recorded, arrived, "attempt {}", attempt["number"]);
        // Signatures are shown; the key is not.
        assert!(recorded.iter().any(|(name, _)| name == "webhook-signature"));
        assert!(!attempt.to_string().contains(&key), "the signing key leaked: {attempt}");
    }
    let first = header_pairs(&attempts[0]["responseHeaders"]);
    assert!(first.contains(&("x-reason".to_owned(), "busy".to_owned())), "{first:?}");
    assert_eq!(attempts[0]["responseStatus"], 503);
    assert!(
        header_pairs(&attempts[1]["responseHeaders"])
            .iter()
            .any(|(name, _)| name == "content-length")
    );
}
