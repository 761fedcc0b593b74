//! The `Hook` type and its inputs. The signing key and retired keys need `hooks:write`; the
//! hook's deliveries and statistics need `deliveries:read` and come through DataLoaders.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use entity::hook;

use crate::auth::Scope;
use crate::domain::now_ms;
use crate::domain::page::PageRequest;
use crate::domain::webhooks::hooks::{CreateHook, UpdateHook};
use crate::error::AppError;
use crate::graphql::connection::{Connection, DeliveryEdge};
use crate::graphql::guard::{NestedScopes, RequireScope};
use crate::graphql::loaders::{HookDeliveriesKey, Loaders};
use crate::graphql::values::datetime;
use crate::graphql::webhooks::delivery::{Delivery, DeliveryStatus, HookStats};

pub struct Hook(pub hook::Model);

impl Hook {
    /// Fields below a hook that lead to another scope's types.
    pub const NESTED_SCOPES: NestedScopes = &[
        (&["deliveries"], Scope::DeliveriesRead),
        (&["executionStats"], Scope::DeliveriesRead),
    ];
}

impl From<hook::Model> for Hook {
    fn from(model: hook::Model) -> Self {
        Hook(model)
    }
}

/// A webhook: which events to send, where, and with which extra headers.
#[Object]
impl Hook {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Human-readable name, 1–256 characters.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Event names this hook receives, in the order given.
    async fn events(&self) -> Vec<String> {
        self.0.event_names()
    }

    /// Absolute http(s) URL deliveries are POSTed to.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Extra headers sent with every delivery.
    async fn headers(&self) -> Vec<Header> {
        self.0
            .header_pairs()
            .into_iter()
            .map(|(name, value)| Header { name, value })
            .collect()
    }

    /// Whether new events are delivered. A disabled hook receives nothing.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// When the hook was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// When the hook was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        datetime(self.0.updated_at)
    }

    /// The current signing key (`whsec_…`). Receivers verify `logto-signature-sha-256` with this
    /// string as the HMAC key, and `webhook-signature` with its base64-decoded part.
    /// Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn signing_key(&self) -> &str {
        &self.0.signing_key
    }

    /// Request count, success rate and latency of this hook's attempts over the last `window`
    /// seconds. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn execution_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window in seconds, 1–2592000 (default one day).", default = 86400)] window: i32,
    ) -> Result<HookStats> {
        if !(1..=30 * 86_400).contains(&window) {
            return Err(AppError::bad_input("window", "window must be between 1 and 2592000 seconds").into());
        }
        let loaders = ctx.data::<Loaders>()?;
        let stats = loaders
            .hook_stats
            .load_one((self.0.id.clone(), i64::from(window)))
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stats loader returned nothing")))?;
        Ok(stats.into())
    }

    /// This hook's deliveries, newest first. Needs `deliveries:read`.
    #[graphql(
        guard = "RequireScope(Scope::DeliveriesRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries in this status.")] status: Option<DeliveryStatus>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<DeliveryEdge>> {
        let page = PageRequest::new(first, after)?;
        let key = HookDeliveriesKey {
            hook_id: self.0.id.clone(),
            status: status.map(Into::into),
            first: page.first,
            after: page.after,
        };
        let loaders = ctx.data::<Loaders>()?;
        let page = loaders
            .hook_deliveries
            .load_one(key)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("deliveries loader returned nothing")))?;
        Ok(Connection::from_page(page, |m| &m.id, Delivery::from))
    }

    /// Keys replaced by `rotateHookSigningKey` that still sign (`webhook-signature` only) until
    /// their grace period ends, newest first. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn previous_signing_keys(&self, _ctx: &Context<'_>) -> Result<Vec<PreviousSigningKey>> {
        Ok(self
            .0
            .previous_keys_at(now_ms())
            .into_iter()
            .map(|k| PreviousSigningKey {
                key: k.key,
                expires_at: datetime(k.expires_at),
            })
            .collect())
    }
}

/// An HTTP header sent with each delivery.
#[derive(SimpleObject, Clone, Debug)]
pub struct Header {
    /// Header name (an RFC 7230 token).
    pub name: String,
    /// Header value (printable ASCII, at most 1024 characters).
    pub value: String,
}

/// A retired signing key that still signs during its grace period.
#[derive(SimpleObject, Clone, Debug)]
pub struct PreviousSigningKey {
    /// The retired key (`whsec_…`).
    pub key: String,
    /// When it stops signing.
    pub expires_at: DateTime<Utc>,
}

/// An HTTP header to send with each delivery.
#[derive(InputObject, Clone, Debug)]
pub struct HeaderInput {
    /// Header name: an RFC 7230 token; not one hookd controls (`host`, `content-length`,
    /// `logto-signature-sha-256`, `webhook-*`, …). Compared case-insensitively.
    pub name: String,
    /// Printable ASCII, at most 1024 characters.
    pub value: String,
}

/// A new hook.
#[derive(InputObject, Clone, Debug)]
pub struct CreateHookInput {
    /// 1–256 characters.
    pub name: String,
    /// Event names to receive (see `eventTypes`); at least one; duplicates are dropped.
    pub events: Vec<String>,
    /// Absolute http(s) URL, at most 2048 characters, without user name or password.
    pub url: String,
    /// Extra headers, at most 20.
    #[graphql(default)]
    pub headers: Vec<HeaderInput>,
    /// Deliver events right away (default true).
    #[graphql(default = true)]
    pub enabled: bool,
}

/// Changes to a hook; omitted fields stay as they are.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateHookInput {
    /// New name, 1–256 characters.
    pub name: Option<String>,
    /// New event list (replaces the old one).
    pub events: Option<Vec<String>>,
    /// New URL.
    pub url: Option<String>,
    /// New headers (replace all old ones).
    pub headers: Option<Vec<HeaderInput>>,
    /// Enable or disable. Disabling stops new deliveries.
    pub enabled: Option<bool>,
}

fn pairs(headers: Vec<HeaderInput>) -> Vec<(String, String)> {
    headers.into_iter().map(|h| (h.name, h.value)).collect()
}

impl From<CreateHookInput> for CreateHook {
    fn from(input: CreateHookInput) -> Self {
        CreateHook {
            name: input.name,
            events: input.events,
            url: input.url,
            headers: pairs(input.headers),
            enabled: input.enabled,
        }
    }
}

impl From<UpdateHookInput> for UpdateHook {
    fn from(input: UpdateHookInput) -> Self {
        UpdateHook {
            name: input.name,
            events: input.events,
            url: input.url,
            headers: input.headers.map(pairs),
            enabled: input.enabled,
        }
    }
}
