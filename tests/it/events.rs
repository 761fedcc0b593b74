//! Events and deliveries through GraphQL: emit, custom types, queries, redelivery, replay,
//! testHook, statistics, metrics, tenants.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::receiver::{Receiver, Reply};
use crate::support::{Backend, DELIVERY_FIELDS, HARNESS_SQL, TestApp, error_code, first_error};

db_test!(
    emit_validation_and_idempotency,
    custom_event_types,
    event_and_delivery_queries,
    redeliver_makes_one_manual_attempt,
    replay_requeues_failed_deliveries,
    test_hook_sends_logto_test_payloads,
    deliveries_are_tenant_scoped,
    history_older_than_retention_is_pruned,
);

const EMIT: &str = "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id type payload } }";

pub(crate) async fn emit_validation_and_idempotency(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let token = app.admin();

    let unknown = app
        .gql(
            &token,
            EMIT,
            json!({ "input": { "type": "User.Exploded", "data": {} } }),
        )
        .await;
    assert_eq!(first_error(&unknown), (Some("BAD_USER_INPUT"), Some("type")));
    let big = "x".repeat(256 * 1024);
    let too_big = app
        .gql(
            &token,
            EMIT,
            json!({ "input": { "type": "User.Created", "data": { "blob": big } } }),
        )
        .await;
    assert_eq!(error_code(&too_big), Some("LIMIT_EXCEEDED"));
    let empty_key = app
        .gql(
            &token,
            EMIT,
            json!({ "input": { "type": "User.Created", "data": {}, "idempotencyKey": "" } }),
        )
        .await;
    assert_eq!(
        first_error(&empty_key),
        (Some("BAD_USER_INPUT"), Some("idempotencyKey"))
    );
    assert_eq!(app.count_rows("events").await, 0, "rejected emits store nothing");

    let input = json!({ "input": { "type": "User.Created", "data": { "n": 1 }, "idempotencyKey": "order-42" } });
    let first = app.gql(&token, EMIT, input.clone()).await;
    let again = app.gql(&token, EMIT, input.clone()).await;
    assert_eq!(
        first["data"]["emitEvent"]["id"], again["data"]["emitEvent"]["id"],
        "{again}"
    );
    assert_eq!(app.count_rows("events").await, 1);
    assert_eq!(app.count_rows("deliveries").await, 1);
    receiver.wait_for(1, Duration::from_secs(30)).await;
    // Keys are per tenant.
    let other = app.token("admin", "other");
    let theirs = app.gql(&other, EMIT, input).await;
    assert_ne!(theirs["data"]["emitEvent"]["id"], first["data"]["emitEvent"]["id"]);

    let payload = &first["data"]["emitEvent"]["payload"];
    let keys: Vec<&str> = payload
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["event", "createdAt", "data", "eventId"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.count(), 1, "the repeated emit sent nothing");
}

pub(crate) async fn custom_event_types(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let token = app.admin();
    let define = |name: &str| {
        let app = &app;
        let token = token.clone();
        let name = name.to_owned();
        async move {
            app.gql(
                &token,
                "mutation($input: DefineEventTypeInput!) { defineEventType(input: $input) { name group description } }",
                json!({ "input": { "name": name, "description": "An invoice was paid." } }),
            )
            .await
        }
    };
    let defined = define("Invoice.Paid").await;
    assert_eq!(
        defined["data"]["defineEventType"],
        json!({ "name": "Invoice.Paid", "group": "Custom", "description": "An invoice was paid." })
    );
    assert_eq!(error_code(&define("Invoice.Paid").await), Some("CONFLICT"));
    for bad in [
        "Invoice",
        "invoice.paid",
        "User.Exploded",
        "Invoice..Paid",
        "Invoice.Paid!",
    ] {
        assert_eq!(
            first_error(&define(bad).await),
            (Some("BAD_USER_INPUT"), Some("name")),
            "{bad}"
        );
    }
    let types = app.gql(&token, "{ eventTypes { name group } }", json!({})).await;
    let list = types["data"]["eventTypes"].as_array().expect("types");
    assert_eq!(list.len(), 32);
    assert_eq!(list[31], json!({ "name": "Invoice.Paid", "group": "Custom" }));

    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["Invoice.Paid"]).await;
    let event_id = app.emit("Invoice.Paid", json!({ "amount": 12 })).await;
    let request = &receiver.wait_for(1, Duration::from_secs(30)).await[0];
    assert_eq!(request.json()["event"], "Invoice.Paid");
    assert_eq!(request.json()["eventId"], event_id.as_str());

    // Another tenant neither sees nor can use the type.
    let other = app.token("admin", "other");
    let theirs = app.gql(&other, "{ eventTypes { name } }", json!({})).await;
    assert_eq!(theirs["data"]["eventTypes"].as_array().map(Vec::len), Some(31));
    let emit = app
        .gql(&other, EMIT, json!({ "input": { "type": "Invoice.Paid", "data": {} } }))
        .await;
    assert_eq!(first_error(&emit), (Some("BAD_USER_INPUT"), Some("type")));
    let hook = app
        .gql(
            &other,
            "mutation { createHook(input: { name: \"x\", events: [\"Invoice.Paid\"], url: \"https://example.invalid/\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error(&hook), (Some("BAD_USER_INPUT"), Some("events")));
}

