//! Delivery policy on a hook: payload filters (JSONPath at emit time) and Ed25519 signatures,
//! through the API, real receivers and, for signatures, Node's own crypto.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::browser;
use crate::db_test;
use crate::receiver::{Received, Receiver};
use crate::support::{Backend, TestApp, error_code, first_error};

db_test!(
    a_filter_decides_at_emit_time,
    invalid_filters_are_refused_and_change_nothing,
    ed25519_signatures_verify_with_node,
);

const ACME: &str = r"$[?match(@.primaryEmail, '.*@acme\\.com')]";

const HOOK_FIELDS: &str = "id filter signingScheme publicKey signingKey previousSigningKeys { key expiresAt }";

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
