//! End-to-end delivery benchmark. The real `hookd` binary runs as a child process (so its CPU
//! time and peak memory are its own), on SQLite and, when `HOOKD_TEST_POSTGRES_URL` is set, on
//! PostgreSQL. This process is the load generator (16 keep-alive GraphQL clients calling
//! `emitEvent` with a 1 KB payload) and the receiver (answers 200 at once). Prints each
//! scenario as it runs, then one table.
//!
//! `cargo bench --bench delivery` (add `-- --quick` for a shorter run, and any other word to
//! run only the scenarios whose name contains it: `wire`, `idle`, `load`, `history`, `backlog`,
//! `scale`: 1, 2 and 3 instances on one PostgreSQL, with the relay's latency).
//! `HOOKD_BENCH_BIN=path` runs another build of hookd instead of this one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const EMITTERS: usize = 16;
const SECRET: &str = "bench-secret-0123456789-0123456789-abcdef";
/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: u64 = 100;

// ---------------------------------------------------------------------------------------------
// The receiver

#[derive(Default)]
struct Arrivals {
    count: AtomicUsize,
    /// Each arrival: the event id and when it came.
    at: Mutex<Vec<(String, Instant)>>,
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
        && let Some(Value::String(id)) = map.get("eventId")
    {
        arrivals.at.lock().expect("lock").push((id.clone(), now));
    }
    arrivals.count.fetch_add(1, Ordering::SeqCst);
    "ok"
}

struct Receiver {
    url: String,
    arrivals: Arc<Arrivals>,
}

impl Receiver {
    async fn start() -> Receiver {
        let arrivals = Arc::new(Arrivals::default());
        let router = axum::Router::new().fallback(receive).with_state(arrivals.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, arrivals }
    }

    async fn wait_for(&self, total: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.arrivals.count.load(Ordering::SeqCst) < total {
            let arrived = self.arrivals.count.load(Ordering::SeqCst);
            assert!(Instant::now() < deadline, "only {arrived} of {total} arrived");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Emit start → arrival of every delivery of the events in `started`.
    fn latencies(&self, started: &HashMap<String, Instant>) -> Latencies {
        let arrivals = self.arrivals.at.lock().expect("lock");
        let mut all: Vec<Duration> = arrivals
            .iter()
            .filter_map(|(id, at)| started.get(id).map(|s| *at - *s))
            .collect();
        all.sort();
        Latencies(all)
    }
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn ms(&self, p: f64) -> f64 {
        let i = ((p * self.0.len() as f64).ceil() as usize).saturating_sub(1);
        self.0.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }

    fn show(&self) -> String {
        format!("{:.1} / {:.1} / {:.1} ms", self.ms(0.50), self.ms(0.95), self.ms(0.99))
    }
}

// ---------------------------------------------------------------------------------------------
// hookd, a child process

struct Hookd {
    child: Child,
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Hookd {
    async fn start(database_url: &str, data_dir: &Path) -> Hookd {
        let mut command = Command::new(binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("HOOKD_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("HOOKD_DATABASE_URL", database_url)
            .env("HOOKD_DATA_DIR", data_dir)
            .env("HOOKD_JWT_SECRET", SECRET)
            .env("HOOKD_ALLOWED_TARGETS", "127.0.0.0/8")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn hookd");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read") {
                if let Some(base) = line.split(" listening on ").nth(1) {
                    return base.to_owned();
                }
            }
            panic!("hookd exited before listening");
        })
        .await
        .expect("hookd starts in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        Hookd {
            child,
            base,
            client,
            token: token(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// CPU time (user + system) the process has used so far.
    fn cpu(&self) -> Duration {
        process_cpu(self.pid()).expect("hookd's /proc stat")
    }

    /// Peak resident memory so far, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024.0
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        let r: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert!(r["errors"].is_null(), "{r}");
        r
    }

    async fn hooks(&self, n: usize, url: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let r = self
                .gql(
                    "mutation($url: String!) { createHook(input: { name: \"bench\", events: [\"User.Created\"], url: $url }) { id } }",
                    json!({ "url": url }),
                )
                .await;
            ids.push(r["data"]["createHook"]["id"].as_str().expect("id").to_owned());
        }
        ids
    }

    /// One `emitEvent` with a 1 KB payload; returns the event id.
    async fn emit(&self) -> String {
        let r = self
            .gql(
                "mutation($data: JSON!) { emitEvent(input: { type: \"User.Created\", data: $data }) { id } }",
                json!({ "data": { "id": "u", "profile": "x".repeat(1000) } }),
            )
            .await;
        r["data"]["emitEvent"]["id"].as_str().expect("id").to_owned()
    }

    async fn stop(mut self) {
        self.child.kill().await.expect("kill");
    }
}

/// The binary under test: this build's, or another one named by `HOOKD_BENCH_BIN` (to compare
/// two builds in turn on the same machine).
fn binary() -> String {
    std::env::var("HOOKD_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hookd").to_owned())
}

fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": "bench", "scope": "admin", "exp": now + 7200 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is the 3rd field overall,
    // utime the 14th and stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// CPU time of every PostgreSQL server process on this machine (the bench's database server).
fn postgres_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(process_cpu)
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Databases

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh, empty database and data dir for one hookd.
struct Fresh {
    url: String,
    dir: tempfile::TempDir,
}

impl Fresh {
    async fn new(backend: Backend) -> Fresh {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("hookd.db").display()),
            Backend::Postgres => {
                use sea_orm::ConnectionTrait;
                let admin = std::env::var("HOOKD_TEST_POSTGRES_URL").expect("PostgreSQL URL");
                let name = format!("hookd_bench_{}", uuid::Uuid::now_v7().simple());
                let conn = sea_orm::Database::connect(&admin).await.expect("connect to PostgreSQL");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin).expect("URL");
                url.set_path(&format!("/{name}"));
                url.to_string()
            }
        };
        Fresh { url, dir }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    async fn hookd(&self) -> Hookd {
        Hookd::start(&self.url, &self.data_dir()).await
    }

