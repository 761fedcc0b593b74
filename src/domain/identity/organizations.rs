//! Organizations and their members (users and applications), applications, and the
//! `Organization.*` events.
//!
//! Membership events carry only real changes: adding an existing member adds nothing, and a
//! change that adds and removes nothing emits nothing at all (Logto since 1.40 lists the deltas;
//! we skip the empty event rather than send one with only `organizationId`).

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set, Statement,
    TransactionTrait,
};
use serde_json::{Map, Value, json};

use entity::{application, organization, user};

use crate::db::{Db, numbered, placeholders};
use crate::domain::Patch;
use crate::domain::caller::Caller;
use crate::domain::identity::payload::{self, Route};
use crate::domain::identity::resources::{validate_description, validate_name};
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::{linked, scoped};
use crate::domain::webhooks::outbox::{self, Committed};
use crate::domain::{new_id, now_ms};
use crate::error::{AppError, AppResult};

/// Logto's organization entity: `{ id, name, description, customData, createdAt }`.
pub fn organization_json(org: &organization::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), org.id.as_str().into());
    map.insert("name".into(), org.name.as_str().into());
    map.insert("description".into(), org.description.clone().into());
    map.insert(
        "customData".into(),
        serde_json::from_str(&org.custom_data).unwrap_or_else(|_| json!({})),
    );
    map.insert("createdAt".into(), org.created_at.into());
    Value::Object(map)
}

/// Logto's application entity as payloads carry it: `{ id, type, name, description }`.
pub fn application_json(app: &application::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), app.id.as_str().into());
    map.insert("type".into(), app.app_type.as_str().into());
    map.insert("name".into(), app.name.as_str().into());
    map.insert("description".into(), app.description.clone().into());
    Value::Object(map)
}

