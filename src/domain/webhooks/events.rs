//! Events: custom event types, `emitEvent`, and reading stored events.

use std::sync::Arc;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait};
use serde_json::{Map, Value};

use entity::{event, event_type};

use crate::db::Db;
use crate::domain::caller::Caller;
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::catalogue::{self, CATALOGUE};
use crate::domain::webhooks::outbox::Committed;
use crate::domain::webhooks::outbox::{self, NewEvent};
use crate::domain::{iso_now, new_id, now_ms};
use crate::error::{AppError, AppResult};

/// SPEC §3.2: event data is at most 256 KiB serialized.
pub const MAX_DATA_BYTES: usize = 256 * 1024;
/// A repeated idempotency key within this window returns the first event.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;
const MAX_KEY_LEN: usize = 255;
const MAX_TYPE_LEN: usize = 128;
const MAX_DESCRIPTION_LEN: usize = 1024;
/// The group custom types are listed under in `eventTypes`.
pub const CUSTOM_GROUP: &str = "Custom";

/// An event type: from the catalogue or defined by the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeInfo {
    pub name: String,
    pub group: String,
    pub description: String,
}

/// The catalogue followed by the tenant's custom types.
pub async fn event_types(db: &impl ConnectionTrait, tenant: &str) -> AppResult<Vec<EventTypeInfo>> {
    let custom = scoped::<event_type::Entity>(tenant)
        .order_by_asc(event_type::Column::Name)
        .all(db)
        .await?;
    Ok(CATALOGUE
        .iter()
        .map(|e| EventTypeInfo {
            name: e.name.to_owned(),
            group: e.group.to_owned(),
            description: e.description.to_owned(),
        })
        .chain(custom.into_iter().map(custom_info))
        .collect())
}

fn custom_info(model: event_type::Model) -> EventTypeInfo {
    EventTypeInfo {
        name: model.name,
        group: CUSTOM_GROUP.to_owned(),
        description: model.description.unwrap_or_default(),
    }
}

/// Fails with `BAD_USER_INPUT` on `field` unless every name is a catalogue event or one of the
/// tenant's custom types.
pub async fn ensure_known(db: &impl ConnectionTrait, tenant: &str, names: &[String], field: &str) -> AppResult<()> {
    let unknown: Vec<&String> = names.iter().filter(|n| catalogue::find(n).is_none()).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let defined: Vec<String> = scoped::<event_type::Entity>(tenant)
        .filter(event_type::Column::Name.is_in(unknown.iter().map(|n| n.as_str())))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    match unknown.into_iter().find(|n| !defined.contains(n)) {
        None => Ok(()),
        Some(name) => Err(AppError::bad_input(
            field,
            format!("unknown event type {name:?}; see the eventTypes query or define it with defineEventType"),
        )),
    }
}

/// `defineEventType`: names like `Invoice.Paid`, dot-separated PascalCase parts, at least two,
/// not in a catalogue group.
pub async fn define(db: &Db, caller: &Caller, name: String, description: Option<String>) -> AppResult<EventTypeInfo> {
    let tenant = caller.tenant.as_str();
    validate_custom_name(&name)?;
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN)
    {
        return Err(AppError::bad_input(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    let model = event_type::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now_ms()),
    }
    .insert(&db.write)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict(format!("event type {name:?} is already defined"))
        }
        _ => AppError::Db(e),
    })?;
    Ok(custom_info(model))
}

fn validate_custom_name(name: &str) -> AppResult<()> {
    let bad = |message: String| Err(AppError::bad_input("name", message));
    if name.len() > MAX_TYPE_LEN {
        return bad(format!("name must be at most {MAX_TYPE_LEN} characters"));
    }
    let parts: Vec<&str> = name.split('.').collect();
    let pascal = |p: &&str| {
        p.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && p.chars().all(|c| c.is_ascii_alphanumeric())
    };
    if parts.len() < 2 || !parts.iter().all(pascal) {
        return bad(format!(
            "{name:?} is not a valid event type: use dot-separated PascalCase parts, e.g. Invoice.Paid"
        ));
    }
    let reserved = CATALOGUE.iter().any(|e| e.name.split('.').next() == Some(parts[0]));
    if reserved {
        return bad(format!(
            "{:?} is a catalogue group; custom types need their own",
            parts[0]
        ));
    }
    Ok(())
}

