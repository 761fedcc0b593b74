//! Live streams from the bus (SPEC §3.2): delivery status changes and new events.
//!
//! Each stream is filtered to the caller's tenant first, then to the arguments, and ends when the
//! caller's token expires. A subscriber that falls behind the bus gets one error item saying how
//! many updates it missed (code `LAGGED`) and then carries on: the store has every state, so it
//! can re-query what it missed.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions, ID, Result, Subscription as SubscriptionObject};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast;

use crate::auth::{Claims, Scope};
use crate::bus::DeliveryUpdate as BusUpdate;
use crate::domain::webhooks::deliveries::DeliveryStatus as DomainStatus;
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::webhooks::delivery::{DeliveryStatus, DeliveryUpdate};
use crate::graphql::webhooks::event::Event;

#[derive(Default)]
pub struct Subscription;

/// Live updates of the caller's tenant, over WebSocket.
#[SubscriptionObject]
impl Subscription {
    /// One update per status change of a delivery: created (PENDING), SENDING, each attempt's
    /// outcome, SUCCEEDED / FAILED / CANCELLED, requeued. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn delivery_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries to this hook.")] hook_id: Option<ID>,
        #[graphql(desc = "Only deliveries of these event types.")] events: Option<Vec<String>>,
        #[graphql(desc = "Only updates into these statuses.")] statuses: Option<Vec<DeliveryStatus>>,
    ) -> Result<impl Stream<Item = Result<DeliveryUpdate>> + use<>> {
        let state = context::state(ctx)?;
        let claims = context::claims(ctx)?.clone();
        let statuses: Option<Vec<DomainStatus>> = statuses.map(|s| s.into_iter().map(Into::into).collect());
        let tenant = claims.tenant.clone();
        let wanted = move |u: &BusUpdate| {
            u.tenant_id == tenant
                && hook_id.as_ref().is_none_or(|h| h.0 == u.hook_id)
                && events.as_ref().is_none_or(|e| e.contains(&u.event_type))
                && statuses.as_ref().is_none_or(|s| s.contains(&u.status))
        };
        let updates = from_bus(state.bus.subscribe_deliveries()).filter_map(move |item| {
            let item = match item {
                Ok(update) if wanted(&update) => Some(Ok(DeliveryUpdate((*update).clone()))),
                Ok(_) => None,
                Err(missed) => Some(Err(lagged("deliveryUpdates", missed))),
            };
            std::future::ready(item)
        });
        Ok(until_expiry(updates, &claims))
    }

    /// Every event emitted in the caller's tenant. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn event_emitted(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only events of these types.")] types: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Result<Event>> + use<>> {
        let state = context::state(ctx)?;
        let claims = context::claims(ctx)?.clone();
        let tenant = claims.tenant.clone();
        let events = from_bus(state.bus.subscribe_events()).filter_map(move |item| {
            let item = match item {
                Ok(event)
                    if event.tenant_id == tenant && types.as_ref().is_none_or(|t| t.contains(&event.event_type)) =>
                {
                    Some(Ok(Event(event, None)))
                }
                Ok(_) => None,
                Err(missed) => Some(Err(lagged("eventEmitted", missed))),
            };
            std::future::ready(item)
        });
        Ok(until_expiry(events, &claims))
    }
}

/// The bus as a stream: `Err(n)` when this subscriber missed `n` messages.
fn from_bus<T: Send + Sync + 'static>(
    receiver: broadcast::Receiver<Arc<T>>,
) -> impl Stream<Item = Result<Arc<T>, u64>> {
    stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(item) => Some((Ok(item), receiver)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some((Err(missed), receiver)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

/// The error a subscriber that fell behind gets, counted in `hookd_bus_lagged_total`.
fn lagged(subscription: &'static str, missed: u64) -> async_graphql::Error {
    metrics::counter!("hookd_bus_lagged_total", "subscription" => subscription).increment(missed);
    async_graphql::Error::new(format!(
        "this subscriber fell behind and missed {missed} updates; none is lost from the store: query deliveries to catch up"
    ))
    .extend_with(|_, ext| ext.set("code", "LAGGED"))
}

/// Ends `stream` when the token that opened it expires.
fn until_expiry<S: Stream>(stream: S, claims: &Claims) -> impl Stream<Item = S::Item> + use<S> {
    let left = claims.expires_at - chrono::Utc::now().timestamp();
    let expiry = tokio::time::sleep(Duration::from_secs(left.max(0) as u64));
    stream.take_until(expiry)
}
