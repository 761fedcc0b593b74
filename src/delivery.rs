//! The dispatcher: claim, send, sign, retry, record. See `dispatcher.rs` for the loop and
//! `domain/lifecycle.rs` for the statements that move a delivery from status to status.

pub mod dispatcher;
pub mod pruner;
pub mod recorder;
pub mod retry;
pub mod sender;
pub mod sign;
pub mod test_hook;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::delivery::dispatcher::Dispatcher;
use crate::state::AppState;

/// Room for outcomes waiting to be recorded; senders wait when it is full.
const RECORD_QUEUE: usize = 4096;

/// Wakes the dispatcher: called after a commit that created or requeued deliveries.
#[derive(Clone, Debug, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// Runs the dispatcher and its recorder until `shutdown`; returns when in-flight attempts are
/// done (or timed out) and every outcome is stored.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let (records, queue) = mpsc::channel(RECORD_QUEUE);
    let recorder = tokio::spawn(recorder::run(
        state.db.clone(),
        queue,
        state.wake.clone(),
        state.bus.clone(),
    ));
    let pruner = tokio::spawn(pruner::run(state.db.clone(), state.config.retention, shutdown.clone()));
    let config = &state.config;
    let dispatcher = Dispatcher {
        db: state.db.clone(),
        bus: state.bus.clone(),
        sender: state.sender.clone(),
        wake: state.wake.clone(),
        records,
        lease: config.lease(),
        delivery_timeout: config.delivery_timeout,
        retry_schedule: config.retry_schedule.clone().into(),
        max_in_flight: config.max_in_flight,
        max_in_flight_per_hook: config.max_in_flight_per_hook,
    };
    dispatcher.run(shutdown).await;
    // The dispatcher's sender half is gone now; the recorder drains what is left and stops.
    if let Err(e) = recorder.await {
        tracing::error!(error = %e, "recorder task failed");
    }
    pruner.abort();
}
