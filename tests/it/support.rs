//! The test harness: a real hookd on 127.0.0.1:0 with a fresh database, and a GraphQL client.
//!
//! Every database test runs twice, on SQLite and on PostgreSQL (see [`db_test!`]). The
//! PostgreSQL variant needs `HOOKD_TEST_POSTGRES_URL` (an admin URL; each test creates its own
//! database). Without it the variant is skipped, except under `CI=true`, where it fails.

use std::time::Duration;

use hookd::auth::Scope;
use hookd::config::{Config, RawSettings};
use hookd::state::AppState;
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL admin URL, or `None` to skip PostgreSQL tests (never under CI).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("HOOKD_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but HOOKD_TEST_POSTGRES_URL is not set: PostgreSQL tests cannot be skipped in CI")
        }
        _ => {
            eprintln!("skipped: set HOOKD_TEST_POSTGRES_URL to run the PostgreSQL variant");
            None
        }
    }
}

/// Declares `async fn name(backend: Backend)` tests as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! db_test {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::support::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::support::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres).await
                    }
                }
            }
        )*
    };
}

pub const DELIVERY_FIELDS: &str = "id hookId eventType status attemptCount nextAttemptAt createdAt updatedAt \
    attempts { number trigger startedAt durationMs responseStatus responseBody error }";

/// Starts every statement the harness itself sends to a test's database, so a test that reads
/// what the server ran (`tenant_keys.rs`) can tell them apart.
pub const HARNESS_SQL: &str = "/* test harness */ ";

pub const TEST_SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

