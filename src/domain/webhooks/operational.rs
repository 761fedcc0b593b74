//! hookd's own events about its hooks and deliveries (the catalogue's "Operational" group):
//! their payloads, and where they are stored.
//!
//! They are emitted in the transaction of the change they describe (a hook disabled, a delivery
//! failed for good) and delivered like any event to the hooks subscribed to them. A disabled
//! hook receives nothing, so `Hook.Disabled` never reaches the hook it describes; and no
//! `Delivery.*` event is emitted about a delivery of an operational event, so a failing
//! receiver of operational events cannot feed itself.

use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use entity::delivery;
use entity::hook::{self, DisabledReason};

use crate::domain::iso_now;
use crate::domain::webhooks::catalogue;
use crate::domain::webhooks::outbox::{self, Born, Emitted, NewEvent};
use crate::error::AppResult;

/// An operational event, with its tenant.
pub type Operational = (String, NewEvent);

/// `Hook.Disabled`: `hook` as it was stored when it went off, and why.
pub fn hook_disabled(hook: &hook::Model, reason: DisabledReason) -> Operational {
    let mut data = described(hook);
    data.insert("reason".into(), reason.as_str().into());
    if let Some(since) = hook.failing_since {
        data.insert("failingSince".into(), iso(since).into());
    }
    data.insert("failedAttempts".into(), hook.failed_attempts.into());
    new(&hook.tenant_id, "Hook.Disabled", Value::Object(data))
}

/// `Hook.Enabled`: a disabled hook was turned on.
pub fn hook_enabled(hook: &hook::Model) -> Operational {
    new(&hook.tenant_id, "Hook.Enabled", Value::Object(described(hook)))
}

/// What an attempt ended with, for `Delivery.Exhausted`.
#[derive(Clone, Copy, Debug)]
pub struct LastAttempt<'a> {
    pub response_status: Option<i32>,
    pub error: Option<&'a str>,
}

/// `Delivery.Exhausted`: `delivery` failed for good after `attempts` attempts; `None` for a
/// delivery of an operational event.
pub fn delivery_exhausted(delivery: &delivery::Model, attempts: i32, last: LastAttempt<'_>) -> Option<Operational> {
    let mut data = about(delivery, attempts)?;
    if let Some(status) = last.response_status {
        data.insert("lastResponseStatus".into(), status.into());
    }
    if let Some(error) = last.error {
        data.insert("lastError".into(), error.into());
    }
    Some(new(&delivery.tenant_id, "Delivery.Exhausted", Value::Object(data)))
}

/// `Delivery.Recovered`: `delivery` succeeded at attempt `attempts` after failed ones; `None`
/// for a delivery of an operational event.
pub fn delivery_recovered(delivery: &delivery::Model, attempts: i32) -> Option<Operational> {
    let data = about(delivery, attempts)?;
    Some(new(&delivery.tenant_id, "Delivery.Recovered", Value::Object(data)))
}

/// Stores operational events and their deliveries in `txn` (deliveries PENDING, claimed as
/// usual); publish the result after the commit.
pub async fn emit(txn: &impl ConnectionTrait, news: &[Operational]) -> AppResult<Vec<Emitted>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    outbox::emit_many(txn, news, |_| Born::Pending).await
}

/// The hook an event is about. Its URL goes without query string or fragment: those often hold
/// a receiver's own secret (`?token=…`), and the event goes to other receivers.
fn described(hook: &hook::Model) -> Map<String, Value> {
    let url = match url::Url::parse(&hook.url) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => String::new(),
    };
    object(json!({ "id": hook.id, "name": hook.name, "url": url }))
}

fn about(delivery: &delivery::Model, attempts: i32) -> Option<Map<String, Value>> {
    if catalogue::is_operational(&delivery.event_type) {
        return None;
    }
    Some(object(json!({
        "deliveryId": delivery.id,
        "hookId": delivery.hook_id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "attempts": attempts,
    })))
}

/// The members of a `json!` object literal, in the order written.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn new(tenant: &str, event_type: &str, data: Value) -> Operational {
    let mut envelope = Map::new();
    envelope.insert("event".into(), event_type.into());
    envelope.insert("createdAt".into(), iso_now().into());
    envelope.insert("data".into(), data);
    let new = NewEvent {
        event_type: event_type.to_owned(),
        envelope,
        idempotency_key: None,
        traceparent: None,
    };
    (tenant.to_owned(), new)
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
