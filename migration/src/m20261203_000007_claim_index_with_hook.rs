//! The claim index gains `hook_id`, so the claim can skip hooks at their limit in the index.

use sea_orm_migration::prelude::*;

/// The claim skips hooks at their in-flight limit and spreads a claim over hooks, so it reads
/// `hook_id` for every candidate row: carry it in the claim index, so a large backlog on one
/// hook is skipped without reading its rows.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX deliveries_due").await?;
        db.execute_unprepared(
            "CREATE INDEX deliveries_due ON deliveries (due_at, hook_id) WHERE status IN ('PENDING', 'SENDING')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX deliveries_due").await?;
        db.execute_unprepared(
            "CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN ('PENDING', 'SENDING')",
        )
        .await?;
        Ok(())
    }
}
