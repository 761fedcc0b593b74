//! Attempts keep the headers of their request and of the response.

use sea_orm_migration::prelude::*;

/// `request_headers` and `response_headers`: `name: value` lines, as on the wire, so that a
/// delivery's detail shows exactly what was sent and what came back. Null for attempts stored
/// before this migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE delivery_attempts ADD COLUMN request_headers TEXT")
            .await?;
        db.execute_unprepared("ALTER TABLE delivery_attempts ADD COLUMN response_headers TEXT")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE delivery_attempts DROP COLUMN response_headers")
            .await?;
        db.execute_unprepared("ALTER TABLE delivery_attempts DROP COLUMN request_headers")
            .await?;
        Ok(())
    }
}
