//! Delivery policy on a hook: payload filters (JSONPath at emit time), Ed25519 signatures,
//! ordered delivery, rate limits, auto-disabling of failing hooks and the operational events
//! (`Hook.*`, `Delivery.*`), through the API, real receivers and, for signatures, Node's own
//! crypto.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hookd::config::RawSettings;
use serde_json::{Value, json};

use crate::browser;
use crate::db_test;
use crate::receiver::{Received, Receiver, Reply, resetting_listener};
use crate::subscriptions::Client;
use crate::support::{Backend, TestApp, error_code, first_error};

db_test!(
    a_filter_decides_at_emit_time,
    invalid_filters_are_refused_and_change_nothing,
    ed25519_signatures_verify_with_node,
    an_ordered_hook_receives_in_order_through_retries,
    a_rate_limited_hook_is_paced,
    rate_limit_and_ordered_are_validated,
    a_failing_hook_is_disabled_and_says_so,
    operational_events_for_gone_exhausted_and_recovered,
    the_failing_clock_survives_a_restart,
    emit_event_refuses_operational_types,
    switching_ordering_off_releases_the_waiting,
);

const ACME: &str = r"$[?match(@.primaryEmail, '.*@acme\\.com')]";

const HOOK_FIELDS: &str = "id filter signingScheme publicKey signingKey previousSigningKeys { key expiresAt } \
    ordered rateLimit failingSince disabledReason";