fn custom_data_text(value: Option<Value>) -> AppResult<String> {
    let value = value.unwrap_or_else(|| json!({}));
    if !value.is_object() || value.to_string().len() > 64 * 1024 {
        return Err(AppError::bad_input(
            "customData",
            "customData must be a JSON object of at most 64 KiB",
        ));
    }
    Ok(value.to_string())
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<organization::Model>> {
    Ok(scoped::<organization::Entity>(tenant)
        .filter(organization::Column::Id.eq(id))
        .one(db)
        .await?)
}

async fn get_required(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<organization::Model> {
    get(db, tenant, id).await?.ok_or(AppError::NotFound("organization"))
}

pub async fn list(db: &impl ConnectionTrait, tenant: &str, page: &PageRequest) -> AppResult<Page<organization::Model>> {
    page::fetch(
        db,
        scoped::<organization::Entity>(tenant),
        organization::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}

pub async fn create(
    db: &Db,
    caller: &Caller,
    name: String,
    description: Option<String>,
    custom_data: Option<Value>,
) -> AppResult<Committed<organization::Model>> {
    let Caller { tenant, meta } = caller;
    validate_name("name", &name)?;
    validate_description(description.as_deref())?;
    let custom_data = custom_data_text(custom_data)?;
    let txn = db.write.begin().await?;
    let org = organization::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name),
        description: Set(description),
        custom_data: Set(custom_data),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await?;
    let route = Route::new("POST", "/organizations", 201);
    let event = payload::management(
        "Organization.Created",
        meta,
        &route,
        Vec::new(),
        Some(organization_json(&org)),
    );
    outbox::commit(txn, tenant, event, org).await
}

pub async fn update(
    db: &Db,
    caller: &Caller,
    id: &str,
    name: Option<String>,
    description: Patch<String>,
    custom_data: Option<Value>,
) -> AppResult<Committed<organization::Model>> {
    let Caller { tenant, meta } = caller;
    if let Some(name) = &name {
        validate_name("name", name)?;
    }
    validate_description(description.as_ref().and_then(|d| d.as_deref()))?;
    let custom_data = custom_data.map(|c| custom_data_text(Some(c))).transpose()?;
    let txn = db.write.begin().await?;
    let mut model: organization::ActiveModel = get_required(&txn, tenant, id).await?.into();
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(description) = description {
        model.description = Set(description);
    }
    if let Some(custom_data) = custom_data {
        model.custom_data = Set(custom_data);
    }
    let org = model.update(&txn).await?;
    let route = Route::new("PATCH", "/organizations/:id", 200).param("id", id);
    let event = payload::management(
        "Organization.Data.Updated",
        meta,
        &route,
        Vec::new(),
        Some(organization_json(&org)),
    );
    outbox::commit(txn, tenant, event, org).await
}

pub async fn delete(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let org = get_required(&txn, tenant, id).await?;
    organization::Entity::delete_by_id((org.id.clone(), org.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = Route::new("DELETE", "/organizations/:id", 204).param("id", id);
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Organization.Deleted", meta, &route, Vec::new(), None),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(org.id, [emitted]))
}

/// Users or applications, as organization members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Members {
    Users,
    Applications,
}

struct MemberNames {
    table: &'static str,
    column: &'static str,
    members_table: &'static str,
    collection: &'static str,
    item: &'static str,
    param: &'static str,
    added: &'static str,
    removed: &'static str,
    what: &'static str,
}

impl Members {
    fn names(self) -> MemberNames {
        match self {
            Members::Users => MemberNames {
                table: "organization_users",
                column: "user_id",
                members_table: "users",
                collection: "/organizations/:id/users",
                item: "/organizations/:id/users/:userId",
                param: "userId",
                added: "addedUserIds",
                removed: "removedUserIds",
                what: "user",
            },
            Members::Applications => MemberNames {
                table: "organization_applications",
                column: "application_id",
                members_table: "applications",
                collection: "/organizations/:id/applications",
                item: "/organizations/:id/applications/:applicationId",
                param: "applicationId",
                added: "addedApplicationIds",
                removed: "removedApplicationIds",
                what: "application",
            },
        }
    }
}

/// A change to an organization's members.
#[derive(Clone, Debug)]
pub enum MemberChange {
    /// Add these (existing members stay, and are not reported).
    Add(Vec<String>),
    /// Make the members exactly these.
    Replace(Vec<String>),
    /// Remove this one (NOT_FOUND unless a member).
    Remove(String),
}

/// Applies a membership change; emits `Organization.Membership.Updated` with the real deltas.
pub async fn change_members(
    db: &Db,
    caller: &Caller,
    id: &str,
    members: Members,
    change: MemberChange,
) -> AppResult<Committed<organization::Model>> {
    let Caller { tenant, meta } = caller;
    let names = members.names();
    let txn = db.write.begin().await?;
    let org = get_required(&txn, tenant, id).await?;
    let current = member_ids(&txn, tenant, &names, id).await?;
    let (added, removed, route) = match change {
        MemberChange::Add(wanted) => {
            let wanted = dedup(wanted);
            ensure_exist(&txn, tenant, &names, &wanted).await?;
            let added: Vec<String> = wanted.into_iter().filter(|w| !current.contains(w)).collect();
            (
                added,
                Vec::new(),
                Route::new("POST", names.collection, 201).param("id", id),
            )
        }
        MemberChange::Replace(wanted) => {
            let wanted = dedup(wanted);
            ensure_exist(&txn, tenant, &names, &wanted).await?;
            let added: Vec<String> = wanted.iter().filter(|w| !current.contains(w)).cloned().collect();
            let removed: Vec<String> = current.iter().filter(|c| !wanted.contains(c)).cloned().collect();
            (added, removed, Route::new("PUT", names.collection, 204).param("id", id))
        }
        MemberChange::Remove(member) => {
            if !current.contains(&member) {
                return Err(AppError::NotFound(if members == Members::Users {
                    "organization member"
                } else {
                    "organization application"
                }));
            }
            let route = Route::new("DELETE", names.item, 204)
                .param("id", id)
                .param(names.param, &member);
            (Vec::new(), vec![member], route)
        }
    };
    if added.is_empty() && removed.is_empty() {
        txn.commit().await?;
        return Ok(Committed::new(org, None));
    }
    let backend = txn.get_database_backend();
    let now = now_ms();
    for member in &added {
        let sql = format!(
            "INSERT INTO {} (tenant_id, organization_id, {}, created_at) VALUES (?, ?, ?, ?)",
            names.table, names.column
        );
        let values: Vec<sea_orm::Value> = vec![tenant.into(), id.into(), member.as_str().into(), now.into()];
        txn.execute_raw(Statement::from_sql_and_values(backend, numbered(backend, &sql), values))
            .await?;
    }
    if !removed.is_empty() {
        let sql = format!(
            "DELETE FROM {} WHERE tenant_id = ? AND organization_id = ? AND {} IN ({})",
            names.table,
            names.column,
            placeholders(removed.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![tenant.into(), id.into()];
        values.extend(removed.iter().map(|r| r.as_str().into()));
        txn.execute_raw(Statement::from_sql_and_values(backend, numbered(backend, &sql), values))
            .await?;
    }
    let mut extra = vec![("organizationId", Value::from(id))];
    if !added.is_empty() {
        extra.push((names.added, Value::from(added)));
    }
    if !removed.is_empty() {
        extra.push((names.removed, Value::from(removed)));
    }
    let event = payload::management("Organization.Membership.Updated", meta, &route, extra, None);
    let emitted = outbox::emit(&txn, tenant, event).await?;
    txn.commit().await?;
    Ok(Committed::new(org, Some(emitted)))
}

fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    unique
}

async fn member_ids(
    txn: &DatabaseTransaction,
    tenant: &str,
    names: &MemberNames,
    org_id: &str,
) -> AppResult<Vec<String>> {
    let backend = txn.get_database_backend();
    let sql = format!(
        "SELECT {} AS member FROM {} WHERE tenant_id = ? AND organization_id = ?",
        names.column, names.table
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            numbered(backend, &sql),
            [tenant.into(), org_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "member").map_err(AppError::from))
        .collect()
}

/// NOT_FOUND unless every id names a user (or application) of this tenant.
async fn ensure_exist(txn: &DatabaseTransaction, tenant: &str, names: &MemberNames, ids: &[String]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE tenant_id = ? AND id IN ({})",
        names.members_table,
        placeholders(ids.len())
    );
    let mut values: Vec<sea_orm::Value> = vec![tenant.into()];
    values.extend(ids.iter().map(|i| i.as_str().into()));
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(backend, numbered(backend, &sql), values))
        .await?;
    let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    if n as usize != ids.len() {
        return Err(AppError::NotFound(names.what));
    }
    Ok(())
}

/// The user members of many organizations, grouped by organization, in two queries.
pub async fn users_of(
    db: &impl ConnectionTrait,
    tenant: &str,
    org_ids: &[String],
) -> AppResult<HashMap<String, Vec<user::Model>>> {
    use entity::organization_user as link;
    let columns = (link::Column::OrganizationId, link::Column::UserId);
    linked::<link::Entity, user::Entity>(db, tenant, org_ids, columns, user::Column::Id, |u| &u.id).await
}

/// The application members of many organizations, grouped by organization, in two queries.
pub async fn applications_of(
    db: &impl ConnectionTrait,
    tenant: &str,
    org_ids: &[String],
) -> AppResult<HashMap<String, Vec<application::Model>>> {
    use entity::organization_application as link;
    let columns = (link::Column::OrganizationId, link::Column::ApplicationId);
    linked::<link::Entity, application::Entity>(db, tenant, org_ids, columns, application::Column::Id, |a| &a.id).await
}

/// Creates an application (Logto sends no event for this).
pub async fn create_application(
    db: &Db,
    caller: &Caller,
    name: String,
    app_type: &'static str,
    description: Option<String>,
) -> AppResult<application::Model> {
    let tenant = caller.tenant.as_str();
    validate_name("name", &name)?;
    validate_description(description.as_deref())?;
    Ok(application::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name),
        description: Set(description),
        app_type: Set(app_type.to_owned()),
        created_at: Set(now_ms()),
    }
    .insert(&db.write)
    .await?)
}

pub async fn get_application(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
) -> AppResult<Option<application::Model>> {
    Ok(scoped::<application::Entity>(tenant)
        .filter(application::Column::Id.eq(id))
        .one(db)
        .await?)
}

pub async fn list_applications(
    db: &impl ConnectionTrait,
    tenant: &str,
    page: &PageRequest,
) -> AppResult<Page<application::Model>> {
    page::fetch(
        db,
        scoped::<application::Entity>(tenant),
        application::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}
