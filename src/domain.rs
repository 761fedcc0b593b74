//! Business logic, independent of HTTP and GraphQL, in two wings: [`webhooks`] (hooks, events,
//! deliveries and the outbox that joins them) and [`identity`] (users, roles, organizations,
//! interactions: the data whose changes become events). Identity writes its events through
//! the webhook core's outbox; the core never looks into identity.
//!
//! Reads take a connection and a tenant; writes take the [`caller::Caller`], commit their own
//! transaction and return a `#[must_use]` [`webhooks::outbox::Committed`] that the request side
//! publishes. Everything returns `AppResult`. The helpers below are the few that both wings use.

pub mod caller;
pub mod identity;
pub mod page;
pub mod tenant;
pub mod webhooks;

/// A field that may be left alone (`None`), cleared (`Some(None)`) or set (`Some(Some(v))`).
pub type Patch<T> = Option<Option<T>>;

/// `createdAt` of envelopes: ISO 8601, UTC, milliseconds (`2026-11-26T19:47:15.295Z`).
pub fn iso_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A LIKE pattern matching text that contains `text` literally (`%`, `_` and `\` escaped).
pub fn like_containing(text: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Milliseconds since the Unix epoch: how every table stores time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new opaque id: UUID v7 without dashes, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
