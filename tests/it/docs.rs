//! The user docs in `docs/` travel with the code: the signature samples (`docs/samples/`)
//! verify real deliveries and known answers, `docs/delivery.md` shows them as they are, every
//! `graphql` example runs on a fresh server, and every relative link points to a file in the
//! repository.
//!
//! The samples need `node`, `python3` with the `cryptography` module, and `go`. A missing one
//! is skipped with a message, except under `CI=true`, where it fails the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::db_test;
use crate::receiver::Receiver;
use crate::subscriptions::Client;
use crate::support::{Backend, TestApp};

db_test!(samples_verify_real_deliveries);

/// A verification sample of `docs/samples/` and how to run it.
struct Sample {
    language: &'static str,
    /// The file, from the repository's root.
    file: &'static str,
    /// The program that runs it, then its arguments.
    command: &'static [&'static str],
    /// A command that succeeds when this machine can run the sample.
    probe: &'static [&'static str],
    /// What is missing when the probe fails.
    needs: &'static str,
}

static SAMPLES: [Sample; 3] = [
    Sample {
        language: "Node.js",
        file: "docs/samples/verify.js",
        command: &["node", "docs/samples/verify.js"],
        probe: &["node", "--version"],
        needs: "node (apt-get install nodejs)",
    },
    Sample {
        language: "Python",
        file: "docs/samples/verify.py",
        command: &["python3", "docs/samples/verify.py"],
        probe: &["python3", "-c", "import cryptography"],
        needs: "python3 with the cryptography module (apt-get install python3-cryptography)",
    },
    Sample {
        language: "Go",
        file: "docs/samples/verify.go",
        command: &["go", "run", "docs/samples/verify.go"],
        probe: &["go", "version"],
        needs: "go (apt-get install golang-go)",
    },
];

