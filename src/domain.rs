//! Business logic, independent of HTTP and GraphQL. Functions take a connection or the
//! caller's transaction and a tenant, and return `AppResult`.

use std::collections::HashMap;

pub mod catalogue;
pub mod deliveries;
pub mod events;
pub mod hooks;
pub mod interactions;
pub mod lifecycle;
pub mod organization_roles;
pub mod organizations;
pub mod outbox;
pub mod page;
pub mod passwords;
pub mod payload;
pub mod resources;
pub mod roles;
pub mod tenant;
pub mod users;

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

/// Groups `(owner, member id)` links into owner → members, ordered by member id.
pub fn group<T: Clone>(
    links: impl Iterator<Item = (String, String)>,
    members: &HashMap<String, T>,
) -> HashMap<String, Vec<T>> {
    let mut pairs: Vec<(String, String)> = links.collect();
    pairs.sort();
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for (owner, member) in pairs {
        if let Some(m) = members.get(&member) {
            grouped.entry(owner).or_default().push(m.clone());
        }
    }
    grouped
}
