//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use entity::delivery::DeliveryStatus;

use crate::auth::Auth;
use crate::bus::{Bus, DeliveryUpdate};
use crate::config::Config;
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::sender::Sender;
use crate::delivery::test_hook::TenantLimits;
use crate::domain::webhooks::hooks::HookRules;
use crate::domain::webhooks::outbox::{Committed, Emitted};
use crate::group_commit::GroupCommit;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Arc<Auth>,
    pub config: Arc<Config>,
    pub hook_rules: Arc<HookRules>,
    /// Wakes the dispatcher after a commit that created or requeued deliveries.
    pub wake: Wake,
    /// The HTTP client that sends webhooks (shared by the dispatcher and `testHook`).
    pub sender: Arc<Sender>,
    /// Delivery updates and new events, for subscriptions.
    pub bus: Bus,
    /// Each tenant's `testHook` deliveries on the wire.
    pub test_sends: Arc<TenantLimits>,
    /// Where `emitEvent` calls without an idempotency key share write transactions.
    pub emits: GroupCommit,
}

impl AppState {
    /// After a write committed: publish it (see [`Publisher::publish`]) and hand back what the
    /// write returned.
    pub fn publish<T>(&self, committed: Committed<T>) -> T {
        self.publisher().publish(committed)
    }

    pub fn publisher(&self) -> Publisher {
        Publisher {
            bus: self.bus.clone(),
            wake: self.wake.clone(),
        }
    }
}

/// The one after-commit step of every write: the request side's, and the group commit's.
#[derive(Clone)]
pub struct Publisher {
    pub bus: Bus,
    pub wake: Wake,
}

impl Publisher {
    /// Counts the write's events, tells subscribers about its events and deliveries, wakes the
    /// dispatcher when there is something to claim, and hands back the value.
    pub fn publish<T>(&self, committed: Committed<T>) -> T {
        let (value, emitted, changed) = committed.into_parts();
        self.emitted(&emitted);
        for delivery in &changed {
            self.bus.delivery(DeliveryUpdate::of(delivery));
        }
        if !changed.is_empty() {
            self.wake.wake();
        }
        value
    }

    /// The part of [`Publisher::publish`] for emitted events, also used by the group commit.
    pub fn emitted(&self, emitted: &[Emitted]) {
        let mut claimable = false;
        for emitted in emitted {
            claimable |= self.announce(emitted);
        }
        if claimable {
            self.wake.wake();
        }
    }

    /// Counts and announces one emitted event and its deliveries, each as created (PENDING,
    /// due now) even when it was born leased: its SENDING update follows from the dispatcher.
    /// True when some delivery waits for a claim.
    fn announce(&self, emitted: &Emitted) -> bool {
        let Emitted { event, deliveries, .. } = emitted;
        metrics::counter!("hookd_events_total", "type" => crate::metrics::event_label(&event.event_type)).increment(1);
        let mut claimable = false;
        for delivery in deliveries {
            claimable |= delivery.status == DeliveryStatus::Pending;
            let mut created = DeliveryUpdate::of(delivery);
            created.status = DeliveryStatus::Pending;
            created.next_attempt_at = Some(delivery.created_at);
            self.bus.delivery(created);
        }
        self.bus.event(event.clone());
        claimable
    }
}
