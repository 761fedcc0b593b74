//! What hookd writes to its log, read from the real binary's stderr (JSON lines): one WARN line
//! per failed attempt, at most one per hook every 10 s, with what an on-call engineer needs;
//! an INFO line when the server is ready; and, even at TRACE, no secret in any line.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Reply};
use crate::support::{hookd_binary, post_graphql, read_banner};

const PASSWORD: &str = "correct horse battery staple";

/// A dead endpoint makes 60 failed attempts within a few seconds: they make one WARN line (two
/// if the run crosses the 10 s window), naming the hook, the delivery, the status and the class
/// of the error. Nothing hookd holds secret (the JWT secret, the master key, a hook's signing
/// keys, the printed admin token, a user's password) appears in any line, at TRACE.
#[tokio::test]
async fn failed_attempts_are_logged_once_per_hook_and_no_line_holds_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("hookd.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = hookd_binary()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKD_DATA_DIR", dir.path().join("data"))
        .env("HOOKD_ALLOWED_TARGETS", "127.0.0.0/8")
        .env("HOOKD_RETRY_SCHEDULE", "50ms,50ms")
        .env("HOOKD_LOG_FORMAT", "json")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn hookd");
    let banner = read_banner(&mut child).await;
    let base = banner.base;
    let token = banner.token.expect("a first start prints the admin token");

    let dead = Receiver::spawn().await;
    dead.set_otherwise(Reply::Status(500));
    let created = post_graphql(
        &base,
        &token,
        "mutation($url: String!) { createHook(input: { name: \"dead\", events: [\"User.Created\"], url: $url, \
         signingScheme: HMAC_AND_ED25519 }) { id signingKey } }",
        json!({ "url": dead.url }),
    )
    .await;
    let hook = &created["data"]["createHook"];
    let hook_id = hook["id"].as_str().expect("hook id").to_owned();
    let signing_key = hook["signingKey"].as_str().expect("signing key").to_owned();
    let user = post_graphql(
        &base,
        &token,
        "mutation($password: String!) { createUser(input: { username: \"ada\", password: $password }) { id } }",
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(user["errors"], Value::Null, "{user}");
    for _ in 0..19 {
        let emitted = post_graphql(
            &base,
            &token,
            "mutation { emitEvent(input: { type: \"User.Created\", data: {} }) { id } }",
            json!({}),
        )
        .await;
        assert_eq!(emitted["errors"], Value::Null, "{emitted}");
    }
    // 20 events (the user's and 19 emitted), 3 attempts each.
    dead.wait_for(60, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().await.expect("kill");
    let text = std::fs::read_to_string(&log_path).expect("log");

    let entries: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(entries.len() > 100, "TRACE logs a lot: {} lines", entries.len());
    let ready = entries
        .iter()
        .find(|e| e["fields"]["message"] == "ready")
        .expect("a ready line");
    assert_eq!(ready["level"], "INFO", "{ready}");
    assert_eq!(ready["fields"]["address"], base.as_str(), "{ready}");

    let failed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "delivery attempt failed")
        .collect();
    assert!(
        !failed.is_empty() && failed.len() <= 2,
        "60 failures of one hook within seconds make one line (two across a window): {failed:?}"
    );
    let line = failed[0];
    assert_eq!(line["level"], "WARN", "{line}");
    let fields = &line["fields"];
    assert_eq!(fields["hook_id"], hook_id.as_str(), "{line}");
    assert_eq!(fields["status"], 500, "{line}");
    assert_eq!(fields["error_class"], "status", "{line}");
    assert_eq!(fields["event_type"], "User.Created", "{line}");
    assert!(
        fields["delivery_id"].as_str().is_some_and(|id| id.len() == 32),
        "{line}"
    );
    if let Some(second) = failed.get(1) {
        assert!(second["fields"]["suppressed"].as_u64() > Some(0), "{second}");
    }

    let data = dir.path().join("data");
    let secrets = [
        (
            "the JWT secret",
            std::fs::read_to_string(data.join("jwt-secret")).expect("jwt-secret"),
        ),
        (
            "the master key",
            std::fs::read_to_string(data.join("master-key")).expect("master-key"),
        ),
        ("the signing key", signing_key.clone()),
        (
            "the signing key's secret",
            signing_key.trim_start_matches("whsec_").to_owned(),
        ),
        ("the admin token", token.clone()),
        ("a password", PASSWORD.to_owned()),
    ];
    for (what, secret) in secrets {
        let secret = secret.trim();
        assert!(secret.len() >= 16, "{what} is long enough to search for");
        assert!(!text.contains(secret), "{what} appears in the log");
    }
    assert!(!text.contains("whsk_"), "an Ed25519 private key appears in the log");
}
