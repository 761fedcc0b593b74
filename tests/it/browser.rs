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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_deliveries_live() {
    if !available(true) {
        return;
    }
    let app = TestApp::delivering(Backend::Sqlite, |raw| raw.retry_schedule = Some("10ms".into())).await;
    let ok = Receiver::spawn().await;
    let failing = Receiver::spawn().await;
    failing.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let ok_hook = app.hook_to(&ok.url, &["User.Created"]).await;
    let failing_hook = app.hook_to(&failing.url, &["User.Created"]).await;
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    let stdout = node(
        "dashboard.mjs",
        &[
            &app.base_url,
            &app.admin(),
            ok_hook["id"].as_str().expect("id"),
            failing_hook["id"].as_str().expect("id"),
            &screenshot.display().to_string(),
        ],
    )
    .await;
    eprintln!("{stdout}");
    assert!(screenshot.exists(), "screenshot saved at {}", screenshot.display());
    // What the browser did went through the API: a manual redelivery exists.
    let manual = app
        .gql(
            &app.admin(),
            "{ deliveries(status: FAILED) { edges { node { attempts { trigger } } } } }",
            json!({}),
        )
        .await;
    assert!(manual.to_string().contains("MANUAL"), "{manual}");
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
