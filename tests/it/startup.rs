//! The `hookd` binary: settings validation, first start, second start (SPEC §1).

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary; settings come only from what each test passes.
fn hookd() -> Command {
    let mut command = crate::support::hookd_binary();
    command.env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("HOOKD_LISTEN", "nope".into())], "HOOKD_LISTEN"),
        (vec![("HOOKD_LISTEN", "127.0.0.1:99999".into())], "HOOKD_LISTEN"),
        (
            vec![("HOOKD_DATABASE_URL", "mysql://localhost/x".into())],
            "HOOKD_DATABASE_URL",
        ),
        (
            vec![("HOOKD_DATABASE_URL", "postgres://hookd@127.0.0.1:1/hookd".into())],
            "HOOKD_DATABASE_URL",
        ),
        (
            vec![("HOOKD_DATA_DIR", file.join("data").display().to_string())],
            "HOOKD_DATA_DIR",
        ),
        (
            vec![("HOOKD_DELIVERY_TIMEOUT", "fast".into())],
            "HOOKD_DELIVERY_TIMEOUT",
        ),
        (vec![("HOOKD_RETRY_SCHEDULE", "5s,soon".into())], "HOOKD_RETRY_SCHEDULE"),
        (
            vec![("HOOKD_ALLOWED_TARGETS", "10.0.0.0/99".into())],
            "HOOKD_ALLOWED_TARGETS",
        ),
        (vec![("HOOKD_JWT_SECRET", "short".into())], "HOOKD_JWT_SECRET"),
        (vec![("HOOKD_SECRET_KEY", "c2hvcnQ=".into())], "HOOKD_SECRET_KEY"),
        (vec![("HOOKD_SECRET_KEY", "not base64!".into())], "HOOKD_SECRET_KEY"),
        (
            vec![("HOOKD_JWT_PUBLIC_KEY", "/nonexistent/key.pem".into())],
            "HOOKD_JWT_PUBLIC_KEY",
        ),
        (vec![("HOOKD_JWKS_URL", "ftp://keys".into())], "HOOKD_JWKS_URL"),
        (vec![("HOOKD_RETRY_SCHEDULE", "".into())], "HOOKD_RETRY_SCHEDULE"),
        (vec![("HOOKD_RETRY_SCHEDULE", "5s,,5m".into())], "HOOKD_RETRY_SCHEDULE"),
        (
            vec![("HOOKD_LISTEN", "no-such-host.invalid:8080".into())],
            "HOOKD_LISTEN",
        ),
        (vec![("RUST_LOG", "hookd=loud".into())], "RUST_LOG"),
        (
            vec![("HOOKD_CONFIG", dir.path().join("missing.toml").display().to_string())],
            "HOOKD_CONFIG",
        ),
        (vec![("HOOKD_LOG_FORMAT", "xml".into())], "HOOKD_LOG_FORMAT"),
        (vec![("HOOKD_INTROSPECTION", "maybe".into())], "HOOKD_INTROSPECTION"),
        (
            vec![("HOOKD_SQLITE_SYNCHRONOUS", "off".into())],
            "HOOKD_SQLITE_SYNCHRONOUS",
        ),
        (
            vec![
                ("HOOKD_JWT_SECRET", "x".repeat(40)),
                ("HOOKD_JWKS_URL", "https://issuer.test/jwks".into()),
            ],
            "HOOKD_JWT_SECRET",
        ),
    ];
    for (env, variable) in cases {
        let mut command = hookd();
        command.env("HOOKD_DATA_DIR", dir.path().join("data"));
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("exits in time")
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} should fail");
        let messages: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hookd: ")).collect();
        assert_eq!(messages.len(), 1, "{env:?}: one error line, got {stderr:?}");
        assert!(
            messages[0].contains(variable),
            "{env:?}: {:?} should name {variable}",
            messages[0]
        );
        assert!(output.stdout.is_empty(), "nothing printed as if started");
    }
}

/// Starts `hookd serve` on a free port; returns the child, its base URL and the admin token it
/// printed, if it printed one.
async fn start(data_dir: &std::path::Path) -> (Child, String, Option<String>) {
    let mut child = hookd()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookd");
    let banner = crate::support::read_banner(&mut child).await;
    (child, banner.base, banner.token)
}

async fn hooks_count(base: &str, token: &str) -> Value {
    crate::support::post_graphql(base, token, "{ hooks { totalCount } }", json!({})).await
}

