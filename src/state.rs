//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use crate::auth::Auth;
use crate::bus::Bus;
use crate::config::Config;
use crate::db::Db;
use crate::delivery::sender::Sender;
use crate::delivery::test_hook::TenantLimits;
use crate::domain::webhooks::hooks::HookRules;
use crate::domain::webhooks::outbox::Committed;
use crate::group_commit::GroupCommit;
use crate::publish::Publisher;
use crate::wake::Wake;

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

    fn publisher(&self) -> Publisher {
        Publisher {
            bus: self.bus.clone(),
            wake: self.wake.clone(),
        }
    }
}
