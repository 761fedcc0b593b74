//! Root query fields of the webhook core: hooks, the event catalogue, events and deliveries.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::domain::webhooks::deliveries::{self, DeliveryFilter};
use crate::domain::webhooks::events;
use crate::domain::webhooks::hooks::{self, HookFilter};
use crate::graphql::connection::{Connection, DeliveryEdge, Edge, EventEdge};
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::webhooks::delivery::{Delivery, DeliveryStatus};
use crate::graphql::webhooks::event::Event;
use crate::graphql::webhooks::event_type::EventType;
use crate::graphql::webhooks::hook::Hook;

#[derive(Default)]
pub struct HookQuery;

#[Object]
impl HookQuery {
    /// One hook by id; null when there is none in the caller's tenant. Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn hook(&self, ctx: &Context<'_>, #[graphql(desc = "The hook's id.")] id: ID) -> Result<Option<Hook>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(hooks::get(&state.db.read, tenant, &id).await?.map(Hook::from))
    }

    /// The caller's hooks, oldest first. Needs `hooks:read`.
    #[graphql(
        guard = "RequireScope(Scope::HooksRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn hooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
        #[graphql(desc = "Only enabled (true) or disabled (false) hooks.")] enabled: Option<bool>,
        #[graphql(desc = "Only hooks subscribed to this event name.")] event: Option<String>,
    ) -> Result<Connection<Edge<Hook>>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        let page = context::page(ctx, first, after)?;
        let filter = HookFilter { enabled, event };
        let page = hooks::list(&state.db.read, tenant, &filter, &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, Hook::from))
    }

    /// Every event type hooks can subscribe to: the catalogue, then the tenant's custom types.
    /// Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn event_types(&self, ctx: &Context<'_>) -> Result<Vec<EventType>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(events::event_types(&state.db.read, tenant)
            .await?
            .into_iter()
            .map(EventType::from)
            .collect())
    }
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// One event by id; null when there is none in the caller's tenant. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn event(&self, ctx: &Context<'_>, #[graphql(desc = "The event's id.")] id: ID) -> Result<Option<Event>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(events::get(&state.db.read, tenant, &id).await?.map(Event::from))
    }

    /// The caller's events, newest first. Needs `deliveries:read`.
    #[graphql(
        guard = "RequireScope(Scope::DeliveriesRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type", desc = "Only events of this type.")] event_type: Option<String>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<EventEdge>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        let page = context::page(ctx, first, after)?;
        let page = events::list(&state.db.read, tenant, event_type.as_deref(), &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, Event::from))
    }

    /// One delivery by id; null when there is none in the caller's tenant. Needs
    /// `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id.")] id: ID,
    ) -> Result<Option<Delivery>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(deliveries::get(&state.db.read, tenant, &id).await?.map(Delivery::from))
    }

    /// The caller's deliveries, newest first, filtered. Needs `deliveries:read`.
    #[graphql(
        guard = "RequireScope(Scope::DeliveriesRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries to this hook.")] hook_id: Option<ID>,
        #[graphql(desc = "Only deliveries in this status.")] status: Option<DeliveryStatus>,
        #[graphql(desc = "Only deliveries of this event type.")] event: Option<String>,
        #[graphql(desc = "Only deliveries created at or after this time.")] since: Option<DateTime<Utc>>,
        #[graphql(desc = "Only deliveries created before this time.")] until: Option<DateTime<Utc>>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<DeliveryEdge>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        let page = context::page(ctx, first, after)?;
        let filter = DeliveryFilter {
            hook_id: hook_id.map(|id| id.0),
            event_id: None,
            status: status.map(Into::into),
            event_type: event,
            since: since.map(|t| t.timestamp_millis()),
            until: until.map(|t| t.timestamp_millis()),
        };
        let page = deliveries::list(&state.db.read, tenant, &filter, &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, Delivery::from))
    }
}
