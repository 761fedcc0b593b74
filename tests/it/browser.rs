//! The dashboard in headless Chromium, and the reference `graphql-ws` client, both driven by
//! Node.js scripts in `tests/js/` against a real server. They need `npm ci --prefix tests/js`
//! and Debian's `chromium`; `.ci/run` installs both. Without them the tests are skipped, except
//! under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp};

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether the Node.js side is installed; panics under CI when it is not.
pub(crate) fn available(needs_chromium: bool) -> bool {
    let modules = js_dir().join("node_modules").exists();
    let chromium = !needs_chromium || Path::new(&chromium_path()).exists();
    if modules && chromium {
        return true;
    }
    let missing = if modules {
        "chromium (apt-get install chromium)"
    } else {
        "tests/js/node_modules (npm ci --prefix tests/js)"
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {missing} is missing");
    }
    eprintln!("skipped: {missing} is missing");
    false
}

fn chromium_path() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

pub(crate) async fn node(script: &str, args: &[&str]) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(js_dir().join(script))
            .args(args)
            .env("CHROMIUM", chromium_path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("node script finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_graphql_ws_client_receives_updates() {
    if !available(false) {
        return;
    }
    let app = TestApp::delivering(Backend::Sqlite, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let stdout = node("protocol.mjs", &[&app.base_url, &app.admin()]).await;
    let updates: serde_json::Value = serde_json::from_str(stdout.trim()).expect("updates JSON");
    let statuses: Vec<&str> = updates
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses.last(), Some(&"SUCCEEDED"), "{updates}");
    assert!(
        statuses.contains(&"PENDING") && statuses.contains(&"SENDING"),
        "{updates}"
    );
}

/// The dashboard as an operator uses it, against receivers answering 200, 500 and slowly: the
/// live feed, a delivery's request and response, filters and paging, creating, editing,
/// rotating, testing and deleting a hook, replaying, the chart, partial permissions, the
/// keyboard, signing out, and screenshots in the dark scheme and at 390 px under `target/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_serves_an_operator() {
    if !available(true) {
        return;
    }
    // The tenant comes from a claim the operator named: the dashboard must say "acme".
    let app = TestApp::delivering(Backend::Sqlite, |raw| raw.tenant_claim = Some("org_id".into())).await;
    let admin = app.token("admin", "acme");
    let ok = Receiver::spawn().await;
    let failing = Receiver::spawn().await;
    failing.set_otherwise(Reply::Body(500, b"broken: database down"));
    let slow = Receiver::spawn().await;
    slow.set_delay(Duration::from_millis(1500));
    let ok_hook = app
        .create_hook_for(&admin, "orders", &ok.url, &["User.Created", "User.Deleted"])
        .await;
    let failing_hook = app
        .create_hook_for(&admin, "billing", &failing.url, &["User.Created"])
        .await;
    let slow_hook = app.create_hook_for(&admin, "crm", &slow.url, &["Role.Created"]).await;
    let emit = |event: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let response = app
                .gql(
                    admin,
                    "mutation($type: String!) { emitEvent(input: { type: $type, data: { id: \"seed\" } }) { id } }",
                    json!({ "type": event }),
                )
                .await;
            assert_eq!(response["errors"], serde_json::Value::Null, "{response}");
        }
    };
    // 30 events to two hooks: 60 deliveries, more than two pages of 25.
    for _ in 0..30 {
        emit("User.Created").await;
    }
    for _ in 0..2 {
        emit("Role.Created").await;
    }
    ok.wait_for(30, Duration::from_secs(60)).await;
    slow.wait_for(2, Duration::from_secs(60)).await;

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let setup = json!({
        "base": app.base_url,
        "admin": admin,
        "hooksOnly": app.token("hooks:read", "acme"),
        "deliveriesOnly": app.token("deliveries:read", "acme"),
        "hooks": { "ok": ok_hook["id"], "failing": failing_hook["id"], "slow": slow_hook["id"] },
        "receiver": ok.url,
        "screenshots": shots.display().to_string(),
    });
    let stdout = node("dashboard.mjs", &[&setup.to_string()]).await;
    eprintln!("{stdout}");
    for shot in [
        "dark.png",
        "dark-delivery.png",
        "narrow.png",
        "narrow-delivery.png",
        "light-hook.png",
    ] {
        assert!(
            shots.join(shot).exists(),
            "screenshot {shot} saved under {}",
            shots.display()
        );
    }
    // What the browser did went through the API and changed the store.
    let hooks = app
        .gql(&admin, "{ hooks { edges { node { name } } } }", json!({}))
        .await;
    let names: Vec<&str> = hooks["data"]["hooks"]["edges"]
        .as_array()
        .expect("hooks")
        .iter()
        .filter_map(|e| e["node"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["orders", "billing", "crm"],
        "the hook made in the browser was deleted"
    );
    let replayed = app
        .gql(
            &admin,
            "query($id: ID!) { deliveries(hookId: $id, first: 100) { edges { node { attempts { trigger } } } } }",
            json!({ "id": failing_hook["id"] }),
        )
        .await;
    assert!(
        replayed.to_string().contains("MANUAL"),
        "redeliver made a manual attempt: {replayed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_with_the_internet_blocked() {
    if !available(true) {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let stdout = node("graphiql.mjs", &[&app.base_url, &app.admin()]).await;
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
}
