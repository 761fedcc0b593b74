//! An emitted event: the payload every subscribed hook receives.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(column_name = "type")]
    pub event_type: String,
    /// The JSON envelope as sent, without the per-delivery `eventId` and `hookId` keys.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub idempotency_key: Option<String>,
    /// The W3C trace context the event was emitted in (`telemetry.rs`); its attempts continue
    /// that trace. `None` when traces are off.
    pub traceparent: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
