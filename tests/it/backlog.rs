//! A large backlog on one hook: every operation over it still succeeds, and no other tenant
//! waits behind it.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::json;

use crate::receiver::{Receiver, Reply};
use crate::support::{TestApp, error_code};

/// Deliveries seeded on the busy hook: past both databases' statement parameter limits
/// (32,766 on SQLite, 65,535 on PostgreSQL).
const BACKLOG: i64 = 100_000;

crate::db_test!(
    a_backlog_of_100k_on_one_hook_stalls_no_one,
    a_fast_backlog_does_not_hold_back_new_deliveries,
);

const EMIT: &str = "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }";

async fn a_backlog_of_100k_on_one_hook_stalls_no_one(backend: crate::support::Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let busy = Receiver::spawn().await;
    // A slow receiver: the backlog drains at ~64 × 5 per second, so it is there all test long.
    busy.set_delay(Duration::from_millis(200));
    let hook = app.hook_to(&busy.url, &["User.Created"]).await;
    let hook_id = hook["id"].as_str().expect("hook id").to_owned();
    let event_id = app.emit("User.Created", json!({ "n": 0 })).await;
    seed(&app, &hook_id, &event_id, BACKLOG).await;
    assert!(queued(&app, &hook_id).await > BACKLOG - 1000);

    let admin = app.admin();
    let other = app.token("admin", "other-tenant");
    let quiet = Receiver::spawn().await;
    let created = app.create_hook(&other, "quiet", &quiet.url).await;
    assert!(created["id"].is_string(), "{created}");

    // With the whole backlog due, the other tenant's delivery arrives at once.
    let mut expected = 1;
    other_tenant_delivers(&app, &other, &quiet, &mut expected).await;

    // Disabling cancels the backlog in one statement, while the other tenant's event goes out.
    let started = Instant::now();
    let (disabled, ()) = tokio::join!(
        app.gql(
            &admin,
            "mutation($id: ID!) { updateHook(id: $id, input: { enabled: false }) { enabled } }",
            json!({ "id": hook_id }),
        ),
        other_tenant_delivers(&app, &other, &quiet, &mut expected),
    );
    assert_eq!(disabled["data"]["updateHook"]["enabled"], false, "{disabled}");
    eprintln!(
        "{backend:?}: disabling a hook with {BACKLOG} pending took {:?}",
        started.elapsed()
    );
    assert_eq!(queued(&app, &hook_id).await, 0);
    let cancelled = count(&app, &hook_id, "CANCELLED").await;
    assert!(cancelled > BACKLOG - 1000, "cancelled {cancelled}");

    // Replaying the cancelled backlog requeues all of it in one statement.
    let enabled = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { updateHook(id: $id, input: { enabled: true }) { enabled } }",
            json!({ "id": hook_id }),
        )
        .await;
    assert_eq!(enabled["data"]["updateHook"]["enabled"], true, "{enabled}");
    let started = Instant::now();
    let (replayed, ()) = tokio::join!(
        app.gql(
            &admin,
            "mutation($id: ID!) { replayDeliveries(hookId: $id, since: \"2020-01-01T00:00:00Z\", statuses: [CANCELLED, CANCELLED]) }",
            json!({ "id": hook_id }),
        ),
        other_tenant_delivers(&app, &other, &quiet, &mut expected),
    );
    assert_eq!(replayed["data"]["replayDeliveries"], json!(cancelled), "{replayed}");
    eprintln!(
        "{backend:?}: replaying {cancelled} deliveries took {:?}",
        started.elapsed()
    );
    assert!(queued(&app, &hook_id).await >= cancelled);

    // The receiver answers 410 Gone: the recorder disables the hook and cancels the backlog.
    busy.set_delay(Duration::ZERO);
    busy.script(std::iter::repeat_n(Reply::Status(410), 10_000));
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while queued(&app, &hook_id).await > 0 {
        assert!(Instant::now() < deadline, "410 did not cancel the backlog");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{backend:?}: 410 Gone cancelled the backlog in {:?}", started.elapsed());
    let hook_now = app
        .gql(
            &app.admin(),
            "query($id: ID!) { hook(id: $id) { enabled } }",
            json!({ "id": hook_id }),
        )
        .await;
    assert_eq!(hook_now["data"]["hook"]["enabled"], false, "{hook_now}");
    other_tenant_delivers(&app, &other, &quiet, &mut expected).await;

    // Deleting the hook with the backlog requeued cancels it all too.
    busy.script(std::iter::empty());
    let requeued = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { updateHook(id: $id, input: { enabled: true }) { enabled } }",
            json!({ "id": hook_id }),
        )
        .await;
    assert_eq!(requeued["data"]["updateHook"]["enabled"], true, "{requeued}");
    let replayed = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { replayDeliveries(hookId: $id, since: \"2020-01-01T00:00:00Z\", statuses: [CANCELLED, FAILED]) }",
            json!({ "id": hook_id }),
        )
        .await;
    assert!(
        replayed["data"]["replayDeliveries"].as_i64() > Some(BACKLOG - 1000),
        "{replayed}"
    );
    busy.set_delay(Duration::from_millis(200));
    let (deleted, ()) = tokio::join!(
        app.gql(
            &admin,
            "mutation($id: ID!) { deleteHook(id: $id) }",
            json!({ "id": hook_id })
        ),
        other_tenant_delivers(&app, &other, &quiet, &mut expected),
    );
    assert_eq!(error_code(&deleted), None, "{deleted}");
    assert_eq!(queued(&app, &hook_id).await, 0);
}

