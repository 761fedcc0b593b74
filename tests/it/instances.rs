//! Several real hookd processes on one PostgreSQL (SPEC §6): what one commits reaches the
//! others' subscriptions and wakes their dispatchers, the relay survives a dropped listener,
//! a kill -9 of one of three loses nothing, and a hook's order and rate limit hold across
//! processes. PostgreSQL only: SQLite is one process.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use crate::crash::{Instance, admin_token, create_hook, emit_many, gql, start_with, wait_for_succeeded};
use crate::policy::{assert_in_order, assert_paced, numbers};
use crate::receiver::{Receiver, Reply};
use crate::subscriptions::Client;
use crate::support::{Backend, fresh_database, postgres_admin_url};

const UPDATES: &str = "subscription { deliveryUpdates { deliveryId eventId status attemptCount responseStatus } }";
const EVENTS: &str = "subscription { eventEmitted { id type } }";

/// A fresh PostgreSQL database and its directory, or `None` when PostgreSQL tests are skipped.
async fn database() -> Option<(tempfile::TempDir, String)> {
    postgres_admin_url()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(Backend::Postgres, &dir).await;
    Some((dir, url))
}

/// A dashboard on `instance`: delivery updates as "d", events as "e", both live once this
/// returns (an event emitted on `instance` itself came through).
async fn dashboard(instance: &Instance) -> Client {
    let mut client = Client::connect_at(&instance.base, &admin_token()).await;
    client.subscribe("d", UPDATES).await;
    client.subscribe("e", EVENTS).await;
    loop {
        let probe = emit(instance, "User.Deleted").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            let Ok(message) = tokio::time::timeout(Duration::from_millis(500), client.next()).await else {
                break;
            };
            if message["payload"]["data"]["eventEmitted"]["id"] == probe.as_str() {
                return client;
            }
        }
    }
}

async fn emit(instance: &Instance, event_type: &str) -> String {
    let response = gql(
        &instance.base,
        "mutation($type: String!) { emitEvent(input: { type: $type, data: {} }) { id } }",
        json!({ "type": event_type }),
    )
    .await;
    response["data"]["emitEvent"]["id"]
        .as_str()
        .expect("event id")
        .to_owned()
}

/// What a dashboard saw: each delivery's statuses in order, and each event id's count.
#[derive(Default)]
struct Seen {
    statuses: HashMap<String, Vec<String>>,
    events: HashMap<String, usize>,
    /// Event of each delivery.
    event_of: HashMap<String, String>,
}

impl Seen {
    /// Reads from `client` until `done` holds.
    async fn until(&mut self, client: &mut Client, within: Duration, done: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the dashboard saw only {} deliveries",
                self.statuses.len()
            );
            let message = client.next().await;
            assert_eq!(message["type"], "next", "{message}");
            let data = &message["payload"]["data"];
            if let Some(update) = data.get("deliveryUpdates") {
                let id = update["deliveryId"].as_str().expect("id").to_owned();
                self.event_of
                    .insert(id.clone(), update["eventId"].as_str().expect("event").to_owned());
                self.statuses
                    .entry(id)
                    .or_default()
                    .push(update["status"].as_str().expect("status").to_owned());
            } else if let Some(event) = data.get("eventEmitted") {
                *self
                    .events
                    .entry(event["id"].as_str().expect("id").to_owned())
                    .or_default() += 1;
            }
        }
    }

    fn succeeded(&self, event_ids: &HashSet<String>) -> usize {
        self.statuses
            .iter()
            .filter(|(id, statuses)| {
                event_ids.contains(&self.event_of[*id]) && statuses.iter().any(|s| s == "SUCCEEDED")
            })
            .count()
    }
}

