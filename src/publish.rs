//! The after-commit step of every write: tell subscribers what was committed and wake the
//! dispatcher when something waits for a claim. `AppState::publish` and the group commit both
//! go through [`Publisher`].

use entity::delivery::DeliveryStatus;

use crate::bus::{Bus, DeliveryUpdate};
use crate::domain::webhooks::outbox::{Committed, Emitted};
use crate::wake::Wake;

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
            // Due now, unless it waits its turn on an ordered hook.
            created.next_attempt_at = delivery.due_at.map(|_| delivery.created_at);
            self.bus.delivery(created);
        }
        self.bus.event(event.clone());
        claimable
    }
}
