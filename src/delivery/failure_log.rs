//! One WARN line per failed attempt, at most one per hook per [`EVERY`]: a dead endpoint with a
//! backlog cannot flood the log. The next line of a hook says how many were left out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::delivery;

use crate::delivery::sender::AttemptResult;

/// Shortest time between two lines about one hook.
pub const EVERY: Duration = Duration::from_secs(10);
/// Hooks remembered at most; past it, those quiet for longer than [`EVERY`] are forgotten
/// (all of them, if that is not enough).
const MAX_HOOKS: usize = 10_000;

/// When each hook last had a line, and how many of its failures were left out since.
#[derive(Default)]
pub struct FailureLog {
    hooks: Mutex<HashMap<String, (Instant, u64)>>,
}

impl FailureLog {
    /// Logs `result`, a failed attempt of `delivery`, unless its hook had a line within
    /// [`EVERY`].
    pub fn failed(&self, delivery: &delivery::Model, result: &AttemptResult) {
        let now = Instant::now();
        let suppressed = {
            let mut hooks = self.hooks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if hooks.len() >= MAX_HOOKS {
                hooks.retain(|_, (at, _)| now.duration_since(*at) < EVERY);
                if hooks.len() >= MAX_HOOKS {
                    // More hooks failing at once than are remembered: start over, so every hook
                    // is throttled again from its next line.
                    hooks.clear();
                }
            }
            match hooks.get_mut(&delivery.hook_id) {
                Some((at, left_out)) if now.duration_since(*at) < EVERY => {
                    *left_out += 1;
                    return;
                }
                Some((at, left_out)) => {
                    *at = now;
                    std::mem::take(left_out)
                }
                None => {
                    hooks.insert(delivery.hook_id.clone(), (now, 0));
                    0
                }
            }
        };
        tracing::warn!(
            hook_id = %delivery.hook_id,
            delivery_id = %delivery.id,
            event_type = %delivery.event_type,
            attempt = delivery.attempt_count + 1,
            status = result.status,
            error_class = result.error_class(),
            error = result.error.as_deref().unwrap_or_default(),
            duration_ms = result.duration_ms,
            suppressed,
            "delivery attempt failed"
        );
    }
}
