//! One event to one hook: the unit the dispatcher claims, sends and retries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// Also the `webhook-id` header: the same on every attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub event_id: String,
    pub hook_id: String,
    pub event_type: String,
    /// `PENDING`, `SENDING`, `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    /// Attempts made, of any trigger; numbers the next attempt.
    pub attempt_count: i32,
    /// Scheduled attempts since the delivery was created or replayed; indexes the retry schedule.
    pub round_attempts: i32,
    /// `SCHEDULED` or `MANUAL`: what the next attempt counts as.
    pub next_trigger: String,
    /// PENDING: when the next attempt is due. SENDING: when the lease runs out. Otherwise null.
    pub due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