async fn create(app: &TestApp, input: Value) -> Value {
    let response = app
        .gql(
            &app.admin(),
            &format!("mutation($input: CreateHookInput!) {{ createHook(input: $input) {{ {HOOK_FIELDS} }} }}"),
            json!({ "input": input }),
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    response["data"]["createHook"].clone()
}

fn message(response: &Value) -> &str {
    response["errors"][0]["message"].as_str().unwrap_or_default()
}

async fn update(app: &TestApp, id: &Value, input: Value) -> Value {
    app.gql(
        &app.admin(),
        &format!(
            "mutation($id: ID!, $input: UpdateHookInput!) {{ updateHook(id: $id, input: $input) {{ {HOOK_FIELDS} }} }}"
        ),
        json!({ "id": id, "input": input }),
    )
    .await
}

pub(crate) async fn a_filter_decides_at_emit_time(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let filtered = Receiver::spawn().await;
    let everything = Receiver::spawn().await;
    let hook = create(
        &app,
        json!({ "name": "acme only", "events": ["User.Created"], "url": filtered.url, "filter": ACME }),
    )
    .await;
    assert_eq!(hook["filter"], ACME, "the filter reads back as given");
    app.hook_to(&everything.url, &["User.Created"]).await;

    let matching = app
        .emit("User.Created", json!({ "primaryEmail": "ada@acme.com" }))
        .await;
    let other = app
        .emit("User.Created", json!({ "primaryEmail": "bob@example.com" }))
        .await;
    let lookalike = app
        .emit("User.Created", json!({ "primaryEmail": "eve@acme.com.evil" }))
        .await;
    // A real identity mutation's envelope too: its data is the user.
    let user = app
        .gql(
            &app.admin(),
            r#"mutation { createUser(input: { username: "carol", primaryEmail: "carol@acme.com" }) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(user["errors"], Value::Null, "{user}");

    let all = everything.wait_for(4, Duration::from_secs(30)).await;
    let received = filtered.wait_for(2, Duration::from_secs(30)).await;
    let emails: Vec<Value> = received
        .iter()
        .map(|r| r.json()["data"]["primaryEmail"].clone())
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(
        emails.contains(&json!("ada@acme.com")) && emails.contains(&json!("carol@acme.com")),
        "{emails:?}"
    );
    assert_eq!(all.len(), 4);

    // The events it did not select have no delivery for it at all: nothing queued, nothing failed.
    let hook_id = hook["id"].as_str().expect("id");
    for (event, expected) in [(&matching, 1), (&other, 0), (&lookalike, 0)] {
        let to_hook = app
            .deliveries_of(event)
            .await
            .into_iter()
            .filter(|d| d["hookId"] == hook_id)
            .count();
        assert_eq!(to_hook, expected, "deliveries of {event} to the filtered hook");
    }

    // null removes the filter: the next event of another domain is delivered.
    let cleared = update(&app, &hook["id"], json!({ "filter": null })).await;
    assert_eq!(cleared["data"]["updateHook"]["filter"], Value::Null, "{cleared}");
    app.emit("User.Created", json!({ "primaryEmail": "dan@example.com" }))
        .await;
    let received = filtered.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(received[2].json()["data"]["primaryEmail"], "dan@example.com");
}

pub(crate) async fn invalid_filters_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let input =
        |filter: &str| json!({ "name": "f", "events": ["User.Created"], "url": receiver.url, "filter": filter });
    let long = format!("$.a{}", ".b".repeat(600));
    for bad in ["$[?@.a ==]", "primaryEmail", "$..[", &long] {
        let response = app
            .gql(
                &app.admin(),
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
                json!({ "input": input(bad) }),
            )
            .await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{bad}: {response}");
        assert_eq!(first_error(&response).1, Some("filter"), "{response}");
        let message = message(&response);
        assert!(
            message.contains("at position") || message.contains("at most 1024"),
            "{bad}: {message}"
        );
    }
    assert!(app.hook_rows().await.is_empty(), "no refused hook was stored");

    let hook = create(&app, input(ACME)).await;
    let before = app.hook_rows().await;
    let response = update(&app, &hook["id"], json!({ "filter": "$[?", "name": "renamed" })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert!(
        message(&response).contains("at position 3"),
        "the parser's position: {response}"
    );
    assert_eq!(
        app.hook_rows().await,
        before,
        "a refused update changed nothing, not even the name"
    );
}

/// Node's verdict on the `v1a,` entries of one request for `public_key`: (entries, verified).
async fn node_verifies(public_key: &str, request: &Received) -> (u64, u64) {
    let body = STANDARD.encode(&request.body);
    let out = browser::node(
        "ed25519-verify.mjs",
        &[
            public_key,
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            &body,
            request.header("webhook-signature"),
        ],
    )
    .await;
    let verdict: Value = serde_json::from_str(out.trim()).expect("verdict");
    (
        verdict["entries"].as_u64().expect("entries"),
        verdict["verified"].as_u64().expect("verified"),
    )
}

fn entries(request: &Received, prefix: &str) -> usize {
    request
        .header("webhook-signature")
        .split(' ')
        .filter(|entry| entry.starts_with(prefix))
        .count()
}

pub(crate) async fn ed25519_signatures_verify_with_node(backend: Backend) {
    if !browser::available(false) {
        return;
    }
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let hook = create(
        &app,
        json!({ "name": "ed", "events": ["User.Created"], "url": receiver.url, "signingScheme": "ED25519" }),
    )
    .await;
    assert_eq!(hook["signingScheme"], "ED25519");
    let public_key = hook["publicKey"].as_str().expect("public key").to_owned();
    assert!(public_key.starts_with("whpk_"), "{public_key}");
    assert_eq!(STANDARD.decode(&public_key[5..]).expect("base64").len(), 32);

    // Ed25519 only: no shared-secret signature at all.
    app.emit("User.Created", json!({ "n": 1 })).await;
    let first = &receiver.wait_for(1, Duration::from_secs(30)).await[0];
    assert_eq!(first.header("logto-signature-sha-256"), "", "no HMAC header");
    assert_eq!(entries(first, "v1,"), 0);
    assert_eq!(
        node_verifies(&public_key, first).await,
        (1, 1),
        "Node verifies the v1a entry"
    );
    // Another key does not: the check can fail.
    let other = format!("whpk_{}", STANDARD.encode([7u8; 32]));
    assert_eq!(node_verifies(&other, first).await.1, 0);

    // Both schemes: Logto's header and v1 beside v1a, the same Ed25519 key.
    let both = update(&app, &hook["id"], json!({ "signingScheme": "HMAC_AND_ED25519" })).await;
    assert_eq!(both["data"]["updateHook"]["publicKey"], public_key.as_str(), "{both}");
    app.emit("User.Created", json!({ "n": 2 })).await;
    let second = &receiver.wait_for(2, Duration::from_secs(30)).await[1];
    assert_eq!(second.header("logto-signature-sha-256").len(), 64);
    assert_eq!(entries(second, "v1,"), 1);
    assert_eq!(node_verifies(&public_key, second).await, (1, 1));

    // Rotation: a new key pair; the old public key is listed and still verifies during grace.
    let rotated = app
        .gql(
            &app.admin(),
            &format!(
                "mutation($id: ID!) {{ rotateHookSigningKey(id: $id, gracePeriodSeconds: 3600) {{ {HOOK_FIELDS} }} }}"
            ),
            json!({ "id": hook["id"] }),
        )
        .await;
    let rotated = &rotated["data"]["rotateHookSigningKey"];
    let new_key = rotated["publicKey"].as_str().expect("new public key");
    assert_ne!(new_key, public_key);
    let listed: Vec<&str> = rotated["previousSigningKeys"]
        .as_array()
        .expect("previous keys")
        .iter()
        .map(|k| k["key"].as_str().expect("key"))
        .collect();
    assert!(listed.contains(&public_key.as_str()), "{listed:?}");
    app.emit("User.Created", json!({ "n": 3 })).await;
    let third = &receiver.wait_for(3, Duration::from_secs(30)).await[2];
    assert_eq!(node_verifies(new_key, third).await, (2, 1));
    assert_eq!(node_verifies(&public_key, third).await, (2, 1));

    // The private key never leaves: not in any hook field, not in the hooks list.
    let everything = app
        .gql(
            &app.admin(),
            &format!("{{ hooks(first: 10) {{ edges {{ node {{ {HOOK_FIELDS} name url events enabled }} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(!everything.to_string().contains("whsk_"), "{everything}");
}

// Ordered delivery, rate limits, failing hooks and operational events.

/// The operational events, which only hookd emits.
const OPERATIONAL: [&str; 4] = [
    "Hook.Disabled",
    "Hook.Enabled",
    "Delivery.Exhausted",
    "Delivery.Recovered",
];

/// What a hook's delivery policy reads as.
const STATE_FIELDS: &str = "id name url enabled ordered rateLimit failingSince disabledReason";

/// A hook's policy fields as read now.
async fn hook_state(app: &TestApp, id: &Value) -> Value {
    let response = app
        .gql(
            &app.admin(),
            &format!("query($id: ID!) {{ hook(id: $id) {{ {STATE_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    response["data"]["hook"].clone()
}

/// Polls a hook until `done` holds for its state (panics after `within`).
async fn wait_for_hook(app: &TestApp, id: &Value, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let state = hook_state(app, id).await;
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "the hook never got there: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the event's only delivery is done (SUCCEEDED, FAILED or CANCELLED); panics
/// after 30 s.
async fn wait_for_done(app: &TestApp, event_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let deliveries = app.deliveries_of(event_id).await;
        if let Some(delivery) = deliveries.first()
            && ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&delivery["status"].as_str().unwrap_or_default())
        {
            return delivery.clone();
        }
        assert!(Instant::now() < deadline, "the delivery never finished: {deliveries:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of a hook's deliveries are in `status`.
async fn count_deliveries(app: &TestApp, hook_id: &Value, status: &str) -> u64 {
    let response = app
        .gql(
            &app.admin(),
            &format!("query($id: ID!) {{ deliveries(hookId: $id, status: {status}) {{ totalCount }} }}"),
            json!({ "id": hook_id }),
        )
        .await;
    response["data"]["deliveries"]["totalCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("{response}"))
}

/// Polls until `count` deliveries of the hook have SUCCEEDED (panics after 60 s).
async fn wait_for_succeeded(app: &TestApp, hook_id: &Value, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = count_deliveries(app, hook_id, "SUCCEEDED").await;
        if done == count {
            return;
        }
        assert!(Instant::now() < deadline, "{done} of {count} deliveries succeeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until none of the hook's deliveries is PENDING or SENDING, twice half a second apart.
async fn wait_until_settled(app: &TestApp, hook_id: &Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    while quiet < 2 {
        let busy = count_deliveries(app, hook_id, "PENDING").await + count_deliveries(app, hook_id, "SENDING").await;
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        assert!(Instant::now() < deadline, "the hook's deliveries never settled");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Emits `User.Created` with data `{"n": n}` for every `n` of `numbers`, in one request (the
/// aliased mutations run one after the other).
async fn emit_numbered(app: &TestApp, numbers: Range<u64>) {
    let fields: String = numbers
        .map(|n| format!("e{n}: emitEvent(input: {{ type: \"User.Created\", data: {{ n: {n} }} }}) {{ id }} "))
        .collect();
    let response = app
        .gql(&app.admin(), &format!("mutation {{ {fields} }}"), json!({}))
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
}

/// The stored events of `event_type` (at most 20), as their payloads, newest first.
async fn stored_events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let response = app
        .gql(
            &app.admin(),
            "query($type: String!) { events(type: $type, first: 20) { edges { node { payload } } } }",
            json!({ "type": event_type }),
        )
        .await;
    response["data"]["events"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|edge| edge["node"]["payload"].clone())
        .collect()
}

/// Waits until `receiver` got a request whose body `matches`, and returns that body (panics
/// after 30 s, naming `what`).
async fn wait_for_body(receiver: &Receiver, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bodies: Vec<Value> = receiver.received().iter().map(Received::json).collect();
        if let Some(found) = bodies.iter().find(|&body| matches(body)) {
            return found.clone();
        }
        assert!(Instant::now() < deadline, "{what} never arrived; got {bodies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A time field (RFC 3339).
fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a time: {value}: {e}"))
}

/// Every request is an emitted event's envelope to `hook_id`: its keys in order, ISO time.
fn assert_envelopes(received: &[Received], hook_id: &Value) {
    for request in received {
        let body = request.json();
        let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["event", "createdAt", "data", "eventId", "hookId"], "{body}");
        assert_eq!(&body["hookId"], hook_id, "{body}");
        let created_at = body["createdAt"].as_str().expect("createdAt");
        assert!(
            created_at.ends_with('Z') && created_at.len() == 24,
            "ISO with ms: {body}"
        );
    }
}

/// `data.n` of every request, in arrival order.
pub(crate) fn numbers(received: &[Received]) -> Vec<u64> {
    received
        .iter()
        .map(|r| r.json()["data"]["n"].as_u64().expect("data.n"))
        .collect()
}

/// Events `0..count` (by `data.n`) first arrived in that order, and no request overtook an
/// earlier event: the arrivals, retries included, never go back in `n`.
pub(crate) fn assert_in_order(received: &[Received], count: u64) {
    let arrivals = numbers(received);
    let mut seen = HashSet::new();
    let first: Vec<u64> = arrivals.iter().copied().filter(|n| seen.insert(*n)).collect();
    assert_eq!(first, (0..count).collect::<Vec<_>>(), "first arrivals out of order");
    if let Some(back) = arrivals.windows(2).position(|w| w[1] < w[0]) {
        panic!(
            "request {} (n = {}) came after n = {}: {arrivals:?}",
            back + 1,
            arrivals[back + 1],
            arrivals[back]
        );
    }
}

/// The requests came at most `rate` a second: no 1-second window starting at an arrival holds
/// more than `rate` + 10 %, and first to last took at least 90 % of what `rate` allows (at most
/// half again as long, for a slow machine).
pub(crate) fn assert_paced(received: &[Received], rate: u32) {
    let mut at: Vec<Instant> = received.iter().map(|r| r.at).collect();
    at.sort();
    let span = at[at.len() - 1] - at[0];
    let ideal = Duration::from_secs(1) * (at.len() as u32 - 1) / rate;
    eprintln!(
        "{} requests at {rate}/s: first to last {span:?} (ideal {ideal:?})",
        at.len()
    );
    let busiest = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t - at[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        busiest as u32 <= rate + rate / 10,
        "{busiest} requests within one second; the limit is {rate}/s"
    );
    assert!(span >= ideal * 9 / 10, "{} requests in {span:?} at {rate}/s", at.len());
    // Half again as long leaves room for a slow machine, and none for a stalled delivery.
    assert!(span <= ideal * 3 / 2, "{} requests took {span:?} at {rate}/s", at.len());
}

/// A subscription to `eventEmitted` of `types` (and `Role.Created`, the probe), live once this
/// returns: a probe emitted after subscribing came through.
async fn watch_events(app: &TestApp, types: &[&str]) -> Client {
    let mut client = Client::connect_at(&app.base_url, &app.admin()).await;
    let mut types = types.to_vec();
    types.push("Role.Created");
    client
        .subscribe(
            "e",
            &format!(
                "subscription {{ eventEmitted(types: {}) {{ id type payload }} }}",
                json!(types)
            ),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the subscription never came live");
        let probe = app.emit("Role.Created", json!({})).await;
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < until {
            let Ok(message) = tokio::time::timeout(Duration::from_millis(500), client.next()).await else {
                break;
            };
            if message["payload"]["data"]["eventEmitted"]["id"] == probe.as_str() {
                return client;
            }
        }
    }
}

/// Reads the subscription until an event `matches` (panics after 60 s).
async fn next_event_where(client: &mut Client, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the subscription never saw {what}");
        let message = client.next().await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["eventEmitted"];
        if matches(event) {
            return event.clone();
        }
    }
}

/// An ordered hook gets one delivery at a time, in event order, also through retries: of 50
/// events emitted one after the other, the third (`n` = 2) is answered 500 twice. Every event
/// arrives; `n` = 2 three times, and nothing behind it before its success; no two requests
/// are ever in flight at once. All 50 deliveries end SUCCEEDED.
pub(crate) async fn an_ordered_hook_receives_in_order_through_retries(backend: Backend) {
    const EVENTS: u64 = 50;
    let app = TestApp::delivering(backend, |raw| {
        raw.retry_schedule = Some("100ms,100ms,100ms".into());
    })
    .await;
    let receiver = Receiver::spawn().await;
    // Slow answers: requests sent without waiting for the one before would overlap.
    receiver.set_delay(Duration::from_millis(20));
    receiver.script_for(|body| body["data"]["n"] == 2, [Reply::Status(500), Reply::Status(500)]);
    let hook = create(
        &app,
        json!({ "name": "ordered", "events": ["User.Created"], "url": receiver.url, "ordered": true }),
    )
    .await;
    assert_eq!(hook["ordered"], true, "{hook}");
    assert_eq!(hook["rateLimit"], Value::Null, "{hook}");

    for n in 0..EVENTS {
        app.emit("User.Created", json!({ "n": n })).await;
    }
    receiver.wait_for(EVENTS as usize + 2, Duration::from_secs(60)).await;
    wait_for_succeeded(&app, &hook["id"], EVENTS).await;

    let received = receiver.received();
    assert_in_order(&received, EVENTS);
    let arrivals = numbers(&received);
    assert_eq!(
        arrivals.iter().filter(|n| **n == 2).count(),
        3,
        "n = 2: two failures, then the success: {arrivals:?}"
    );
    let success_of_2 = arrivals.iter().rposition(|n| *n == 2).expect("n = 2");
    let first_behind = arrivals.iter().position(|n| *n > 2).expect("n > 2");
    assert!(
        success_of_2 < first_behind,
        "an event behind n = 2 arrived before its success: {arrivals:?}"
    );
    assert_eq!(
        arrivals.len() as u64,
        EVENTS + 2,
        "every other event once: {arrivals:?}"
    );
    assert_eq!(receiver.peak_in_flight(), 1, "two requests were in flight at once");
}

/// A hook limited to 20 deliveries a second gets 200 events emitted at once paced out: no
/// second holds more than 22 of them, and first to last takes about 10 s (at least 9 s, at
/// most 30 s). Every event arrives once and its delivery SUCCEEDS.
pub(crate) async fn a_rate_limited_hook_is_paced(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let hook = create(
        &app,
        json!({ "name": "paced", "events": ["User.Created"], "url": receiver.url, "rateLimit": 20 }),
    )
    .await;
    assert_eq!(hook["rateLimit"], 20, "{hook}");
    assert_eq!(hook["ordered"], false, "{hook}");

    // Ten requests of twenty emits at once: far faster than 20 a second.
    let started = Instant::now();
    futures_util::future::join_all((0..10).map(|i| emit_numbered(&app, i * 20..(i + 1) * 20))).await;
    let emitting = started.elapsed();
    eprintln!("200 emits took {emitting:?}");
    assert!(
        emitting < Duration::from_secs(6),
        "emitting took {emitting:?}: too slow for the limit to show"
    );

    receiver.wait_for(200, Duration::from_secs(60)).await;
    wait_for_succeeded(&app, &hook["id"], 200).await;
    let received = receiver.received();
    assert_eq!(received.len(), 200, "each event once");
    let distinct: HashSet<u64> = numbers(&received).into_iter().collect();
    assert_eq!(distinct.len(), 200);
    assert_paced(&received, 20);
}

/// `rateLimit` must be 1–10000: 0, -1 and 10001 are refused (BAD_USER_INPUT, field
/// `rateLimit`) by createHook, which stores nothing, and by updateHook, which changes nothing.
/// `ordered` and `rateLimit` read back as set, an update without them keeps them, and
/// `rateLimit: null` removes the limit.
pub(crate) async fn rate_limit_and_ordered_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = |extra: Value| {
        let mut input = json!({ "name": "policy", "events": ["User.Created"], "url": "https://example.com/hook" });
        input
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        input
    };
    for bad in [0, -1, 10001] {
        let response = app
            .gql(
                &app.admin(),
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
                json!({ "input": input(json!({ "rateLimit": bad, "ordered": true })) }),
            )
            .await;
        assert_eq!(
            first_error(&response),
            (Some("BAD_USER_INPUT"), Some("rateLimit")),
            "{bad}: {response}"
        );
    }
    assert!(app.hook_rows().await.is_empty(), "no refused hook was stored");

    // The defaults: unordered, unlimited, never failed, enabled.
    let plain = create(&app, input(json!({}))).await;
    assert_eq!(plain["ordered"], false, "{plain}");
    assert_eq!(plain["rateLimit"], Value::Null, "{plain}");
    assert_eq!(plain["failingSince"], Value::Null, "{plain}");
    assert_eq!(plain["disabledReason"], Value::Null, "{plain}");
    // The bounds themselves are allowed.
    let fastest = create(&app, input(json!({ "rateLimit": 10000 }))).await;
    assert_eq!(fastest["rateLimit"], 10000, "{fastest}");

    let hook = create(&app, input(json!({ "ordered": true, "rateLimit": 1 }))).await;
    assert_eq!(
        (&hook["ordered"], &hook["rateLimit"]),
        (&json!(true), &json!(1)),
        "{hook}"
    );
    let read = hook_state(&app, &hook["id"]).await;
    assert_eq!(
        (&read["ordered"], &read["rateLimit"]),
        (&json!(true), &json!(1)),
        "{read}"
    );

    let before = app.hook_rows().await;
    for bad in [0, -1, 10001] {
        let response = update(
            &app,
            &hook["id"],
            json!({ "rateLimit": bad, "name": "renamed", "ordered": false }),
        )
        .await;
        assert_eq!(
            first_error(&response),
            (Some("BAD_USER_INPUT"), Some("rateLimit")),
            "{bad}: {response}"
        );
    }
    assert_eq!(
        app.hook_rows().await,
        before,
        "a refused update changed nothing, not even the name"
    );

    let changed = update(&app, &hook["id"], json!({ "ordered": false, "rateLimit": 20 })).await;
    assert_eq!(changed["errors"], Value::Null, "{changed}");
    let read = hook_state(&app, &hook["id"]).await;
    assert_eq!(
        (&read["ordered"], &read["rateLimit"]),
        (&json!(false), &json!(20)),
        "{read}"
    );

    let renamed = update(&app, &hook["id"], json!({ "name": "renamed" })).await;
    assert_eq!(renamed["errors"], Value::Null, "{renamed}");
    let read = hook_state(&app, &hook["id"]).await;
    assert_eq!(
        (&read["ordered"], &read["rateLimit"]),
        (&json!(false), &json!(20)),
        "an update without them keeps them: {read}"
    );

    let ordered = update(&app, &hook["id"], json!({ "ordered": true, "rateLimit": null })).await;
    assert_eq!(ordered["errors"], Value::Null, "{ordered}");
    assert_eq!(ordered["data"]["updateHook"]["rateLimit"], Value::Null, "{ordered}");
    let read = hook_state(&app, &hook["id"]).await;
    assert_eq!(
        (&read["ordered"], &read["rateLimit"]),
        (&json!(true), &Value::Null),
        "null removed the limit: {read}"
    );
}

/// A hook whose attempts have all failed for 1 s, with at least 3 of them, is disabled
/// (FAILING) at its next failed attempt, not before: its waiting delivery stops, it receives
/// nothing more, and `Hook.Disabled` reaches the ops hook (once) and the `eventEmitted`
/// subscription, never the disabled hook itself. Turning it on again emits `Hook.Enabled`
/// and clears its failing clock; turning it off emits `Hook.Disabled` with reason USER.
pub(crate) async fn a_failing_hook_is_disabled_and_says_so(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| {
        raw.disable_after = Some("1s".into());
        raw.disable_min_attempts = Some("3".into());
        raw.retry_schedule = Some(["200ms"; 10].join(","));
    })
    .await;
    let mut watcher = watch_events(&app, &["Hook.Disabled", "Hook.Enabled"]).await;
    let ops = Receiver::spawn().await;
    let dead = Receiver::spawn().await;
    dead.set_otherwise(Reply::Status(500));
    let ops_hook = create(&app, json!({ "name": "ops", "events": OPERATIONAL, "url": ops.url })).await;
    // Subscribed to Hook.Disabled as well: the event about itself must still never reach it.
    let dead_hook = create(
        &app,
        json!({ "name": "dead", "events": ["User.Created", "Hook.Disabled"], "url": dead.url }),
    )
    .await;
    let dead_id = dead_hook["id"].clone();
    assert_eq!(dead_hook["failingSince"], Value::Null, "no attempt yet: {dead_hook}");

    let event = app.emit("User.Created", json!({ "n": 1 })).await;
    let disabled = wait_for_hook(&app, &dead_id, Duration::from_secs(60), |h| h["enabled"] == false).await;
    let attempts_at_disable = dead.count();
    assert_eq!(disabled["disabledReason"], "FAILING", "{disabled}");
    let failing_since = time(&disabled["failingSince"]);
    assert!(
        attempts_at_disable >= 3,
        "disabled after {attempts_at_disable} attempts"
    );

    // Its delivery is not waiting for a retry any more.
    let delivery = wait_for_done(&app, &event).await;
    assert!(
        delivery["status"] == "CANCELLED" || delivery["status"] == "FAILED",
        "{delivery}"
    );

    // The ops hook heard of it, with the failing run's figures, no earlier than 1 s into it.
    let notice = wait_for_body(&ops, "Hook.Disabled (FAILING)", |b| {
        b["event"] == "Hook.Disabled" && b["data"]["id"] == dead_id
    })
    .await;
    let data = &notice["data"];
    assert_eq!(data["reason"], "FAILING", "{notice}");
    assert_eq!(
        (&data["name"], &data["url"]),
        (&json!("dead"), &json!(dead.url)),
        "{notice}"
    );
    assert!(data["failedAttempts"].as_u64().is_some_and(|n| n >= 3), "{notice}");
    assert_eq!(time(&data["failingSince"]), failing_since, "{notice}");
    let failed_for = time(&notice["createdAt"]) - failing_since;
    assert!(
        failed_for >= chrono::Duration::milliseconds(990),
        "disabled after failing for only {failed_for}; the setting is 1 s"
    );
    let seen = next_event_where(&mut watcher, "Hook.Disabled", |e| {
        e["type"] == "Hook.Disabled" && e["payload"]["data"]["id"] == dead_id
    })
    .await;
    assert_eq!(seen["payload"]["data"]["reason"], "FAILING", "{seen}");

    // Nothing more reaches it.
    let later = app.emit("User.Created", json!({ "n": 2 })).await;
    assert!(
        app.deliveries_of(&later).await.is_empty(),
        "a disabled hook gets no deliveries"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dead.count(), attempts_at_disable, "a request reached the disabled hook");

    // On again: Hook.Enabled, and the failing clock starts over.
    let enabled = update(&app, &dead_id, json!({ "enabled": true })).await;
    assert_eq!(enabled["errors"], Value::Null, "{enabled}");
    let state = hook_state(&app, &dead_id).await;
    assert_eq!(state["enabled"], true, "{state}");
    assert_eq!(state["failingSince"], Value::Null, "{state}");
    assert_eq!(state["disabledReason"], Value::Null, "{state}");
    let hello = wait_for_body(&ops, "Hook.Enabled", |b| {
        b["event"] == "Hook.Enabled" && b["data"]["id"] == dead_id
    })
    .await;
    assert_eq!(
        hello["data"],
        json!({ "id": dead_id, "name": "dead", "url": dead.url }),
        "{hello}"
    );
    next_event_where(&mut watcher, "Hook.Enabled", |e| {
        e["type"] == "Hook.Enabled" && e["payload"]["data"]["id"] == dead_id
    })
    .await;

    // Off by hand: Hook.Disabled with reason USER.
    let off = update(&app, &dead_id, json!({ "enabled": false })).await;
    assert_eq!(off["errors"], Value::Null, "{off}");
    assert_eq!(off["data"]["updateHook"]["disabledReason"], "USER", "{off}");
    let by_user = wait_for_body(&ops, "Hook.Disabled (USER)", |b| {
        b["event"] == "Hook.Disabled" && b["data"]["id"] == dead_id && b["data"]["reason"] == "USER"
    })
    .await;
    assert_eq!(
        (&by_user["data"]["name"], &by_user["data"]["url"]),
        (&json!("dead"), &json!(dead.url)),
        "{by_user}"
    );

    // One event per change, stored and delivered; none of them to the hook they describe.
    let mut reasons: Vec<Value> = stored_events(&app, "Hook.Disabled")
        .await
        .iter()
        .map(|payload| payload["data"]["reason"].clone())
        .collect();
    reasons.sort_by_key(Value::to_string);
    assert_eq!(reasons, [json!("FAILING"), json!("USER")]);
    assert_eq!(stored_events(&app, "Hook.Enabled").await.len(), 1);
    let failing_notices: HashSet<String> = ops
        .received()
        .iter()
        .map(Received::json)
        .filter(|b| b["event"] == "Hook.Disabled" && b["data"]["reason"] == "FAILING")
        .map(|b| b["eventId"].to_string())
        .collect();
    assert_eq!(
        failing_notices.len(),
        1,
        "one Hook.Disabled (FAILING) for one disabling"
    );
    assert!(
        dead.received().iter().all(|r| r.json()["event"] == "User.Created"),
        "an operational event reached the hook it describes"
    );
    assert_envelopes(&ops.received(), &ops_hook["id"]);
    let ops_state = hook_state(&app, &ops_hook["id"]).await;
    assert_eq!(
        ops_state["failingSince"],
        Value::Null,
        "the ops hook never failed: {ops_state}"
    );
}

/// One event, four hooks: one recovers on its retry (`Delivery.Recovered`, 2 attempts), one
/// answers 500 until its retries are used up and one cannot be reached (`Delivery.Exhausted`,
/// 2 attempts, with and without `lastResponseStatus`), one answers 410 (`Delivery.Exhausted`
/// with 410, and `Hook.Disabled` GONE); a failed manual redelivery is exhausted again. The
/// ops hook receiving them fails some of its own deliveries (one recovers, one is exhausted),
/// which emit nothing: operational deliveries never produce `Delivery.*` events.
pub(crate) async fn operational_events_for_gone_exhausted_and_recovered(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("100ms".into())).await;
    let ops = Receiver::spawn().await;
    ops.script_for(|b| b["event"] == "Delivery.Recovered", [Reply::Status(500)]);
    ops.script_for(
        |b| b["event"] == "Hook.Disabled",
        [Reply::Status(500), Reply::Status(500)],
    );
    let recovering = Receiver::spawn().await;
    recovering.script([Reply::Status(500)]);
    let exhausted = Receiver::spawn().await;
    exhausted.set_otherwise(Reply::Status(500));
    let gone = Receiver::spawn().await;
    gone.set_otherwise(Reply::Status(410));
    let (unreachable, _) = resetting_listener().await;

    let ops_hook = create(&app, json!({ "name": "ops", "events": OPERATIONAL, "url": ops.url })).await;
    let mut hooks: HashMap<&str, String> = HashMap::new();
    for (name, url) in [
        ("recovering", &recovering.url),
        ("exhausted", &exhausted.url),
        ("gone", &gone.url),
        ("unreachable", &unreachable),
    ] {
        let hook = create(&app, json!({ "name": name, "events": ["User.Created"], "url": url })).await;
        hooks.insert(name, hook["id"].as_str().expect("id").to_owned());
    }
    let event_id = app.emit("User.Created", json!({ "n": 1 })).await;

    // Each hook's delivery, once all four are done.
    let deadline = Instant::now() + Duration::from_secs(30);
    let deliveries: HashMap<String, Value> = loop {
        let deliveries = app.deliveries_of(&event_id).await;
        if deliveries.len() == 4
            && deliveries
                .iter()
                .all(|d| d["status"] == "SUCCEEDED" || d["status"] == "FAILED")
        {
            break deliveries
                .into_iter()
                .map(|d| (d["hookId"].as_str().expect("hookId").to_owned(), d))
                .collect();
        }
        assert!(Instant::now() < deadline, "{deliveries:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivery_id = |name: &str| deliveries[&hooks[name]]["id"].clone();
    assert_eq!(deliveries[&hooks["recovering"]]["status"], "SUCCEEDED");

    let recovered = wait_for_body(&ops, "Delivery.Recovered", |b| {
        b["event"] == "Delivery.Recovered" && b["data"]["hookId"] == hooks["recovering"]
    })
    .await;
    assert_eq!(
        recovered["data"],
        json!({ "deliveryId": delivery_id("recovering"), "hookId": hooks["recovering"], "eventId": event_id,
                "eventType": "User.Created", "attempts": 2 }),
        "{recovered}"
    );

    let exhaustion = |name: &'static str, attempts: u64| {
        let hook = hooks[name].clone();
        move |b: &Value| {
            b["event"] == "Delivery.Exhausted"
                && b["data"]["hookId"] == hook.as_str()
                && b["data"]["attempts"] == attempts
        }
    };
    let failed = wait_for_body(&ops, "Delivery.Exhausted (500)", exhaustion("exhausted", 2)).await;
    let data = &failed["data"];
    assert_eq!(data["deliveryId"], delivery_id("exhausted"), "{failed}");
    assert_eq!(
        (&data["eventId"], &data["eventType"]),
        (&json!(event_id), &json!("User.Created")),
        "{failed}"
    );
    assert_eq!(data["lastResponseStatus"], 500, "{failed}");
    assert!(data["lastError"].is_string(), "{failed}");

    let unanswered = wait_for_body(&ops, "Delivery.Exhausted (no answer)", exhaustion("unreachable", 2)).await;
    let data = &unanswered["data"];
    assert_eq!(data["deliveryId"], delivery_id("unreachable"), "{unanswered}");
    assert!(
        data.get("lastResponseStatus").is_none(),
        "no response, no status: {unanswered}"
    );
    assert!(
        data["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{unanswered}"
    );

    let gone_exhausted = wait_for_body(&ops, "Delivery.Exhausted (410)", exhaustion("gone", 1)).await;
    assert_eq!(
        gone_exhausted["data"]["deliveryId"],
        delivery_id("gone"),
        "{gone_exhausted}"
    );
    assert_eq!(gone_exhausted["data"]["lastResponseStatus"], 410, "{gone_exhausted}");
    let gone_disabled = wait_for_body(&ops, "Hook.Disabled (GONE)", |b| {
        b["event"] == "Hook.Disabled" && b["data"]["id"] == hooks["gone"]
    })
    .await;
    let data = &gone_disabled["data"];
    assert_eq!(data["reason"], "GONE", "{gone_disabled}");
    assert_eq!(
        (&data["name"], &data["url"]),
        (&json!("gone"), &json!(gone.url)),
        "{gone_disabled}"
    );
    let gone_state = hook_state(&app, &json!(hooks["gone"])).await;
    assert_eq!(
        (&gone_state["enabled"], &gone_state["disabledReason"]),
        (&json!(false), &json!("GONE")),
        "{gone_state}"
    );

    // A manual redelivery that fails is exhausted again, with its third attempt.
    let redelivered = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { redeliver(deliveryId: $id) { id } }",
            json!({ "id": delivery_id("exhausted") }),
        )
        .await;
    assert_eq!(redelivered["errors"], Value::Null, "{redelivered}");
    let again = wait_for_body(&ops, "Delivery.Exhausted (redelivered)", exhaustion("exhausted", 3)).await;
    assert_eq!(again["data"]["lastResponseStatus"], 500, "{again}");

    // The ops hook's own failures happened (so the no-loop rule was put to the test) ...
    wait_until_settled(&app, &ops_hook["id"]).await;
    let own = app
        .gql(
            &app.admin(),
            "query($id: ID!) { deliveries(hookId: $id, first: 50) { edges { node { eventType status attemptCount } } } }",
            json!({ "id": ops_hook["id"] }),
        )
        .await;
    let own: Vec<Value> = own["data"]["deliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{own}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert!(
        own.contains(&json!({ "eventType": "Delivery.Recovered", "status": "SUCCEEDED", "attemptCount": 2 })),
        "the ops hook's Delivery.Recovered recovered: {own:?}"
    );
    assert!(
        own.contains(&json!({ "eventType": "Hook.Disabled", "status": "FAILED", "attemptCount": 2 })),
        "the ops hook's Hook.Disabled was exhausted: {own:?}"
    );
    // ... and emitted nothing: every Delivery.* event is about the User.Created deliveries.
    let exhausted_events = stored_events(&app, "Delivery.Exhausted").await;
    let recovered_events = stored_events(&app, "Delivery.Recovered").await;
    assert_eq!(exhausted_events.len(), 4, "{exhausted_events:?}");
    assert_eq!(recovered_events.len(), 1, "{recovered_events:?}");
    for payload in exhausted_events.iter().chain(&recovered_events) {
        assert_eq!(payload["data"]["eventType"], "User.Created", "{payload}");
    }
    assert_eq!(stored_events(&app, "Hook.Disabled").await.len(), 1);
    assert_eq!(
        own.len(),
        6,
        "4 Delivery.Exhausted, 1 Delivery.Recovered, 1 Hook.Disabled: {own:?}"
    );
    let received = ops.received();
    assert!(
        received.iter().all(|r| {
            let body = r.json();
            !body["event"].as_str().unwrap_or_default().starts_with("Delivery.")
                || body["data"]["eventType"] == "User.Created"
        }),
        "a Delivery.* event about an operational delivery reached the ops hook"
    );
    assert_envelopes(&received, &ops_hook["id"]);
}

/// The test settings of [`the_failing_clock_survives_a_restart`], the same before and after.
fn failing_after_2s(raw: &mut RawSettings) {
    raw.allowed_targets = Some("127.0.0.0/8".into());
    raw.delivery_timeout = Some("5s".into());
    raw.retry_schedule = Some("300ms".into());
    raw.disable_after = Some("2s".into());
    raw.disable_min_attempts = Some("2".into());
}

/// A hook's failing clock is stored: one event fails twice (not yet 2 s, so the hook stays
/// on), the server restarts, and once 2 s have passed since `failingSince` the first failed
/// attempt of the next event disables it (FAILING). Had the restart reset the clock, that
/// event's two attempts would fail within 2 s of it and the hook would stay on.
pub(crate) async fn the_failing_clock_survives_a_restart(backend: Backend) {
    let app = TestApp::spawn_with(backend, failing_after_2s).await;
    let receiver = Receiver::spawn().await;
    receiver.set_otherwise(Reply::Status(500));
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let id = hook["id"].clone();
    let emitted_at = chrono::Utc::now();
    let first = app.emit("User.Created", json!({ "n": 1 })).await;
    let failed = app.wait_for_status(&first, "FAILED").await;
    assert_eq!(failed["attemptCount"], 2, "{failed}");
    let before = hook_state(&app, &id).await;
    assert_eq!(
        before["enabled"], true,
        "two failures within 2 s do not disable: {before}"
    );
    let failing_since = time(&before["failingSince"]);
    assert!(
        failing_since >= emitted_at - chrono::Duration::seconds(1) && failing_since <= chrono::Utc::now(),
        "failingSince {failing_since} is not the first failure"
    );
    assert_eq!(app.count_rows_where("hooks", "failed_attempts = 2").await, 1);

    let app = app.restart(failing_after_2s).await;
    let after = hook_state(&app, &id).await;
    assert_eq!(
        after["failingSince"], before["failingSince"],
        "the restart kept the clock"
    );
    assert_eq!(after["enabled"], true, "{after}");
    assert_eq!(app.count_rows_where("hooks", "failed_attempts = 2").await, 1);

    let due = failing_since + chrono::Duration::milliseconds(2300);
    while chrono::Utc::now() < due {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = app.emit("User.Created", json!({ "n": 2 })).await;
    let delivery = wait_for_done(&app, &second).await;
    assert_eq!(
        delivery["attemptCount"], 1,
        "the hook was not disabled at its first failure after the restart (was the clock reset?): {delivery}"
    );
    let state = wait_for_hook(&app, &id, Duration::from_secs(5), |h| h["enabled"] == false).await;
    assert_eq!(state["disabledReason"], "FAILING", "{state}");
    assert_eq!(
        state["failingSince"], before["failingSince"],
        "the same failing run: {state}"
    );
    assert_eq!(receiver.count(), 3);
}

/// Only hookd emits operational events: `emitEvent` with one of their types is refused
/// (BAD_USER_INPUT, field `type`), with or without an idempotency key, and stores nothing,
/// even with a hook subscribed to them.
pub(crate) async fn emit_event_refuses_operational_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(
        &app,
        json!({ "name": "ops", "events": OPERATIONAL, "url": "https://example.com/ops" }),
    )
    .await;
    for event_type in OPERATIONAL {
        let data = json!({ "id": "forged", "reason": "USER" });
        for input in [
            json!({ "type": event_type, "data": data }),
            json!({ "type": event_type, "data": data, "idempotencyKey": format!("forged-{event_type}") }),
        ] {
            let response = app
                .gql(
                    &app.admin(),
                    "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
                    json!({ "input": input }),
                )
                .await;
            assert_eq!(
                first_error(&response),
                (Some("BAD_USER_INPUT"), Some("type")),
                "{input}: {response}"
            );
        }
    }
    assert_eq!(app.count_rows("events").await, 0, "refused emits store nothing");
    assert_eq!(app.count_rows("deliveries").await, 0);
}

/// Switching ordering off lets the deliveries waiting their turn go at once, and switching it
/// back on lines them up again: an ordered hook whose first delivery waits an hour for its
/// retry holds 5 events behind it; `ordered: false` sends those 5 promptly (nothing waits for
/// the poll interval or the retry), and the retry still waits.
pub(crate) async fn switching_ordering_off_releases_the_waiting(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| {
        raw.retry_schedule = Some("1h".into());
        raw.poll_interval = Some("1h".into());
    })
    .await;
    let receiver = Receiver::spawn().await;
    receiver.script_for(|body| body["data"]["n"] == 0, [Reply::Status(500)]);
    let hook = create(
        &app,
        json!({ "name": "ordered", "events": ["User.Created"], "url": receiver.url, "ordered": true }),
    )
    .await;
    for n in 0..6 {
        app.emit("User.Created", json!({ "n": n })).await;
    }
    receiver.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        numbers(&receiver.received()),
        [0],
        "the 5 behind wait for n = 0's retry"
    );
    assert_eq!(count_deliveries(&app, &hook["id"], "PENDING").await, 6);

    let off = update(&app, &hook["id"], json!({ "ordered": false })).await;
    assert_eq!(off["errors"], Value::Null, "{off}");
    let received = receiver.wait_for(6, Duration::from_secs(30)).await;
    let mut behind = numbers(&received)[1..].to_vec();
    behind.sort_unstable();
    assert_eq!(behind, [1, 2, 3, 4, 5], "the waiting ones went at once");
    wait_for_succeeded(&app, &hook["id"], 5).await;
    assert_eq!(
        count_deliveries(&app, &hook["id"], "PENDING").await,
        1,
        "n = 0 still waits for its retry"
    );

    // Back on: what is emitted now waits behind n = 0's retry again.
    let on = update(&app, &hook["id"], json!({ "ordered": true })).await;
    assert_eq!(on["errors"], Value::Null, "{on}");
    app.emit("User.Created", json!({ "n": 6 })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 6, "n = 6 waits its turn behind n = 0");
    assert_eq!(count_deliveries(&app, &hook["id"], "PENDING").await, 2);
}
