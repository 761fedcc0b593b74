//! Traces over OTLP: the real binary exports to a local OTLP/HTTP collector (the JSON encoding,
//! read here as a collector would), and one event's path from the caller's `traceparent`
//! through the GraphQL operation and the outbox to the attempt and its receiver is one trace.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::receiver::Receiver;
use crate::support::{TEST_SECRET, hookd_binary, post_graphql, read_banner};

/// A caller's trace: its trace id and the caller's span.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector on loopback that keeps every exported span.
async fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let export: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                let mut kept = kept.lock().expect("lock");
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        kept.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let value = &span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"];
    value.as_object()?.values().next()
}

/// A `emitEvent` sent with a `traceparent` is delivered with a `traceparent` of the same trace;
/// after SIGTERM the collector holds that trace: the GraphQL operation (a child of the
/// caller's span), the attempt (hook, event type, status, duration; the parent of what the
/// receiver got), and the recorder's span linking to the attempt; claims and group commits
/// have spans too.
#[tokio::test]
async fn an_events_path_is_one_trace_from_the_caller_to_the_receiver() {
    let (endpoint, spans) = collector().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = hookd_binary()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKD_DATA_DIR", dir.path())
        .env("HOOKD_JWT_SECRET", TEST_SECRET)
        .env("HOOKD_ALLOWED_TARGETS", "127.0.0.0/8")
        .env("HOOKD_OTLP_ENDPOINT", &endpoint)
        .env("HOOKD_OTLP_PROTOCOL", "http/json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hookd");
    let base = read_banner(&mut child).await.base;

    let token = crate::crash::admin_token();
    let receiver = Receiver::spawn().await;
    let hook = post_graphql(
        &base,
        &token,
        "mutation($url: String!) { createHook(input: { name: \"traced\", events: [\"User.Created\"], url: $url }) { id } }",
        json!({ "url": receiver.url }),
    )
    .await;
    let hook_id = hook["data"]["createHook"]["id"].as_str().expect("hook id").to_owned();
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({ "query": "mutation Signup { emitEvent(input: { type: \"User.Created\", data: {} }) { id } }" }))
        .send()
        .await
        .expect("emit")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(response["errors"], Value::Null, "{response}");
    // An identity mutation's event is claimed rather than handed over: a claim span.
    let user = post_graphql(
        &base,
        &token,
        "mutation { createUser(input: { username: \"ada\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(user["errors"], Value::Null, "{user}");
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    let traced = received
        .iter()
        .find(|r| r.header("traceparent").contains(TRACE_ID))
        .expect("the emitted event's delivery carries the caller's trace");
    let sent: Vec<&str> = traced.header("traceparent").split('-').collect();
    assert_eq!(sent.len(), 4, "a W3C traceparent: {sent:?}");
    let attempt_span = sent[2].to_owned();
    assert_ne!(
        attempt_span, CALLER_SPAN,
        "the receiver's parent is hookd's attempt span"
    );

    // SIGTERM: hookd stops, and exports what it still holds.
    let pid = child.id().expect("pid").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits in time")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");

    let spans = spans.lock().expect("lock").clone();
    let named = |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let in_trace: Vec<&Value> = spans.iter().filter(|s| s["traceId"] == TRACE_ID).collect();
    let operation = in_trace
        .iter()
        .find(|s| s["name"] == "graphql Signup")
        .unwrap_or_else(|| panic!("the GraphQL operation is in the caller's trace: {in_trace:?}"));
    assert_eq!(operation["parentSpanId"], CALLER_SPAN, "{operation}");
    assert_eq!(attribute(operation, "graphql.operation.type"), Some(&json!("mutation")));
    let attempt = in_trace
        .iter()
        .find(|s| s["name"] == "delivery.attempt")
        .unwrap_or_else(|| panic!("the attempt is in the caller's trace: {in_trace:?}"));
    assert_eq!(
        attempt["spanId"],
        attempt_span.as_str(),
        "the receiver got the attempt's context"
    );
    assert_eq!(
        attempt["parentSpanId"], operation["spanId"],
        "the attempt continues the operation"
    );
    assert_eq!(attribute(attempt, "hook.id"), Some(&json!(hook_id)));
    assert_eq!(attribute(attempt, "event.type"), Some(&json!("User.Created")));
    let status = attribute(attempt, "http.response.status_code").expect("status");
    assert!(status == &json!("200") || status == &json!(200), "{attempt}");
    assert!(attribute(attempt, "duration_ms").is_some(), "{attempt}");
    let recorded = named("recorder.write").into_iter().any(|s| {
        s["links"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["spanId"] == attempt_span.as_str())
    });
    assert!(
        recorded,
        "a recorder span links to the attempt: {:?}",
        named("recorder.write")
    );
    assert!(!named("dispatcher.claim").is_empty(), "claims have spans");
    assert!(!named("outbox.emit").is_empty(), "the outbox write has spans");
    // The user's event: its own trace, from its operation through the outbox to its attempt.
    let user_attempt = named("delivery.attempt")
        .into_iter()
        .find(|s| s["traceId"] != TRACE_ID)
        .expect("the identity event's attempt");
    let user_trace: Vec<&str> = spans
        .iter()
        .filter(|s| s["traceId"] == user_attempt["traceId"])
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(user_trace.contains(&"graphql mutation"), "{user_trace:?}");
    assert!(user_trace.contains(&"outbox.emit"), "{user_trace:?}");
}
