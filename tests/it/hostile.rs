//! Hostile input: whatever a client sends, it gets a coded error and changes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::receiver::Receiver;
use crate::support::{Backend, TestApp, error_code, first_error, fresh_database, post_graphql};

db_test!(
    a_nul_in_any_string_is_refused_the_same_on_both_backends,
    a_response_larger_than_the_cap_is_one_error,
    aliases_and_batches_cannot_multiply_test_deliveries,
    aliases_and_batches_cannot_multiply_mutations,
    nested_fields_need_the_scope_of_their_type,
    hook_urls_and_headers_are_strict,
    smaller_holes,
);

/// 250 KiB of event data: near the 256 KiB limit.
fn big_data(n: usize) -> Value {
    json!({ "n": n, "blob": "x".repeat(250 * 1024) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_heavy_queries_are_refused_and_memory_stays_bounded() {
    // The real binary, so its RSS is its own.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(Backend::Sqlite, &dir).await;
    let instance = crate::crash::start_with(&url, dir.path(), &[]).await;
    let admin = crate::crash::admin_token();
    for n in 0..20 {
        let response = post_graphql(
            &instance.base,
            &admin,
            "mutation($data: JSON!) { emitEvent(input: { type: \"User.Created\", data: $data }) { id } }",
            json!({ "data": big_data(n) }),
        )
        .await;
        assert_eq!(response["errors"], Value::Null, "{response}");
    }
    // 200 aliases of a page of 100 events with their payloads: 2,000 payloads of 250 KiB, 500 MB.
    let aliases: String = (0..200)
        .map(|i| format!("a{i}: events(first: 100) {{ edges {{ node {{ id payload }} }} }} "))
        .collect();
    let query = format!("{{ {aliases} }}");
    let reader = crate::crash::token("deliveries:read");
    let mut peak = 0;
    for _round in 0..5 {
        let requests = (0..4).map(|_| post_graphql(&instance.base, &reader, &query, json!({})));
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");
            assert!(response["data"].is_null());
        }
        peak = peak.max(rss_bytes(instance.child.id().expect("pid")));
    }
    eprintln!(
        "hookd RSS while refusing the 200-alias query: {} MiB",
        peak / (1024 * 1024)
    );
    assert!(peak < 200 * 1024 * 1024, "RSS {peak} bytes");
    // A page of 20 payloads is within the limits and arrives whole.
    let page = post_graphql(
        &instance.base,
        &reader,
        "{ events(first: 20) { edges { node { payload } } } }",
        json!({}),
    )
    .await;
    assert_eq!(page["errors"], Value::Null);
    assert_eq!(page["data"]["events"]["edges"].as_array().map(Vec::len), Some(20));
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

async fn a_response_larger_than_the_cap_is_one_error(backend: Backend) {
    let app = TestApp::spawn_with(backend, |raw| raw.max_response_bytes = Some("1000000".into())).await;
    for n in 0..6 {
        app.emit("User.Created", big_data(n)).await;
    }
    let reader = app.token("deliveries:read", "default");
    let query = "query($n: Int) { events(first: $n) { edges { node { id payload } } } }";
    // Three payloads (750 KiB) fit in 1 MB; six do not.
    let fits = app.gql(&reader, query, json!({ "n": 3 })).await;
    assert_eq!(fits["errors"], Value::Null);
    let refused = app.gql(&reader, query, json!({ "n": 6 })).await;
    assert_eq!(error_code(&refused), Some("RESPONSE_TOO_LARGE"), "{refused}");
    assert_eq!(
        refused["errors"].as_array().map(Vec::len),
        Some(1),
        "one error, not one per field"
    );
    assert!(refused["data"].is_null(), "no partial data");
}

async fn aliases_and_batches_cannot_multiply_test_deliveries(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let events: Vec<&str> = ["User.Created", "User.Deleted", "Role.Created"].to_vec();
    let hook = app.hook_to(&receiver.url, &events).await;
    let test = |alias: &str| {
        format!(
            "{alias}: testHook(id: $id, events: [{}]) {{ ok }}",
            vec!["\"User.Created\""; 20].join(", ")
        )
    };
    // Two aliases of 20 test deliveries: the second passes the per-request bound of 30.
    let response = app
        .gql(
            &app.admin(),
            &format!("mutation($id: ID!) {{ {} {} }}", test("a"), test("b")),
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(response["data"]["a"].as_array().map(Vec::len), Some(20), "{response}");
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");
    assert_eq!(receiver.count(), 20);

    // A batch of ten operations shares that bound.
    let operation =
        json!({ "query": format!("mutation($id: ID!) {{ {} }}", test("t")), "variables": { "id": hook["id"] } });
    let batch: Vec<Value> = vec![operation; 10];
    let answers: Value = app
        .client()
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(app.admin())
        .json(&batch)
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("JSON");
    let sent = answers
        .as_array()
        .expect("batch answers")
        .iter()
        .filter(|a| a["errors"].is_null())
        .count();
    assert_eq!(sent, 1, "only the first operation fits in 30: {answers}");
    assert_eq!(receiver.count(), 40);

    // Across requests, one tenant has at most 30 test deliveries on the wire.
    receiver.set_delay(Duration::from_secs(3));
    let admin = app.admin();
    let one = format!("mutation($id: ID!) {{ {} }}", test("t"));
    let requests = (0..3).map(|_| app.gql(&admin, &one, json!({ "id": hook["id"] })));
    let answers = futures_util::future::join_all(requests).await;
    let busy = answers.iter().filter(|a| error_code(a) == Some("BUSY")).count();
    assert!(
        busy >= 2,
        "two of three concurrent 20-event tests must wait: {answers:?}"
    );
    assert!(receiver.count() <= 40 + 30);
}

async fn aliases_and_batches_cannot_multiply_mutations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let aliases: String = (0..101)
        .map(|i| format!("e{i}: emitEvent(input: {{ type: \"User.Created\", data: {{}} }}) {{ id }} "))
        .collect();
    let response = app
        .gql(&app.admin(), &format!("mutation {{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");
    assert_eq!(app.count_rows("events").await, 0, "none of the 101 ran");
    // Fragments cannot multiply the counting either (it runs before validation): a fragment
    // that spreads itself ten times, and a chain of 17 fragments each spreading the next ten
    // times (10^17 paths) are answered at once, with an error, and run nothing.
    let cycle = format!(
        "mutation {{ ...A }} fragment A on Mutation {{ {} }}",
        "...A ".repeat(10)
    );
    let chain: String = (0..17)
        .map(|i| {
            format!(
                "fragment F{i} on Mutation {{ {} }} ",
                format!("...F{} ", i + 1).repeat(10)
            )
        })
        .collect();
    let chain = format!(
        "mutation {{ ...F0 }} {chain} fragment F17 on Mutation {{ emitEvent(input: {{ type: \"User.Created\", data: {{}} }}) {{ id }} }}"
    );
    let reads = chain
        .replace("on Mutation", "on Query")
        .replacen("mutation", "query", 1)
        .replace(
            "emitEvent(input: { type: \"User.Created\", data: {} }) { id }",
            "hooks { totalCount }",
        );
    // Each twice: the second time its parsed document comes from the cache, measured the same.
    for query in [cycle, chain, reads] {
        for _ in 0..2 {
            let response = app.gql(&app.admin(), &query, json!({})).await;
            assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");
        }
    }
    assert_eq!(app.count_rows("events").await, 0);
}

async fn a_nul_in_any_string_is_refused_the_same_on_both_backends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin();
    let nul = "bad\u{0}string";
    // (what, query, variables): each puts a NUL into a different kind of string input.
    let cases = [
        (
            "hook name",
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
            json!({ "input": { "name": nul, "events": ["User.Created"], "url": "https://example.com/hook" } }),
        ),
        (
            "hook header value",
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
            json!({ "input": { "name": "h", "events": ["User.Created"], "url": "https://example.com/hook",
                               "headers": [{ "name": "x-key", "value": nul }] } }),
        ),
        (
            "an id",
            "query($id: ID!) { hook(id: $id) { id } }",
            json!({ "id": nul }),
        ),
        (
            "a search",
            "query($s: String) { users(search: $s) { totalCount } }",
            json!({ "s": nul }),
        ),
        (
            "a sign-in identifier",
            "mutation($input: SignInInput!) { signIn(input: $input) { sessionId } }",
            json!({ "input": { "identifier": nul, "password": "whatever-password" } }),
        ),
        (
            "an idempotency key",
            "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
            json!({ "input": { "type": "User.Created", "data": {}, "idempotencyKey": nul } }),
        ),
        (
            "a JSON payload's string",
            "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
            json!({ "input": { "type": "User.Created", "data": { "deep": [{ "x": nul }] } } }),
        ),
        (
            "a description",
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "role", "description": nul } }),
        ),
        (
            "a user name, as a literal",
            "mutation { createUser(input: { username: \"a\\u0000b\" }) { id } }",
            json!({}),
        ),
        (
            "a variable's default",
            "query($s: String = \"x\\u0000\") { users(search: $s) { totalCount } }",
            json!({}),
        ),
    ];
    // Twice: the second time the document comes from the parse cache, and is checked the same.
    for round in ["first", "second"] {
        for (what, query, variables) in &cases {
            let response = app.gql(&admin, query, variables.clone()).await;
            assert_eq!(
                error_code(&response),
                Some("BAD_USER_INPUT"),
                "{what} ({round}): {response}"
            );
            let message = response["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("NUL"), "{what} ({round}): {message}");
            assert!(response["data"].is_null(), "{what} ({round}): nothing ran: {response}");
        }
    }
    for table in ["hooks", "users", "roles", "events", "sign_in_failures"] {
        assert_eq!(app.count_rows(table).await, 0, "nothing stored in {table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(Backend::Sqlite, &dir).await;
    let instance = crate::crash::start_with(&url, dir.path(), &[]).await;
    let front = crate::crash::token("interactions:write");
    let registered = post_graphql(
        &instance.base,
        &front,
        "mutation { register(input: { username: \"lena\", password: \"first password\" }) { userId } }",
        json!({}),
    )
    .await;
    assert_eq!(registered["errors"], Value::Null, "{registered}");
    const RESET: &str =
        "mutation($i: String!, $p: String!) { resetPassword(input: { identifier: $i, newPassword: $p }) { userId } }";

    // A request that will be refused hashes nothing, so it never waits for Argon2 capacity.
    let refused = (0..150).map(|_| post_graphql(&instance.base, &front, RESET, json!({ "i": "lena", "p": "short" })));
    for answer in futures_util::future::join_all(refused).await {
        assert_eq!(error_code(&answer), Some("BAD_USER_INPUT"), "{answer}");
    }

    // 150 at once, half for an unknown identifier: each gets an answer or BUSY, and unknown
    // identifiers take the same Argon2 capacity as known ones (they are turned away BUSY too).
    let calls = (0..150).map(|i| {
        let identifier = if i % 2 == 0 {
            "lena".to_owned()
        } else {
            format!("nobody{i}")
        };
        let base = instance.base.clone();
        let front = front.clone();
        async move {
            let answer = post_graphql(
                &base,
                &front,
                RESET,
                json!({ "i": identifier, "p": "a new long password" }),
            )
            .await;
            (i % 2 == 0, answer)
        }
    });
    let pid = instance.child.id().expect("pid");
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        for _ in 0..100 {
            peak = peak.max(rss_bytes(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let answers = futures_util::future::join_all(calls).await;
    let mut busy = [0, 0];
    for (known, answer) in &answers {
        match error_code(answer) {
            None => assert!(*known, "{answer}"),
            Some("UNAUTHENTICATED") => assert!(!known, "{answer}"),
            Some("BUSY") => busy[usize::from(*known)] += 1,
            other => panic!("unexpected {other:?}: {answer}"),
        }
    }
    let peak = sampler.await.expect("sampler");
    eprintln!(
        "150 concurrent resets: {} known and {} unknown turned away BUSY; peak RSS {} MiB",
        busy[1],
        busy[0],
        peak / (1024 * 1024)
    );
    assert!(busy[0] > 0 && busy[1] > 0, "both kinds hit the bound: {busy:?}");
    assert!(peak < 200 * 1024 * 1024, "RSS {peak} bytes");
    // And the server still answers at once.
    let health = reqwest::get(format!("{}/healthz", instance.base))
        .await
        .expect("healthz");
    assert!(health.status().is_success());
}

async fn nested_fields_need_the_scope_of_their_type(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    let ids = json!({ "hook": hook["id"], "delivery": delivery["id"] });
    // (token scopes, operation, what it reaches): each leads from one scope's types to another's.
    let table = [
        (
            "deliveries:read",
            "{ deliveries { edges { node { id hook { url headers { name value } } } } } }",
            "Delivery.hook",
        ),
        (
            "deliveries:read",
            "query($delivery: ID!) { delivery(id: $delivery) { hook { id } } }",
            "Delivery.hook",
        ),
        (
            "deliveries:read",
            "{ events { edges { node { deliveries { hook { url } } } } } }",
            "Event.deliveries.hook",
        ),
        (
            "hooks:read",
            "{ hooks { edges { node { deliveries { totalCount } } } } }",
            "Hook.deliveries",
        ),
        (
            "hooks:read",
            "{ hooks { edges { node { executionStats { requestCount } } } } }",
            "Hook.executionStats",
        ),
        (
            "hooks:read",
            "{ hooks { edges { node { signingKey } } } }",
            "Hook.signingKey",
        ),
        (
            "events:write",
            "mutation { emitEvent(input: { type: \"User.Created\", data: {} }) { id deliveries { id } } }",
            "emitEvent → Event.deliveries",
        ),
        (
            "deliveries:write",
            "mutation($delivery: ID!) { redeliver(deliveryId: $delivery) { id hook { url } } }",
            "redeliver → Delivery.hook",
        ),
        (
            "deliveries:write",
            "mutation($delivery: ID!) { redeliver(deliveryId: $delivery) { id event { payload } } }",
            "redeliver → Delivery.event",
        ),
        (
            "hooks:write",
            "mutation($hook: ID!) { updateHook(id: $hook, input: { name: \"renamed\" }) { id deliveries { totalCount } } }",
            "updateHook → Hook.deliveries",
        ),
        (
            "hooks:write",
            "mutation { createHook(input: { name: \"x\", events: [\"User.Created\"], url: \"https://example.com/h\" }) { id executionStats { requestCount } } }",
            "createHook → Hook.executionStats",
        ),
    ];
    for (scopes, query, reaches) in table {
        let token = app.token(scopes, "default");
        let response = app.gql(&token, query, ids.clone()).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{scopes} reached {reaches}: {response}"
        );
        let text = response.to_string();
        assert!(!text.contains(&receiver.url), "{reaches} leaked the URL: {text}");
    }
    // The refused mutations changed nothing.
    assert_eq!(app.count_rows("events").await, 1, "no event was emitted");
    assert_eq!(app.count_rows("hooks").await, 1, "no hook was created");
    let now = app
        .gql(
            &app.admin(),
            "query($hook: ID!) { hook(id: $hook) { name } }",
            ids.clone(),
        )
        .await;
    assert_eq!(now["data"]["hook"]["name"], "receiver", "the hook was not renamed");
    assert_eq!(
        app.deliveries_of(&event_id).await[0]["attemptCount"],
        1,
        "nothing was redelivered"
    );
    // With both scopes, the same fields are there.
    let both = app.token("deliveries:read hooks:read", "default");
    let response = app.gql(&both, table[0].1, json!({})).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    assert_eq!(
        response["data"]["deliveries"]["edges"][0]["node"]["hook"]["url"],
        receiver.url.as_str()
    );
}

async fn hook_urls_and_headers_are_strict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let create = |url: String, headers: Value| {
        let app = &app;
        async move {
            app.gql(
                &app.admin(),
                "mutation($input: CreateHookInput!) { createHook(input: $input) { url } }",
                json!({ "input": { "name": "h", "events": ["User.Created"], "url": url, "headers": headers } }),
            )
            .await
        }
    };
    let refused = [
        " https://example.com/h",
        "https://example.com/h ",
        "https://example.com/h\n",
        "https://exa\tmple.com/h",
        "http:///x",
        "https:\\\\example.com/h",
        "https://example.com:0/h",
        // IPv6 forms that embed an internal IPv4 address.
        "http://[::ffff:0:7f00:1]/",
        "http://[2002:7f00:1::1]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2001:0:a9fe:a9fe::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ];
    for url in refused {
        let response = create(url.to_owned(), json!([])).await;
        assert_eq!(
            first_error(&response),
            (Some("BAD_USER_INPUT"), Some("url")),
            "{url:?}: {response}"
        );
    }
    let long_name = "x".repeat(10_000);
    let response = create(
        "https://example.com/h".into(),
        json!([{ "name": long_name, "value": "v" }]),
    )
    .await;
    assert_eq!(
        first_error(&response),
        (Some("BAD_USER_INPUT"), Some("headers")),
        "{response}"
    );
    assert_eq!(app.count_rows("hooks").await, 0, "nothing stored");
    // What is stored is the normalised URL.
    let stored = create("HTTPS://Example.COM:443/a/../hook?x=1".into(), json!([])).await;
    assert_eq!(
        stored["data"]["createHook"]["url"], "https://example.com/hook?x=1",
        "{stored}"
    );
}

async fn smaller_holes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The Bearer scheme is case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .gql_raw(
                Some(&format!("{scheme} {}", app.admin())),
                "{ hooks { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(response["data"]["hooks"]["totalCount"], 0, "{scheme}: {response}");
    }
    // GET honours operationName.
    let document = "query A { hooks { totalCount } } query B { eventTypes { name } }";
    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", app.base_url),
        [("query", document), ("operationName", "B")],
    )
    .expect("url");
    let response: Value = app
        .client()
        .get(url)
        .bearer_auth(app.admin())
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert!(response["data"]["eventTypes"].is_array(), "{response}");
    assert!(response["data"]["hooks"].is_null(), "{response}");
    // testHook says what class of address a name resolves to, not the address.
    let hook = app.create_hook(&app.admin(), "h", "https://example.com/h").await;
    let response = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { testHook(id: $id, events: [\"User.Created\"], url: \"http://localhost:9/\") { error } }",
            json!({ "id": hook["id"] }),
        )
        .await;
    let error = response["data"]["testHook"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("localhost resolves to a loopback address"), "{error}");
    assert!(!error.contains("127.0.0.1") && !error.contains("::1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("fresh");
    let url = format!("sqlite://{}?mode=rwc", data.join("hookd.db").display());
    let instance = crate::crash::start_with(&url, &data, &[]).await;
    // A write, so the WAL files exist.
    let response = post_graphql(
        &instance.base,
        &crate::crash::admin_token(),
        "mutation { emitEvent(input: { type: \"User.Created\", data: {} }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    let mode = |path: std::path::PathBuf| std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(data.clone()).expect("dir"), 0o700, "the data directory");
    for file in ["hookd.db", "hookd.db-wal", "hookd.db-shm"] {
        assert_eq!(mode(data.join(file)).expect(file), 0o600, "{file}");
    }
}
