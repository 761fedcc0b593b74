//! `event_types`, `events`, `deliveries` and `delivery_attempts`, with the indexes the outbox,
//! the claim and the lists read by.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("event_types")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "event_types_tenant_id_name",
            "event_types",
            &["tenant_id", "name"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("type"))
                    // The payload envelope as sent, minus the per-delivery `eventId`/`hookId`.
                    .col(text("payload"))
                    .col(text_null("idempotency_key"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "events_tenant_id_id", "events", &["tenant_id", "id"]).await?;
        index(
            manager,
            "events_tenant_id_type_id",
            "events",
            &["tenant_id", "type", "id"],
        )
        .await?;
        unique(
            manager,
            "events_tenant_id_idempotency_key",
            "events",
            &["tenant_id", "idempotency_key"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("deliveries")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("event_id"))
                    // No foreign key: deleting a hook keeps its delivery history.
                    .col(text("hook_id").check(Expr::cust("length(hook_id) > 0")))
                    .col(text("event_type"))
                    .col(text("status"))
                    .col(integer("attempt_count"))
                    .col(integer("round_attempts"))
                    .col(text("next_trigger"))
                    // PENDING: when the next attempt is due; SENDING: when the lease runs out.
                    .col(big_integer_null("due_at"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("deliveries", "event_id")
                            .to("events", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The claim query's index: only rows that still need work are in it.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN ('PENDING', 'SENDING')",
            )
            .await?;
        index(manager, "deliveries_tenant_id_id", "deliveries", &["tenant_id", "id"]).await?;
        index(
            manager,
            "deliveries_tenant_id_hook_id_id",
            "deliveries",
            &["tenant_id", "hook_id", "id"],
        )
        .await?;
        index(manager, "deliveries_event_id", "deliveries", &["event_id"]).await?;
        index(
            manager,
            "deliveries_hook_id_status",
            "deliveries",
            &["hook_id", "status"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("delivery_attempts")
                    .col(text("id").primary_key())
                    .col(text("tenant_id"))
                    .col(text("delivery_id"))
                    .col(text("hook_id"))
                    .col(integer("number"))
                    .col(text("trigger"))
                    .col(big_integer("started_at"))
                    .col(integer("duration_ms"))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(text_null("error"))
                    .col(boolean("succeeded"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("delivery_attempts", "delivery_id")
                            .to("deliveries", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "delivery_attempts_delivery_id_number",
            "delivery_attempts",
            &["delivery_id", "number"],
        )
        .await?;
        // executionStats reads a hook's attempts in a time window.
        index(
            manager,
            "delivery_attempts_tenant_hook_started",
            "delivery_attempts",
            &["tenant_id", "hook_id", "started_at"],
        )
        .await?;
        index(
            manager,
            "delivery_attempts_started_at",
            "delivery_attempts",
            &["started_at"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["delivery_attempts", "deliveries", "events", "event_types"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index(manager: &SchemaManager<'_>, name: &str, table: &str, columns: &[&str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table.to_owned());
    for column in columns {
        index.col(String::from(*column));
    }
    manager.create_index(index.to_owned()).await
}

async fn unique(manager: &SchemaManager<'_>, name: &str, table: &str, columns: &[&str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table.to_owned()).unique();
    for column in columns {
        index.col(String::from(*column));
    }
    manager.create_index(index.to_owned()).await
}
