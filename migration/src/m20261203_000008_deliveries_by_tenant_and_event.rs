//! `deliveries (tenant_id, event_id, id)`: the index `Event.deliveries` and the deliveries list
//! filtered by event read by.

use sea_orm_migration::prelude::*;

/// Without it, SQLite answers "the deliveries of these events of this tenant" by walking the
/// tenant's `(tenant_id, id)` index, every delivery the tenant ever stored, and emits slow down
/// as history grows. `deliveries_event_id` stays: pruning looks deliveries up by event alone.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("deliveries_tenant_id_event_id_id")
                    .table("deliveries")
                    .col("tenant_id")
                    .col("event_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("deliveries_tenant_id_event_id_id")
                    .table("deliveries")
                    .to_owned(),
            )
            .await
    }
}