#[tokio::test]
async fn first_start_creates_the_secret_and_a_second_start_reuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    let (mut first, base, token) = start(&data).await;
    let token = token.expect("the first start prints an admin token");
    assert!(token.starts_with("eyJ"), "{token}");
    assert_eq!(hooks_count(&base, &token).await["data"]["hooks"]["totalCount"], 0);
    let secret = data.join("jwt-secret");
    let mode = std::fs::metadata(&secret).expect("secret file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the generated secret is private");
    assert!(
        data.join("hookd.db").exists(),
        "the SQLite database lives in the data dir"
    );
    let secret_before = std::fs::read(&secret).expect("read");
    first.kill().await.expect("kill");

    let (_second, base, again) = start(&data).await;
    assert_eq!(again, None, "only the first start prints a token");
    assert_eq!(std::fs::read(&secret).expect("read"), secret_before);
    let response = hooks_count(&base, &token).await;
    assert_eq!(
        response["data"]["hooks"]["totalCount"], 0,
        "the first start's token still works: {response}"
    );

    // `hookd token` mints with the same secret.
    let output = hookd()
        .args([
            "token",
            "--scope",
            "hooks:read",
            "--tenant",
            "acme",
            "--ttl",
            "10m",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .await
        .expect("hookd token");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let minted = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(
        hooks_count(&base, minted.trim()).await["data"]["hooks"]["totalCount"],
        0
    );
    let bad_scope = hookd()
        .args(["token", "--scope", "everything", "--data-dir"])
        .arg(&data)
        .output()
        .await
        .expect("hookd token");
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));
    let no_lifetime = hookd()
        .args(["token", "--scope", "admin", "--ttl", "0", "--data-dir"])
        .arg(&data)
        .output()
        .await
        .expect("hookd token");
    assert!(
        !no_lifetime.status.success(),
        "a token that is expired at once is refused"
    );
    assert!(no_lifetime.stdout.is_empty());
    assert!(String::from_utf8_lossy(&no_lifetime.stderr).contains("--ttl"));

    // Pointed at a directory no server generated a secret in, it says so and creates nothing,
    // instead of minting a token with a new secret that the running server would reject.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let stray = hookd()
        .args(["token", "--scope", "admin", "--data-dir"])
        .arg(elsewhere.path().join("data"))
        .output()
        .await
        .expect("hookd token");
    assert!(!stray.status.success());
    assert!(stray.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&stray.stderr).contains("no JWT secret at"),
        "{}",
        String::from_utf8_lossy(&stray.stderr)
    );
    assert!(!elsewhere.path().join("data").exists(), "nothing was created");
}

/// Each subcommand's help lists its own flags, not the server's.
#[tokio::test]
async fn subcommands_show_only_their_own_flags() {
    let help = |args: &'static [&'static str]| async move {
        let output = hookd().args(args).output().await.expect("hookd --help");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).expect("utf8")
    };
    let token = help(&["token", "--help"]).await;
    for flag in ["--scope", "--ttl", "--jwt-secret", "--data-dir", "--config"] {
        assert!(token.contains(flag), "token --help lacks {flag}:\n{token}");
    }
    for flag in ["--listen", "--retry-schedule", "--max-in-flight", "--database-url"] {
        assert!(!token.contains(flag), "token --help shows {flag}:\n{token}");
    }
    let migrate = help(&["migrate", "--help"]).await;
    assert!(
        migrate.contains("--database-url") && !migrate.contains("--listen"),
        "{migrate}"
    );
    let serve = help(&["serve", "--help"]).await;
    assert!(
        serve.contains("--listen") && serve.contains("--disable-after"),
        "{serve}"
    );
    assert!(!serve.contains("--workers"), "HOOKD_WORKERS is gone:\n{serve}");
}

