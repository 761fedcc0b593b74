//! Hooks: validation (SPEC §3.1), storage, signing-key rotation, and the operational events
//! of turning a hook off and on.

use base64::Engine;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set, Statement, TransactionTrait,
};
use serde::Serialize;
use url::{Host, Url};

use entity::hook;
use entity::hook::{DisabledReason, PreviousKey, SigningScheme};

use crate::db::{self, Db};
use crate::delivery::sign::new_ed25519_key;
use crate::domain::caller::Caller;
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::outbox::Committed;
use crate::domain::webhooks::{events, filter, lifecycle, operational, outbox};
use crate::domain::{Patch, new_id, now_ms};
use crate::error::{AppError, AppResult};
use crate::seal::MasterKeys;
use crate::ssrf::TargetPolicy;

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_HEADERS: usize = 20;
pub const MAX_HEADER_VALUE_LEN: usize = 1024;
pub const MAX_HEADER_NAME_LEN: usize = 128;
/// Retired keys kept for Standard Webhooks signatures during rotation grace periods.
pub const MAX_PREVIOUS_KEYS: usize = 10;
/// Longest grace period a rotation may ask for (30 days).
pub const MAX_GRACE_SECONDS: i64 = 30 * 86_400;
/// Highest rate limit, deliveries per second.
pub const MAX_RATE_LIMIT: i32 = 10_000;

/// Headers hookd or HTTP itself controls. `content-type` and `user-agent` may be overridden
/// (as in Logto); the signature and `webhook-*` headers never.
const RESERVED_HEADERS: [&str; 11] = [
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-connection",
    "logto-signature-sha-256",
];

/// What a hook must not break: the operator's limits and target policy; and the master keys
/// its secrets are sealed with.
#[derive(Clone)]
pub struct HookRules {
    pub max_hooks_per_tenant: u64,
    pub targets: std::sync::Arc<TargetPolicy>,
    pub keys: std::sync::Arc<MasterKeys>,
}

/// Raw input for a new hook, before validation.
#[derive(Clone, Debug)]
pub struct CreateHook {
    pub name: String,
    pub events: Vec<String>,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub enabled: bool,
    /// A JSONPath query on the envelope (`filter.rs`); `None` receives every event.
    pub filter: Option<String>,
    pub signing_scheme: SigningScheme,
    /// One delivery at a time, in event order.
    pub ordered: bool,
    /// Deliveries per second; `None`: unlimited.
    pub rate_limit: Option<i32>,
}

/// Raw changes to a hook; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UpdateHook {
    pub name: Option<String>,
    pub events: Option<Vec<String>>,
    pub url: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the filter.
    pub filter: Patch<String>,
    pub signing_scheme: Option<SigningScheme>,
    pub ordered: Option<bool>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Patch<i32>,
}

