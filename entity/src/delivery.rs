//! One event to one hook: the unit the dispatcher claims, sends and retries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// Also the `webhook-id` header: the same on every attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub event_id: String,
    pub hook_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made, of any trigger; numbers the next attempt.
    pub attempt_count: i32,
    /// Scheduled attempts since the delivery was created or replayed; indexes the retry schedule.
    pub round_attempts: i32,
    /// What the next attempt counts as.
    pub next_trigger: Trigger,
    /// PENDING: when the next attempt is due. SENDING: when the lease runs out. Otherwise null.
    pub due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a delivery stands. Stored as its upper-case name; `src/domain/lifecycle.rs` is the only
/// code that changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (`due_at`).
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Leased by a dispatcher until `due_at`; an attempt may be on the wire.
    #[sea_orm(string_value = "SENDING")]
    Sending,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// The hook was disabled or deleted first.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl DeliveryStatus {
    /// Waiting or in flight: the statuses a dispatcher may claim.
    pub const QUEUED: [DeliveryStatus; 2] = [DeliveryStatus::Pending, DeliveryStatus::Sending];

    /// The stored name, as SQL literals and GraphQL show it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Sending => "SENDING",
            DeliveryStatus::Succeeded => "SUCCEEDED",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn is_queued(self) -> bool {
        Self::QUEUED.contains(&self)
    }
}

/// What an attempt counts as: part of the retry schedule, or asked for by a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Trigger {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "MANUAL")]
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "SCHEDULED",
            Trigger::Manual => "MANUAL",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
