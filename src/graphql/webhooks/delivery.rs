//! The `Delivery`, `DeliveryAttempt`, `HookStats`, `TestDelivery` and `DeliveryUpdate` types.
//! A delivery's hook and event need their own scopes (`NESTED_SCOPES`), checked before any
//! resolver runs so a token cannot read past what it was granted.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use entity::{delivery, delivery_attempt};

use crate::auth::Scope;
use crate::delivery::sender::header_lines;
use crate::delivery::target::delivery_body;
use crate::domain::webhooks::deliveries::{self as domain, HookStats as DomainStats};
use crate::graphql::guard::{NestedScopes, RequireScope};
use crate::graphql::loaders::Loaders;
use crate::graphql::values::datetime;
use crate::graphql::webhooks::event::Event;
use crate::graphql::webhooks::hook::{Header, Hook};

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::DeliveryStatus")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its next retry.
    Pending,
    /// An attempt is on the wire.
    Sending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed, or the receiver answered 410.
    Failed,
    /// The hook was disabled or deleted before the delivery succeeded.
    Cancelled,
}

/// Why an attempt was made.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttemptTrigger {
    /// The first attempt or a retry on the schedule.
    Scheduled,
    /// `redeliver`.
    Manual,
}

/// One event sent to one hook, with every attempt.
pub struct Delivery(pub delivery::Model);

impl Delivery {
    /// Fields below a delivery that lead to another scope's types.
    pub const NESTED_SCOPES: NestedScopes = &[(&["hook"], Scope::HooksRead), (&["event"], Scope::DeliveriesRead)];
}

impl From<delivery::Model> for Delivery {
    fn from(model: delivery::Model) -> Self {
        Delivery(model)
    }
}

/// One event sent to one hook, with every attempt.
#[Object]
impl Delivery {
    /// Opaque id; sent as `webhook-id`, the same on every attempt.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The hook; null once the hook is deleted (its deliveries stay). Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn hook(&self, ctx: &Context<'_>) -> Result<Option<Hook>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .hooks
            .load_one(self.0.hook_id.clone())
            .await?
            .map(|h| Hook((*h).clone())))
    }

    /// The hook's id, also after the hook is deleted.
    async fn hook_id(&self) -> ID {
        ID(self.0.hook_id.clone())
    }

    /// The event delivered. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .events
            .load_one(self.0.event_id.clone())
            .await?
            .map(|event| Event(event, None)))
    }

    /// The event type, e.g. `User.Created`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// Where the delivery stands.
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }

    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.0.attempt_count
    }

    /// When the next attempt is due; null unless PENDING.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == domain::DeliveryStatus::Pending)
            .then_some(self.0.due_at)
            .flatten()
            .map(datetime)
    }

    /// When the delivery was created (with its event).
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// When the status last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        datetime(self.0.updated_at)
    }

    /// The body of every attempt's request, byte for byte: the event's payload with its
    /// `eventId` and this hook's `hookId` added. Null once the event is gone. Counts towards the
    /// response size limit; weighs more than other fields in the complexity limit.
    #[graphql(complexity = "crate::graphql::budget::PAYLOAD_COMPLEXITY")]
    async fn request_body(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let loaders = ctx.data::<Loaders>()?;
        let Some(event) = loaders.events.load_one(self.0.event_id.clone()).await? else {
            return Ok(None);
        };
        let body = delivery_body(&event.payload, &event.id, &self.0.hook_id);
        crate::graphql::budget::charge_bytes(ctx, body.len())?;
        Ok(Some(body))
    }

    /// Every attempt, oldest first.
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<DeliveryAttempt>> {
        let loaders = ctx.data::<Loaders>()?;
        let attempts = loaders.attempts.load_one(self.0.id.clone()).await?.unwrap_or_default();
        Ok(attempts.into_iter().map(DeliveryAttempt).collect())
    }
}

/// One HTTP attempt of a delivery.
pub struct DeliveryAttempt(pub delivery_attempt::Model);

/// One HTTP attempt of a delivery.
#[Object]
impl DeliveryAttempt {
    /// 1-based attempt number.
    async fn number(&self) -> i32 {
        self.0.number
    }

