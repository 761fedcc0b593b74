//! API resources, permissions (scopes), roles, and the role↔scope and user↔role links.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("resources")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text("indicator"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "resources_tenant_id_indicator",
            "resources",
            &["tenant_id", "indicator"],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("scopes")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("resource_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut cascade(("scopes", "resource_id"), "resources"))
                    .to_owned(),
            )
            .await?;
        unique(manager, "scopes_resource_id_name", "scopes", &["resource_id", "name"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("roles")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text("type"))
                    .col(boolean("is_default"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        unique(manager, "roles_tenant_id_name", "roles", &["tenant_id", "name"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("roles_scopes")
                    .col(text("tenant_id"))
                    .col(text("role_id"))
                    .col(text("scope_id"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("role_id").col("scope_id"))
                    .foreign_key(&mut cascade(("roles_scopes", "role_id"), "roles"))
                    .foreign_key(&mut cascade(("roles_scopes", "scope_id"), "scopes"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("users_roles")
                    .col(text("tenant_id"))
                    .col(text("user_id"))
                    .col(text("role_id"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("user_id").col("role_id"))
                    .foreign_key(&mut cascade(("users_roles", "user_id"), "users"))
                    .foreign_key(&mut cascade(("users_roles", "role_id"), "roles"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["users_roles", "roles_scopes", "roles", "scopes", "resources"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

fn cascade(from: (&'static str, &'static str), to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn unique(manager: &SchemaManager<'_>, name: &str, table: &str, columns: &[&str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table.to_owned()).unique();
    for column in columns {
        index.col(String::from(*column));
    }
    manager.create_index(index.to_owned()).await
}
