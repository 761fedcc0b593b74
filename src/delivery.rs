//! The dispatcher: claim, decode (`target.rs`), send, sign, retry, record. See `dispatcher.rs`
//! for the loop and `domain/webhooks/lifecycle.rs` for the statements that move a delivery from
//! status to status.

pub mod dispatcher;
pub mod failure_log;
pub mod handoff;
pub mod pruner;
pub mod recorder;
pub mod retry;
pub mod sender;
pub mod sign;
pub mod target;
pub mod test_hook;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::Config;
use crate::db::Db;
use crate::delivery::dispatcher::Dispatcher;
use crate::delivery::failure_log::FailureLog;
use crate::delivery::sender::Sender;
use crate::domain::webhooks::lifecycle::DisablePolicy;
use crate::publish::Publisher;
use crate::seal::MasterKeys;
use crate::wake::Wake;

/// Room for outcomes waiting to be recorded; senders wait when it is full.
const RECORD_QUEUE: usize = 4096;

/// What the dispatcher works with: the handles it shares with the request side.
pub struct Handles {
    pub db: Db,
    pub bus: Bus,
    pub wake: Wake,
    pub sender: Arc<Sender>,
    pub config: Arc<Config>,
    /// Opens the hooks' signing keys.
    pub keys: Arc<MasterKeys>,
    /// Deliveries born leased to this process (`handoff.rs`).
    pub handed: mpsc::Receiver<handoff::Handed>,
}

/// Runs the dispatcher and its recorder until `shutdown`; returns when in-flight attempts are
/// done (or timed out) and every outcome is stored.
pub async fn run(handles: Handles, shutdown: CancellationToken) {
    let Handles {
        db,
        bus,
        wake,
        sender,
        config,
        keys,
        handed,
    } = handles;
    let (records, queue) = mpsc::channel(RECORD_QUEUE);
    let publisher = Publisher {
        bus: bus.clone(),
        wake: wake.clone(),
    };
    let policy = DisablePolicy {
        after: config.disable_after,
        min_attempts: config.disable_min_attempts,
    };
    let recorder = tokio::spawn(recorder::run(db.clone(), queue, publisher, policy));
    let pruner = tokio::spawn(pruner::run(db.clone(), config.retention, shutdown.clone()));
    let dispatcher = Dispatcher {
        db,
        bus,
        sender,
        wake,
        records,
        keys,
        lease: config.lease(),
        delivery_timeout: config.delivery_timeout,
        retry_schedule: config.retry_schedule.clone().into(),
        max_in_flight: config.max_in_flight,
        max_in_flight_per_hook: config.max_in_flight_per_hook,
        poll_interval: config.poll_interval,
        failures: FailureLog::default(),
    };
    dispatcher.run(handed, shutdown).await;
    // The dispatcher's sender half is gone now; the recorder drains what is left and stops.
    if let Err(e) = recorder.await {
        tracing::error!(error = %e, "recorder task failed");
    }
    pruner.abort();
}
