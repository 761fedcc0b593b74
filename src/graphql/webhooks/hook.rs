//! The `Hook` type and its inputs. The signing key and retired keys need `hooks:write`; the
//! hook's deliveries and statistics need `deliveries:read` and come through DataLoaders.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use entity::hook;

use crate::auth::Scope;
use crate::delivery::sign::ed25519_public_key;
use crate::domain::now_ms;
use crate::domain::page::PageRequest;
use crate::domain::webhooks::deliveries;
use crate::domain::webhooks::hooks::{CreateHook, UpdateHook};
use crate::error::AppError;
use crate::graphql::connection::{Connection, DeliveryEdge};
use crate::graphql::guard::{NestedScopes, RequireScope};
use crate::graphql::loaders::{HookDeliveriesKey, Loaders};
use crate::graphql::values::{datetime, patch};
use crate::graphql::webhooks::delivery::{Delivery, DeliveryStatus, HookStats};

pub struct Hook(pub hook::Model);

impl Hook {
    /// Fields below a hook that lead to another scope's types.
    pub const NESTED_SCOPES: NestedScopes = &[
        (&["deliveries"], Scope::DeliveriesRead),
        (&["executionStats"], Scope::DeliveriesRead),
        (&["executionHistory"], Scope::DeliveriesRead),
    ];
}

impl Hook {
    /// The hook with its keys opened (they are stored sealed, `seal.rs`).
    fn opened(&self, ctx: &Context<'_>) -> Result<hook::Model> {
        let state = crate::graphql::context::state(ctx)?;
        Ok(state.hook_rules.keys.opened(&self.0).map_err(AppError::Internal)?)
    }
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
    /// string as the HMAC key, and `webhook-signature`'s `v1,` entries with its base64-decoded
    /// part. It signs only when `signingScheme` includes HMAC. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn signing_key(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.opened(ctx)?.signing_key)
    }

    /// Which signatures this hook's requests carry.
    async fn signing_scheme(&self) -> SigningScheme {
        self.0.signing_scheme.into()
    }

    /// The Ed25519 public key (`whpk_` + base64 of its 32 bytes) that verifies the `v1a,` entries
    /// of `webhook-signature`; null until `signingScheme` has included ED25519. The private key
    /// never leaves hookd.
    async fn public_key(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if self.0.ed25519_key.is_none() {
            return Ok(None);
        }
        Ok(self.opened(ctx)?.ed25519_key.as_deref().and_then(ed25519_public_key))
    }

    /// The JSONPath query (RFC 9535) an event's envelope must match for this hook to receive
    /// it; null receives every event of `events`.
    async fn filter(&self) -> Option<&str> {
        self.0.filter.as_deref()
    }

    /// Whether the hook receives its deliveries one at a time, in the order their events were
    /// stored; a delivery waiting for a retry holds back those behind it until it succeeds or
    /// fails for good.
    async fn ordered(&self) -> bool {
        self.0.ordered
    }

    /// Most deliveries per second this hook is sent, across all instances; null: unlimited.
    async fn rate_limit(&self) -> Option<i32> {
        self.0.rate_limit
    }

    /// When the hook's current run of failed attempts began; null when its last attempt
    /// succeeded or none was made. A hook failing for longer than the server's
    /// `HOOKD_DISABLE_AFTER` is disabled.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since.map(datetime)
    }

    /// Failed attempts since `failingSince`.
    async fn failed_attempts(&self) -> i32 {
        self.0.failed_attempts
    }

    /// Why the hook is disabled; null while it is enabled, and for a hook disabled before hookd
    /// recorded reasons.
    async fn disabled_reason(&self) -> Option<HookDisabledReason> {
        self.0.disabled_reason.map(Into::into)
    }

    /// Request count, success rate and latency of this hook's attempts over the last `window`
    /// seconds. Needs `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)")]
    async fn execution_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window in seconds, 1–2592000 (default one day).", default = 86400)] window: i32,
    ) -> Result<HookStats> {
        let window = checked_window(window)?;
        let loaders = ctx.data::<Loaders>()?;
        let stats = loaders
            .hook_stats
            .load_one((self.0.id.clone(), window))
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stats loader returned nothing")))?;
        Ok(stats.into())
    }

    /// The same statistics as `executionStats`, over the last `window` seconds in buckets of
    /// `bucket` seconds, oldest first; every bucket is present, empty ones with zero requests.
    /// Buckets are aligned to multiples of `bucket` since the Unix epoch (whole hours by
    /// default), and the last one holds the present. At most 744 buckets. Needs
    /// `deliveries:read`.
    #[graphql(guard = "RequireScope(Scope::DeliveriesRead)", complexity = "HISTORY_COMPLEXITY")]
    async fn execution_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window in seconds, 1–2592000 (default one day).", default = 86400)] window: i32,
        #[graphql(desc = "Bucket size in seconds, 60–86400 (default one hour).", default = 3600)] bucket: i32,
    ) -> Result<Vec<HookStatsBucket>> {
        let window = checked_window(window)?;
        if !(60..=86_400).contains(&bucket) {
            return Err(AppError::bad_input("bucket", "bucket must be between 60 and 86400 seconds").into());
        }
        let bucket = i64::from(bucket);
        if (window + bucket - 1) / bucket > deliveries::MAX_BUCKETS {
            return Err(AppError::bad_input(
                "bucket",
                format!("window / bucket must be at most {} buckets", deliveries::MAX_BUCKETS),
            )
            .into());
        }
        let state = crate::graphql::context::state(ctx)?;
        let history =
            deliveries::history_of_hook(&state.db.read, &self.0.tenant_id, &self.0.id, window, bucket).await?;
        Ok(history
            .into_iter()
            .map(|b| HookStatsBucket {
                start: datetime(b.start),
                stats: b.stats.into(),
            })
            .collect())
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
    /// their grace period ends, newest first: HMAC secrets as they are, Ed25519 keys as their
    /// public key (`whpk_…`). Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn previous_signing_keys(&self, ctx: &Context<'_>) -> Result<Vec<PreviousSigningKey>> {
        Ok(self
            .opened(ctx)?
            .previous_keys_at(now_ms())
            .into_iter()
            .filter_map(|k| {
                let key = if k.key.starts_with(crate::delivery::sign::ED25519_PRIVATE_PREFIX) {
                    ed25519_public_key(&k.key)?
                } else {
                    k.key
                };
                Some(PreviousSigningKey {
                    key,
                    expires_at: datetime(k.expires_at),
                })
            })
            .collect())
    }
}

