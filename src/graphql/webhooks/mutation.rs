//! Root mutation fields of the webhook core: hooks (create, update, delete, rotate, test),
//! event types and `emitEvent`, and the delivery actions (redeliver, replay).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::delivery::test_hook;
use crate::domain::webhooks::deliveries::{self, DeliveryStatus as DomainStatus};
use crate::domain::{webhooks::events, webhooks::hooks};
use crate::error::AppError;
use crate::graphql::guard::{self, RequireScope};
use crate::graphql::webhooks::delivery::{Delivery, DeliveryStatus, TestDelivery};
use crate::graphql::webhooks::event::Event;
use crate::graphql::webhooks::event_type::{DefineEventTypeInput, EmitEventInput, EventType};
use crate::graphql::webhooks::hook::{CreateHookInput, Hook, UpdateHookInput};
use crate::graphql::{budget, context};

#[derive(Default)]
pub struct HookMutation;

#[Object]
impl HookMutation {
    /// Creates a hook with a fresh signing key. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn create_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new hook.")] input: CreateHookInput,
    ) -> Result<Hook> {
        guard::selection_allowed(ctx, Hook::NESTED_SCOPES)?;
        let state = context::state(ctx)?;
        Ok(
            hooks::create(&state.db, &context::caller(ctx)?, input.into(), &state.hook_rules)
                .await?
                .into(),
        )
    }

    /// Changes a hook; omitted fields stay as they are. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn update_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateHookInput,
    ) -> Result<Hook> {
        guard::selection_allowed(ctx, Hook::NESTED_SCOPES)?;
        let state = context::state(ctx)?;
        let caller = context::caller(ctx)?;
        let hook = state.publish(hooks::update(&state.db, &caller, &id, input.into(), &state.hook_rules).await?);
        Ok(hook.into())
    }

    /// Deletes a hook and returns its id. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn delete_hook(&self, ctx: &Context<'_>, #[graphql(desc = "The hook's id.")] id: ID) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(hooks::delete(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Gives the hook a new signing key at once. The old key keeps signing the Standard
    /// Webhooks header for the grace period, so receivers can switch without losing
    /// deliveries; at most 10 old keys are kept. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn rotate_hook_signing_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
        #[graphql(
            desc = "Seconds the old key keeps signing, 0–2592000 (default one day).",
            default = 86400
        )]
        grace_period_seconds: i32,
    ) -> Result<Hook> {
        guard::selection_allowed(ctx, Hook::NESTED_SCOPES)?;
        let state = context::state(ctx)?;
        Ok(hooks::rotate_signing_key(
            &state.db,
            &context::caller(ctx)?,
            &id,
            grace_period_seconds.into(),
            &state.hook_rules.keys,
        )
        .await?
        .into())
    }

    /// Sends one test payload per event (Logto's fixed test data), signed like a real delivery,
    /// to `url` or the hook's URL, and returns each answer. Nothing is stored. Needs
    /// `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn test_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook whose key and headers sign the test.")] id: ID,
        #[graphql(desc = "Events to send a test payload for (at most 30).")] events: Vec<String>,
        #[graphql(desc = "Send here instead of the hook's URL.")] url: Option<String>,
    ) -> Result<Vec<TestDelivery>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        let hook = hooks::get(&state.db.read, tenant, &id)
            .await?
            .ok_or(AppError::NotFound("hook"))?;
        if events.is_empty() || events.len() > test_hook::MAX_IN_FLIGHT_PER_TENANT {
            return Err(AppError::bad_input("events", "name 1 to 30 events").into());
        }
        events::ensure_known(&state.db.read, tenant, &events, "events").await?;
        if let Some(url) = &url {
            hooks::parse_url(url)?;
        }
        // Aliases and batches cannot multiply the requests sent: the HTTP request and the
        // tenant each have a bound.
        budget::charge_test_sends(ctx, events.len())?;
        let _reserved = state.test_sends.reserve(tenant, events.len())?;
        let outcomes = test_hook::run(&state.sender, &state.hook_rules.keys, &hook, &events, url.as_deref()).await?;
        Ok(outcomes
            .into_iter()
            .map(|o| TestDelivery {
                event: o.event,
                ok: o.ok,
                response_status: o.status.map(i32::from),
                response_body: o.body,
                duration_ms: o.duration_ms,
                error: o.error,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Publishes an event: stores it and one delivery per enabled hook subscribed to its type,
    /// in one transaction, and sends them at once. Needs `events:write`.
    #[graphql(guard = "RequireScope(Scope::EventsWrite)")]
    async fn emit_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] input: EmitEventInput,
    ) -> Result<Event> {
        guard::selection_allowed(ctx, Event::NESTED_SCOPES)?;
        let state = context::state(ctx)?;
        let caller = context::caller(ctx)?;
        let new = events::prepare(
            &state.db,
            &caller,
            input.event_type,
            input.data.0,
            input.idempotency_key,
        )
        .await?;
        if new.idempotency_key.is_none() {
            // Shares a transaction with the emits arriving meanwhile; published already.
            let emitted = state.emits.emit(&caller, new).await?;
            return Ok(Event(emitted.event, Some(emitted.deliveries)));
        }
        let committed = events::emit_once(&state.db, &caller, new).await?;
        // A replayed idempotency key created nothing now: its deliveries are read as they stand.
        let created = committed.emitted().first().map(|e| e.deliveries.clone());
        let event = state.publish(committed);
        Ok(Event(event, created))
    }

    /// Defines a custom event type that hooks can subscribe to and `emitEvent` can publish.
    /// Needs `events:write`.
    #[graphql(guard = "RequireScope(Scope::EventsWrite)")]
    async fn define_event_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new type.")] input: DefineEventTypeInput,
    ) -> Result<EventType> {
        let state = context::state(ctx)?;
        Ok(
            events::define(&state.db, &context::caller(ctx)?, input.name, input.description)
                .await?
                .into(),
        )
    }
}

