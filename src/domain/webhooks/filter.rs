//! Payload filters: an RFC 9535 JSONPath query a hook may carry, evaluated on each event's
//! envelope at emit time. The hook receives the event when the query selects at least one node.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::error::{AppError, AppResult};

/// Longest filter, in bytes: bounds what one evaluation can cost, with the payload's own limit.
pub const MAX_FILTER_LEN: usize = 1024;

/// A filter as given, parsed: refused with the parser's position when it is not a query.
pub fn parse(raw: &str) -> AppResult<JsonPath> {
    let bad = |message: String| AppError::bad_input("filter", message);
    if raw.len() > MAX_FILTER_LEN {
        return Err(bad(format!("filter must be at most {MAX_FILTER_LEN} bytes")));
    }
    JsonPath::parse(raw).map_err(|e| {
        bad(format!(
            "filter is not a valid JSONPath query (RFC 9535): at position {}, {}",
            e.position(),
            e.message()
        ))
    })
}

/// A stored filter, compiled once for many events. A stored filter always parsed when it was
/// saved; should one no longer parse (a newer parser), it lets every event through rather than
/// dropping deliveries, and says so in the log.
pub struct Compiled(Option<JsonPath>);

impl Compiled {
    pub fn of(hook_id: &str, stored: Option<&str>) -> Compiled {
        Compiled(stored.and_then(|raw| match JsonPath::parse(raw) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!(hook = hook_id, error = %e, "a stored filter no longer parses; delivering every event");
                None
            }
        }))
    }

    /// Whether the hook receives the event with this envelope.
    pub fn selects(&self, envelope: &Value) -> bool {
        self.0.as_ref().is_none_or(|path| !path.query(envelope).is_empty())
    }

    /// Whether there is a query at all (so the envelope is worth building).
    pub fn filters(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_issue_example_selects_by_email_domain() {
        let filter = Compiled(Some(
            parse(r"$[?match(@.primaryEmail, '.*@acme\\.com')]").expect("parses"),
        ));
        let acme = json!({ "event": "User.Created", "data": { "primaryEmail": "ada@acme.com" } });
        let other = json!({ "event": "User.Created", "data": { "primaryEmail": "ada@acme.com.evil" } });
        assert!(filter.selects(&acme));
        assert!(!filter.selects(&other), "match() is anchored at both ends");
        let dot = json!({ "data": { "primaryEmail": "ada@acmeXcom" } });
        assert!(!filter.selects(&dot), "the escaped dot matches a dot only");
    }

    #[test]
    fn errors_name_the_position() {
        let Err(AppError::BadInput { message, .. }) = parse("$[?@.a ==]") else {
            panic!("refused")
        };
        assert!(message.contains("at position"), "{message}");
        assert!(parse(&"$.a".repeat(400)).is_err(), "too long");
    }
}
