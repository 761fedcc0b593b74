//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::sender::Sender;
use crate::domain::hooks::HookRules;

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
}

impl AppState {
    /// After a commit that emitted `events`: count them and wake the dispatcher.
    pub fn published(&self, events: &[entity::event::Model]) {
        for event in events {
            metrics::counter!("hookd_events_total", "type" => crate::metrics::event_label(&event.event_type))
                .increment(1);
        }
        self.wake.wake();
    }
}
