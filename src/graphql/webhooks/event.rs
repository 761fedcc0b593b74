//! The `Event` type: the stored envelope as `payload`, and the deliveries it created (through a
//! DataLoader, with `deliveries:read`).

use std::sync::Arc;

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};

use entity::{delivery, event};

use crate::auth::Scope;
use crate::domain::webhooks::events;
use crate::graphql::guard::{NestedScopes, RequireScope};
use crate::graphql::loaders::Loaders;
use crate::graphql::values::datetime;
use crate::graphql::webhooks::delivery::Delivery;

/// Something that happened, as delivered to hooks. An event `emitEvent` just stored carries the
/// deliveries it created, so its response needs neither a query nor the loader's batching delay.
pub struct Event(pub Arc<event::Model>, pub Option<Vec<delivery::Model>>);

impl Event {
    /// Fields below an event that lead to another scope's types.
    pub const NESTED_SCOPES: NestedScopes = &[
        (&["deliveries"], Scope::DeliveriesRead),
        (&["deliveries", "hook"], Scope::HooksRead),
    ];
}

impl From<event::Model> for Event {
    fn from(model: event::Model) -> Self {
        Event(Arc::new(model), None)
    }
}

/// Something that happened, as delivered to hooks.
#[Object]
impl Event {
    /// Opaque id; the `eventId` of every delivery of this event.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The event type, e.g. `User.Created` or a custom `Invoice.Paid`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The payload as receivers get it, minus the per-hook `hookId` key. Counts towards the
    /// response size limit; weighs more than other fields in the complexity limit.
    #[graphql(complexity = "crate::graphql::budget::PAYLOAD_COMPLEXITY")]
    async fn payload(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        crate::graphql::budget::charge_bytes(ctx, self.0.payload.len())?;
        Ok(Json(events::payload_json(&self.0)))
    }

    /// When the event was emitted.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// One delivery per hook that was subscribed when the event was emitted. Needs
    /// `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Vec<Delivery>> {
        if let Some(created) = &self.1 {
            return Ok(created.iter().cloned().map(Delivery::from).collect());
        }
        let loaders = ctx.data::<Loaders>()?;
        let rows = loaders.event_deliveries.load_one(self.0.id.clone()).await?;
        Ok(rows.unwrap_or_default().into_iter().map(Delivery::from).collect())
    }
}