    /// A fresh database with one hook to a new receiver and `n` deliveries on it in `status`,
    /// stored while no hookd runs.
    async fn seeded(backend: Backend, n: usize, status: entity::delivery::DeliveryStatus) -> (Fresh, Receiver) {
        let fresh = Fresh::new(backend).await;
        let receiver = Receiver::start().await;
        let hookd = fresh.hookd().await;
        let hook_id = hookd.hooks(1, &receiver.url).await.remove(0);
        hookd.stop().await;
        let db = fresh.db().await;
        seed(&db, &hook_id, n, status).await;
        db.write.close_by_ref().await.ok();
        db.read.close_by_ref().await.ok();
        (fresh, receiver)
    }

    async fn db(&self) -> hookd::db::Db {
        hookd::db::Db::connect(&self.url, hookd::db::SqliteDurability::Normal)
            .await
            .expect("connect")
    }
}

/// Stores `n` deliveries of one event each on `hook_id` with `status` (straight into the tables,
/// in chunks, so no statement's parameters grow with `n`).
async fn seed(db: &hookd::db::Db, hook_id: &str, n: usize, status: entity::delivery::DeliveryStatus) {
    use entity::delivery::{DeliveryStatus, Trigger};
    use sea_orm::{EntityTrait, Set};
    const CHUNK: usize = 1_000;
    let now = chrono::Utc::now().timestamp_millis();
    let finished = status != DeliveryStatus::Pending;
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
            traceparent: Set(None),
            created_at: Set(now),
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
            status: Set(status),
            attempt_count: Set(i32::from(finished)),
            round_attempts: Set(i32::from(finished)),
            next_trigger: Set(Trigger::Scheduled),
            due_at: Set((!finished).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        });
        entity::delivery::Entity::insert_many(deliveries)
            .exec(&db.write)
            .await
            .expect("deliveries");
        done += size;
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Raw POSTs of a 1 KB body from 16 keep-alive clients straight to the receiver: what the wire
/// and this process can do without hookd.
async fn wire_ceiling(posts: usize) -> f64 {
    let receiver = Receiver::start().await;
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let body = json!({ "eventId": "wire", "data": { "profile": "x".repeat(1000) } }).to_string();
    let started = Instant::now();
    let mut senders = Vec::new();
    for e in 0..EMITTERS {
        let (client, url, body) = (client.clone(), receiver.url.clone(), body.clone());
        let share = posts / EMITTERS + usize::from(e < posts % EMITTERS);
        senders.push(tokio::spawn(async move {
            for _ in 0..share {
                client.post(&url).body(body.clone()).send().await.expect("post");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    let rate = posts as f64 / started.elapsed().as_secs_f64();
    println!("wire ceiling: {posts} raw POSTs from {EMITTERS} clients: {rate:.0}/s");
    rate
}

/// One emit at a time on an idle server: emit request start → arrival.
async fn idle(backend: Backend, samples: usize) -> Latencies {
    let fresh = Fresh::new(backend).await;
    let hookd = fresh.hookd().await;
    let receiver = Receiver::start().await;
    hookd.hooks(1, &receiver.url).await;
    let mut started = HashMap::new();
    for i in 0..samples {
        let at = Instant::now();
        started.insert(hookd.emit().await, at);
        receiver.wait_for(i + 1, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let latencies = receiver.latencies(&started);
    println!(
        "{}: idle, 1 client, {samples} events: p50/p95/p99 {}",
        backend.name(),
        latencies.show()
    );
    hookd.stop().await;
    latencies
}

struct Load {
    deliveries_per_s: f64,
    latencies: Latencies,
    cpu_ms_per_delivery: f64,
    postgres_cpu_ms_per_delivery: Option<f64>,
    peak_rss_mib: f64,
}

/// `events` emitted by 16 concurrent clients to `hooks` hooks.
async fn load(backend: Backend, hooks: usize, events: usize) -> Load {
    let fresh = Fresh::new(backend).await;
    let hookd = Arc::new(fresh.hookd().await);
    let receiver = Receiver::start().await;
    hookd.hooks(hooks, &receiver.url).await;
    let started_at = Arc::new(Mutex::new(HashMap::new()));
    let (cpu_before, pg_before) = (hookd.cpu(), postgres_cpu());
    let started = Instant::now();
    let mut emitters = Vec::new();
    for e in 0..EMITTERS {
        let (hookd, started_at) = (hookd.clone(), started_at.clone());
        let share = events / EMITTERS + usize::from(e < events % EMITTERS);
        emitters.push(tokio::spawn(async move {
            for _ in 0..share {
                let at = Instant::now();
                let id = hookd.emit().await;
                started_at.lock().expect("lock").insert(id, at);
            }
        }));
    }
    for emitter in emitters {
        emitter.await.expect("emitter");
    }
    let total = hooks * events;
    receiver.wait_for(total, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let cpu = hookd.cpu() - cpu_before;
    let pg = (backend == Backend::Postgres).then(|| postgres_cpu() - pg_before);
    let latencies = receiver.latencies(&started_at.lock().expect("lock"));
    let load = Load {
        deliveries_per_s: total as f64 / elapsed.as_secs_f64(),
        latencies,
        cpu_ms_per_delivery: cpu.as_secs_f64() * 1e3 / total as f64,
        postgres_cpu_ms_per_delivery: pg.map(|pg| pg.as_secs_f64() * 1e3 / total as f64),
        peak_rss_mib: hookd.peak_rss_mib(),
    };
    println!(
        "{}: {hooks:>2} hook(s), {events} events, {EMITTERS} clients: {:.0} deliveries/s, p50/p95/p99 {}, CPU {:.3} ms/delivery{}, peak RSS {:.0} MiB",
        backend.name(),
        load.deliveries_per_s,
        load.latencies.show(),
        load.cpu_ms_per_delivery,
        load.postgres_cpu_ms_per_delivery
            .map(|pg| format!(" + PostgreSQL {pg:.3} ms"))
            .unwrap_or_default(),
        load.peak_rss_mib,
    );
    Arc::try_unwrap(hookd).ok().expect("one owner").stop().await;
    load
}

/// `emitEvent { id deliveries { id } }` then `event(id) { deliveries { id } }` from 16 clients
/// with `stored` finished deliveries already in the tenant's history: pairs per second. A query
/// that scans the history shows as a rate that falls as `stored` grows.
async fn history(backend: Backend, stored: usize, pairs: usize) -> f64 {
    let (fresh, _receiver) = Fresh::seeded(backend, stored, entity::delivery::DeliveryStatus::Succeeded).await;
    let hookd = Arc::new(fresh.hookd().await);
    let started = Instant::now();
    let mut emitters = Vec::new();
    for e in 0..EMITTERS {
        let hookd = hookd.clone();
        let share = pairs / EMITTERS + usize::from(e < pairs % EMITTERS);
        emitters.push(tokio::spawn(async move {
            for _ in 0..share {
                let r = hookd
                    .gql(
                        "mutation { emitEvent(input: { type: \"User.Created\", data: { id: \"u\" } }) { id deliveries { id } } }",
                        json!({}),
                    )
                    .await;
                let id = r["data"]["emitEvent"]["id"].clone();
                let r = hookd.gql("query($id: ID!) { event(id: $id) { deliveries { id } } }", json!({ "id": id })).await;
                assert_eq!(r["data"]["event"]["deliveries"].as_array().map(Vec::len), Some(1), "{r}");
            }
        }));
    }
    for emitter in emitters {
        emitter.await.expect("emitter");
    }
    let rate = pairs as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}: emitEvent + Event.deliveries with {stored} stored deliveries: {rate:.0} pairs/s",
        backend.name()
    );
    Arc::try_unwrap(hookd).ok().expect("one owner").stop().await;
    rate
}

/// `pending` deliveries already queued when hookd starts: how long it takes to send them all,
/// and its peak memory meanwhile.
async fn backlog(backend: Backend, pending: usize) -> (f64, f64) {
    let (fresh, receiver) = Fresh::seeded(backend, pending, entity::delivery::DeliveryStatus::Pending).await;
    let started = Instant::now();
    let hookd = fresh.hookd().await;
    receiver.wait_for(pending, Duration::from_secs(900)).await;
    let seconds = started.elapsed().as_secs_f64();
    let rss = hookd.peak_rss_mib();
    println!(
        "{}: {pending} pending at start: all sent in {seconds:.1} s ({:.0}/s), peak RSS {rss:.0} MiB",
        backend.name(),
        pending as f64 / seconds
    );
    hookd.stop().await;
    (seconds, rss)
}

/// Machine-wide CPU time used so far (all cores, from /proc/stat), and the number of cores.
fn machine_cpu() -> (Duration, usize) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let busy: u64 = stat
        .lines()
        .next()
        .map(|cpu| {
            // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
            let f: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            f.iter()
                .enumerate()
                .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
                .map(|(_, v)| v)
                .sum()
        })
        .unwrap_or_default();
    let cores = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    (Duration::from_millis(busy * 1000 / TICKS_PER_SECOND), cores.max(1))
}

/// A `deliveryUpdates(statuses: [SUCCEEDED])` subscriber on one instance: for each update,
/// its event id and how long after its commit (`at`, on the committing instance) it arrived.
async fn watch_succeeded(hookd: &Hookd) -> Arc<Mutex<Vec<(String, Duration)>>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/graphql", hookd.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", hookd.token) } });
    socket.send(Message::Text(init.to_string().into())).await.expect("init");
    let query = "subscription { deliveryUpdates(statuses: [SUCCEEDED]) { eventId at } }";
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("subscribe");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(text))) = socket.next().await {
            let now = chrono::Utc::now();
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            let update = &value["payload"]["data"]["deliveryUpdates"];
            let (Some(event), Some(at)) = (update["eventId"].as_str(), update["at"].as_str()) else {
                continue;
            };
            let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
                continue;
            };
            let late = (now - at.with_timezone(&chrono::Utc)).to_std().unwrap_or_default();
            sink.lock().expect("lock").push((event.to_owned(), late));
        }
    });
    // The handshake and the subscription are in place once the server acknowledged them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    seen
}

