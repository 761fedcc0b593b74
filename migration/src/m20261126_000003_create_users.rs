//! The `users` table, unique usernames and primary emails per tenant.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text_null("username"))
                    .col(text_null("primary_email"))
                    .col(text_null("primary_phone"))
                    .col(text_null("name"))
                    .col(text_null("avatar"))
                    .col(text("custom_data"))
                    .col(text("identities"))
                    .col(text("profile"))
                    .col(text_null("password_hash"))
                    .col(text_null("application_id"))
                    .col(boolean("is_suspended"))
                    .col(big_integer_null("last_sign_in_at"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        // Unique per tenant; NULLs (no username, no email) do not collide.
        for (name, column) in [
            ("users_tenant_id_username", "username"),
            ("users_tenant_id_primary_email", "primary_email"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("users")
                        .col("tenant_id")
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("users_tenant_id_id")
                    .table("users")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("users").to_owned()).await
    }
}
