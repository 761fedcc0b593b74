//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use crate::auth::Auth;
use crate::bus::{Bus, DeliveryUpdate};
use crate::config::Config;
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::sender::Sender;
use crate::delivery::test_hook::TenantLimits;
use crate::domain::hooks::HookRules;
use crate::domain::outbox::Emitted;

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
    /// After the commit of a transaction that emitted events: count them, tell subscribers,
    /// and wake the dispatcher to send the new deliveries.
    pub fn published(&self, emitted: Vec<Emitted>) {
        for Emitted { event, deliveries } in emitted {
            metrics::counter!("hookd_events_total", "type" => crate::metrics::event_label(&event.event_type))
                .increment(1);
            for delivery in &deliveries {
                self.bus.delivery(DeliveryUpdate::of(delivery));
            }
            self.bus.event(event);
        }
        self.wake.wake();
    }

    /// After the commit of a change to deliveries (cancelled, requeued): tell subscribers, and
    /// wake the dispatcher in case some are due now.
    pub fn changed(&self, deliveries: &[entity::delivery::Model]) {
        for delivery in deliveries {
            self.bus.delivery(DeliveryUpdate::of(delivery));
        }
        self.wake.wake();
    }
}
