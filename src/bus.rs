//! The bounded broadcast bus behind subscriptions (SPEC §3.2).
//!
//! Publishers (the outbox's callers after commit, the dispatcher after a claim, the recorder
//! after storing outcomes) call `send`, which never waits: when a subscriber falls more than
//! `CAPACITY` messages behind, it loses the oldest ones and is told so, while delivery goes on
//! at full speed. Nothing is published before its change is committed, so a subscriber never
//! sees a state the store does not have.
//!
//! On PostgreSQL the bus also relays: everything published here is queued as a [`Signal`] for
//! the other instances on the same database (`relay/notify.rs`), and what they publish comes
//! back in through `relay/listen.rs`, which publishes it here with [`Bus::relayed_delivery`]
//! and [`Bus::relayed_event`] (local only, so nothing echoes).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{broadcast, mpsc};

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

/// What one instance tells the others (`relay/notify.rs` puts it on the wire).
#[derive(Clone, Debug)]
pub enum Signal {
    Delivery(Arc<DeliveryUpdate>),
    /// A committed event; the others read it by id (payloads are too big for a notification).
    Event {
        tenant_id: String,
        event_id: String,
    },
    /// Deliveries are due now (created or requeued): dispatchers should claim.
    Wake,
}

/// Signals the relay has not yet sent. Never waits: when the queue is full, the signal is
/// dropped and the time noted, and the relay's next message asks the others to catch up from
/// the database since then ([`Outgoing::take_lost_since`]).
const OUTGOING: usize = 65_536;

/// The sending end of the relay queue, held by the bus and by `Wake`.
#[derive(Clone, Debug)]
pub struct Outgoing {
    queue: mpsc::Sender<Signal>,
    /// Epoch ms of the oldest signal dropped since the last message; `i64::MAX` for none.
    lost_since: Arc<AtomicI64>,
}

impl Outgoing {
    pub fn channel() -> (Outgoing, mpsc::Receiver<Signal>) {
        let (queue, receiver) = mpsc::channel(OUTGOING);
        let outgoing = Outgoing {
            queue,
            lost_since: Arc::new(AtomicI64::new(i64::MAX)),
        };
        (outgoing, receiver)
    }

    pub fn send(&self, signal: Signal) {
        if self.queue.try_send(signal).is_err() {
            self.lost(now_ms());
        }
    }

    /// Signals since `at` (epoch ms) did not reach the others.
    pub fn lost(&self, at: i64) {
        metrics::counter!("hookd_relay_lost_total").increment(1);
        self.lost_since.fetch_min(at, Ordering::Relaxed);
    }

    /// When signals started to be lost, if any were since the last call.
    pub fn take_lost_since(&self) -> Option<i64> {
        let since = self.lost_since.swap(i64::MAX, Ordering::Relaxed);
        (since != i64::MAX).then_some(since)
    }
}

#[derive(Clone)]
pub struct Bus {
    deliveries: broadcast::Sender<Arc<DeliveryUpdate>>,
    events: broadcast::Sender<Arc<event::Model>>,
    /// To the other instances (PostgreSQL only).
    relay: Option<Outgoing>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            deliveries: broadcast::channel(CAPACITY).0,
            events: broadcast::channel(CAPACITY).0,
            relay: None,
        }
    }
}

impl Bus {
    /// A bus that also tells the other instances what is published on it.
    pub fn relaying(relay: Outgoing) -> Bus {
        Bus {
            relay: Some(relay),
            ..Bus::default()
        }
    }

    pub fn delivery(&self, update: DeliveryUpdate) {
        let update = Arc::new(update);
        if let Some(relay) = &self.relay {
            relay.send(Signal::Delivery(update.clone()));
        }
        self.relayed_delivery(update);
    }

    pub fn event(&self, event: Arc<event::Model>) {
        if let Some(relay) = &self.relay {
            relay.send(Signal::Event {
                tenant_id: event.tenant_id.clone(),
                event_id: event.id.clone(),
            });
        }
        self.relayed_event(event);
    }

    /// A delivery update another instance committed: for this instance's subscribers only.
    pub fn relayed_delivery(&self, update: Arc<DeliveryUpdate>) {
        // An error only means nobody is subscribed.
        let _ = self.deliveries.send(update);
    }

    /// An event another instance committed: for this instance's subscribers only.
    pub fn relayed_event(&self, event: Arc<event::Model>) {
        let _ = self.events.send(event);
    }

    /// Whether anyone here subscribes to delivery updates (else relayed ones need no work).
    pub fn watched_deliveries(&self) -> bool {
        self.deliveries.receiver_count() > 0
    }

    /// Whether anyone here subscribes to events (else relayed ones need not be read).
    pub fn watched_events(&self) -> bool {
        self.events.receiver_count() > 0
    }

    pub fn subscribe_deliveries(&self) -> broadcast::Receiver<Arc<DeliveryUpdate>> {
        self.deliveries.subscribe()
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.events.subscribe()
    }
}