struct Scale {
    instances: usize,
    deliveries_per_s: f64,
    hookd_cpu_share: f64,
    postgres_cpu_share: f64,
    machine_busy: f64,
    relay: Latencies,
}

/// `instances` hookd processes on one PostgreSQL database, `events` emitted by 16 clients
/// spread over them (client i calls instance i mod n), one hook. Also the relay's latency: a
/// dashboard on instance 0 sees the SUCCEEDED updates of deliveries the others sent, this long
/// after their commit.
async fn scale_out(instances: usize, events: usize) -> Scale {
    let fresh = Fresh::new(Backend::Postgres).await;
    let mut all = Vec::new();
    for _ in 0..instances {
        all.push(Arc::new(fresh.hookd().await));
    }
    let receiver = Receiver::start().await;
    all[0].hooks(1, &receiver.url).await;
    let dashboard = watch_succeeded(&all[0]).await;
    let emitted_elsewhere = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let hookd_cpu = |all: &[Arc<Hookd>]| all.iter().map(|h| h.cpu()).sum::<Duration>();
    let (cpu_before, pg_before, (machine_before, cores)) = (hookd_cpu(&all), postgres_cpu(), machine_cpu());
    let started = Instant::now();
    let mut emitters = Vec::new();
    for e in 0..EMITTERS {
        let (hookd, elsewhere) = (all[e % instances].clone(), emitted_elsewhere.clone());
        let share = events / EMITTERS + usize::from(e < events % EMITTERS);
        emitters.push(tokio::spawn(async move {
            for _ in 0..share {
                let id = hookd.emit().await;
                if e % instances != 0 {
                    elsewhere.lock().expect("lock").insert(id);
                }
            }
        }));
    }
    for emitter in emitters {
        emitter.await.expect("emitter");
    }
    receiver.wait_for(events, Duration::from_secs(600)).await;
    let wall = started.elapsed().as_secs_f64();
    let hookd_cpu = (hookd_cpu(&all) - cpu_before).as_secs_f64();
    let pg_cpu = (postgres_cpu() - pg_before).as_secs_f64();
    let machine = (machine_cpu().0 - machine_before).as_secs_f64();
    // The last updates may still be on their way to the dashboard.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elsewhere = std::mem::take(&mut *emitted_elsewhere.lock().expect("lock"));
    let mut relay: Vec<Duration> = dashboard
        .lock()
        .expect("lock")
        .iter()
        .filter(|(event, _)| elsewhere.contains(event))
        .map(|(_, late)| *late)
        .collect();
    relay.sort();
    let capacity = wall * cores as f64;
    let result = Scale {
        instances,
        deliveries_per_s: events as f64 / wall,
        hookd_cpu_share: hookd_cpu / capacity,
        postgres_cpu_share: pg_cpu / capacity,
        machine_busy: machine / capacity,
        relay: Latencies(relay),
    };
    println!(
        "PostgreSQL, {instances} instance(s), {events} events, {EMITTERS} clients: {:.0} deliveries/s; CPU of {cores} cores: hookd {:.0} %, PostgreSQL {:.0} %, machine {:.0} %; relay to a dashboard on instance 0: p50/p95/p99 {} ({} updates)",
        result.deliveries_per_s,
        100.0 * result.hookd_cpu_share,
        100.0 * result.postgres_cpu_share,
        100.0 * result.machine_busy,
        result.relay.show(),
        result.relay.0.len(),
    );
    for hookd in all {
        Arc::try_unwrap(hookd).ok().expect("one owner").stop().await;
    }
    result
}