    /// Why the attempt was made.
    async fn trigger(&self) -> AttemptTrigger {
        match self.0.trigger {
            domain::Trigger::Manual => AttemptTrigger::Manual,
            domain::Trigger::Scheduled => AttemptTrigger::Scheduled,
        }
    }

    /// When the request started.
    async fn started_at(&self) -> DateTime<Utc> {
        datetime(self.0.started_at)
    }

    /// From the start of the request to the end of the response (or the failure).
    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }

    /// The HTTP status; null when no response came (timeout, connection error, blocked target).
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// The first 20 KiB of the response body. Counts towards the response size limit.
    async fn response_body(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let body = self.0.response_body.as_deref();
        crate::graphql::budget::charge_bytes(ctx, body.map_or(0, str::len))?;
        Ok(body)
    }

    /// What went wrong, if anything.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// Every header of the request as it went out, in order: `host`, the content headers, the
    /// hook's own headers, the signatures (never a key), `content-length`. Empty for attempts
    /// stored by hookd before it recorded headers.
    async fn request_headers(&self, ctx: &Context<'_>) -> Result<Vec<Header>> {
        headers(ctx, self.0.request_headers.as_deref())
    }

    /// The response's headers as stored: at most 64, values cut to 1 KiB, 8 KiB in all. Empty
    /// when no response came. Counts towards the response size limit.
    async fn response_headers(&self, ctx: &Context<'_>) -> Result<Vec<Header>> {
        headers(ctx, self.0.response_headers.as_deref())
    }
}

/// Stored header lines (`delivery::sender::header_lines`), charged to the response budget.
fn headers(ctx: &Context<'_>, stored: Option<&str>) -> Result<Vec<Header>> {
    let stored = stored.unwrap_or_default();
    crate::graphql::budget::charge_bytes(ctx, stored.len())?;
    Ok(header_lines(stored)
        .map(|(name, value)| Header {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect())
}

/// A hook's attempts over a time window.
#[derive(SimpleObject, Clone, Debug)]
pub struct HookStats {
    /// Attempts started in the window.
    pub request_count: u64,
    /// Of those, answered 2xx.
    pub success_count: u64,
    /// `successCount / requestCount`, in [0, 1]; null when there were no requests.
    pub success_rate: Option<f64>,
    /// Median attempt duration in ms; null when there were no requests.
    pub p50_latency_ms: Option<i32>,
    /// 95th percentile attempt duration in ms; null when there were no requests.
    pub p95_latency_ms: Option<i32>,
}

impl From<DomainStats> for HookStats {
    fn from(s: DomainStats) -> Self {
        HookStats {
            request_count: s.request_count,
            success_count: s.success_count,
            success_rate: (s.request_count > 0).then(|| s.success_count as f64 / s.request_count as f64),
            p50_latency_ms: s.p50_latency_ms,
            p95_latency_ms: s.p95_latency_ms,
        }
    }
}

/// The answer to one test payload of `testHook`.
#[derive(SimpleObject, Clone, Debug)]
pub struct TestDelivery {
    /// The event whose test payload was sent.
    pub event: String,
    /// The receiver answered 2xx.
    pub ok: bool,
    /// The HTTP status; null when no response came.
    pub response_status: Option<i32>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    /// How long the request took.
    pub duration_ms: i32,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One status change of one delivery, as it happened.
pub struct DeliveryUpdate(pub crate::bus::DeliveryUpdate);

/// One status change of one delivery, as it happened.
#[Object]
impl DeliveryUpdate {
    /// The delivery.
    async fn delivery_id(&self) -> ID {
        ID(self.0.delivery_id.clone())
    }

    /// Its hook.
    async fn hook_id(&self) -> ID {
        ID(self.0.hook_id.clone())
    }

    /// Its event.
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    /// The event type, e.g. `User.Created`.
    async fn event(&self) -> &str {
        &self.0.event_type
    }

    /// The status the delivery is now in.
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }

    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.0.attempt_count
    }

    /// For an attempt's outcome: the HTTP status, null when no response came.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// For an attempt's outcome: how long it took.
    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }

    /// For an attempt's outcome: what went wrong, if anything.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// When PENDING: when the next attempt is due.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at.map(datetime)
    }

    /// When the change was committed.
    async fn at(&self) -> DateTime<Utc> {
        datetime(self.0.at)
    }
}
