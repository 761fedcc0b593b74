//! How stored values become GraphQL values and back: epoch milliseconds as `DateTime`, nullable
//! inputs as patches. Object types wrap entity models in each wing's files; they are not the
//! models.

/// An epoch-milliseconds time as GraphQL's `DateTime` (UTC).
pub fn datetime(ms: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A nullable input field as a change: absent leaves the value (`None`), `null` clears it
/// (`Some(None)`), a value sets it.
pub fn patch<T>(value: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