/// Event ids of the deliveries of `instance`'s tenant, all of them.
async fn emitted_ids(instance: &Instance, event_type: &str) -> HashSet<String> {
    let response = gql(
        &instance.base,
        "query($type: String!) { events(type: $type, first: 100) { edges { node { id } } } }",
        json!({ "type": event_type }),
    )
    .await;
    response["data"]["events"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn metric(instance: &Instance, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", instance.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_one_instance_sees_what_another_commits() {
    let Some((dir, url)) = database().await else { return };
    let receiver = Receiver::spawn().await;
    let a = start_with(&url, dir.path(), &[]).await;
    let b = start_with(&url, dir.path(), &[]).await;
    let mut client = dashboard(&a).await;
    let hook = create_hook(&b.base, &receiver.url).await;

    // Everything happens on B: the emits, the deliveries (born leased to B), the outcomes.
    emit_many(&b.base, 30).await;
    let emitted = emitted_ids(&b, "User.Created").await;
    assert_eq!(emitted.len(), 30);
    let mut seen = Seen::default();
    seen.until(&mut client, Duration::from_secs(60), |s| s.succeeded(&emitted) == 30)
        .await;
    // A last one, also from B. Delivery updates arrive in order with the messages that carry
    // them; an event is read from the database by id when its message arrives, so it may come
    // a moment after later delivery updates: wait for every event too.
    let last = emit(&b, "User.Created").await;
    let last_set = HashSet::from([last.clone()]);
    seen.until(&mut client, Duration::from_secs(60), |s| {
        s.succeeded(&last_set) == 1 && emitted.iter().chain([&last]).all(|e| s.events.contains_key(e))
    })
    .await;

    for event in emitted.iter().chain([&last]) {
        assert_eq!(seen.events.get(event), Some(&1), "event {event} seen once on A");
    }
    for (delivery, statuses) in &seen.statuses {
        assert_eq!(
            statuses,
            &["PENDING", "SENDING", "SUCCEEDED"],
            "delivery {delivery}: every change once, in commit order"
        );
    }
    assert_eq!(seen.statuses.len(), 31);
    assert_eq!(receiver.count(), 31);
    assert!(receiver.received().iter().all(|r| r.json()["hookId"] == hook.as_str()));
    assert!(metric(&a, "hookd_relay_messages_received_total").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_instance_wakes_the_others() {
    let Some((dir, url)) = database().await else { return };
    let receiver = Receiver::spawn().await;
    receiver.set_delay(Duration::from_millis(200));
    // A looks for work on its own only once an hour: whatever it sends, a wake-up from B made
    // it claim. B sends one delivery at a time and leaves the rest PENDING.
    let a = start_with(&url, dir.path(), &[("HOOKD_POLL_INTERVAL", "1h")]).await;
    let b = start_with(&url, dir.path(), &[("HOOKD_MAX_IN_FLIGHT_PER_HOOK", "1")]).await;
    create_hook(&b.base, &receiver.url).await;
    emit_many(&b.base, 20).await;
    receiver.wait_for(20, Duration::from_secs(60)).await;
    wait_for_succeeded(&a, 20).await;
    let sent_by_a = metric(&a, "hookd_deliveries_total").await;
    assert!(sent_by_a > 0.0, "A never claimed: it was not woken");
    assert_eq!(receiver.overlaps(), 0);
}

/// Kills the listening connection of `instance` once it is there; returns when it was killed.
async fn drop_listener(admin: &DatabaseConnection, instance: &Instance) {
    let name = format!("hookd relay {}", instance.child.id().expect("pid"));
    let sql = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let killed = admin
            .query_all_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                sql.clone(),
            ))
            .await
            .expect("terminate");
        if !killed.is_empty() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the listener never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reconnects_and_catches_up() {
    let Some((dir, url)) = database().await else { return };
    let admin = Database::connect(&url).await.expect("connect");
    let receiver = Receiver::spawn().await;
    let a = start_with(&url, dir.path(), &[]).await;
    let b = start_with(&url, dir.path(), &[]).await;
    let mut client = dashboard(&a).await;
    create_hook(&b.base, &receiver.url).await;

    // Emits on B while A's listening connection is killed again and again: whatever A's
    // dashboard missed during a gap, the catch-up publishes.
    const ROUNDS: usize = 8;
    for _ in 0..ROUNDS {
        drop_listener(&admin, &a).await;
        emit_many(&b.base, 10).await;
    }
    let emitted = emitted_ids(&b, "User.Created").await;
    assert_eq!(emitted.len(), ROUNDS * 10);
    let mut seen = Seen::default();
    seen.until(&mut client, Duration::from_secs(60), |s| {
        s.succeeded(&emitted) == ROUNDS * 10 && emitted.iter().all(|e| s.events.contains_key(e))
    })
    .await;
    assert!(metric(&a, "hookd_relay_reconnects_total").await >= ROUNDS as f64);
    // Across a gap a caught-up state may come before an update still on its way (documented);
    // whatever was seen twice or early, each delivery's last state is its final one.
    for statuses in seen.statuses.values() {
        assert_eq!(statuses.last().map(String::as_str), Some("SUCCEEDED"), "{statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_three_instances_loses_nothing() {
    let Some((dir, url)) = database().await else { return };
    let receiver = Receiver::spawn().await;
    // Slow answers keep deliveries in flight and leased to C when it dies.
    receiver.set_delay(Duration::from_millis(300));
    let a = start_with(&url, dir.path(), &[]).await;
    let b = start_with(&url, dir.path(), &[]).await;
    let mut c = start_with(&url, dir.path(), &[]).await;
    let hooks = [
        create_hook(&a.base, &receiver.url).await,
        create_hook(&b.base, &receiver.url).await,
    ];
    const PER_INSTANCE: usize = 400;
    let total = 3 * PER_INSTANCE * hooks.len();
    // C's share first, so that C holds leases; then A and B emit while C dies.
    emit_many(&c.base, PER_INSTANCE).await;
    let emitters: Vec<_> = [a.base.clone(), b.base.clone()]
        .into_iter()
        .map(|base| tokio::spawn(async move { emit_many(&base, PER_INSTANCE).await }))
        .collect();
    receiver.wait_for(total / 10, Duration::from_secs(120)).await;
    c.child.kill().await.expect("SIGKILL");
    let undelivered = total.saturating_sub(receiver.count());
    assert!(undelivered > 0, "the kill came after everything was delivered");
    receiver.set_delay(Duration::from_millis(10));
    for emitter in emitters {
        emitter.await.expect("emitter");
    }

    // The survivors take over what C had leased, once its leases run out (7 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let pairs: HashSet<(String, String)> = receiver
            .received()
            .iter()
            .map(|r| {
                let body = r.json();
                (
                    body["eventId"].as_str().expect("eventId").to_owned(),
                    body["hookId"].as_str().expect("hookId").to_owned(),
                )
            })
            .collect();
        if pairs.len() == total {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {total} (event, hook) pairs arrived",
            pairs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ids: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for r in receiver.received() {
        let body = r.json();
        ids.entry((body["eventId"].to_string(), body["hookId"].to_string()))
            .or_default()
            .insert(r.header("webhook-id").to_owned());
    }
    assert!(
        ids.values().all(|ids| ids.len() == 1),
        "a webhook-id changed between attempts"
    );
    assert_eq!(
        receiver.overlaps(),
        0,
        "a delivery was in flight at two instances at once"
    );
    wait_for_succeeded(&a, total).await;
    eprintln!(
        "kill -9 of one of three with {undelivered} undelivered: all {total} arrived, {} sent twice",
        receiver.count() - total
    );
}

/// Creates a `User.Created` hook at `url` through `instance`, with `policy` (e.g.
/// `{"ordered": true}`) in its input; returns its id.
async fn create_policy_hook(instance: &Instance, url: &str, policy: Value) -> String {
    let mut input = json!({ "name": "policy", "events": ["User.Created"], "url": url });
    input
        .as_object_mut()
        .expect("object")
        .extend(policy.as_object().expect("object").clone());
    let response = gql(
        &instance.base,
        "mutation($input: CreateHookInput!) { createHook(input: $input) { id ordered rateLimit } }",
        json!({ "input": input }),
    )
    .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    response["data"]["createHook"]["id"]
        .as_str()
        .expect("hook id")
        .to_owned()
}

/// An ordered hook stays ordered when two processes share its events: 40 events emitted one
/// after the other, alternately through A and B (so each process has its share to send), the
/// sixth (`n` = 5) answered 500 once. They first arrive in emit order, nothing overtakes the
/// retried one, and no two requests are ever in flight at once; all 40 SUCCEED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_hook_stays_in_order_across_instances() {
    let Some((dir, url)) = database().await else { return };
    let receiver = Receiver::spawn().await;
    // Slow answers: a request sent without waiting for the one before would overlap.
    receiver.set_delay(Duration::from_millis(20));
    receiver.script_for(|body| body["data"]["n"] == 5, [Reply::Status(500)]);
    let a = start_with(&url, dir.path(), &[]).await;
    let b = start_with(&url, dir.path(), &[]).await;
    create_policy_hook(&a, &receiver.url, json!({ "ordered": true })).await;

    const EVENTS: u64 = 40;
    for n in 0..EVENTS {
        let instance = if n % 2 == 0 { &a } else { &b };
        let response = gql(
            &instance.base,
            "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
            json!({ "input": { "type": "User.Created", "data": { "n": n } } }),
        )
        .await;
        assert_eq!(response["errors"], Value::Null, "{response}");
    }
    receiver.wait_for(EVENTS as usize + 1, Duration::from_secs(60)).await;
    wait_for_succeeded(&a, EVENTS as usize).await;

    let received = receiver.received();
    assert_in_order(&received, EVENTS);
    let arrivals = numbers(&received);
    assert_eq!(
        arrivals.iter().filter(|n| **n == 5).count(),
        2,
        "n = 5: one failure, then the success: {arrivals:?}"
    );
    assert_eq!(
        arrivals.len() as u64,
        EVENTS + 1,
        "every other event once: {arrivals:?}"
    );
    assert_eq!(receiver.peak_in_flight(), 1, "two requests were in flight at once");
    assert_eq!(receiver.overlaps(), 0, "a delivery was sent by two processes at once");
}

/// A hook's rate limit is one budget for all processes: 200 events for a hook limited to 20 a
/// second, emitted at once through A and B (100 each), arrive no more than 22 in any second
/// and take about 10 s (at least 9 s), although each process alone could send them faster.
/// Every event arrives once and its delivery SUCCEEDS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_instances() {
    let Some((dir, url)) = database().await else { return };
    let receiver = Receiver::spawn().await;
    let a = start_with(&url, dir.path(), &[]).await;
    let b = start_with(&url, dir.path(), &[]).await;
    create_policy_hook(&a, &receiver.url, json!({ "rateLimit": 20 })).await;

    let started = Instant::now();
    tokio::join!(emit_many(&a.base, 100), emit_many(&b.base, 100));
    let emitting = started.elapsed();
    eprintln!("200 emits through two processes took {emitting:?}");
    assert!(
        emitting < Duration::from_secs(6),
        "emitting took {emitting:?}: too slow for the limit to show"
    );

    receiver.wait_for(200, Duration::from_secs(60)).await;
    wait_for_succeeded(&a, 200).await;
    let received = receiver.received();
    assert_eq!(received.len(), 200, "each event once");
    let events: HashSet<String> = received
        .iter()
        .map(|r| r.json()["eventId"].as_str().expect("eventId").to_owned())
        .collect();
    assert_eq!(events.len(), 200);
    assert_eq!(receiver.overlaps(), 0, "a delivery was sent by two processes at once");
    assert_paced(&received, 20);
}

/// The failure clock is one clock, shared through the database: two processes each send some
/// of a dead hook's attempts (events emitted alternately through A and B), and the hook is
/// disabled (reason FAILING) once the attempts of both have failed for long enough. Exactly one
/// `Hook.Disabled` is stored and delivered, whichever process recorded the last failure; the
/// dead hook's queued deliveries are cancelled and it receives nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_is_disabled_once_across_instances() {
    let Some((dir, url)) = database().await else { return };
    let dead = Receiver::spawn().await;
    dead.set_otherwise(Reply::Status(500));
    let ops = Receiver::spawn().await;
    let policy = [
        ("HOOKD_DISABLE_AFTER", "1s"),
        ("HOOKD_DISABLE_MIN_ATTEMPTS", "4"),
        (
            "HOOKD_RETRY_SCHEDULE",
            "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
        ),
    ];
    let a = start_with(&url, dir.path(), &policy).await;
    let b = start_with(&url, dir.path(), &policy).await;
    let dead_id = create_policy_hook(&a, &dead.url, json!({})).await;
    let response = gql(
        &b.base,
        "mutation($url: String!) { createHook(input: { name: \"ops\", events: [\"Hook.Disabled\"], url: $url }) { id } }",
        json!({ "url": ops.url }),
    )
    .await;
    assert_eq!(response["errors"], Value::Null, "{response}");

    let hook = |instance: &Instance| {
        let base = instance.base.clone();
        let id = dead_id.clone();
        async move {
            let response = gql(
                &base,
                "query($id: ID!) { hook(id: $id) { enabled disabledReason failingSince failedAttempts } }",
                json!({ "id": id }),
            )
            .await;
            response["data"]["hook"].clone()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    let disabled = loop {
        let state = hook(if round % 2 == 0 { &a } else { &b }).await;
        if state["enabled"] == false {
            break state;
        }
        assert!(Instant::now() < deadline, "never disabled: {state}");
        emit(if round % 2 == 0 { &a } else { &b }, "User.Created").await;
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(disabled["disabledReason"], "FAILING", "{disabled}");
    assert!(
        disabled["failedAttempts"].as_i64().expect("failedAttempts") >= 4,
        "{disabled}"
    );
    assert_eq!(hook(&b).await, disabled, "both processes read the same clock");

    let notice = ops.wait_for(1, Duration::from_secs(30)).await[0].json();
    assert_eq!(notice["event"], "Hook.Disabled", "{notice}");
    assert_eq!(notice["data"]["id"], dead_id.as_str(), "{notice}");
    assert_eq!(notice["data"]["reason"], "FAILING", "{notice}");
    let stored = gql(&a.base, "{ events(type: \"Hook.Disabled\") { totalCount } }", json!({})).await;
    assert_eq!(stored["data"]["events"]["totalCount"], 1, "{stored}");
    let queued = gql(
        &b.base,
        "query($id: ID!) { p: deliveries(hookId: $id, status: PENDING) { totalCount } s: deliveries(hookId: $id, status: SENDING) { totalCount } }",
        json!({ "id": dead_id }),
    )
    .await;
    assert_eq!(queued["data"]["p"]["totalCount"], 0, "{queued}");
    assert_eq!(queued["data"]["s"]["totalCount"], 0, "{queued}");

    // Disabled means disabled on both: a new event creates no delivery for the dead hook. (An
    // attempt already on the wire when it was disabled may still land: wait out the timeout.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = dead.count();
    emit(&b, "User.Created").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dead.count(), before, "a disabled hook received a request");
    assert_eq!(ops.count(), 1, "one Hook.Disabled, delivered once");
}
