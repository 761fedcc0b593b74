//! The bounded broadcast bus behind subscriptions (SPEC §3.2).
//!
//! Publishers (the outbox's callers after commit, the dispatcher after a claim, the recorder
//! after storing outcomes) call `send`, which never waits: when a subscriber falls more than
//! `CAPACITY` messages behind, it loses the oldest ones and is told so, while delivery goes on
//! at full speed. Nothing is published before its change is committed, so a subscriber never
//! sees a state the store does not have.

use std::sync::Arc;

use tokio::sync::broadcast;

use entity::delivery::DeliveryStatus;
use entity::{delivery, event};

use crate::domain::now_ms;

/// Messages a subscriber may fall behind before it starts losing the oldest.
pub const CAPACITY: usize = 4096;

/// One status change of one delivery.
#[derive(Clone, Debug)]
pub struct DeliveryUpdate {
    pub tenant_id: String,
    pub delivery_id: String,
    pub hook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub error: Option<String>,
    pub next_attempt_at: Option<i64>,
    /// When the change was committed (epoch ms).
    pub at: i64,
}

impl DeliveryUpdate {
    /// The update for a delivery row as it now stands (no attempt details).
    pub fn of(row: &delivery::Model) -> DeliveryUpdate {
        let status = row.status;
        DeliveryUpdate {
            tenant_id: row.tenant_id.clone(),
            delivery_id: row.id.clone(),
            hook_id: row.hook_id.clone(),
            event_id: row.event_id.clone(),
            event_type: row.event_type.clone(),
            status,
            attempt_count: row.attempt_count,
            response_status: None,
            duration_ms: None,
            error: None,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.due_at).flatten(),
            at: now_ms(),
        }
    }
}

#[derive(Clone)]
pub struct Bus {
    deliveries: broadcast::Sender<Arc<DeliveryUpdate>>,
    events: broadcast::Sender<Arc<event::Model>>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            deliveries: broadcast::channel(CAPACITY).0,
            events: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Bus {
    pub fn delivery(&self, update: DeliveryUpdate) {
        // An error only means nobody is subscribed.
        let _ = self.deliveries.send(Arc::new(update));
    }

    pub fn event(&self, event: Arc<event::Model>) {
        let _ = self.events.send(event);
    }

    pub fn subscribe_deliveries(&self) -> broadcast::Receiver<Arc<DeliveryUpdate>> {
        self.deliveries.subscribe()
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.events.subscribe()
    }
}
