//! What one send needs from a hook, decoded once, and the exact body it sends.
//!
//! The dispatcher loads the hooks of a claimed batch and turns each into a [`Target`] before
//! anything goes on the wire, so attempts share one decoded copy per hook instead of parsing
//! the stored JSON columns per delivery. `testHook` builds one the same way.

use entity::hook;
use serde_json::Value;

use crate::delivery::sender::Outgoing;
use crate::delivery::sign::{ED25519_PRIVATE_PREFIX, HMAC_PREFIX};
use crate::seal::MasterKeys;

/// A hook as the sender sees it.
#[derive(Clone, Debug)]
pub struct Target {
    pub hook_id: String,
    pub url: String,
    pub enabled: bool,
    /// The key of `logto-signature-sha-256`, when the hook's scheme signs with HMAC.
    pub logto_key: Option<String>,
    /// The keys of `webhook-signature`, one entry each: the current ones of the hook's scheme,
    /// then those of its kinds still in a rotation grace period when the target was built.
    pub standard_keys: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Sends per second (`pacing.rs`); `None`: unlimited.
    pub rate_limit: Option<u32>,
}

impl Target {
    /// The target of `hook` at `now`, its keys opened with `keys`.
    pub fn of(hook: &hook::Model, now: i64, keys: &MasterKeys) -> anyhow::Result<Target> {
        let hook = &keys.opened(hook)?;
        let scheme = hook.signing_scheme;
        let wanted = |key: &str| {
            (scheme.hmac() && key.starts_with(HMAC_PREFIX))
                || (scheme.ed25519() && key.starts_with(ED25519_PRIVATE_PREFIX))
        };
        let current = std::iter::once(hook.signing_key.clone()).chain(hook.ed25519_key.clone());
        let previous = hook.previous_keys_at(now).into_iter().map(|k| k.key);
        Ok(Target {
            hook_id: hook.id.clone(),
            url: hook.url.clone(),
            enabled: hook.enabled,
            logto_key: scheme.hmac().then(|| hook.signing_key.clone()),
            standard_keys: current.chain(previous).filter(|key| wanted(key)).collect(),
            headers: hook.header_pairs(),
            rate_limit: hook.rate_limit.and_then(|rate| u32::try_from(rate).ok()),
        })
    }

    /// The request for one message to `url` (the hook's own URL unless a test overrides it).
    pub fn outgoing<'a>(&'a self, url: &'a str, message_id: &'a str, body: &'a str) -> Outgoing<'a> {
        Outgoing {
            url,
            message_id,
            body,
            custom_headers: &self.headers,
            logto_key: self.logto_key.as_deref(),
            standard_keys: &self.standard_keys,
            traceparent: None,
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
