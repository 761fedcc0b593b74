//! Retention (`HOOKD_RETENTION`, SPEC §5.4): removes history older than the retention period.
//!
//! Runs at start-up and then every `EVERY`. Removes, in bounded chunks so no transaction grows
//! large: attempts that started before the cut-off; finished deliveries (SUCCEEDED, FAILED,
//! CANCELLED) last changed before it; and events older than it with no delivery left. Waiting
//! and in-flight deliveries are never touched, however old.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::domain::now_ms;

const EVERY: Duration = Duration::from_secs(3600);
const CHUNK: i64 = 5000;

pub async fn run(db: Db, retention: Duration, shutdown: CancellationToken) {
    loop {
        let cutoff = now_ms() - retention.as_millis() as i64;
        match prune(&db, cutoff).await {
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

/// Removes history from before `cutoff` (epoch ms); returns how many rows went.
pub async fn prune(db: &Db, cutoff: i64) -> Result<u64, DbErr> {
    let statements = [
        "DELETE FROM delivery_attempts WHERE id IN \
         (SELECT id FROM delivery_attempts WHERE started_at < $1 LIMIT $2)",
        "DELETE FROM deliveries WHERE id IN \
         (SELECT id FROM deliveries WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND updated_at < $1 LIMIT $2)",
        "DELETE FROM events WHERE id IN \
         (SELECT id FROM events e WHERE created_at < $1 \
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT $2)",
    ];
    let backend = db.backend();
    let mut removed = 0;
    for sql in statements {
        let sql = match backend {
            DbBackend::Postgres => sql.to_owned(),
            _ => sql.replace('$', "?"),
        };
        loop {
            let statement = Statement::from_sql_and_values(backend, &sql, [cutoff.into(), CHUNK.into()]);
            let rows = db.write.execute_raw(statement).await?.rows_affected();
            removed += rows;
            if rows < CHUNK as u64 {
                break;
            }
        }
    }
    Ok(removed)
}
