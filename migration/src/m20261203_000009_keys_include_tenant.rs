//! Every primary key, unique index and foreign key includes `tenant_id` (PostgreSQL), so that
//! the tables can be distributed by tenant (Citus) with no further change to the keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// `tenant_id` goes last in each key, so that lookups by `id` alone (the dispatcher's, the
/// recorder's) still use the primary key's index. SQLite is one process and never distributed,
/// and cannot alter a table's keys in place: its schema keeps its keys as they are.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables and the columns of their primary key, without `tenant_id`.
const PRIMARY_KEYS: &[(&str, &[&str])] = &[
    ("applications", &["id"]),
    ("deliveries", &["id"]),
    ("delivery_attempts", &["id"]),
    ("event_types", &["id"]),
    ("events", &["id"]),
    ("hooks", &["id"]),
    ("organization_roles", &["id"]),
    ("organization_scopes", &["id"]),
    ("organizations", &["id"]),
    ("resources", &["id"]),
    ("roles", &["id"]),
    ("scopes", &["id"]),
    ("sign_in_failures", &["id"]),
    ("users", &["id"]),
    ("organization_applications", &["organization_id", "application_id"]),
    (
        "organization_role_scopes",
        &["organization_role_id", "organization_scope_id"],
    ),
    ("organization_users", &["organization_id", "user_id"]),
    ("roles_scopes", &["role_id", "scope_id"]),
    ("users_roles", &["user_id", "role_id"]),
];

/// (table, column, referenced table): each references the referenced table's `id`, and
/// deleting the referenced row deletes the referencing ones.
const FOREIGN_KEYS: &[(&str, &str, &str)] = &[
    ("deliveries", "event_id", "events"),
    ("delivery_attempts", "delivery_id", "deliveries"),
    ("organization_applications", "application_id", "applications"),
    ("organization_applications", "organization_id", "organizations"),
    ("organization_role_scopes", "organization_role_id", "organization_roles"),
    (
        "organization_role_scopes",
        "organization_scope_id",
        "organization_scopes",
    ),
    ("organization_users", "organization_id", "organizations"),
    ("organization_users", "user_id", "users"),
    ("roles_scopes", "role_id", "roles"),
    ("roles_scopes", "scope_id", "scopes"),
    ("scopes", "resource_id", "resources"),
    ("users_roles", "role_id", "roles"),
    ("users_roles", "user_id", "users"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild_keys(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild_keys(manager, false).await
    }
}

/// Drops every key in `PRIMARY_KEYS` and `FOREIGN_KEYS` and the unique index of `scopes`, and
/// builds them again, with `tenant_id` (up) or without it (down). PostgreSQL only.
async fn rebuild_keys(manager: &SchemaManager<'_>, with_tenant: bool) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let tenant = if with_tenant { ", tenant_id" } else { "" };
    let mut sql = vec![DROP_FOREIGN_KEYS.to_owned()];
    for (table, columns) in PRIMARY_KEYS {
        sql.push(format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD CONSTRAINT {table}_pkey PRIMARY KEY ({}{tenant})",
            columns.join(", ")
        ));
    }
    sql.push("DROP INDEX scopes_resource_id_name".to_owned());
    sql.push(format!(
        "CREATE UNIQUE INDEX scopes_resource_id_name ON scopes (resource_id, name{tenant})"
    ));
    for (table, column, parent) in FOREIGN_KEYS {
        sql.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey FOREIGN KEY ({column}{tenant}) \
             REFERENCES {parent} (id{tenant}) ON DELETE CASCADE"
        ));
    }
    let db = manager.get_connection();
    for statement in &sql {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Drops every foreign key of the schema, whatever it was named when created.
const DROP_FOREIGN_KEYS: &str = "DO $$ DECLARE r record; BEGIN \
    FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint \
      WHERE contype = 'f' AND connamespace = current_schema()::regnamespace LOOP \
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); \
    END LOOP; END $$";