/// A TOML file fills what neither a flag nor a variable gives: a flag wins over its variable,
/// a variable over the file; the file's keys and values are validated like the rest, each
/// failure one line naming the setting.
#[tokio::test]
async fn a_config_file_sits_below_flags_and_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = dir.path().join("hookd.toml");
    let migrate = |env: Vec<(&'static str, String)>, args: Vec<&'static str>| {
        let file = file.clone();
        let data = data.clone();
        async move {
            let output = hookd()
                .arg("migrate")
                .args(args)
                .env("HOOKD_CONFIG", &file)
                .env("HOOKD_DATA_DIR", &data)
                .envs(env)
                .output()
                .await
                .expect("hookd migrate");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            (output.status.success(), stderr)
        }
    };
    std::fs::write(
        &file,
        "retry_schedule = [\"5s\", \"5m\"]\nmax_in_flight = 64\nintrospection = false\n",
    )
    .expect("write");
    let (ok, stderr) = migrate(vec![], vec![]).await;
    assert!(ok, "strings, lists, numbers and booleans: {stderr}");

    std::fs::write(&file, "retry_schedule = \"soon\"\n").expect("write");
    let (ok, stderr) = migrate(vec![], vec![]).await;
    assert!(
        !ok && stderr.contains("HOOKD_RETRY_SCHEDULE"),
        "the file's value is checked: {stderr}"
    );
    let (ok, stderr) = migrate(vec![("HOOKD_RETRY_SCHEDULE", "5s".into())], vec![]).await;
    assert!(ok, "the variable wins over the file: {stderr}");
    let (ok, stderr) = migrate(
        vec![("HOOKD_RETRY_SCHEDULE", "5s".into())],
        vec!["--retry-schedule", "later"],
    )
    .await;
    assert!(
        !ok && stderr.contains("HOOKD_RETRY_SCHEDULE"),
        "the flag wins over the variable: {stderr}"
    );

    for (text, expected) in [
        (
            "listen = \"127.0.0.1:8080\"\nworkers = 4\n",
            "unknown setting \"workers\"",
        ),
        ("listen = [1, 2]\n", "listen may list strings only"),
        ("listen = \"127.0.0.1:8080\n", "line 1"),
    ] {
        std::fs::write(&file, text).expect("write");
        let (ok, stderr) = migrate(vec![], vec![]).await;
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hookd: ")).collect();
        assert!(!ok, "{text:?} is refused");
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].contains("HOOKD_CONFIG") && lines[0].contains(expected),
            "{text:?}: {stderr}"
        );
    }
}

/// `hookd migrate` with a database it cannot reach names the setting.
#[tokio::test]
async fn migrate_names_the_database_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = hookd()
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path())
        .env("HOOKD_DATABASE_URL", "postgres://hookd@127.0.0.1:1/hookd")
        .output()
        .await
        .expect("hookd migrate");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HOOKD_DATABASE_URL (--database-url)"), "{stderr}");
}

/// `HOOKD_LISTEN` takes a host name.
#[tokio::test]
async fn listen_accepts_a_host_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = hookd()
        .args(["serve", "--listen", "localhost:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookd");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("banner in time")
        .expect("read")
        .expect("a line");
    let base = first.split(" listening on ").nth(1).expect("listening on").to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") || base.starts_with("http://[::1]:"),
        "{base}"
    );
    let health = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(health.status().is_success());
}

#[tokio::test]
async fn migrate_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    for run in ["first", "second"] {
        let output = hookd()
            .arg("migrate")
            .arg("--data-dir")
            .arg(&data)
            .output()
            .await
            .expect("hookd migrate");
        assert!(
            output.status.success(),
            "{run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "migrations applied",
            "{run}"
        );
    }
    assert!(data.join("hookd.db").exists());
}

#[tokio::test]
async fn schema_command_prints_the_committed_sdl() {
    let output = hookd().arg("schema").output().await.expect("hookd schema");
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).expect("utf8"), hookd::graphql::sdl());
}

/// `HOOKD_SQLITE_SYNCHRONOUS` reaches every SQLite connection: NORMAL (1) by default, FULL (2)
/// when asked for, and a server on FULL still delivers.
#[tokio::test]
async fn sqlite_durability_is_the_one_configured() {
    use sea_orm::ConnectionTrait;
    async fn synchronous(app: &crate::support::TestApp) -> (i64, i64) {
        let pragma = || sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, "PRAGMA synchronous");
        let read = |row: Option<sea_orm::QueryResult>| row.expect("row").try_get_by_index::<i64>(0).expect("value");
        let write = read(app.state.db.write.query_one_raw(pragma()).await.expect("pragma"));
        let reader = read(app.state.db.read.query_one_raw(pragma()).await.expect("pragma"));
        (write, reader)
    }
    let normal = crate::support::TestApp::spawn(crate::support::Backend::Sqlite).await;
    assert_eq!(synchronous(&normal).await, (1, 1));
    let full = crate::support::TestApp::delivering(crate::support::Backend::Sqlite, |raw| {
        raw.sqlite_synchronous = Some("full".to_owned());
    })
    .await;
    assert_eq!(synchronous(&full).await, (2, 2));
    let receiver = crate::receiver::Receiver::spawn().await;
    let admin = full.admin();
    full.create_hook_for(&admin, "durable", &receiver.url, &["User.Created"])
        .await;
    full.gql(
        &admin,
        "mutation { createUser(input: { username: \"durable\" }) { id } }",
        json!({}),
    )
    .await;
    let received = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(received[0].json()["event"], "User.Created");
}
