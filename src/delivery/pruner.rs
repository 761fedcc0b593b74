//! Retention (`HOOKD_RETENTION`, SPEC §5.4): removes history older than the retention period.
//!
//! Runs at start-up and then every `EVERY`; what it removes is `lifecycle::prune`'s to say.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::domain::{now_ms, webhooks::lifecycle};

const EVERY: Duration = Duration::from_secs(3600);

pub async fn run(db: Db, retention: Duration, shutdown: CancellationToken) {
    loop {
        let cutoff = now_ms() - retention.as_millis() as i64;
        match lifecycle::prune(&db, cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "pruned history older than the retention period"),
            Err(e) => tracing::error!(error = %e, "pruning history failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