pub(crate) async fn event_and_delivery_queries(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let token = app.admin();
    let ok = Receiver::spawn().await;
    let failing = Receiver::spawn().await;
    failing.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let good = app.hook_to(&ok.url, &["User.Created", "Role.Created"]).await;
    let bad = app.hook_to(&failing.url, &["User.Created"]).await;
    let user_event = app.emit("User.Created", json!({ "id": "u1" })).await;
    let role_event = app.emit("Role.Created", json!({ "id": "r1" })).await;
    let deliveries = app.deliveries_of(&user_event).await;
    assert_eq!(deliveries.len(), 2, "one delivery per subscribed hook");
    failing.wait_for(3, Duration::from_secs(30)).await;
    ok.wait_for(2, Duration::from_secs(30)).await;
    // Let the recorder store the last outcomes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = app
            .gql(&token, "{ deliveries(status: FAILED) { totalCount } }", json!({}))
            .await;
        if all["data"]["deliveries"]["totalCount"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{all}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let events = app
        .gql(
            &token,
            "{ events(type: \"Role.Created\") { totalCount edges { node { id type } } } }",
            json!({}),
        )
        .await;
    assert_eq!(events["data"]["events"]["totalCount"], 1);
    assert_eq!(events["data"]["events"]["edges"][0]["node"]["id"], role_event.as_str());
    let all_events = app
        .gql(&token, "{ events { edges { node { id type } } } }", json!({}))
        .await;
    let nodes: Vec<&Value> = all_events["data"]["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"])
        .collect();
    // The failed delivery's operational event came last.
    let types: Vec<&Value> = nodes.iter().map(|n| &n["type"]).collect();
    assert_eq!(
        types,
        ["Delivery.Exhausted", "Role.Created", "User.Created"],
        "newest first"
    );
    assert_eq!(nodes[1]["id"], role_event.as_str());
    assert_eq!(nodes[2]["id"], user_event.as_str());

    let query = |args: &str| {
        format!(
            "{{ deliveries({args}) {{ totalCount edges {{ node {{ id status eventType hook {{ id }} event {{ id }} }} }} }} }}"
        )
    };
    let by_hook = app
        .gql(
            &token,
            &query(&format!("hookId: \"{}\"", bad["id"].as_str().expect("id"))),
            json!({}),
        )
        .await;
    assert_eq!(by_hook["data"]["deliveries"]["totalCount"], 1);
    assert_eq!(by_hook["data"]["deliveries"]["edges"][0]["node"]["status"], "FAILED");
    assert_eq!(
        by_hook["data"]["deliveries"]["edges"][0]["node"]["event"]["id"],
        user_event.as_str()
    );
    let by_event = app.gql(&token, &query("event: \"Role.Created\""), json!({})).await;
    assert_eq!(by_event["data"]["deliveries"]["totalCount"], 1);
    assert_eq!(
        by_event["data"]["deliveries"]["edges"][0]["node"]["hook"]["id"],
        good["id"]
    );
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none = app
        .gql(&token, &query(&format!("since: \"{future}\"")), json!({}))
        .await;
    assert_eq!(none["data"]["deliveries"]["totalCount"], 0);
    let before = app
        .gql(&token, &query(&format!("until: \"{future}\"")), json!({}))
        .await;
    assert_eq!(before["data"]["deliveries"]["totalCount"], 3);

    // A hook's own deliveries and statistics.
    let stats = app
        .gql(
            &token,
            &format!("query($id: ID!) {{ hook(id: $id) {{ executionStats {{ requestCount successCount successRate p50LatencyMs p95LatencyMs }} deliveries(first: 5) {{ totalCount edges {{ node {{ {DELIVERY_FIELDS} }} }} }} }} }}"),
            json!({ "id": bad["id"] }),
        )
        .await;
    let hook = &stats["data"]["hook"];
    assert_eq!(hook["executionStats"]["requestCount"], 3, "{stats}");
    assert_eq!(hook["executionStats"]["successCount"], 0);
    assert_eq!(hook["executionStats"]["successRate"], 0.0);
    assert!(hook["executionStats"]["p95LatencyMs"].is_number());
    assert_eq!(hook["deliveries"]["totalCount"], 1);
    assert_eq!(
        hook["deliveries"]["edges"][0]["node"]["attempts"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let good_stats = app
        .gql(
            &token,
            "query($id: ID!) { hook(id: $id) { executionStats(window: 3600) { requestCount successRate } } }",
            json!({ "id": good["id"] }),
        )
        .await;
    assert_eq!(
        good_stats["data"]["hook"]["executionStats"],
        json!({ "requestCount": 2, "successRate": 1.0 })
    );
    // The same in hourly buckets: two hours, aligned to the hour, oldest first.
    let history = app
        .gql(
            &token,
            "query($id: ID!) { hook(id: $id) { executionHistory(window: 7200) {
               start requestCount successCount successRate p50LatencyMs p95LatencyMs } } }",
            json!({ "id": bad["id"] }),
        )
        .await;
    let buckets = history["data"]["hook"]["executionHistory"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2, "{history}");
    let starts: Vec<chrono::DateTime<chrono::FixedOffset>> = buckets
        .iter()
        .map(|b| chrono::DateTime::parse_from_rfc3339(b["start"].as_str().expect("start")).expect("time"))
        .collect();
    assert_eq!((starts[1] - starts[0]).num_seconds(), 3600);
    assert_eq!(starts[1].timestamp() % 3600, 0, "aligned to the hour");
    assert!(starts[1] <= chrono::Utc::now(), "the last bucket holds now");
    let total: u64 = buckets.iter().map(|b| b["requestCount"].as_u64().expect("count")).sum();
    assert_eq!(total, 3, "{history}");
    let busy = buckets
        .iter()
        .find(|b| b["requestCount"] != 0)
        .expect("a bucket with attempts");
    assert_eq!(busy["successCount"], 0);
    assert_eq!(busy["successRate"], 0.0);
    assert!(
        busy["p50LatencyMs"].is_number() && busy["p95LatencyMs"].is_number(),
        "{busy}"
    );
    let empty = buckets.iter().find(|b| b["requestCount"] == 0);
    if let Some(empty) = empty {
        assert!(
            empty["successRate"].is_null() && empty["p50LatencyMs"].is_null(),
            "{empty}"
        );
    }
    for (arguments, field) in [
        ("bucket: 30", "bucket"),
        ("window: 2592000, bucket: 60", "bucket"),
        ("window: 0", "window"),
    ] {
        let refused = app
            .gql(
                &token,
                &format!("query($id: ID!) {{ hook(id: $id) {{ executionHistory({arguments}) {{ requestCount }} }} }}"),
                json!({ "id": bad["id"] }),
            )
            .await;
        assert_eq!(
            first_error(&refused),
            (Some("BAD_USER_INPUT"), Some(field)),
            "{arguments}: {refused}"
        );
    }
    // The same through the hooks list: every hook's own deliveries and stats, loaded together.
    let listed = app
        .gql(
            &token,
            "{ hooks { edges { node { id executionStats { requestCount successCount p50LatencyMs } deliveries(first: 1) { totalCount pageInfo { hasNextPage } edges { node { hookId status } } } } } } }",
            json!({}),
        )
        .await;
    let nodes = listed["data"]["hooks"]["edges"].as_array().expect("edges");
    let node = |id: &Value| {
        nodes
            .iter()
            .map(|e| &e["node"])
            .find(|n| n["id"] == *id)
            .cloned()
            .expect("hook listed")
    };
    let (good_node, bad_node) = (node(&good["id"]), node(&bad["id"]));
    assert_eq!(good_node["executionStats"]["requestCount"], 2, "{listed}");
    assert_eq!(good_node["executionStats"]["successCount"], 2);
    assert!(good_node["executionStats"]["p50LatencyMs"].is_number());
    assert_eq!(good_node["deliveries"]["totalCount"], 2);
    assert_eq!(good_node["deliveries"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(good_node["deliveries"]["edges"][0]["node"]["hookId"], good["id"]);
    assert_eq!(bad_node["executionStats"]["requestCount"], 3);
    assert_eq!(bad_node["deliveries"]["totalCount"], 1);
    assert_eq!(bad_node["deliveries"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(bad_node["deliveries"]["edges"][0]["node"]["status"], "FAILED");

    let empty = app.hook_to("https://example.invalid/", &["PostSignIn"]).await;
    let no_requests = app
        .gql(
            &token,
            "query($id: ID!) { hook(id: $id) { executionStats { requestCount successRate p50LatencyMs } } }",
            json!({ "id": empty["id"] }),
        )
        .await;
    assert_eq!(
        no_requests["data"]["hook"]["executionStats"],
        json!({ "requestCount": 0, "successRate": null, "p50LatencyMs": null })
    );

    // /metrics exposes the documented series.
    let metrics = app
        .client()
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for series in [
        "hookd_events_total",
        "hookd_deliveries_total",
        "hookd_delivery_attempt_duration_seconds_bucket",
        "hookd_deliveries_pending",
        "hookd_graphql_requests_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
}

pub(crate) async fn redeliver_makes_one_manual_attempt(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    let redeliver = "mutation($id: ID!) { redeliver(deliveryId: $id) { id status } }";

    let response = app.gql(&app.admin(), redeliver, json!({ "id": delivery["id"] })).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    receiver.wait_for(2, Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let delivery = loop {
        let d = app.deliveries_of(&event_id).await[0].clone();
        if d["attemptCount"] == 2 && d["status"] == "SUCCEEDED" {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["attempts"][1]["trigger"], "MANUAL");
    let received = receiver.received();
    assert_eq!(received[0].header("webhook-id"), received[1].header("webhook-id"));

    // A manual attempt that fails leaves the delivery FAILED, with no scheduled retries.
    receiver.script([Reply::Status(503)]);
    app.gql(&app.admin(), redeliver, json!({ "id": delivery["id"] })).await;
    let failed = app.wait_for_status(&event_id, "FAILED").await;
    assert_eq!(failed["attemptCount"], 3);
    assert_eq!(failed["attempts"][2]["responseStatus"], 503);

    let missing = app.gql(&app.admin(), redeliver, json!({ "id": "nope" })).await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"));
}

pub(crate) async fn replay_requeues_failed_deliveries(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("10ms".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let event_id = app.emit("User.Created", json!({})).await;
    app.wait_for_status(&event_id, "FAILED").await;

    let replay = "mutation($hook: ID!, $since: DateTime!, $statuses: [DeliveryStatus!]) { replayDeliveries(hookId: $hook, since: $since, statuses: $statuses) }";
    let bad = app
        .gql(
            &app.admin(),
            replay,
            json!({ "hook": hook["id"], "since": since.to_rfc3339(), "statuses": ["PENDING"] }),
        )
        .await;
    assert_eq!(first_error(&bad), (Some("BAD_USER_INPUT"), Some("statuses")));
    // `statuses` defaults to [FAILED].
    let replay_failed = "mutation($hook: ID!, $since: DateTime!) { replayDeliveries(hookId: $hook, since: $since) }";
    let response = app
        .gql(
            &app.admin(),
            replay_failed,
            json!({ "hook": hook["id"], "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(response["data"]["replayDeliveries"], 1, "{response}");
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    assert_eq!(delivery["attemptCount"], 3);
    let again = app
        .gql(
            &app.admin(),
            replay_failed,
            json!({ "hook": hook["id"], "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(again["data"]["replayDeliveries"], 0, "nothing FAILED any more");
}

pub(crate) async fn test_hook_sends_logto_test_payloads(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(200), Reply::Status(500)]);
    let hook = app.hook_to("https://hooks.example.invalid/", &["User.Created"]).await;
    let response = app
        .gql(
            &app.admin(),
            "mutation($id: ID!, $url: String) { testHook(id: $id, events: [\"PostSignIn\", \"User.Created\"], url: $url) { event ok responseStatus responseBody durationMs error } }",
            json!({ "id": hook["id"], "url": receiver.url }),
        )
        .await;
    let results = response["data"]["testHook"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{response}");
    assert_eq!(results.iter().filter(|r| r["ok"] == true).count(), 1);
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    for request in &received {
        let body = request.json();
        let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(
            keys[..3],
            ["event", "hookId", "createdAt"],
            "hookId second, as Logto's tests"
        );
        assert_eq!(body["hookId"], hook["id"]);
        if body["event"] == "PostSignIn" {
            assert_eq!(body["user"]["username"], "fake-user");
            assert_eq!(body["application"]["type"], "SPA");
        } else {
            assert_eq!(body["data"], json!({ "result": "success" }));
            assert_eq!(body["path"], "/fake-path/:id");
        }
        assert!(request.header("webhook-id").starts_with("test_"));
        assert!(!request.header("logto-signature-sha-256").is_empty());
    }
    assert_eq!(app.count_rows("deliveries").await, 0, "tests are not stored");

    let unknown = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { testHook(id: $id, events: [\"Nope.Never\"]) { ok } }",
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(first_error(&unknown), (Some("BAD_USER_INPUT"), Some("events")));
}

async fn deliveries_are_tenant_scoped(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    let other = app.token("admin", "other");

    let seen = app
        .gql(
            &other,
            "query($e: ID!, $d: ID!) { event(id: $e) { id } delivery(id: $d) { id } events { totalCount } deliveries { totalCount } }",
            json!({ "e": event_id, "d": delivery["id"] }),
        )
        .await;
    assert_eq!(
        seen["data"],
        json!({ "event": null, "delivery": null, "events": { "totalCount": 0 }, "deliveries": { "totalCount": 0 } })
    );
    let redeliver = app
        .gql(
            &other,
            "mutation($id: ID!) { redeliver(deliveryId: $id) { id } }",
            json!({ "id": delivery["id"] }),
        )
        .await;
    assert_eq!(error_code(&redeliver), Some("NOT_FOUND"));
    let replay = app
        .gql(
            &other,
            "mutation($id: ID!) { replayDeliveries(hookId: $id, since: \"2020-01-01T00:00:00Z\", statuses: [SUCCEEDED]) }",
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(error_code(&replay), Some("NOT_FOUND"));
    let test = app
        .gql(
            &other,
            "mutation($id: ID!) { testHook(id: $id, events: [\"User.Created\"]) { ok } }",
            json!({ "id": hook["id"] }),
        )
        .await;
    assert_eq!(error_code(&test), Some("NOT_FOUND"));
    // Tenant B's emit does not reach tenant A's hook.
    let theirs = app
        .gql(&other, EMIT, json!({ "input": { "type": "User.Created", "data": {} } }))
        .await;
    assert!(theirs["data"]["emitEvent"]["id"].is_string());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1);
}

pub(crate) async fn history_older_than_retention_is_pruned(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let old = app.emit("User.Created", json!({ "age": "old" })).await;
    app.wait_for_status(&old, "SUCCEEDED").await;
    // Age that event's history by 60 days (the default retention is 30).
    let ago = chrono::Utc::now().timestamp_millis() - 60 * 86_400_000;
    for sql in [
        format!("{HARNESS_SQL}UPDATE events SET created_at = {ago} WHERE id = '{old}'"),
        format!("{HARNESS_SQL}UPDATE deliveries SET created_at = {ago}, updated_at = {ago} WHERE event_id = '{old}'"),
        format!("{HARNESS_SQL}UPDATE delivery_attempts SET started_at = {ago}"),
    ] {
        app.state.db.write.execute_unprepared(&sql).await.expect("age rows");
    }
    // A recent event and its history stay.
    let recent = app.emit("User.Created", json!({ "age": "new" })).await;
    app.wait_for_status(&recent, "SUCCEEDED").await;

    // Pruning runs at start-up, concurrently with the first requests. Root fields of one query
    // are read independently (async-graphql resolves them concurrently, each on its own
    // connection), so the events list and the delivery count are read in separate requests:
    // the pruner removes deliveries before events, and an event only once it has no delivery
    // left, so once the old event is gone its delivery is gone too, for every later read.
    let app = app
        .restart(|raw| raw.allowed_targets = Some("127.0.0.0/8".into()))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = app
            .gql(&app.admin(), "{ events { edges { node { id } } } }", json!({}))
            .await;
        if seen["data"]["events"]["edges"] == json!([{ "node": { "id": recent } }]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "old history not pruned: {seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deliveries = app
        .gql(
            &app.admin(),
            "{ deliveries { totalCount edges { node { event { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        deliveries["data"]["deliveries"],
        json!({ "totalCount": 1, "edges": [{ "node": { "event": { "id": recent } } }] }),
        "only the recent delivery is left"
    );
    assert_eq!(
        app.count_rows("delivery_attempts").await,
        1,
        "only the recent attempt is left"
    );
}
