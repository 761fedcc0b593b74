//! `sign_in_failures`: the failed sign-ins the lockout window counts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sign_in_failures")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("identifier"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        // Lockout counts one identifier's recent failures.
        manager
            .create_index(
                Index::create()
                    .name("sign_in_failures_tenant_identifier_created")
                    .table("sign_in_failures")
                    .col("tenant_id")
                    .col("identifier")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sign_in_failures").to_owned())
            .await
    }
}