#[derive(Default)]
pub struct DeliveryMutation;

#[Object]
impl DeliveryMutation {
    /// Makes one new attempt of a delivery now (trigger MANUAL). If it fails, the delivery is
    /// FAILED. Needs `deliveries:write`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesWrite)")]
    async fn redeliver(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id.")] delivery_id: ID,
    ) -> Result<Delivery> {
        guard::selection_allowed(ctx, Delivery::NESTED_SCOPES)?;
        let state = context::state(ctx)?;
        let delivery = deliveries::redeliver(&state.db, &context::caller(ctx)?, &delivery_id).await?;
        Ok(state.publish(delivery).into())
    }

    /// Requeues a hook's deliveries created in `[since, until)` whose status is in `statuses`
    /// (default FAILED), each with a fresh retry schedule. Returns how many were requeued.
    /// Needs `deliveries:write`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesWrite)")]
    async fn replay_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook.")] hook_id: ID,
        #[graphql(desc = "Deliveries created at or after this time.")] since: DateTime<Utc>,
        #[graphql(desc = "Deliveries created before this time (default: no end).")] until: Option<DateTime<Utc>>,
        #[graphql(
            desc = "Statuses to replay: FAILED, CANCELLED, SUCCEEDED.",
            default_with = "vec![DeliveryStatus::Failed]"
        )]
        statuses: Vec<DeliveryStatus>,
    ) -> Result<i32> {
        let state = context::state(ctx)?;
        let statuses: Vec<DomainStatus> = statuses.into_iter().map(Into::into).collect();
        let since = since.timestamp_millis();
        let until = until.map(|u| u.timestamp_millis());
        let requeued = deliveries::replay(&state.db, &context::caller(ctx)?, &hook_id, since, until, &statuses).await?;
        Ok(i32::try_from(state.publish(requeued)).unwrap_or(i32::MAX))
    }
}
