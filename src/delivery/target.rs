//! What one send needs from a hook, decoded once, and the exact body it sends.
//!
//! The dispatcher loads the hooks of a claimed batch and turns each into a [`Target`] before
//! anything goes on the wire, so attempts share one decoded copy per hook instead of parsing
//! the stored JSON columns per delivery. `testHook` builds one the same way.

use entity::hook;
use serde_json::Value;

use crate::delivery::sender::Outgoing;

/// A hook as the sender sees it.
#[derive(Clone, Debug)]
pub struct Target {
    pub hook_id: String,
    pub url: String,
    pub enabled: bool,
    pub signing_key: String,
    pub headers: Vec<(String, String)>,
    /// Keys in a rotation grace period at the time the target was built.
    pub previous_keys: Vec<String>,
}

impl Target {
    pub fn of(hook: &hook::Model, now: i64) -> Target {
        Target {
            hook_id: hook.id.clone(),
            url: hook.url.clone(),
            enabled: hook.enabled,
            signing_key: hook.signing_key.clone(),
            headers: hook.header_pairs(),
            previous_keys: hook.previous_keys_at(now).into_iter().map(|k| k.key).collect(),
        }
    }

    /// The request for one message to `url` (the hook's own URL unless a test overrides it).
    pub fn outgoing<'a>(&'a self, url: &'a str, message_id: &'a str, body: &'a str) -> Outgoing<'a> {
        Outgoing {
            url,
            message_id,
            body,
            custom_headers: &self.headers,
            signing_key: &self.signing_key,
            previous_keys: &self.previous_keys,
        }
    }
}

/// The exact bytes sent for one delivery: the stored envelope with `eventId` and `hookId`
/// appended, in that order, as Logto does.
pub fn delivery_body(payload: &str, event_id: &str, hook_id: &str) -> String {
    let ids = format!(
        "\"eventId\":{},\"hookId\":{}}}",
        Value::from(event_id),
        Value::from(hook_id)
    );
    match payload.trim_end().strip_suffix('}') {
        Some(open) if open.trim_end().ends_with('{') => format!("{open}{ids}"),
        Some(open) => format!("{open},{ids}"),
        None => format!("{{{ids}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_appends_ids_last() {
        assert_eq!(
            delivery_body(r#"{"event":"A.B","data":{"x":1}}"#, "e1", "h1"),
            r#"{"event":"A.B","data":{"x":1},"eventId":"e1","hookId":"h1"}"#
        );
        assert_eq!(delivery_body("{}", "e", "h"), r#"{"eventId":"e","hookId":"h"}"#);
    }
}
