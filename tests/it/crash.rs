//! Crash safety and graceful shutdown with the real `hookd` binary as a child process.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::db_test;
use crate::receiver::Receiver;
use crate::support::{Backend, TEST_SECRET, fresh_database, hookd_binary, post_graphql, read_banner};

db_test!(kill_9_loses_nothing, sigterm_finishes_attempts_in_flight);

const EVENTS: usize = 2000;

pub struct Instance {
    pub child: Child,
    pub base: String,
}

async fn start(database_url: &str, data_dir: &std::path::Path) -> Instance {
    start_with(database_url, data_dir, &[]).await
}

/// Starts the real `hookd` binary on `database_url` with the crash tests' settings, then `env`.
pub async fn start_with(database_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Instance {
    let mut child = hookd_binary()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKD_DATABASE_URL", database_url)
        .env("HOOKD_DATA_DIR", data_dir)
        .env("HOOKD_JWT_SECRET", TEST_SECRET)
        .env("HOOKD_ALLOWED_TARGETS", "127.0.0.0/8")
        // A short timeout makes the lease (2 × timeout + 5 s) short: 7 s.
        .env("HOOKD_DELIVERY_TIMEOUT", "1s")
        .env("HOOKD_RETRY_SCHEDULE", "100ms,100ms,100ms")
        .env("HOOKD_MAX_IN_FLIGHT", "32")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hookd");
    let base = read_banner(&mut child).await.base;
    Instance { child, base }
}

pub fn admin_token() -> String {
    token("admin")
}

/// A token for tenant `default` with these space-separated scopes.
pub fn token(scopes: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": "crash-test", "scope": scopes, "exp": now + 3600 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("token")
}

pub async fn gql(base: &str, query: &str, variables: Value) -> Value {
    post_graphql(base, &admin_token(), query, variables).await
}

pub async fn create_hook(base: &str, url: &str) -> String {
    let response = gql(
        base,
        "mutation($url: String!) { createHook(input: { name: \"crash\", events: [\"User.Created\"], url: $url }) { id } }",
        json!({ "url": url }),
    )
    .await;
    response["data"]["createHook"]["id"]
        .as_str()
        .expect("hook id")
        .to_owned()
}

/// Emits `count` events, 50 per request.
pub async fn emit_many(base: &str, count: usize) {
    for batch in 0..count.div_ceil(50) {
        let n = 50.min(count - batch * 50);
        let fields: String = (0..n)
            .map(|i| {
                format!(
                    "e{i}: emitEvent(input: {{ type: \"User.Created\", data: {{ batch: {batch}, i: {i} }} }}) {{ id }} "
                )
            })
            .collect();
        let response = gql(base, &format!("mutation {{ {fields} }}"), json!({})).await;
        assert_eq!(response["errors"], Value::Null, "{response}");
    }
}

/// Waits until `count` deliveries have SUCCEEDED, as `instance` reads the store.
pub async fn wait_for_succeeded(instance: &Instance, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = gql(
            &instance.base,
            "{ deliveries(status: SUCCEEDED) { totalCount } }",
            json!({}),
        )
        .await;
        if done["data"]["deliveries"]["totalCount"] == count {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{done}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn kill_9_loses_nothing(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = fresh_database(backend, &dir).await;
    let receiver = Receiver::spawn().await;
    // Slow answers keep deliveries in flight when the process dies, and a backlog waiting
    // however slowly the emits go on a busy machine (32 in flight at 300 ms: ~100/s).
    receiver.set_delay(Duration::from_millis(300));

    let first = start(&database_url, dir.path()).await;
    // On PostgreSQL a second instance shares the database and the work from the start.
    let second = match backend {
        Backend::Postgres => Some(start(&database_url, dir.path()).await),
        Backend::Sqlite => None,
    };
    let hooks = [
        create_hook(&first.base, &receiver.url).await,
        create_hook(&first.base, &receiver.url).await,
    ];
    // SQLite: emit everything, then kill while the backlog drains. PostgreSQL: the surviving
    // instance keeps emitting while the other one is killed.
    let emitter = match &second {
        Some(second) => {
            let base = second.base.clone();
            Some(tokio::spawn(async move { emit_many(&base, EVENTS).await }))
        }
        None => {
            emit_many(&first.base, EVENTS).await;
            None
        }
    };
    let total = EVENTS * hooks.len();

    // Kill -9 while deliveries are in flight, then start again on the same database.
    receiver.wait_for(total / 8, Duration::from_secs(120)).await;
    let mut first = first;
    first.child.kill().await.expect("SIGKILL");
    let in_flight_at_kill = total.saturating_sub(receiver.count());
    assert!(
        in_flight_at_kill > 0,
        "the kill came after everything was delivered; the test proves nothing"
    );
    // The rest may drain quickly.
    receiver.set_delay(Duration::from_millis(20));
    let restarted = start(&database_url, dir.path()).await;
    if let Some(emitter) = emitter {
        emitter.await.expect("emitter");
    }

    // Every (event, hook) pair arrives at least once, with a stable webhook-id.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let pairs = loop {
        let mut pairs: HashMap<(String, String), Vec<String>> = HashMap::new();
        for request in receiver.received() {
            let body = request.json();
            let key = (
                body["eventId"].as_str().expect("eventId").to_owned(),
                body["hookId"].as_str().expect("hookId").to_owned(),
            );
            pairs
                .entry(key)
                .or_default()
                .push(request.header("webhook-id").to_owned());
        }
        if pairs.len() == total {
            break pairs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {total} (event, hook) pairs arrived",
            pairs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for ((event, hook), ids) in &pairs {
        assert!(hooks.contains(hook));
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "webhook-id changed for ({event}, {hook}): {ids:?}"
        );
    }
    assert_eq!(receiver.overlaps(), 0, "a delivery was sent by two processes at once");
    let resent = receiver.count() - total;
    eprintln!("kill -9 with {in_flight_at_kill} undelivered: all {total} arrived, {resent} sent twice (at least once)");

    // And the store agrees: nothing left to do.
    wait_for_succeeded(&restarted, total).await;
    drop(second);
}

async fn sigterm_finishes_attempts_in_flight(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = fresh_database(backend, &dir).await;
    let receiver = Receiver::spawn().await;
    receiver.set_delay(Duration::from_millis(500));
    let mut instance = start(&database_url, dir.path()).await;
    create_hook(&instance.base, &receiver.url).await;
    emit_many(&instance.base, 1).await;
    receiver.wait_for(1, Duration::from_secs(30)).await;

    // SIGTERM while the receiver is still answering: the attempt finishes and is recorded.
    let pid = instance.child.id().expect("pid").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), instance.child.wait())
        .await
        .expect("exits in time")
        .expect("exit status");
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");

    let again = start(&database_url, dir.path()).await;
    let deliveries = gql(
        &again.base,
        "{ deliveries { edges { node { status attemptCount } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        deliveries["data"]["deliveries"]["edges"],
        json!([{ "node": { "status": "SUCCEEDED", "attemptCount": 1 } }]),
        "the attempt in flight at SIGTERM was finished and stored"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1, "and not sent again");
}