/// `graphql-norun` blocks: the file, a text the block contains, and why it cannot run on a
/// fresh server, in one word. Every such block must be listed here, and every entry must
/// still match a block.
const NOT_RUN: [(&str, &str, &str); 1] = [("docs/api.md", "updateHook(", "id")];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// The samples this machine can run. Under `CI=true` a missing tool fails instead.
fn runnable_samples() -> Vec<&'static Sample> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    SAMPLES
        .iter()
        .filter(|sample| {
            let works = std::process::Command::new(sample.probe[0])
                .args(&sample.probe[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !works {
                assert!(
                    !ci,
                    "CI=true but {} is missing: the {} sample cannot be skipped in CI",
                    sample.needs, sample.language
                );
                eprintln!("skipped the {} sample: {} is missing", sample.language, sample.needs);
            }
            works
        })
        .collect()
}

/// Runs a sample with `input` on stdin; returns its exit code, stdout and stderr.
async fn run_sample(sample: &Sample, input: &Value) -> (Option<i32>, String, String) {
    let mut child = tokio::process::Command::new(sample.command[0])
        .args(&sample.command[1..])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("the {} sample does not start: {e}", sample.language));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .await
        .expect("write the input");
    drop(stdin);
    // `go run` compiles first: generous.
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {} sample did not finish in time", sample.language))
        .expect("the sample runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a sample and checks the line it prints and its exit code.
async fn assert_sample(sample: &Sample, input: &Value, case: &str, line: &str, code: i32) {
    let (status, stdout, stderr) = run_sample(sample, input).await;
    assert!(
        stdout == line && status == Some(code),
        "{} sample, {case}: expected `{line}` and exit {code}, got `{stdout}` and exit {status:?}\n{stderr}",
        sample.language
    );
}

/// `body` with one byte changed: its last ASCII letter or digit, so it stays UTF-8.
fn change_one_byte(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let i = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("a letter or digit to change");
    bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).expect("still UTF-8")
}

pub(crate) async fn samples_verify_real_deliveries(backend: Backend) {
    let samples = runnable_samples();
    if samples.is_empty() {
        return;
    }
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let created = app
        .gql(
            &app.admin(),
            "mutation($input: CreateHookInput!) { createHook(input: $input) { signingKey publicKey } }",
            json!({ "input": {
                "name": "docs samples",
                "events": ["User.Created"],
                "url": receiver.url,
                "signingScheme": "HMAC_AND_ED25519",
            } }),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let signing_key = created["data"]["createHook"]["signingKey"]
        .as_str()
        .expect("signing key")
        .to_owned();
    let public_key = created["data"]["createHook"]["publicKey"]
        .as_str()
        .expect("public key")
        .to_owned();

    // Text outside ASCII: the samples must verify the bytes as sent, not a re-encoding.
    app.emit("User.Created", json!({ "username": "zoe", "name": "Zoë Ünal ✓" }))
        .await;
    let request = receiver.wait_for(1, Duration::from_secs(30)).await.remove(0);
    let body = String::from_utf8(request.body.to_vec()).expect("a UTF-8 body");
    let signature = request.header("webhook-signature");
    assert!(
        signature.contains("v1,") && signature.contains("v1a,"),
        "both schemes sign: {signature}"
    );
    let timestamp: i64 = request.header("webhook-timestamp").parse().expect("Unix seconds");
    let headers = json!({
        "webhook-id": request.header("webhook-id"),
        "webhook-timestamp": request.header("webhook-timestamp"),
        "webhook-signature": signature,
        "logto-signature-sha-256": request.header("logto-signature-sha-256"),
    });
    let input = |body: &str, now: i64| {
        json!({
            "body": body,
            "headers": headers,
            "signingKey": signing_key,
            "publicKey": public_key,
            "now": now,
        })
    };
    let now = chrono::Utc::now().timestamp();
    let tampered = change_one_byte(&body);
    for sample in samples {
        let delivered = input(&body, now);
        assert_sample(sample, &delivered, "as delivered", "logto=ok standard=ok ed25519=ok", 0).await;
        let changed = input(&tampered, now);
        let case = "one byte of the body changed";
        assert_sample(sample, &changed, case, "logto=bad standard=bad ed25519=bad", 1).await;
        // The Logto signature has no timestamp; the Standard Webhooks ones are too old.
        let late = input(&body, timestamp + 600);
        let case = "10 minutes after the timestamp";
        assert_sample(sample, &late, case, "logto=ok standard=bad ed25519=bad", 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_answer_vectors() {
    // Standard Webhooks' own test vector.
    let standard = json!({
        "body": r#"{"test": 2432232314}"#,
        "headers": {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
        "signingKey": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "publicKey": null,
        "now": 1614265330,
    });
    // The same message signed with the key of RFC 8032, section 7.1, test 1 (the key of
    // src/delivery/sign.rs's test); Node's crypto and Python's cryptography agree on it.
    let ed25519 = json!({
        "body": r#"{"test": 2432232314}"#,
        "headers": {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw==",
        },
        "signingKey": null,
        "publicKey": "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "now": 1614265330,
    });
    // A Logto webhook as Logto signs it.
    let logto_body = r#"{"event":"Role.Deleted","createdAt":"2026-11-26T19:47:15.295Z","userAgent":"logto-anchor-driver/1.0","ip":"127.0.0.1","path":"/roles/ywtn6f04y1c7md4ti56gg","method":"DELETE","status":204,"params":{"0":"/ywtn6f04y1c7md4ti56gg","id":"ywtn6f04y1c7md4ti56gg"},"matchedRoute":"/roles/:id","hookId":"8908f861f2swuzvckiha2"}"#;
    let logto = json!({
        "body": logto_body,
        "headers": {
            "logto-signature-sha-256": "81d2be5577e6f9081b0aaec9c5aa9a7a717da405adacb2f7c683594b85ca4f40",
        },
        "signingKey": "bpuNFBxbrsO4dPemzAyBjDt69jfciUOa",
        "publicKey": null,
        "now": 1795725601,
    });
    // The example request of docs/delivery.md, all three schemes.
    let example: Value = serde_json::from_str(&read("docs/samples/example-input.json")).expect("example input");

    let mut late = standard.clone();
    late["now"] = json!(1614265330 + 600);
    let mut other_key = logto.clone();
    other_key["signingKey"] = json!("bpuNFBxbrsO4dPemzAyBjDt69jfciUOb");

    for sample in runnable_samples() {
        let cases = [
            (
                &standard,
                "Standard Webhooks vector",
                "logto=absent standard=ok ed25519=absent",
                0,
            ),
            (&ed25519, "Ed25519 vector", "logto=absent standard=absent ed25519=ok", 0),
            (&logto, "Logto vector", "logto=ok standard=absent ed25519=absent", 0),
            (
                &example,
                "docs/delivery.md's example",
                "logto=ok standard=ok ed25519=ok",
                0,
            ),
            (
                &late,
                "Standard Webhooks vector, late",
                "logto=absent standard=bad ed25519=absent",
                1,
            ),
            (
                &other_key,
                "Logto vector, another key",
                "logto=bad standard=absent ed25519=absent",
                1,
            ),
        ];
        for (input, case, line, code) in cases {
            assert_sample(sample, input, case, line, code).await;
        }
    }
}

/// A fenced code block of a markdown file.
struct Block {
    /// What follows the opening fence: `graphql`, `js`, …
    info: String,
    /// The lines between the fences.
    text: String,
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim().to_owned();
                open = Some((info, Vec::new()));
            }
            None => {}
            Some((info, lines)) if fence => blocks.push(Block {
                info,
                text: lines.join("\n"),
            }),
            Some((info, mut lines)) => {
                lines.push(line);
                open = Some((info, lines));
            }
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    blocks
}

/// The lines between a file's `docs:begin verify` and `docs:end verify` comments.
fn marked_region(file: &str) -> String {
    let text = read(file);
    let lines: Vec<&str> = text.lines().collect();
    let marker = |word: &str| {
        let wanted = format!("docs:{word} verify");
        lines
            .iter()
            .position(|line| line.trim().trim_start_matches(['/', '#']).trim() == wanted)
            .unwrap_or_else(|| panic!("{file} has no `{wanted}` comment"))
    };
    let (begin, end) = (marker("begin"), marker("end"));
    assert!(begin < end, "{file}: docs:begin must come before docs:end");
    lines[begin + 1..end].join("\n")
}

#[test]
fn docs_show_the_samples_as_they_are() {
    let shown: Vec<String> = fenced_blocks(&read("docs/delivery.md"))
        .into_iter()
        .map(|block| block.text)
        .collect();
    for sample in &SAMPLES {
        let region = marked_region(sample.file);
        assert!(
            shown.contains(&region),
            "docs/delivery.md must show the lines between the docs:begin and docs:end comments of {} \
             as one fenced block, exactly. They are:\n{region}",
            sample.file
        );
    }
}

/// The markdown files of `docs/`, as (path from the root, text), in name order.
fn docs() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs/ entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = format!("docs/{name}");
            let text = read(&path);
            (path, text)
        })
        .collect()
}

/// Sends one example in a tenant of its own, as on a fresh server, and checks it succeeds.
/// A subscription runs over a WebSocket: the test then creates a hook and emits a
/// `User.Created` event in that tenant, and the first message must be data, not an error.
async fn run_example(app: &TestApp, tenant: &str, file: &str, query: &str) {
    let token = app.token("admin", tenant);
    if query.trim_start().starts_with("subscription") {
        let mut client = Client::connect_at(&app.base_url, &token).await;
        client.subscribe("docs", query).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let made = app
            .gql(
                &token,
                r#"mutation {
                    createHook(input: { name: "trigger", events: ["User.Created"], url: "https://hookd-docs.invalid/hook" }) { id }
                    emitEvent(input: { type: "User.Created", data: { id: "u1" } }) { id }
                }"#,
                json!({}),
            )
            .await;
        assert_eq!(made["errors"], Value::Null, "{made}");
        let message = client.next().await;
        assert!(
            message["type"] == "next" && message["payload"]["errors"].is_null(),
            "{file}: this subscription fails on a fresh server:\n{query}\n{message}"
        );
        return;
    }
    let response = app.gql(&token, query, json!({})).await;
    assert!(
        response["errors"].is_null() && !response["data"].is_null(),
        "{file}: this example fails on a fresh server:\n{query}\n{response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_graphql_examples_run() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut ran = 0;
    let mut not_run: Vec<(String, String)> = Vec::new();
    for (file, markdown) in docs() {
        for block in fenced_blocks(&markdown) {
            match block.info.as_str() {
                "graphql" => {
                    assert!(
                        !block.text.contains('…'),
                        "{file}: a graphql example must run as written, without `…`:\n{}",
                        block.text
                    );
                    run_example(&app, &format!("docs-{ran}"), &file, &block.text).await;
                    ran += 1;
                }
                "graphql-norun" => not_run.push((file.clone(), block.text)),
                _ => {}
            }
        }
    }
    assert!(ran >= 10, "only {ran} graphql examples found in docs/");
    for (file, text) in &not_run {
        let listed = NOT_RUN
            .iter()
            .filter(|(f, contains, _)| file.as_str() == *f && text.contains(*contains))
            .count();
        assert_eq!(
            listed, 1,
            "{file}: a graphql-norun block must match exactly one NOT_RUN entry (keep them rare):\n{text}"
        );
    }
    for (f, contains, why) in NOT_RUN {
        assert!(
            not_run
                .iter()
                .any(|(file, text)| file.as_str() == f && text.contains(contains)),
            "NOT_RUN lists a block that is gone: {f}, {contains} ({why})"
        );
    }
}

/// The targets of the inline links `[text](target)` of a markdown text, outside code.
fn links(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Code spans are the odd pieces between backticks; drop them.
        let prose = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            targets.push(target.trim_matches(|c: char| c == '<' || c == '>').to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub gives the headings of a markdown text.
fn anchors(markdown: &str) -> Vec<String> {
    let mut anchors: Vec<String> = Vec::new();
    let mut slugs: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let title = line.trim_start_matches('#');
        if in_fence || title.len() == line.len() || !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let seen = slugs.iter().filter(|s| **s == slug).count();
        anchors.push(if seen == 0 {
            slug.clone()
        } else {
            format!("{slug}-{seen}")
        });
        slugs.push(slug);
    }
    anchors
}

#[test]
fn docs_link_only_inside_the_repository() {
    let root = repo().canonicalize().expect("the repository");
    let mut files: Vec<(String, String)> = docs();
    files.push(("README.md".to_owned(), read("README.md")));
    let mut broken = Vec::new();
    for (file, text) in &files {
        let dir = root.join(file).parent().map(Path::to_path_buf).expect("a directory");
        for target in links(text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                // The docs and the README travel with the code: they stay inside the repository.
                broken.push(format!("{file}: {target} leaves the repository"));
                continue;
            }
            if target.is_empty() {
                broken.push(format!("{file}: a link without a target"));
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() {
                root.join(file)
            } else {
                dir.join(path)
            };
            match resolved.canonicalize() {
                Ok(found) if found.starts_with(&root) => {
                    let markdown = found.extension().is_some_and(|e| e == "md");
                    if markdown && !anchor.is_empty() {
                        let headings = anchors(&std::fs::read_to_string(&found).unwrap_or_default());
                        if !headings.iter().any(|a| a == anchor) {
                            broken.push(format!("{file}: {target}: no heading has the anchor #{anchor}"));
                        }
                    }
                }
                Ok(_) => broken.push(format!("{file}: {target} points outside the repository")),
                Err(_) => broken.push(format!("{file}: {target} does not exist")),
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every TOML example (the README's and the docs') is a configuration hookd accepts: read as a
/// `--config` file and validated like a real one.
#[test]
fn toml_examples_are_valid_configurations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = docs();
    files.push(("README.md".to_owned(), read("README.md")));
    let mut checked = 0;
    for (file, text) in &files {
        for block in fenced_blocks(text).into_iter().filter(|b| b.info == "toml") {
            let path = dir.path().join("hookd.toml");
            std::fs::write(&path, &block.text).expect("write");
            let raw = hookd::config::RawSettings {
                config: Some(path.display().to_string()),
                data_dir: Some(dir.path().display().to_string()),
                ..Default::default()
            };
            if let Err(e) = hookd::config::Config::from_raw(raw) {
                panic!("{file}: the TOML example is refused: {e}\n{}", block.text);
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "the README and operations.md show a configuration file");
}

/// The backup commands of docs/operations.md, run as written: a SQLite data dir backed up with
/// `sqlite3 … ".backup …"` and its key files copied, and a PostgreSQL database dumped with
/// `pg_dump` and restored with `pg_restore` (the command the page gives), each restored into a
/// new place where a new hookd serves the same hook with the same signing key.
#[tokio::test]
async fn backup_commands_restore() {
    let text = read("docs/operations.md");
    let shell: Vec<String> = fenced_blocks(&text)
        .into_iter()
        .filter(|b| b.info == "sh")
        .map(|b| b.text)
        .collect();
    let sqlite = shell
        .iter()
        .find(|b| b.contains("sqlite3 "))
        .expect("operations.md shows the SQLite backup");
    let dump = shell
        .iter()
        .find(|b| b.contains("pg_dump "))
        .expect("operations.md shows the PostgreSQL dump");
    let restore = text
        .split('`')
        .find(|s| s.starts_with("pg_restore "))
        .expect("operations.md gives the restore command");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let missing = ["sqlite3", "pg_dump", "pg_restore", "sh"]
        .into_iter()
        .find(|tool| !on_path(tool));
    if let Some(tool) = missing {
        assert!(!ci, "{tool} is needed to run the backup commands of docs/operations.md");
        eprintln!("skipping: {tool} is not installed");
        return;
    }

    // SQLite: run the block in a directory whose data/ is hookd's data dir.
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let (signing_key, hook_id) = {
        let (_child, base, token) = serve(&dir.path().join("data"), None).await;
        create_hook(&base, &token).await
    };
    run_shell(
        &sqlite.replace("/path/to/your/key/store/", &format!("{}/", keys.display())),
        dir.path(),
        &[],
    )
    .await;
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("restored dir");
    std::fs::copy(dir.path().join("backup.db"), restored.join("hookd.db")).expect("the backup");
    for file in ["master-key", "jwt-secret"] {
        std::fs::copy(keys.join(file), restored.join(file)).expect("a key file");
    }
    let (_child, base, token) = serve(&restored, None).await;
    assert_eq!(
        signing_key_of(&base, &token, &hook_id).await,
        signing_key,
        "the SQLite backup"
    );

    // PostgreSQL: dump with the page's command, restore into a new database with its command.
    if crate::support::postgres_admin_url().is_none() {
        assert!(!ci, "the PostgreSQL backup needs HOOKD_TEST_POSTGRES_URL");
        return;
    }
    let pg = tempfile::tempdir().expect("tempdir");
    let source = crate::support::fresh_database(Backend::Postgres, &pg).await;
    let (signing_key, hook_id) = {
        let (_child, base, token) = serve(&pg.path().join("data"), Some(&source)).await;
        create_hook(&base, &token).await
    };
    run_shell(dump, pg.path(), &[("HOOKD_DATABASE_URL", &source)]).await;
    let target = crate::support::fresh_database(Backend::Postgres, &pg).await;
    run_shell(restore, pg.path(), &[("HOOKD_DATABASE_URL", &target)]).await;
    let (_child, base, token) = serve(&pg.path().join("data"), Some(&target)).await;
    assert_eq!(
        signing_key_of(&base, &token, &hook_id).await,
        signing_key,
        "the PostgreSQL dump"
    );
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Runs `script` with `sh -e` in `dir`; it must succeed.
async fn run_shell(script: &str, dir: &Path, env: &[(&str, &str)]) {
    let output = tokio::process::Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("sh");
    assert!(
        output.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `hookd serve` on `data` (and `database`, else SQLite in `data`): the child, its base URL and
/// an admin token minted with its secret.
async fn serve(data: &Path, database: Option<&str>) -> (tokio::process::Child, String, String) {
    let mut command = crate::support::hookd_binary();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(url) = database {
        command.env("HOOKD_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("spawn hookd");
    let base = crate::support::read_banner(&mut child).await.base;
    let minted = crate::support::hookd_binary()
        .args(["token", "--scope", "admin", "--data-dir"])
        .arg(data)
        .output()
        .await
        .expect("hookd token");
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let token = String::from_utf8(minted.stdout).expect("utf8").trim().to_owned();
    (child, base, token)
}

/// A hook: its signing key and id.
async fn create_hook(base: &str, token: &str) -> (String, String) {
    let response = crate::support::post_graphql(
        base,
        token,
        "mutation { createHook(input: { name: \"backed up\", events: [\"User.Created\"], url: \"https://example.com/hook\" }) { id signingKey } }",
        json!({}),
    )
    .await;
    let hook = &response["data"]["createHook"];
    let key = hook["signingKey"].as_str().unwrap_or_else(|| panic!("{response}"));
    (key.to_owned(), hook["id"].as_str().expect("id").to_owned())
}

async fn signing_key_of(base: &str, token: &str, id: &str) -> String {
    let response = crate::support::post_graphql(
        base,
        token,
        "query($id: ID!) { hook(id: $id) { signingKey } }",
        json!({ "id": id }),
    )
    .await;
    response["data"]["hook"]["signingKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}
