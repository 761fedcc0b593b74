//! The `hooks` table: where to send which events, with the signing keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("hooks")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text("url"))
                    .col(text("events"))
                    .col(text("headers"))
                    .col(boolean("enabled"))
                    .col(text("signing_key"))
                    .col(text("previous_keys"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        // Every hook query filters on the tenant and pages by id.
        manager
            .create_index(
                Index::create()
                    .name("hooks_tenant_id_id")
                    .table("hooks")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("hooks").to_owned()).await
    }
}
