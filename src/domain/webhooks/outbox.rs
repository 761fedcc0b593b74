//! The transactional outbox: where every producer writes its event and delivery rows.
//!
//! [`emit`] runs inside the caller's transaction. It stores the event and one delivery per
//! enabled hook subscribed to the event type whose filter, if any, selects the envelope
//! (matched now, at emit time), so the change that caused the event, the event, and its
//! deliveries commit together or not at all. Nothing is
//! sent from here: the writer commits, wraps what it stored in a [`Committed`], and the request
//! side hands that to `AppState::publish`, which tells subscribers and wakes the dispatcher to
//! claim the rows. [`emit_many`] stores many events with a handful of statements for the group
//! commit (`crate::group_commit`), whose deliveries may be born leased ([`Born`]) and handed to
//! this process's dispatcher instead of claimed. An ordered hook's deliveries are born waiting
//! their turn (`lifecycle::advance`), which the emit hands out when the hook has none in turn.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Map, Value};
use tracing::Instrument;

use entity::delivery::{DeliveryStatus, Trigger};
use entity::{delivery, event, hook};

use crate::domain::tenant::scoped;
use crate::domain::webhooks::{filter, lifecycle};
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
    /// The trace context to store with the event; `None`: the current span's (the emitting
    /// operation's, when the emit runs in it).
    pub traceparent: Option<String>,
}

/// What one emit stored: to publish once the caller's transaction has committed.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub event: Arc<event::Model>,
    pub deliveries: Vec<delivery::Model>,
    /// The hook of each delivery, as read in the emit's transaction (same order).
    pub hooks: Vec<Arc<hook::Model>>,
}

/// How a new delivery starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Born {
    /// PENDING and due now: the dispatcher claims it.
    Pending,
    /// Already leased to this process's dispatcher until the given time (epoch ms), which is
    /// handed the delivery in memory after the commit, with no claim. Should this process die
    /// first, the lease runs out and the delivery is claimed like any other.
    LeasedUntil(i64),
}

/// Rows per INSERT statement, so no statement's parameters grow with a group's size (12
/// columns a delivery: well under SQLite's 32,766 and PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 1000;

/// Stores `new` and its deliveries in `txn`.
pub async fn emit<C: ConnectionTrait>(txn: &C, tenant: &str, new: NewEvent) -> AppResult<Emitted> {
    let mut emitted = emit_many(txn, &[(tenant.to_owned(), new)], |_| Born::Pending).await?;
    Ok(emitted.pop().expect("one emitted per event"))
}

/// Stores several events and their deliveries in `txn` with a handful of statements: one
/// INSERT for the events, one hook lookup per distinct tenant and type, one INSERT for the
/// deliveries (each chunked at `ROWS_PER_INSERT` rows). `born` decides, per delivery of a hook
/// that is not ordered, how it
/// starts (an ordered hook's always start PENDING, waiting their turn). Returns what each event
/// stored, in the order given.
pub async fn emit_many<C: ConnectionTrait>(
    txn: &C,
    news: &[(String, NewEvent)],
    born: impl FnMut(&hook::Model) -> Born,
) -> AppResult<Vec<Emitted>> {
    let span = tracing::debug_span!("outbox.emit", events = news.len());
    // Each event of a group commit continues its own request's trace; the group's span links
    // to them.
    for (_, new) in news {
        if let Some(traceparent) = &new.traceparent {
            crate::telemetry::add_link(&span, traceparent);
        }
    }
    store(txn, news, born).instrument(span).await
}

