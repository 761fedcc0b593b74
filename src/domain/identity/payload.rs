//! Logto-compatible payload envelopes for identity events (SPEC §4).
//!
//! Key order matters to receivers that compare or log raw bodies, so envelopes are built as
//! ordered maps: `event, createdAt, userAgent, ip, path, method, status, params, matchedRoute,
//! <event-specific fields>, data`, then the outbox appends `eventId` and `hookId`. Absent values
//! are left out, never `null`.

use serde_json::{Map, Value};

use crate::domain::caller::RequestMeta;
use crate::domain::iso_now;
use crate::domain::webhooks::outbox::NewEvent;

/// The Logto Management API route a mutation stands for.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: &'static str,
    /// The route pattern, e.g. `/users/:userId`.
    pub matched_route: &'static str,
    /// The HTTP status Logto answers on that route.
    pub status: u16,
    /// Values for the pattern's `:params`, in order.
    pub params: Vec<(&'static str, String)>,
}

impl Route {
    pub fn new(method: &'static str, matched_route: &'static str, status: u16) -> Route {
        Route {
            method,
            matched_route,
            status,
            params: Vec::new(),
        }
    }

    pub fn param(mut self, name: &'static str, value: &str) -> Route {
        self.params.push((name, value.to_owned()));
        self
    }

    /// The concrete path: the pattern with its params filled in.
    pub fn path(&self) -> String {
        self.params
            .iter()
            .fold(self.matched_route.to_owned(), |path, (name, value)| {
                path.replace(&format!(":{name}"), value)
            })
    }
}

/// A data event from a Management-API-style mutation.
pub fn management(
    event: &str,
    meta: &RequestMeta,
    route: &Route,
    extra: Vec<(&str, Value)>,
    data: Option<Value>,
) -> NewEvent {
    let mut envelope = Map::new();
    envelope.insert("event".into(), event.into());
    envelope.insert("createdAt".into(), iso_now().into());
    if let Some(user_agent) = &meta.user_agent {
        envelope.insert("userAgent".into(), user_agent.as_str().into());
    }
    if let Some(ip) = &meta.ip {
        envelope.insert("ip".into(), ip.as_str().into());
    }
    envelope.insert("path".into(), route.path().into());
    envelope.insert("method".into(), route.method.into());
    envelope.insert("status".into(), route.status.into());
    let params: Map<String, Value> = route
        .params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_str().into()))
        .collect();
    envelope.insert("params".into(), Value::Object(params));
    envelope.insert("matchedRoute".into(), route.matched_route.into());
    for (key, value) in extra {
        envelope.insert(key.to_owned(), value);
    }
    if let Some(data) = data {
        envelope.insert("data".into(), data);
    }
    NewEvent {
        event_type: event.to_owned(),
        envelope,
        idempotency_key: None,
        traceparent: None,
    }
}

/// Where a sign-in front end's call happened: what interaction payloads carry.
#[derive(Clone, Debug)]
pub struct Interaction {
    /// `Register`, `SignIn` or `ForgotPassword`.
    pub kind: &'static str,
    pub session_id: String,
    pub application_id: Option<String>,
    /// The application entity, when `application_id` names one.
    pub application: Option<Value>,
}

/// A data or security event from an interaction (`User.Created` on register,
/// `User.Data.Updated` on reset, `Identifier.Lockout`): `event, createdAt, interactionEvent,
/// userAgent, applicationId, sessionId, ip`, then `fields`.
pub fn interaction_data(
    event: &str,
    meta: &RequestMeta,
    interaction: &Interaction,
    fields: Vec<(&str, Value)>,
) -> NewEvent {
    let mut envelope = Map::new();
    envelope.insert("event".into(), event.into());
    envelope.insert("createdAt".into(), iso_now().into());
    envelope.insert("interactionEvent".into(), interaction.kind.into());
    if let Some(user_agent) = &meta.user_agent {
        envelope.insert("userAgent".into(), user_agent.as_str().into());
    }
    if let Some(application_id) = &interaction.application_id {
        envelope.insert("applicationId".into(), application_id.as_str().into());
    }
    envelope.insert("sessionId".into(), interaction.session_id.as_str().into());
    if let Some(ip) = &meta.ip {
        envelope.insert("ip".into(), ip.as_str().into());
    }
    for (key, value) in fields {
        envelope.insert(key.to_owned(), value);
    }
    NewEvent {
        event_type: event.to_owned(),
        envelope,
        idempotency_key: None,
        traceparent: None,
    }
}

/// An interaction event (`PostRegister`, `PostSignIn`, `PostResetPassword`): `event,
/// interactionEvent, createdAt, sessionId, userAgent, userId, userIp, user, application`.
pub fn interaction_event(
    event: &str,
    meta: &RequestMeta,
    interaction: &Interaction,
    user_id: &str,
    user: Value,
) -> NewEvent {
    let mut envelope = Map::new();
    envelope.insert("event".into(), event.into());
    envelope.insert("interactionEvent".into(), interaction.kind.into());
    envelope.insert("createdAt".into(), iso_now().into());
    envelope.insert("sessionId".into(), interaction.session_id.as_str().into());
    if let Some(user_agent) = &meta.user_agent {
        envelope.insert("userAgent".into(), user_agent.as_str().into());
    }
    envelope.insert("userId".into(), user_id.into());
    if let Some(ip) = &meta.ip {
        envelope.insert("userIp".into(), ip.as_str().into());
    }
    envelope.insert("user".into(), user);
    if let Some(application) = &interaction.application {
        envelope.insert("application".into(), application.clone());
    }
    NewEvent {
        event_type: event.to_owned(),
        envelope,
        idempotency_key: None,
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_path_fills_params() {
        let route = Route::new("DELETE", "/roles/:id/scopes/:scopeId", 204)
            .param("id", "r1")
            .param("scopeId", "s1");
        assert_eq!(route.path(), "/roles/r1/scopes/s1");
    }
}