/// Filters of the `hooks` query.
#[derive(Clone, Debug, Default)]
pub struct HookFilter {
    pub enabled: Option<bool>,
    pub event: Option<String>,
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<hook::Model>> {
    Ok(scoped::<hook::Entity>(tenant)
        .filter(hook::Column::Id.eq(id))
        .one(db)
        .await?)
}

async fn get_required(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<hook::Model> {
    get(db, tenant, id).await?.ok_or(AppError::NotFound("hook"))
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &str,
    filter: &HookFilter,
    page: &PageRequest,
) -> AppResult<Page<hook::Model>> {
    let mut query = scoped::<hook::Entity>(tenant);
    if let Some(enabled) = filter.enabled {
        query = query.filter(hook::Column::Enabled.eq(enabled));
    }
    if let Some(event) = &filter.event {
        query = query.filter(Expr::col(hook::Column::Events).like(outbox::event_name_pattern(event)));
    }
    page::fetch(db, query, hook::Column::Id, page, Order::OldestFirst).await
}

pub async fn create(db: &Db, caller: &Caller, input: CreateHook, rules: &HookRules) -> AppResult<hook::Model> {
    let tenant = caller.tenant.as_str();
    let hook = CreateHook {
        name: validate_name(input.name)?,
        events: validate_events(input.events)?,
        url: validate_url(input.url, &rules.targets)?,
        headers: validate_headers(input.headers)?,
        enabled: input.enabled,
        filter: input.filter.map(validate_filter).transpose()?,
        signing_scheme: input.signing_scheme,
        ordered: input.ordered,
        rate_limit: input.rate_limit.map(validate_rate_limit).transpose()?,
    };
    events::ensure_known(&db.read, tenant, &hook.events, "events").await?;
    let txn = db.write.begin().await?;
    lock_tenant(&txn, tenant).await?;
    let count = scoped::<hook::Entity>(tenant).count(&txn).await?;
    if count >= rules.max_hooks_per_tenant {
        return Err(AppError::LimitExceeded(format!(
            "a tenant may have at most {} hooks",
            rules.max_hooks_per_tenant
        )));
    }
    let now = now_ms();
    let id = new_id();
    let seal = |column: &str, plain: &str| rules.keys.seal_column(tenant, &id, column, plain);
    let model = hook::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(hook.name),
        url: Set(hook.url),
        events: Set(to_json(&hook.events)),
        headers: Set(to_json(&hook.headers)),
        enabled: Set(hook.enabled),
        signing_key: Set(seal("signing_key", &new_signing_key())),
        previous_keys: Set(seal("previous_keys", "[]")),
        filter: Set(hook.filter),
        signing_scheme: Set(hook.signing_scheme),
        ed25519_key: Set(hook
            .signing_scheme
            .ed25519()
            .then(|| seal("ed25519_key", &new_ed25519_key()))),
        ordered: Set(hook.ordered),
        rate_limit: Set(hook.rate_limit),
        rate_next_at: Set(None),
        failing_since: Set(None),
        failed_attempts: Set(0),
        disabled_reason: Set((!hook.enabled).then_some(DisabledReason::User)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Applies `input`. Disabling cancels the hook's waiting deliveries, returned with the hook, and
/// emits `Hook.Disabled`; enabling a disabled hook restarts its failure clock and emits
/// `Hook.Enabled`. Switching ordering on lines up the waiting deliveries (`lifecycle::set_ordered`).
pub async fn update(
    db: &Db,
    caller: &Caller,
    id: &str,
    input: UpdateHook,
    rules: &HookRules,
) -> AppResult<Committed<hook::Model>> {
    let tenant = caller.tenant.as_str();
    let name = input.name.map(validate_name).transpose()?;
    let events = input.events.map(validate_events).transpose()?;
    let url = input.url.map(|u| validate_url(u, &rules.targets)).transpose()?;
    let headers = input.headers.map(validate_headers).transpose()?;
    let filter = input.filter.map(|f| f.map(validate_filter).transpose()).transpose()?;
    let rate_limit = input
        .rate_limit
        .map(|r| r.map(validate_rate_limit).transpose())
        .transpose()?;
    if let Some(events) = &events {
        events::ensure_known(&db.read, tenant, events, "events").await?;
    }

    let (name, events, url, headers, filter) = (&name, &events, &url, &headers, &filter);
    db::retrying(|| async move {
        let txn = db.write.begin().await?;
        // Locked, so that two updates (or an update and the recorder disabling the hook) see
        // each other's switches.
        let current = locked(&txn, tenant, id).await?;
        let mut model: hook::ActiveModel = current.clone().into();
        if let Some(name) = name {
            model.name = Set(name.clone());
        }
        if let Some(events) = events {
            model.events = Set(to_json(events));
        }
        if let Some(url) = url {
            model.url = Set(url.clone());
        }
        if let Some(headers) = headers {
            model.headers = Set(to_json(headers));
        }
        if let Some(filter) = filter {
            model.filter = Set(filter.clone());
        }
        if let Some(scheme) = input.signing_scheme {
            // The first scheme with Ed25519 creates the key; later changes keep it.
            if scheme.ed25519() && current.ed25519_key.is_none() {
                let key = rules.keys.seal_column(tenant, id, "ed25519_key", &new_ed25519_key());
                model.ed25519_key = Set(Some(key));
            }
            model.signing_scheme = Set(scheme);
        }
        if let Some(ordered) = input.ordered {
            model.ordered = Set(ordered);
        }
        if let Some(rate_limit) = rate_limit {
            model.rate_limit = Set(rate_limit);
        }
        let mut changed = Vec::new();
        let switched = input.enabled.filter(|enabled| *enabled != current.enabled);
        match switched {
            Some(false) => {
                model.enabled = Set(false);
                model.disabled_reason = Set(Some(DisabledReason::User));
                changed = lifecycle::cancel_for_hook(&txn, tenant, id).await?;
            }
            Some(true) => {
                model.enabled = Set(true);
                model.disabled_reason = Set(None);
                model.failing_since = Set(None);
                model.failed_attempts = Set(0);
            }
            None => {}
        }
        model.updated_at = Set(now_ms());
        let model = model.update(&txn).await?;
        if input.ordered.is_some_and(|ordered| ordered != current.ordered) {
            changed.extend(lifecycle::set_ordered(&txn, tenant, id, model.ordered).await?);
        }
        let news = match switched {
            Some(false) => vec![operational::hook_disabled(&model, DisabledReason::User)],
            Some(true) => vec![operational::hook_enabled(&model)],
            None => Vec::new(),
        };
        let emitted = operational::emit(&txn, &news).await?;
        txn.commit().await?;
        Ok(Committed::new(model, emitted).and_changed(changed))
    })
    .await
}

/// Deletes the hook and cancels its waiting deliveries (returned); their history stays.
pub async fn delete(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let tenant = caller.tenant.as_str();
    db::retrying(|| async move {
        let txn = db.write.begin().await?;
        // The hook's row first, then its deliveries: the order the recorder takes them in.
        let current = locked(&txn, tenant, id).await?;
        let cancelled = lifecycle::cancel_for_hook(&txn, tenant, &current.id).await?;
        hook::Entity::delete_many()
            .filter(hook::Column::TenantId.eq(tenant))
            .filter(hook::Column::Id.eq(current.id.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Committed::changed(current.id, cancelled))
    })
    .await
}

/// Replaces the signing keys (the HMAC secret, and the Ed25519 key if the hook has one). The old
/// keys keep signing (Standard Webhooks header only) for `grace_seconds`; keys past their grace
/// and all but the newest `MAX_PREVIOUS_KEYS` are dropped.
pub async fn rotate_signing_key(
    db: &Db,
    caller: &Caller,
    id: &str,
    grace_seconds: i64,
    keys: &MasterKeys,
) -> AppResult<hook::Model> {
    let tenant = caller.tenant.as_str();
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(AppError::bad_input(
            "gracePeriodSeconds",
            format!("gracePeriodSeconds must be between 0 and {MAX_GRACE_SECONDS}"),
        ));
    }
    let txn = db.write.begin().await?;
    let sealed = get_required(&txn, tenant, id).await?;
    let current = keys.opened(&sealed).map_err(AppError::Internal)?;
    let now = now_ms();
    let mut previous = current.previous_keys_at(now);
    if grace_seconds > 0 {
        let retired = std::iter::once(current.signing_key.clone()).chain(current.ed25519_key.clone());
        let retired = retired.map(|key| PreviousKey {
            key,
            expires_at: now + grace_seconds * 1000,
        });
        previous.splice(0..0, retired);
    }
    previous.truncate(MAX_PREVIOUS_KEYS);
    let seal = |column: &str, plain: &str| keys.seal_column(tenant, id, column, plain);
    let ed25519_key = current
        .ed25519_key
        .as_ref()
        .map(|_| seal("ed25519_key", &new_ed25519_key()));
    let mut model: hook::ActiveModel = sealed.into();
    model.ed25519_key = Set(ed25519_key);
    model.signing_key = Set(seal("signing_key", &new_signing_key()));
    model.previous_keys = Set(seal("previous_keys", &to_json(&previous)));
    model.updated_at = Set(now);
    let model = model.update(&txn).await?;
    txn.commit().await?;
    Ok(model)
}

/// The hook, its row locked until the transaction ends (PostgreSQL; SQLite has one writer).
async fn locked(txn: &DatabaseTransaction, tenant: &str, id: &str) -> AppResult<hook::Model> {
    let mut query = scoped::<hook::Entity>(tenant).filter(hook::Column::Id.eq(id));
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await?.ok_or(AppError::NotFound("hook"))
}

/// Serializes hook creation per tenant on PostgreSQL so that concurrent creates cannot both
/// pass the per-tenant limit. (SQLite has one writer, which serializes them already.)
async fn lock_tenant(txn: &DatabaseTransaction, tenant: &str) -> AppResult<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [tenant.into()],
        ))
        .await?;
    }
    Ok(())
}