fn print_scale(runs: &[Scale]) {
    let Some(one) = runs.first() else { return };
    println!();
    println!(
        "| instances on one PostgreSQL | deliveries/s | speed-up | hookd CPU | PostgreSQL CPU | machine busy | relay p50 / p95 / p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for run in runs {
        let relay = if run.relay.0.is_empty() {
            "–".to_owned()
        } else {
            run.relay.show()
        };
        println!(
            "| {} | {:.0} | {:.2}× | {:.0} % | {:.0} % | {:.0} % | {relay} |",
            run.instances,
            run.deliveries_per_s,
            run.deliveries_per_s / one.deliveries_per_s,
            100.0 * run.hookd_cpu_share,
            100.0 * run.postgres_cpu_share,
            100.0 * run.machine_busy,
        );
    }
    println!("(CPU shares are of all the machine's cores over the run; the load generator and receiver use the rest.)");
}

// ---------------------------------------------------------------------------------------------
// The run

#[derive(Default)]
struct Column {
    idle: Option<Latencies>,
    one: Option<Load>,
    ten: Option<Load>,
    small_history: Option<f64>,
    large_history: Option<f64>,
    backlog: Option<(f64, f64)>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let quick = std::env::args().any(|a| a == "--quick");
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| name.contains(a.as_str()));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let scale = if quick { 1 } else { 4 };
        let large = if quick { 200_000 } else { 1_000_000 };
        let mut backends = vec![Backend::Sqlite];
        if std::env::var("HOOKD_TEST_POSTGRES_URL").is_ok() {
            backends.push(Backend::Postgres);
        }
        let wire = if wanted("wire") {
            Some(wire_ceiling(20_000 * scale).await)
        } else {
            None
        };
        let mut columns = Vec::new();
        for backend in backends.iter().copied() {
            let mut c = Column::default();
            if wanted("idle") {
                c.idle = Some(idle(backend, 200 * scale).await);
            }
            if wanted("load") {
                c.one = Some(load(backend, 1, 5_000 * scale).await);
                c.ten = Some(load(backend, 10, 1_000 * scale).await);
            }
            if wanted("history") {
                c.small_history = Some(history(backend, 10_000, 1_000 * scale).await);
                c.large_history = Some(history(backend, large, 1_000 * scale).await);
            }
            if wanted("backlog") {
                c.backlog = Some(backlog(backend, 100_000).await);
            }
            columns.push(c);
        }
        let mut scaled = Vec::new();
        if wanted("scale") && backends.contains(&Backend::Postgres) {
            for instances in 1..=3 {
                scaled.push(scale_out(instances, 5_000 * scale).await);
            }
        }
        print_table(&backends, &columns, wire, large);
        print_scale(&scaled);
    });
}

