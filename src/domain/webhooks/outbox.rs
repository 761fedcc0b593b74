//! The transactional outbox: where every producer writes its event and delivery rows.
//!
//! [`emit`] runs inside the caller's transaction. It stores the event and one PENDING delivery
//! per enabled hook subscribed to the event type (matched now, at emit time), so the change
//! that caused the event, the event, and its deliveries commit together or not at all. Nothing
//! is sent from here: the writer commits, wraps what it stored in a [`Committed`], and the
//! request side hands that to `AppState::publish`, which tells subscribers and wakes the
//! dispatcher to claim the rows.

use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::{Map, Value};

use entity::delivery::{DeliveryStatus, Trigger};
use entity::{delivery, event, hook};

use crate::domain::tenant::scoped;
use crate::domain::{like_containing, new_id, now_ms};
use crate::error::AppResult;

/// What a producer hands to the outbox.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: String,
    /// The payload envelope, keys in the order receivers expect (`event` first). The outbox
    /// adds `eventId` and, per delivery, `hookId` after these keys.
    pub envelope: Map<String, Value>,
    pub idempotency_key: Option<String>,
}

/// What one emit stored: to publish once the caller's transaction has committed.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub event: event::Model,
    pub deliveries: Vec<delivery::Model>,
}

/// Stores `new` and its deliveries in `txn`.
pub async fn emit<C: ConnectionTrait>(txn: &C, tenant: &str, new: NewEvent) -> AppResult<Emitted> {
    let now = now_ms();
    let payload = serde_json::to_string(&new.envelope).map_err(anyhow::Error::from)?;
    let event = event::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        event_type: Set(new.event_type.clone()),
        payload: Set(payload),
        idempotency_key: Set(new.idempotency_key),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;

    let hook_ids: Vec<String> = scoped::<hook::Entity>(tenant)
        .select_only()
        .column(hook::Column::Id)
        .filter(hook::Column::Enabled.eq(true))
        .filter(Expr::col(hook::Column::Events).like(event_name_pattern(&new.event_type)))
        .into_tuple()
        .all(txn)
        .await?;
    let deliveries: Vec<delivery::Model> = hook_ids
        .into_iter()
        .map(|hook_id| delivery::Model {
            id: new_id(),
            tenant_id: tenant.to_owned(),
            event_id: event.id.clone(),
            hook_id,
            event_type: new.event_type.clone(),
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            round_attempts: 0,
            next_trigger: Trigger::Scheduled,
            due_at: Some(now),
            created_at: now,
            updated_at: now,
        })
        .collect();
    if !deliveries.is_empty() {
        let rows = deliveries.iter().cloned().map(delivery::ActiveModel::from);
        delivery::Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(Emitted { event, deliveries })
}

/// Emits `new` in `txn`, commits, and returns `value` with the event to publish: the tail of
/// every write that emits one event.
pub async fn commit<T>(txn: DatabaseTransaction, tenant: &str, new: NewEvent, value: T) -> AppResult<Committed<T>> {
    let emitted = emit(&txn, tenant, new).await?;
    txn.commit().await?;
    Ok(Committed::new(value, [emitted]))
}

/// A LIKE pattern matching hooks whose JSON `events` array contains exactly `name`.
pub fn event_name_pattern(name: &str) -> LikeExpr {
    like_containing(&Value::from(name).to_string())
}

/// What a write committed, with the events it emitted and the deliveries it changed: to be
/// published now that the transaction is durable (`AppState::publish` tells subscribers and
/// wakes the dispatcher, then hands back the value). A write that is not published is still
/// delivered, only up to a poll interval late and unseen by live subscribers; hence
/// `#[must_use]`.
#[must_use = "publish it with AppState::publish"]
#[derive(Debug)]
pub struct Committed<T> {
    value: T,
    emitted: Vec<Emitted>,
    changed: Vec<delivery::Model>,
}

impl<T> Committed<T> {
    /// A committed write and the events it emitted (none, one, or several).
    pub fn new(value: T, emitted: impl IntoIterator<Item = Emitted>) -> Committed<T> {
        Committed {
            value,
            emitted: emitted.into_iter().collect(),
            changed: Vec::new(),
        }
    }

    /// A committed write that changed existing deliveries (cancelled, requeued).
    pub fn changed(value: T, changed: Vec<delivery::Model>) -> Committed<T> {
        Committed {
            value,
            emitted: Vec::new(),
            changed,
        }
    }

    /// The events this write emitted.
    pub fn emitted(&self) -> &[Emitted] {
        &self.emitted
    }

    /// The value, the emitted events and the changed deliveries: for the one publisher.
    pub fn into_parts(self) -> (T, Vec<Emitted>, Vec<delivery::Model>) {
        (self.value, self.emitted, self.changed)
    }
}