/// `whsec_` + base64 of 32 random bytes, the Standard Webhooks secret format.
fn new_signing_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing strings and plain structs cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn validate_name(name: String) -> AppResult<String> {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        return Err(AppError::bad_input("name", "name must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(AppError::bad_input(
            "name",
            format!("name must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name)
}

fn validate_events(events: Vec<String>) -> AppResult<Vec<String>> {
    if events.is_empty() {
        return Err(AppError::bad_input("events", "events must name at least one event"));
    }
    let mut unique: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        if !unique.contains(&event) {
            unique.push(event);
        }
    }
    Ok(unique)
}

/// Checks a webhook URL's form: absolute http(s), at most 2048 characters, no user info.
/// Parses a webhook URL strictly. The URL standard's parser forgives a lot (it drops leading
/// and trailing spaces, tabs and newlines anywhere, and reads `http:///x` as `http://x/`); a
/// URL that needed forgiving is refused instead, so what is stored is what was meant.
pub fn parse_url(raw: &str) -> AppResult<Url> {
    let bad = |message: String| AppError::bad_input("url", message);
    if raw.len() > MAX_URL_LEN {
        return Err(bad(format!("url must be at most {MAX_URL_LEN} characters")));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "url must not contain spaces, tabs, newlines or control characters".to_owned()
        ));
    }
    let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.is_empty() || after_scheme.starts_with(['/', '\\']) {
        return Err(bad(
            "url must be an absolute http or https URL with a host, like https://example.com/hook".to_owned(),
        ));
    }
    let url = Url::parse(raw).map_err(|_| bad("url must be an absolute http or https URL".to_owned()))?;
    if url.port() == Some(0) {
        return Err(bad("url port must be between 1 and 65535".to_owned()));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("url scheme must be http or https, not {:?}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("url must not contain a user name or password".to_owned()));
    }
    if url.host().is_none() {
        return Err(bad("url must have a host".to_owned()));
    }
    Ok(url)
}

/// A hook's URL: well-formed, and an IP literal must be an allowed target (host names are
/// checked when delivering, since what they resolve to can change).
fn validate_url(raw: String, targets: &TargetPolicy) -> AppResult<String> {
    let url = parse_url(&raw)?;
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => Some(ip.into()),
        Some(Host::Ipv6(ip)) => Some(ip.into()),
        _ => None,
    };
    if let Some(ip) = ip {
        targets.check(ip).map_err(|class| {
            AppError::bad_input(
                "url",
                format!(
                    "url is not an allowed target: {ip} is a {class} address (the server's HOOKD_ALLOWED_TARGETS can allow it)"
                ),
            )
        })?;
    }
    // The normalised form (lower-case scheme and host, default port dropped, `/` path).
    Ok(url.into())
}