/// A table row: its name and how to fill a column's cell.
type Row<'a> = (String, Box<dyn Fn(&Column) -> String + 'a>);

fn print_table(backends: &[Backend], columns: &[Column], wire: Option<f64>, large: usize) {
    let na = || "–".to_owned();
    let rate = |l: &Option<Load>| {
        l.as_ref().map_or_else(na, |l| match wire {
            Some(w) => format!(
                "{:.0} ({:.0} % of wire)",
                l.deliveries_per_s,
                100.0 * l.deliveries_per_s / w
            ),
            None => format!("{:.0}", l.deliveries_per_s),
        })
    };
    let lat = |l: &Option<Load>| l.as_ref().map_or_else(na, |l| l.latencies.show());
    let rows: Vec<Row<'_>> = vec![
        ("1 hook: deliveries/s".into(), Box::new(move |c| rate(&c.one))),
        (
            "1 hook: emit→arrival p50 / p95 / p99".into(),
            Box::new(move |c| lat(&c.one)),
        ),
        ("10 hooks: deliveries/s".into(), Box::new(move |c| rate(&c.ten))),
        ("10 hooks: p50 / p95 / p99".into(), Box::new(move |c| lat(&c.ten))),
        (
            "1 client, idle: p50 / p95 / p99".into(),
            Box::new(move |c| c.idle.as_ref().map_or_else(na, Latencies::show)),
        ),
        (
            "CPU per delivery (1 hook)".into(),
            Box::new(move |c| {
                c.one
                    .as_ref()
                    .map_or_else(na, |l| match l.postgres_cpu_ms_per_delivery {
                        Some(pg) => format!("{:.3} ms + {pg:.3} ms PostgreSQL", l.cpu_ms_per_delivery),
                        None => format!("{:.3} ms", l.cpu_ms_per_delivery),
                    })
            }),
        ),
        (
            "peak RSS (1 hook / 10 hooks)".into(),
            Box::new(move |c| match (&c.one, &c.ten) {
                (Some(a), Some(b)) => format!("{:.0} / {:.0} MiB", a.peak_rss_mib, b.peak_rss_mib),
                _ => na(),
            }),
        ),
        (
            format!("emit+read pairs/s at 10k / {}k stored (ratio)", large / 1000),
            Box::new(move |c| match (c.small_history, c.large_history) {
                (Some(s), Some(l)) => format!("{s:.0} / {l:.0} ({:.2})", l / s),
                _ => na(),
            }),
        ),
        (
            "100,000 pending at start: sent in, peak RSS".into(),
            Box::new(move |c| c.backlog.map_or_else(na, |(s, rss)| format!("{s:.1} s, {rss:.0} MiB"))),
        ),
    ];
    println!();
    println!("hookd binary: {}", binary());
    if let Some(w) = wire {
        println!("wire ceiling (raw POSTs/s, same receiver, same clients): {w:.0}");
    }
    let header: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    println!("| scenario | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(backends.len()));
    for (name, cell) in rows {
        let cells: Vec<String> = columns.iter().map(cell).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