async fn a_fast_backlog_does_not_hold_back_new_deliveries(backend: crate::support::Backend) {
    // Five hooks with 20,000 deliveries each and a receiver that answers at once: every claim
    // fills all free slots with the backlog, again and again. A new delivery of another tenant
    // still goes out between those claims instead of after the whole backlog.
    const HOOKS: i64 = 5;
    let app = TestApp::delivering(backend, |_| {}).await;
    let busy = Receiver::spawn().await;
    let other = app.token("admin", "other-tenant");
    let quiet = Receiver::spawn().await;
    app.create_hook(&other, "quiet", &quiet.url).await;
    for _ in 0..HOOKS {
        let hook = app.hook_to(&busy.url, &["User.Created"]).await;
        let hook_id = hook["id"].as_str().expect("hook id").to_owned();
        let event_id = app.emit("User.Created", json!({})).await;
        seed(&app, &hook_id, &event_id, BACKLOG / HOOKS).await;
    }
    // Once the dispatcher is busy with the backlog:
    busy.wait_for(2000, Duration::from_secs(60)).await;
    let mut expected = 1;
    for _ in 0..3 {
        other_tenant_delivers(&app, &other, &quiet, &mut expected).await;
    }
    let sent = busy.count() as i64;
    assert!(
        sent < BACKLOG / 2,
        "the new deliveries waited behind {sent} of the backlog"
    );
}

/// Emits an event in the other tenant and waits for its delivery.
async fn other_tenant_delivers(app: &TestApp, token: &str, receiver: &Receiver, expected: &mut usize) {
    let started = Instant::now();
    let emitted = app
        .gql(token, EMIT, json!({ "input": { "type": "User.Created", "data": {} } }))
        .await;
    assert!(emitted["data"]["emitEvent"]["id"].is_string(), "{emitted}");
    receiver.wait_for(*expected, Duration::from_secs(30)).await;
    eprintln!("other tenant's delivery arrived after {:?}", started.elapsed());
    *expected += 1;
}

/// Seeds `n` PENDING deliveries of `event_id` on `hook_id`, all due.
async fn seed(app: &TestApp, hook_id: &str, event_id: &str, n: i64) {
    let now = chrono::Utc::now().timestamp_millis();
    // Row i fell due at now - n + i: the same times on every hook, so several hooks' backlogs
    // interleave in due order, as they do when they grow side by side.
    let select = "'default', '{event_id}', '{hook_id}', 'User.Created', 'PENDING', 0, 0, 'SCHEDULED', {now} - {n} + i, {now}, {now}";
    let select = select
        .replace("{event_id}", event_id)
        .replace("{hook_id}", hook_id)
        .replace("{now}", &now.to_string())
        .replace("{n}", &n.to_string());
    let columns = "id, tenant_id, event_id, hook_id, event_type, status, attempt_count, round_attempts, \
                   next_trigger, due_at, created_at, updated_at";
    let sql = match app.state.db.backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO deliveries ({columns}) \
             SELECT 'seed{hook_id}' || lpad(i::text, 12, '0'), {select} FROM generate_series(1, {n}) AS i"
        ),
        _ => format!(
            "INSERT INTO deliveries ({columns}) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             SELECT printf('seed{hook_id}%012d', i), {select} FROM n"
        ),
    };
    app.state
        .db
        .write
        .execute_unprepared(&sql)
        .await
        .expect("seed the backlog");
}

async fn queued(app: &TestApp, hook_id: &str) -> i64 {
    app.count_rows_where(
        "deliveries",
        &format!("hook_id = '{hook_id}' AND status IN ('PENDING', 'SENDING')"),
    )
    .await
}

async fn count(app: &TestApp, hook_id: &str, status: &str) -> i64 {
    app.count_rows_where("deliveries", &format!("hook_id = '{hook_id}' AND status = '{status}'"))
        .await
}