pub struct TestApp {
    pub base_url: String,
    pub state: AppState,
    database_url: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    /// The running server; `restart` waits for it to stop before starting the next one.
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

tokio::task_local! {
    /// When set (by [`recording_databases`]), the names of the PostgreSQL databases this task
    /// creates, so a test can read what happened in them (`pg_stat_statements`).
    static CREATED: std::cell::RefCell<Vec<String>>;
}

/// Runs `work` and returns the names of the PostgreSQL databases it created.
pub async fn recording_databases(work: impl Future<Output = ()>) -> Vec<String> {
    CREATED
        .scope(Default::default(), async {
            work.await;
            CREATED.with(|created| created.take())
        })
        .await
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_database(backend: Backend, dir: &TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("hookd.db").display()),
        Backend::Postgres => {
            let admin = postgres_admin_url().expect("PostgreSQL URL");
            let name = format!("hookd_test_{}", uuid::Uuid::now_v7().simple());
            let conn = Database::connect(&admin)
                .await
                .expect("connect to PostgreSQL admin URL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            conn.close().await.ok();
            CREATED.try_with(|created| created.borrow_mut().push(name.clone())).ok();
            let mut url = url::Url::parse(&admin).expect("admin URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

/// A stopped server's database and data dir, to run a command on before starting it again.
pub struct Stopped {
    pub dir: TempDir,
    pub database_url: String,
}

impl Stopped {
    pub async fn start(self, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        TestApp::spawn_at(self.dir, self.database_url, configure).await
    }

    /// Runs the real `hookd` binary with `args` on this database and data dir.
    pub fn hookd(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(args)
            .env_clear()
            .env("HOOKD_DATABASE_URL", &self.database_url)
            .env("HOOKD_DATA_DIR", self.dir.path())
            .env("HOOKD_JWT_SECRET", TEST_SECRET)
            .envs(env.iter().copied())
            .output()
            .expect("hookd runs")
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Spawns hookd with the test defaults, adjusted by `configure`.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = fresh_database(backend, &dir).await;
        TestApp::spawn_at(dir, database_url, configure).await
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Stops this server and starts a new one on the same database and data dir.
    pub async fn restart(self, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        self.stop().await.start(configure).await
    }

    /// Stops this server (waiting for it to finish), keeping its database and data dir.
    pub async fn stop(mut self) -> Stopped {
        self.shutdown.cancel();
        // The old server must be gone (dispatcher, recorder and pruner included) before the new
        // one starts, or a late write of the old one could race the test's next assertions.
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("old server task")
                .expect("old server shut down cleanly");
        }
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        Stopped {
            dir,
            database_url: self.database_url.clone(),
        }
    }

    async fn spawn_at(dir: TempDir, database_url: String, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        // The server's errors go to the test's captured output, shown when the test fails:
        // an INTERNAL answer then comes with its cause.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("hookd=error")
            .with_test_writer()
            .try_init();
        let mut raw = RawSettings {
            database_url: Some(database_url.clone()),
            data_dir: Some(dir.path().display().to_string()),
            jwt_secret: Some(TEST_SECRET.to_owned()),
            ..RawSettings::default()
        };
        configure(&mut raw);
        let config = Config::from_raw(raw).expect("valid test config");
        let app = hookd::start(config).await.expect("hookd starts");
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(app.serve(listener, shutdown.clone()));
        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent("hookd-tests/1.0")
            // Generous: the backlog tests change 100,000 rows in one request on a busy machine.
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        TestApp {
            base_url,
            state,
            database_url,
            client,
            shutdown,
            served: Some(served),
            _dir: dir,
        }
    }

    /// A server that may deliver to local receivers (`127.0.0.0/8` allowed), with a fast retry
    /// schedule, adjusted by `configure`.
    pub async fn delivering(backend: Backend, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        TestApp::spawn_with(backend, |raw| {
            raw.allowed_targets = Some("127.0.0.0/8".into());
            raw.retry_schedule = Some("10ms,10ms".into());
            raw.delivery_timeout = Some("5s".into());
            configure(raw);
        })
        .await
    }

    /// Creates a hook for `events` at `url` and returns its JSON (`id`, `signingKey`).
    pub async fn hook_to(&self, url: &str, events: &[&str]) -> Value {
        self.create_hook_for(&self.admin(), "receiver", url, events).await
    }

    /// Emits an event and returns its id.
    pub async fn emit(&self, event_type: &str, data: Value) -> String {
        let response = self
            .gql(
                &self.admin(),
                "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
                json!({ "input": { "type": event_type, "data": data } }),
            )
            .await;
        assert_eq!(response["errors"], Value::Null, "emitEvent failed: {response}");
        response["data"]["emitEvent"]["id"]
            .as_str()
            .expect("event id")
            .to_owned()
    }

    /// The deliveries of an event (with attempts), as GraphQL JSON.
    pub async fn deliveries_of(&self, event_id: &str) -> Vec<Value> {
        let response = self
            .gql(
                &self.admin(),
                &format!("query($id: ID!) {{ event(id: $id) {{ deliveries {{ {DELIVERY_FIELDS} }} }} }}"),
                json!({ "id": event_id }),
            )
            .await;
        response["data"]["event"]["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls until the event's only delivery reaches `status` (panics after 30 s).
    pub async fn wait_for_status(&self, event_id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let deliveries = self.deliveries_of(event_id).await;
            if let Some(delivery) = deliveries.first()
                && delivery["status"] == status
            {
                return delivery.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "delivery never reached {status}: {deliveries:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An HS256 token for `tenant` with the given space-separated scopes.
    pub fn token(&self, scopes: &str, tenant: &str) -> String {
        let scopes: Vec<Scope> = scopes
            .split_ascii_whitespace()
            .map(|s| Scope::parse(s).expect("known scope"))
            .collect();
        self.state
            .auth
            .mint(&scopes, tenant, Duration::from_secs(3600), "test")
            .expect("mint")
    }

    pub fn admin(&self) -> String {
        self.token("admin", "default")
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs a GraphQL operation and returns the JSON response (whatever the status).
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_raw(Some(&format!("Bearer {token}")), query, variables).await
    }

    pub async fn gql_raw(&self, authorization: Option<&str>, query: &str, variables: Value) -> Value {
        send_graphql(&self.client, &self.base_url, authorization, query, variables).await
    }

    /// How many rows a table holds (all tenants).
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count_rows_where(table, "1 = 1").await
    }

    /// Rows of `table` matching the SQL `condition`.
    pub async fn count_rows_where(&self, table: &str, condition: &str) -> i64 {
        use sea_orm::ConnectionTrait;
        let statement = sea_orm::Statement::from_string(
            self.state.db.backend(),
            format!("{HARNESS_SQL}SELECT COUNT(*) AS n FROM {table} WHERE {condition}"),
        );
        let row = self
            .state
            .db
            .read
            .query_one_raw(statement)
            .await
            .expect("count")
            .expect("row");
        row.try_get::<i64>("", "n").expect("n")
    }

    /// Inserts a corrupt hook row (empty id) subscribed to `User.Created` in tenant `default`:
    /// the outbox's delivery insert fails on it, after the event insert, inside the producer's
    /// transaction. For "a failure halfway stores nothing" tests.
    pub async fn insert_corrupt_hook(&self) {
        use sea_orm::ConnectionTrait;
        let now = chrono::Utc::now().timestamp_millis();
        self.state
            .db
            .write
            .execute_unprepared(&format!(
                "{HARNESS_SQL}INSERT INTO hooks (id, tenant_id, name, url, events, headers, enabled, signing_key, previous_keys, created_at, updated_at) \
                 VALUES ('', 'default', 'corrupt', 'https://example.invalid/', '[\"User.Created\"]', '[]', true, 'whsec_x', '[]', {now}, {now})"
            ))
            .await
            .expect("insert corrupt hook");
    }

    /// Every hook row of every tenant, for "nothing changed" assertions.
    pub async fn hook_rows(&self) -> Vec<entity::hook::Model> {
        let sql = format!("{HARNESS_SQL}SELECT * FROM hooks ORDER BY id");
        entity::hook::Entity::find()
            .from_raw_sql(sea_orm::Statement::from_string(self.state.db.backend(), sql))
            .all(&self.state.db.read)
            .await
            .expect("read hooks")
    }

    /// Creates a hook and returns its JSON (`id`, `signingKey`, …).
    pub async fn create_hook(&self, token: &str, name: &str, url: &str) -> Value {
        self.create_hook_for(token, name, url, &["User.Created"]).await
    }

    /// Creates a hook and returns its JSON (`id name url events enabled signingKey`).
    pub async fn create_hook_for(&self, token: &str, name: &str, url: &str, events: &[&str]) -> Value {
        let response = self
            .gql(
                token,
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id name url events enabled signingKey } }",
                json!({ "input": { "name": name, "events": events, "url": url } }),
            )
            .await;
        assert_eq!(response["errors"], Value::Null, "createHook failed: {response}");
        response["data"]["createHook"].clone()
    }
}

/// POSTs a GraphQL operation to a hookd at `base` (a child process) and returns the JSON.
pub async fn post_graphql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    send_graphql(&client, base, Some(&format!("Bearer {token}")), query, variables).await
}

async fn send_graphql(
    client: &reqwest::Client,
    base: &str,
    authorization: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON response")
}

/// `(code, field)` of the first error of a response.
pub fn first_error(response: &Value) -> (Option<&str>, Option<&str>) {
    let ext = &response["errors"][0]["extensions"];
    (ext["code"].as_str(), ext["field"].as_str())
}

pub fn error_code(response: &Value) -> Option<&str> {
    first_error(response).0
}

/// The real `hookd` binary, with none of the test process's own `HOOKD_*` settings, killed when
/// dropped.
pub fn hookd_binary() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOOKD_") {
            command.env_remove(key);
        }
    }
    command.kill_on_drop(true);
    command
}

/// What a starting `hookd serve` printed.
pub struct Banner {
    pub base: String,
    pub metrics: String,
    /// The admin token, printed by a first start only.
    pub token: Option<String>,
}

/// Reads the banner of `child` (started with stdout piped and an HS256 secret, so the banner
/// ends with its admin token line), then keeps draining stdout so the child never blocks.
pub async fn read_banner(child: &mut tokio::process::Child) -> Banner {
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut banner = Banner {
        base: String::new(),
        metrics: String::new(),
        token: None,
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(base) = line.split(" listening on ").nth(1) {
                banner.base = base.to_owned();
            }
            if let Some(url) = line.trim().strip_prefix("Metrics: ") {
                banner.metrics = url.to_owned();
            }
            if line.starts_with("  Admin token") {
                if line.ends_with("first start only):") {
                    banner.token = lines.next_line().await.expect("read");
                }
                return;
            }
        }
        panic!("hookd exited before it was ready");
    })
    .await
    .expect("hookd starts in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    banner
}