/// `emitEvent`'s checks and envelope (`event, createdAt, data`; the outbox adds `eventId`, each
/// delivery its `hookId`): what to store, or why not.
pub async fn prepare(
    db: &Db,
    caller: &Caller,
    event_type: String,
    data: Value,
    idempotency_key: Option<String>,
) -> AppResult<NewEvent> {
    if let Some(key) = &idempotency_key
        && (key.is_empty() || key.len() > MAX_KEY_LEN)
    {
        return Err(AppError::bad_input(
            "idempotencyKey",
            format!("idempotencyKey must be 1 to {MAX_KEY_LEN} bytes"),
        ));
    }
    let size = serde_json::to_vec(&data).map_err(anyhow::Error::from)?.len();
    if size > MAX_DATA_BYTES {
        return Err(AppError::LimitExceeded(format!(
            "data is {size} bytes serialized; at most {MAX_DATA_BYTES} are allowed"
        )));
    }
    if catalogue::is_operational(&event_type) {
        return Err(AppError::bad_input(
            "type",
            format!("{event_type:?} is an operational event: only hookd emits it"),
        ));
    }
    ensure_known(
        &db.read,
        caller.tenant.as_str(),
        std::slice::from_ref(&event_type),
        "type",
    )
    .await?;
    let mut envelope = Map::new();
    envelope.insert("event".into(), Value::from(event_type.as_str()));
    envelope.insert("createdAt".into(), Value::from(iso_now()));
    envelope.insert("data".into(), data);
    Ok(NewEvent {
        event_type,
        envelope,
        idempotency_key,
        // Taken here, in the request's span: a group commit stores the event in a task of its own.
        traceparent: crate::telemetry::current_traceparent(),
    })
}

/// Stores a prepared event that carries an idempotency key, in its own transaction: a repeated
/// key within 24 h returns the first event and stores nothing. (Events without a key share
/// transactions in `crate::group_commit`.)
pub async fn emit_once(db: &Db, caller: &Caller, new: NewEvent) -> AppResult<Committed<Arc<event::Model>>> {
    let tenant = caller.tenant.as_str();
    let txn = db.write.begin().await?;
    if let Some(key) = &new.idempotency_key
        && let Some(existing) = find_by_key(&txn, tenant, key).await?
    {
        if existing.created_at > now_ms() - IDEMPOTENCY_WINDOW_MS {
            return Ok(Committed::new(Arc::new(existing), None));
        }
        // Expired: the key is free again.
        let mut stale: event::ActiveModel = existing.into();
        stale.idempotency_key = Set(None);
        stale.update(&txn).await?;
    }
    let key = new.idempotency_key.clone();
    match outbox::emit(&txn, tenant, new).await {
        Ok(emitted) => {
            txn.commit().await?;
            Ok(Committed::new(emitted.event.clone(), Some(emitted)))
        }
        // A concurrent emit with the same key won the race (PostgreSQL): answer with its event.
        Err(AppError::Db(e)) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            drop(txn);
            match find_by_key(&db.write, tenant, key.as_deref().unwrap_or_default()).await? {
                Some(existing) => Ok(Committed::new(Arc::new(existing), None)),
                None => Err(AppError::Db(e)),
            }
        }
        Err(e) => Err(e),
    }
}

async fn find_by_key(db: &impl ConnectionTrait, tenant: &str, key: &str) -> AppResult<Option<event::Model>> {
    Ok(scoped::<event::Entity>(tenant)
        .filter(event::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<event::Model>> {
    Ok(scoped::<event::Entity>(tenant)
        .filter(event::Column::Id.eq(id))
        .one(db)
        .await?)
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &str,
    event_type: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<event::Model>> {
    let mut query = scoped::<event::Entity>(tenant);
    if let Some(t) = event_type {
        query = query.filter(event::Column::EventType.eq(t));
    }
    page::fetch(db, query, event::Column::Id, page, Order::NewestFirst).await
}

/// The payload as stored plus `eventId` (each delivery adds its own `hookId`).
pub fn payload_json(event: &event::Model) -> Value {
    let mut value: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("eventId".into(), Value::from(event.id.as_str()));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names() {
        for ok in ["Invoice.Paid", "Billing.Invoice.Paid2", "A.B"] {
            assert!(validate_custom_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Invoice",
            "invoice.paid",
            "Invoice.",
            ".Paid",
            "Invoice.Paid-Now",
            "User.Exploded",
            "Organization.Thing",
            "Identifier.X",
        ] {
            assert!(validate_custom_name(bad).is_err(), "{bad}");
        }
    }
}