fn validate_rate_limit(rate: i32) -> AppResult<i32> {
    if !(1..=MAX_RATE_LIMIT).contains(&rate) {
        return Err(AppError::bad_input(
            "rateLimit",
            format!("rateLimit must be between 1 and {MAX_RATE_LIMIT} deliveries per second"),
        ));
    }
    Ok(rate)
}

fn validate_filter(raw: String) -> AppResult<String> {
    filter::parse(&raw)?;
    Ok(raw)
}

fn validate_headers(headers: Vec<(String, String)>) -> AppResult<Vec<(String, String)>> {
    if headers.len() > MAX_HEADERS {
        return Err(AppError::bad_input("headers", format!("at most {MAX_HEADERS} headers")));
    }
    let mut seen: Vec<String> = Vec::with_capacity(headers.len());
    for (name, value) in &headers {
        let bad = |message: String| AppError::bad_input("headers", message);
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(bad(format!(
                "header names must be at most {MAX_HEADER_NAME_LEN} characters"
            )));
        }
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(bad(format!("header name {name:?} is not a valid HTTP header name")));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
            return Err(bad(format!("header {name:?} is set by hookd and cannot be configured")));
        }
        if seen.contains(&lower) {
            return Err(bad(format!("header {name:?} is given twice")));
        }
        if value.len() > MAX_HEADER_VALUE_LEN || !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(bad(format!(
                "header {name:?} must have a value of printable ASCII, at most {MAX_HEADER_VALUE_LEN} characters"
            )));
        }
        seen.push(lower);
    }
    Ok(headers)
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
