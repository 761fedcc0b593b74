//! Hooks gain their delivery policy: ordering, a rate limit, and the failure clock that disables
//! a hook whose receiver has been failing for too long.

use sea_orm_migration::prelude::*;

/// `ordered`: deliveries go one at a time, in event order; those waiting their turn are stored
/// PENDING with no `due_at`. `rate_limit`: deliveries per second (null: unlimited), paced through
/// `rate_next_at` (epoch microseconds: when the next send may start, shared by every process).
/// `failing_since` (epoch ms) and `failed_attempts`: the current run of failed attempts, null and
/// 0 after a success. `disabled_reason`: why a disabled hook is off (`GONE`, `FAILING`, `USER`).
///
/// `deliveries_queued_by_hook` finds, without reading a hook's history, whether the hook has a
/// queued delivery with a due time (an ordered hook's one delivery in turn) and its oldest
/// waiting one (due time null, first by id).
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [(&str, &str); 6] = [
    ("ordered", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("rate_limit", "INTEGER"),
    ("rate_next_at", "BIGINT"),
    ("failing_since", "BIGINT"),
    ("failed_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("disabled_reason", "TEXT"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, definition) in COLUMNS {
            db.execute_unprepared(&format!("ALTER TABLE hooks ADD COLUMN {name} {definition}"))
                .await?;
        }
        db.execute_unprepared(
            "CREATE INDEX deliveries_queued_by_hook ON deliveries (tenant_id, hook_id, due_at, id) \
             WHERE status IN ('PENDING', 'SENDING')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX deliveries_queued_by_hook").await?;
        for (name, _) in COLUMNS.iter().rev() {
            db.execute_unprepared(&format!("ALTER TABLE hooks DROP COLUMN {name}"))
                .await?;
        }
        Ok(())
    }
}
