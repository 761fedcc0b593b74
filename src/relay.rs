//! Cross-instance signals over PostgreSQL LISTEN/NOTIFY (SPEC §6): several hookd processes on
//! one database wake each other's dispatchers and see each other's updates on their
//! subscriptions, with no other infrastructure.
//!
//! Every instance sends what its bus publishes (delivery updates, event ids, wake-ups) to the
//! `hookd` channel after the commit (`notify.rs`), packed into messages under PostgreSQL's
//! 8,000-byte limit, and listens on the same channel on a connection of its own (`listen.rs`).
//! A message from another instance is published on this instance's bus only, so nothing
//! echoes. When the listening connection drops, the listener reconnects and then catches up
//! from the database: every delivery changed and every event stored since shortly before the
//! drop is published again in its current state. SQLite is one process and relays nothing.

pub mod listen;
pub mod notify;

use std::sync::Arc;

use sea_orm::Iterable;
use serde::{Deserialize, Serialize};

use entity::delivery::DeliveryStatus;

use crate::bus::DeliveryUpdate;

/// The one notification channel.
pub const CHANNEL: &str = "hookd";

/// Largest message sent, in bytes: under PostgreSQL's 8,000-byte payload limit.
pub const MAX_MESSAGE: usize = 7_900;

/// Longest error text relayed with a delivery update, in bytes; the whole text is stored with
/// the attempt.
pub const MAX_ERROR: usize = 512;

/// One message on the channel. Short keys: each message carries as many updates as fit.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// The sending instance, so that it can skip its own messages.
    #[serde(rename = "f")]
    pub from: String,
    /// Deliveries are due now: claim.
    #[serde(rename = "w", default, skip_serializing_if = "std::ops::Not::not")]
    pub wake: bool,
    /// Signals were lost since this time (epoch ms): catch up from the database.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub catch_up_from: Option<i64>,
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<WireUpdate>,
    /// (tenant id, event id) of committed events.
    #[serde(rename = "e", default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<(String, String)>,
}

/// What every process reads of a [`Message`], whether or not it has delivery subscribers (serde
/// skips the updates without decoding them).
#[derive(Debug, Deserialize)]
pub struct Header {
    #[serde(rename = "w", default)]
    pub wake: bool,
    #[serde(rename = "c", default)]
    pub catch_up_from: Option<i64>,
    #[serde(rename = "e", default)]
    pub events: Vec<(String, String)>,
}

/// The delivery updates of a [`Message`], read only by a process with delivery subscribers.
#[derive(Debug, Deserialize)]
pub struct Updates {
    #[serde(rename = "d", default)]
    pub deliveries: Vec<WireUpdate>,
}

/// How every message of the instance `me` starts (`from` is serialized first), so that its own
/// messages are skipped without decoding them.
pub fn own_prefix(me: &str) -> String {
    format!("{{\"f\":{}", serde_json::Value::from(me))
}

/// A [`DeliveryUpdate`] on the wire, as a JSON array.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct WireUpdate(
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<i64>,
    i64,
);

impl From<&DeliveryUpdate> for WireUpdate {
    fn from(u: &DeliveryUpdate) -> WireUpdate {
        let error = u.error.as_deref().map(|e| truncate(e, MAX_ERROR).to_owned());
        WireUpdate(
            u.tenant_id.clone(),
            u.delivery_id.clone(),
            u.hook_id.clone(),
            u.event_id.clone(),
            u.event_type.clone(),
            u.status.as_str().to_owned(),
            u.attempt_count,
            u.response_status,
            u.duration_ms,
            error,
            u.next_attempt_at,
            u.at,
        )
    }
}

impl WireUpdate {
    /// Back to an update, or `None` for a status this build does not know.
    pub fn into_update(self) -> Option<Arc<DeliveryUpdate>> {
        let WireUpdate(
            tenant_id,
            delivery_id,
            hook_id,
            event_id,
            event_type,
            status,
            attempt_count,
            response_status,
            duration_ms,
            error,
            next_attempt_at,
            at,
        ) = self;
        let status = DeliveryStatus::iter().find(|s| s.as_str() == status)?;
        Some(Arc::new(DeliveryUpdate {
            tenant_id,
            delivery_id,
            hook_id,
            event_id,
            event_type,
            status,
            attempt_count,
            response_status,
            duration_ms,
            error,
            next_attempt_at,
            at,
        }))
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