/// A statistics window in seconds, 1 s to 30 days.
fn checked_window(window: i32) -> Result<i64, AppError> {
    if !(1..=30 * 86_400).contains(&window) {
        return Err(AppError::bad_input(
            "window",
            "window must be between 1 and 2592000 seconds",
        ));
    }
    Ok(i64::from(window))
}

/// What `Hook.executionHistory` weighs in the complexity limit: one query per hook.
const HISTORY_COMPLEXITY: usize = 20;

/// One time bucket of `Hook.executionHistory`.
#[derive(SimpleObject, Clone, Debug)]
pub struct HookStatsBucket {
    /// When the bucket begins; it ends where the next one begins.
    pub start: DateTime<Utc>,
    /// The attempts that started in the bucket.
    #[graphql(flatten)]
    pub stats: HookStats,
}

/// An HTTP header: one a hook sends with each delivery, or one of an attempt's request or
/// response.
#[derive(SimpleObject, Clone, Debug)]
pub struct Header {
    /// Header name (an RFC 7230 token), lower case in attempts.
    pub name: String,
    /// Header value (a hook's own: printable ASCII, at most 1024 characters).
    pub value: String,
}

/// A retired signing key that still signs during its grace period.
#[derive(SimpleObject, Clone, Debug)]
pub struct PreviousSigningKey {
    /// The retired key: an HMAC secret (`whsec_…`) or an Ed25519 public key (`whpk_…`).
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
    /// A JSONPath query (RFC 9535, at most 1024 bytes) on the event envelope: the hook receives
    /// an event only when it selects at least one node, e.g.
    /// `$[?match(@.primaryEmail, '.*@acme\\.com')]`. Omitted: every event of `events`.
    pub filter: Option<String>,
    /// Which signatures to send (default HMAC).
    #[graphql(default)]
    pub signing_scheme: SigningScheme,
    /// Deliver one at a time, in the order events were stored (default false).
    #[graphql(default)]
    pub ordered: bool,
    /// Most deliveries per second, 1–10000, across all instances; omitted: unlimited.
    pub rate_limit: Option<i32>,
}

/// Why a hook is disabled.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "hook::DisabledReason")]
pub enum HookDisabledReason {
    /// Its receiver answered `410 Gone`.
    Gone,
    /// Every attempt failed for longer than the server allows (`HOOKD_DISABLE_AFTER`).
    Failing,
    /// Someone turned it off (`updateHook` with `enabled: false`, or created it disabled).
    User,
}

/// Which signatures a hook's requests carry.
#[derive(Enum, Copy, Clone, Debug, Default, PartialEq, Eq)]
#[graphql(remote = "hook::SigningScheme")]
pub enum SigningScheme {
    /// HMAC-SHA256 with `signingKey`: `logto-signature-sha-256` and `webhook-signature: v1,…`
    /// (what Logto receivers verify).
    #[default]
    Hmac,
    /// Ed25519 only: `webhook-signature: v1a,…`, verified with `publicKey`; no shared secret.
    #[graphql(name = "ED25519")]
    Ed25519,
    /// Both: every HMAC header, and a `v1a,` entry beside the `v1,` ones.
    #[graphql(name = "HMAC_AND_ED25519")]
    HmacAndEd25519,
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
    /// Enable or disable. Disabling cancels the queued deliveries and emits `Hook.Disabled`;
    /// enabling a disabled hook restarts its failure clock and emits `Hook.Enabled`.
    pub enabled: Option<bool>,
    /// New filter (see `CreateHookInput.filter`); null removes it.
    pub filter: MaybeUndefined<String>,
    /// New signature scheme. The first scheme with ED25519 creates the hook's Ed25519 key.
    pub signing_scheme: Option<SigningScheme>,
    /// Switch ordered delivery on or off. On: the waiting deliveries line up, oldest first,
    /// behind the oldest queued one (which keeps its due time). Off: every waiting delivery is
    /// due at once.
    pub ordered: Option<bool>,
    /// New rate limit (1–10000 per second); null removes it.
    pub rate_limit: MaybeUndefined<i32>,
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
            filter: input.filter,
            signing_scheme: input.signing_scheme.into(),
            ordered: input.ordered,
            rate_limit: input.rate_limit,
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
            filter: patch(input.filter),
            signing_scheme: input.signing_scheme.map(Into::into),
            ordered: input.ordered,
            rate_limit: patch(input.rate_limit),
        }
    }
}
