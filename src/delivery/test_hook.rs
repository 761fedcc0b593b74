//! `testHook`: Logto's fixed test payloads, signed like real deliveries, sent now, not stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use serde_json::{Value, json};

use entity::hook;

use crate::delivery::sender::Sender;
use crate::delivery::target::Target;
use crate::domain::{iso_now, new_id, now_ms, webhooks::catalogue};
use crate::error::{AppError, AppResult};
use crate::seal::MasterKeys;

/// Bytes of the response body reported back.
pub const MAX_REPORTED_BYTES: usize = 4 * 1024;
/// Test deliveries one tenant may have on the wire at once, over all its requests.
pub const MAX_IN_FLIGHT_PER_TENANT: usize = 30;

/// Counts each tenant's test deliveries on the wire, so no tenant can turn `testHook` into a
/// flood of outbound requests however many requests it sends at once.
#[derive(Debug, Default)]
pub struct TenantLimits {
    in_flight: Mutex<HashMap<String, usize>>,
}

/// `n` test deliveries of one tenant, counted until dropped.
pub struct Reservation {
    limits: Arc<TenantLimits>,
    tenant: String,
    n: usize,
}

impl TenantLimits {
    /// Reserves `n` test deliveries for `tenant`, or says BUSY when that would pass
    /// `MAX_IN_FLIGHT_PER_TENANT`.
    pub fn reserve(self: &Arc<Self>, tenant: &str, n: usize) -> Result<Reservation, AppError> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let now = in_flight.get(tenant).copied().unwrap_or(0);
        if now + n > MAX_IN_FLIGHT_PER_TENANT {
            return Err(AppError::Busy(format!(
                "{now} test deliveries of this tenant are on the wire (at most {MAX_IN_FLIGHT_PER_TENANT}); \
                 try again when they are answered"
            )));
        }
        in_flight.insert(tenant.to_owned(), now + n);
        Ok(Reservation {
            limits: self.clone(),
            tenant: tenant.to_owned(),
            n,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut in_flight = self.limits.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.tenant) {
            *count -= self.n.min(*count);
            if *count == 0 {
                in_flight.remove(&self.tenant);
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestOutcome {
    pub event: String,
    pub ok: bool,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

/// Sends one test payload per event to `url` (or the hook's URL) and waits for the answers.
pub async fn run(
    sender: &Sender,
    keys: &MasterKeys,
    hook: &hook::Model,
    events: &[String],
    url: Option<&str>,
) -> AppResult<Vec<TestOutcome>> {
    let target = Target::of(hook, now_ms(), keys).map_err(AppError::Internal)?;
    let url = url.unwrap_or(&hook.url);
    let sends = events.iter().map(|event| {
        let body = test_payload(event, &hook.id).to_string();
        let message_id = format!("test_{}", new_id());
        let target = &target;
        async move {
            let result = sender.send(&target.outgoing(url, &message_id, &body)).await;
            TestOutcome {
                event: event.clone(),
                ok: result.succeeded(),
                status: result.status,
                body: result.body.map(|b| truncate(b, MAX_REPORTED_BYTES)),
                duration_ms: result.duration_ms,
                error: result.error,
            }
        }
    });
    Ok(join_all(sends).await)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Logto's `generateHookTestPayload` shapes: fixed fake data, `hookId` second (operational
/// events, which Logto does not have, get fake data of their own shape).
pub fn test_payload(event: &str, hook_id: &str) -> Value {
    let now = now_ms();
    let created_at = iso_now();
    let is_interaction = catalogue::find(event).is_some_and(|e| e.group == "User interaction");
    if catalogue::is_operational(event) {
        // hookd's own events have no Logto test payload: fake data of the same shape.
        let data = if event.starts_with("Hook.") {
            json!({
                "id": "fake-hook-id",
                "name": "Fake Hook",
                "url": "https://fake-service.com/hook",
                "reason": "FAILING",
                "failingSince": created_at,
                "failedAttempts": 5,
            })
        } else {
            json!({
                "deliveryId": "fake-delivery-id",
                "hookId": "fake-hook-id",
                "eventId": "fake-event-id",
                "eventType": "User.Created",
                "attempts": 3,
                "lastResponseStatus": 500,
            })
        };
        json!({ "event": event, "hookId": hook_id, "createdAt": created_at, "data": data })
    } else if is_interaction {
        json!({
            "event": event,
            "hookId": hook_id,
            "createdAt": created_at,
            "userAgent": "fake-user-agent",
            "sessionId": "fake-session-id",
            "userIp": "fake-user-ip",
            "userId": "fake-id",
            "user": {
                "id": "fake-id",
                "username": "fake-user",
                "primaryEmail": "fake-user@fake-service.com",
                "primaryPhone": "1234567890",
                "name": "Fake User",
                "avatar": "https://fake-service.com/avatars/fake-user.png",
                "customData": { "theme": "light" },
                "identities": { "google": { "userId": "fake-google-user-id" } },
                "profile": {},
                "applicationId": "fake-application-id",
                "isSuspended": false,
                "lastSignInAt": now,
                "createdAt": now,
                "updatedAt": now,
            },
            "application": {
                "id": "fake-spa-application-id",
                "type": "SPA",
                "name": "Fake Application",
                "description": "Fake application data for testing",
            },
        })
    } else {
        json!({
            "event": event,
            "hookId": hook_id,
            "createdAt": created_at,
            "userAgent": "fake-user-agent",
            "path": "/fake-path/:id",
            "method": "POST",
            "status": 200,
            "params": { "id": "fake-id" },
            "data": { "result": "success" },
        })
    }
}
