//! Organizations, applications, memberships, organization roles and permissions and their links.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("applications")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text("type"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("organizations")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text("custom_data"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        for (table, member, members) in [
            ("organization_users", "user_id", "users"),
            ("organization_applications", "application_id", "applications"),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(text("tenant_id"))
                        .col(text("organization_id"))
                        .col(text(member))
                        .col(big_integer("created_at"))
                        .primary_key(Index::create().col("organization_id").col(member))
                        .foreign_key(&mut cascade((table, "organization_id"), "organizations"))
                        .foreign_key(&mut cascade((table, member), members))
                        .to_owned(),
                )
                .await?;
        }
        for table in ["organization_roles", "organization_scopes"] {
            let mut create = Table::create();
            create
                .table(table)
                .col(text("id").primary_key())
                .col(text("tenant_id"))
                .col(text("name"))
                .col(text_null("description"))
                .col(big_integer("created_at"));
            if table == "organization_roles" {
                create.col(text("type"));
            }
            manager.create_table(create.to_owned()).await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_tenant_id_name"))
                        .table(table)
                        .col("tenant_id")
                        .col("name")
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("organization_role_scopes")
                    .col(text("tenant_id"))
                    .col(text("organization_role_id"))
                    .col(text("organization_scope_id"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("organization_role_id").col("organization_scope_id"))
                    .foreign_key(&mut cascade(
                        ("organization_role_scopes", "organization_role_id"),
                        "organization_roles",
                    ))
                    .foreign_key(&mut cascade(
                        ("organization_role_scopes", "organization_scope_id"),
                        "organization_scopes",
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "organization_role_scopes",
            "organization_scopes",
            "organization_roles",
            "organization_applications",
            "organization_users",
            "organizations",
            "applications",
        ] {
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
