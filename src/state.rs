//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use crate::auth::Auth;
use crate::bus::{Bus, DeliveryUpdate};
use crate::config::Config;
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::sender::Sender;
use crate::delivery::test_hook::TenantLimits;
use crate::domain::webhooks::hooks::HookRules;
use crate::domain::webhooks::outbox::{Committed, Emitted};

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
}

impl AppState {
    /// After a write committed: count its events, tell subscribers about its events and
    /// deliveries, wake the dispatcher to send them, and hand back what the write returned.
    pub fn publish<T>(&self, committed: Committed<T>) -> T {
        let (value, emitted, changed) = committed.into_parts();
        if emitted.is_empty() && changed.is_empty() {
            return value;
        }
        for Emitted { event, deliveries } in emitted {
            metrics::counter!("hookd_events_total", "type" => crate::metrics::event_label(&event.event_type))
                .increment(1);
            for delivery in &deliveries {
                self.bus.delivery(DeliveryUpdate::of(delivery));
            }
            self.bus.event(event);
        }
        for delivery in &changed {
            self.bus.delivery(DeliveryUpdate::of(delivery));
        }
        self.wake.wake();
        value
    }
}