async fn store<C: ConnectionTrait>(
    txn: &C,
    news: &[(String, NewEvent)],
    mut born: impl FnMut(&hook::Model) -> Born,
) -> AppResult<Vec<Emitted>> {
    let now = now_ms();
    let mut events = Vec::with_capacity(news.len());
    for (tenant, new) in news {
        events.push(event::Model {
            id: new_id(),
            tenant_id: tenant.clone(),
            event_type: new.event_type.clone(),
            payload: serde_json::to_string(&new.envelope).map_err(anyhow::Error::from)?,
            idempotency_key: new.idempotency_key.clone(),
            traceparent: new.traceparent.clone().or_else(crate::telemetry::current_traceparent),
            created_at: now,
        });
    }
    for chunk in events.chunks(ROWS_PER_INSERT) {
        event::Entity::insert_many(chunk.iter().cloned().map(event::ActiveModel::from))
            .exec(txn)
            .await?;
    }

    // The subscribed hooks of each (tenant, type), with their filters compiled once.
    type Subscribed = Vec<(Arc<hook::Model>, filter::Compiled)>;
    let mut subscribed: HashMap<(String, String), Subscribed> = HashMap::new();
    for event in &events {
        if let Entry::Vacant(entry) = subscribed.entry((event.tenant_id.clone(), event.event_type.clone())) {
            let hooks = scoped::<hook::Entity>(&event.tenant_id)
                .filter(hook::Column::Enabled.eq(true))
                .filter(Expr::col(hook::Column::Events).like(event_name_pattern(&event.event_type)))
                .all(txn)
                .await?;
            let hooks = hooks.into_iter().map(|hook| {
                let compiled = filter::Compiled::of(&hook.id, hook.filter.as_deref());
                (Arc::new(hook), compiled)
            });
            entry.insert(hooks.collect());
        }
    }
    let mut emitted = Vec::with_capacity(events.len());
    for (event, (_, new)) in events.into_iter().zip(news) {
        let candidates = &subscribed[&(event.tenant_id.clone(), event.event_type.clone())];
        // The envelope as a value only when some hook filters on it.
        let envelope = candidates
            .iter()
            .any(|(_, compiled)| compiled.filters())
            .then(|| Value::Object(new.envelope.clone()));
        let hooks: Vec<Arc<hook::Model>> = candidates
            .iter()
            .filter(|(_, compiled)| envelope.as_ref().is_none_or(|envelope| compiled.selects(envelope)))
            .map(|(hook, _)| hook.clone())
            .collect();
        let deliveries = hooks
            .iter()
            .map(|hook| {
                let (status, due_at) = if hook.ordered {
                    (DeliveryStatus::Pending, None)
                } else {
                    match born(hook) {
                        Born::Pending => (DeliveryStatus::Pending, Some(now)),
                        Born::LeasedUntil(lease) => (DeliveryStatus::Sending, Some(lease)),
                    }
                };
                delivery::Model {
                    id: new_id(),
                    tenant_id: event.tenant_id.clone(),
                    event_id: event.id.clone(),
                    hook_id: hook.id.clone(),
                    event_type: event.event_type.clone(),
                    status,
                    attempt_count: 0,
                    round_attempts: 0,
                    next_trigger: Trigger::Scheduled,
                    due_at,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        emitted.push(Emitted {
            event: Arc::new(event),
            deliveries,
            hooks,
        });
    }
    let rows: Vec<delivery::ActiveModel> = emitted
        .iter()
        .flat_map(|e| e.deliveries.iter().cloned().map(delivery::ActiveModel::from))
        .collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<delivery::ActiveModel> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        delivery::Entity::insert_many(chunk).exec(txn).await?;
    }
    let mut ordered: Vec<(&str, &str)> = emitted
        .iter()
        .flat_map(|e| e.hooks.iter())
        .filter(|hook| hook.ordered)
        .map(|hook| (hook.tenant_id.as_str(), hook.id.as_str()))
        .collect();
    ordered.sort_unstable();
    ordered.dedup();
    if !ordered.is_empty() {
        lifecycle::advance(txn, &ordered, now).await?;
    }
    Ok(emitted)
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

    /// The same write, which also changed existing deliveries.
    pub fn and_changed(mut self, changed: Vec<delivery::Model>) -> Committed<T> {
        self.changed.extend(changed);
        self
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
