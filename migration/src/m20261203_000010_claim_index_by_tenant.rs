//! A claim index per tenant, for the claim that names its tenant.

use sea_orm_migration::prelude::*;

/// The claim takes one tenant's due deliveries at a time (so that on a database distributed by
/// tenant it runs on one shard): index them by tenant first, so one tenant's share is a range of
/// the index, however large another tenant's backlog. `deliveries_due` stays for the reads that
/// find due work across tenants.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX deliveries_due_by_tenant ON deliveries (tenant_id, due_at, hook_id) \
                 WHERE status IN ('PENDING', 'SENDING')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX deliveries_due_by_tenant")
            .await?;
        Ok(())
    }
}
