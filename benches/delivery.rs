//! End-to-end delivery benchmark: a real hookd (SQLite, in this process) delivering to a local
//! receiver that answers 200 at once. Prints deliveries per second, emit → arrival latency, and
//! how the emit rate holds up as the delivery history grows.
//!
//! `cargo bench --bench delivery` (add `-- --quick` for a shorter run).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use hookd::auth::Scope;
use hookd::config::{Config, RawSettings};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const EMITTERS: usize = 16;

#[derive(Default)]
struct Arrivals {
    count: AtomicUsize,
    at: Mutex<HashMap<String, Instant>>,
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
        && let Some(Value::String(id)) = map.get("eventId")
    {
        arrivals.at.lock().expect("lock").entry(id.clone()).or_insert(now);
    }
    arrivals.count.fetch_add(1, Ordering::SeqCst);
    "ok"
}

struct Bench {
    base: String,
    token: String,
    client: reqwest::Client,
    arrivals: Arc<Arrivals>,
    receiver_url: String,
    db: hookd::db::Db,
    _shutdown: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start() -> Bench {
        let arrivals = Arc::new(Arrivals::default());
        let router = axum::Router::new().fallback(receive).with_state(arrivals.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receiver_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });

        let dir = tempfile::tempdir().expect("tempdir");
        let raw = RawSettings {
            data_dir: Some(dir.path().display().to_string()),
            allowed_targets: Some("127.0.0.0/8".into()),
            ..RawSettings::default()
        };
        let app = hookd::start(Config::from_raw(raw).expect("config"))
            .await
            .expect("start");
        let token = app
            .state()
            .auth
            .mint(&[Scope::Admin], "default", Duration::from_secs(3600), "bench")
            .expect("token");
        let db = app.state().db.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        tokio::spawn(app.serve(listener, shutdown.clone()));
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        Bench {
            base,
            token,
            client,
            arrivals,
            receiver_url,
            db,
            _shutdown: shutdown.drop_guard(),
            _dir: dir,
        }
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    async fn hooks(&self, n: usize) {
        for _ in 0..n {
            let r = self
                .gql(
                    "mutation($url: String!) { createHook(input: { name: \"bench\", events: [\"User.Created\"], url: $url }) { id } }",
                    json!({ "url": self.receiver_url }),
                )
                .await;
            assert!(r["errors"].is_null(), "{r}");
        }
    }

    async fn emit(&self) -> String {
        let r = self
            .gql(
                "mutation { emitEvent(input: { type: \"User.Created\", data: { id: \"u\" } }) { id } }",
                json!({}),
            )
            .await;
        r["data"]["emitEvent"]["id"].as_str().expect("id").to_owned()
    }

