//! The `EventType` type (catalogue and custom types alike) and the inputs of
//! `defineEventType` and `emitEvent`.

use async_graphql::SimpleObject;

use crate::domain::webhooks::events::EventTypeInfo;

/// An event a hook can subscribe to.
#[derive(SimpleObject, Clone, Debug)]
pub struct EventType {
    /// The event name as it appears in payloads, e.g. `User.Created`.
    pub name: String,
    /// The group it belongs to, e.g. `User` or `Organization role`; `Custom` for types made
    /// with `defineEventType`.
    pub group: String,
    /// When the event is emitted.
    pub description: String,
}

impl From<EventTypeInfo> for EventType {
    fn from(e: EventTypeInfo) -> Self {
        EventType {
            name: e.name,
            group: e.group,
            description: e.description,
        }
    }
}

/// A custom event type.
#[derive(async_graphql::InputObject, Clone, Debug)]
pub struct DefineEventTypeInput {
    /// Dot-separated PascalCase parts, at least two, not in a catalogue group: `Invoice.Paid`.
    pub name: String,
    /// What the event means, at most 1024 characters.
    pub description: Option<String>,
}

/// An event to publish.
#[derive(async_graphql::InputObject, Clone, Debug)]
pub struct EmitEventInput {
    /// A catalogue event or a type made with `defineEventType`.
    #[graphql(name = "type")]
    pub event_type: String,
    /// Any JSON, at most 256 KiB serialized; sent as the payload's `data`.
    pub data: async_graphql::Json<serde_json::Value>,
    /// Repeating a key (per tenant, within 24 h) returns the first event and sends nothing new.
    pub idempotency_key: Option<String>,
}
