//! SSRF guard (SPEC §5.6): internal targets are refused before any connection is made.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::receiver::counting_listener;
use crate::support::{Backend, TestApp, first_error};

db_test!(internal_targets_are_refused_without_a_connection);

async fn internal_targets_are_refused_without_a_connection(backend: Backend) {
    // No HOOKD_ALLOWED_TARGETS: loopback is as forbidden as any internal address.
    let app = TestApp::spawn_with(backend, |raw| raw.retry_schedule = Some("10ms".into())).await;
    let (port, accepted) = counting_listener("127.0.0.1:0").await;
    let hook = app
        .create_hook(&app.admin(), "public", "https://hooks.example.invalid/")
        .await;

    // Loopback in every spelling first: these would reach our listener if the guard failed.
    let loopback = [
        format!("http://localhost:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ];
    // Then the other internal ranges (never contacted either way: the guard runs first).
    let internal = [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
    ];
    for url in loopback.iter().map(String::as_str).chain(internal) {
        let response = app
            .gql(
                &app.admin(),
                "mutation($id: ID!, $url: String) { testHook(id: $id, events: [\"User.Created\"], url: $url) { ok responseStatus error durationMs } }",
                json!({ "id": hook["id"], "url": url }),
            )
            .await;
        let result = &response["data"]["testHook"][0];
        assert_eq!(result["ok"], false, "{url}: {response}");
        assert_eq!(result["responseStatus"], Value::Null, "{url}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains("not allowed"), "{url}: {error}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection reached the listener");

    // Saving a hook with an internal IP literal is refused at once.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://169.254.169.254/".to_owned(),
    ] {
        let response = app
            .gql(
                &app.admin(),
                "mutation($url: String!) { createHook(input: { name: \"x\", events: [\"User.Created\"], url: $url }) { id } }",
                json!({ "url": url }),
            )
            .await;
        assert_eq!(first_error(&response), (Some("BAD_USER_INPUT"), Some("url")), "{url}");
    }

    // A host name is checked when delivering: a real delivery to `localhost` fails, unsent.
    // (The first hook is disabled so that nothing tries to resolve its public name.)
    app.gql(
        &app.admin(),
        "mutation($id: ID!) { updateHook(id: $id, input: { enabled: false }) { id } }",
        json!({ "id": hook["id"] }),
    )
    .await;
    let named = app
        .create_hook(&app.admin(), "named", &format!("http://localhost:{port}/hook"))
        .await;
    assert!(named["id"].is_string());
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "FAILED").await;
    assert_eq!(delivery["attemptCount"], 2, "{delivery}");
    let error = delivery["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not allowed") && error.contains("localhost"), "{error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "still no connection");
}
