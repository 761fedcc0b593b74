//! Events keep the trace context they were emitted in.

use sea_orm_migration::prelude::*;

/// `traceparent`: the W3C trace context of the operation that emitted the event (null when
/// traces are off), so that its delivery attempts, in any process and however much later,
/// continue that trace.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE events ADD COLUMN traceparent TEXT")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE events DROP COLUMN traceparent")
            .await?;
        Ok(())
    }
}