    async fn wait_for(&self, total: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.arrivals.count.load(Ordering::SeqCst) < total {
            assert!(
                Instant::now() < deadline,
                "only {} of {total} arrived",
                self.arrivals.count.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// `events` emitted by 16 concurrent emitters to `hooks` hooks: deliveries per second.
async fn throughput(hooks: usize, events: usize) {
    let bench = Arc::new(Bench::start().await);
    bench.hooks(hooks).await;
    let started = Instant::now();
    let mut emitters = Vec::new();
    for e in 0..EMITTERS {
        let bench = bench.clone();
        let share = events / EMITTERS + usize::from(e < events % EMITTERS);
        emitters.push(tokio::spawn(async move {
            for _ in 0..share {
                bench.emit().await;
            }
        }));
    }
    for emitter in emitters {
        emitter.await.expect("emitter");
    }
    let emitted = started.elapsed();
    let total = hooks * events;
    bench.wait_for(total, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    println!(
        "{hooks:>2} hook(s), {events} events, {EMITTERS} emitters: {total} deliveries in {:.2}s = {:.0} deliveries/s ({:.0} emits/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        events as f64 / emitted.as_secs_f64(),
    );
}

/// Stores `n` finished deliveries of one event each for the tenant, as months of history
/// would, straight into the tables (in chunks, so no statement's parameters grow with `n`).
async fn seed_history(db: &hookd::db::Db, hook_id: &str, n: usize) {
    use entity::delivery::{DeliveryStatus, Trigger};
    use sea_orm::{EntityTrait, Set};
    const CHUNK: usize = 1_000;
    let mut done = 0;
    while done < n {
        let size = CHUNK.min(n - done);
        let ids: Vec<String> = (0..size).map(|_| uuid::Uuid::now_v7().simple().to_string()).collect();
        let events = ids.iter().map(|id| entity::event::ActiveModel {
            id: Set(id.clone()),
            tenant_id: Set("default".into()),
            event_type: Set("User.Created".into()),
            payload: Set(r#"{"event":"User.Created","data":{"id":"u"}}"#.into()),
            idempotency_key: Set(None),
            created_at: Set(0),
        });
        entity::event::Entity::insert_many(events)
            .exec(&db.write)
            .await
            .expect("events");
        let deliveries = ids.iter().map(|event_id| entity::delivery::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            tenant_id: Set("default".into()),
            event_id: Set(event_id.clone()),
            hook_id: Set(hook_id.to_owned()),
            event_type: Set("User.Created".into()),
            status: Set(DeliveryStatus::Succeeded),
            attempt_count: Set(1),
            round_attempts: Set(1),
            next_trigger: Set(Trigger::Scheduled),
            due_at: Set(None),
            created_at: Set(0),
            updated_at: Set(0),
        });
        entity::delivery::Entity::insert_many(deliveries)
            .exec(&db.write)
            .await
            .expect("deliveries");
        done += size;
    }
}

/// `emitEvent { id deliveries { id } }`, then `event(id) { deliveries { id } }`, from 16
/// emitters with `stored` deliveries already in the tenant's history: emit-and-read pairs per
/// second. A query that scans the history shows as a rate that falls as `stored` grows.
async fn emits_with_history(stored: usize, events: usize) -> f64 {
    let bench = Arc::new(Bench::start().await);
    bench.hooks(1).await;
    let hooks = bench.gql("{ hooks { edges { node { id } } } }", json!({})).await;
    let hook_id = hooks["data"]["hooks"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("hook id")
        .to_owned();
    seed_history(&bench.db, &hook_id, stored).await;
    let started = Instant::now();
    let mut emitters = Vec::new();
    for e in 0..EMITTERS {
        let bench = bench.clone();
        let share = events / EMITTERS + usize::from(e < events % EMITTERS);
        emitters.push(tokio::spawn(async move {
            for _ in 0..share {
                let r = bench
                    .gql(
                        "mutation { emitEvent(input: { type: \"User.Created\", data: { id: \"u\" } }) { id deliveries { id } } }",
                        json!({}),
                    )
                    .await;
                assert!(r["errors"].is_null(), "{r}");
                let id = r["data"]["emitEvent"]["id"].clone();
                let r = bench.gql("query($id: ID!) { event(id: $id) { deliveries { id } } }", json!({ "id": id })).await;
                assert_eq!(r["data"]["event"]["deliveries"].as_array().map(Vec::len), Some(1), "{r}");
            }
        }));
    }
    for emitter in emitters {
        emitter.await.expect("emitter");
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    println!("emitEvent + Event.deliveries with {stored} stored deliveries: {rate:.0} pairs/s");
    rate
}

/// One emit at a time on an idle server: emit request start → arrival at the receiver.
async fn latency(samples: usize) {
    let bench = Bench::start().await;
    bench.hooks(1).await;
    let mut started = HashMap::new();
    for i in 0..samples {
        let at = Instant::now();
        let id = bench.emit().await;
        started.insert(id, at);
        bench.wait_for(i + 1, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrivals = bench.arrivals.at.lock().expect("lock");
    let mut latencies: Vec<Duration> = started.iter().map(|(id, at)| arrivals[id] - *at).collect();
    latencies.sort();
    let pick = |p: f64| latencies[((p * latencies.len() as f64).ceil() as usize).saturating_sub(1)];
    println!(
        "idle emit → arrival over {samples} events: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pick(0.50).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let scale = if quick { 1 } else { 4 };
        latency(100 * scale).await;
        throughput(1, 5_000 * scale).await;
        throughput(10, 1_000 * scale).await;
        let small = emits_with_history(10_000, 1_000 * scale).await;
        let large = emits_with_history(if quick { 200_000 } else { 1_000_000 }, 1_000 * scale).await;
        println!("emit rate, large history / small history: {:.2}", large / small);
    });
}
