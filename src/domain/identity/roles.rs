//! Roles, their permissions, and users' roles; the `Role.*` and `User.Roles.Updated` events.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::{Map, Value};

use entity::{role, role_scope, scope, user, user_role};

use crate::db::Db;
use crate::domain::Patch;
use crate::domain::caller::Caller;
use crate::domain::identity::payload::{self, Route};
use crate::domain::identity::resources::{scope_json, validate_description, validate_name};
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::{linked, scoped};
use crate::domain::webhooks::outbox::{self, Committed};
use crate::domain::{identity::users, new_id, now_ms};
use crate::error::{AppError, AppResult, OnConflict};

/// Logto's role types, as payloads spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleType {
    User,
    MachineToMachine,
}

impl RoleType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleType::User => "User",
            RoleType::MachineToMachine => "MachineToMachine",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CreateRole {
    pub name: String,
    pub description: Option<String>,
    pub role_type: RoleType,
    pub is_default: bool,
    pub scope_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateRole {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub is_default: Option<bool>,
}

/// Logto's role entity: `{ id, name, description, type, isDefault }`.
pub fn role_json(role: &role::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), role.id.as_str().into());
    map.insert("name".into(), role.name.as_str().into());
    map.insert("description".into(), role.description.clone().into());
    map.insert("type".into(), role.role_type.as_str().into());
    map.insert("isDefault".into(), role.is_default.into());
    Value::Object(map)
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<role::Model>> {
    Ok(scoped::<role::Entity>(tenant)
        .filter(role::Column::Id.eq(id))
        .one(db)
        .await?)
}

async fn get_required(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<role::Model> {
    get(db, tenant, id).await?.ok_or(AppError::NotFound("role"))
}

pub async fn list(db: &impl ConnectionTrait, tenant: &str, page: &PageRequest) -> AppResult<Page<role::Model>> {
    page::fetch(
        db,
        scoped::<role::Entity>(tenant),
        role::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}

/// The permissions of many roles, grouped by role, in one query.
pub async fn scopes_of_roles(
    db: &impl ConnectionTrait,
    tenant: &str,
    role_ids: &[String],
) -> AppResult<HashMap<String, Vec<scope::Model>>> {
    let link = (role_scope::Column::RoleId, role_scope::Column::ScopeId);
    linked::<role_scope::Entity, scope::Entity>(db, tenant, role_ids, link, scope::Column::Id, |s| &s.id).await
}

/// The roles of many users, grouped by user, in one query.
pub async fn roles_of_users(
    db: &impl ConnectionTrait,
    tenant: &str,
    user_ids: &[String],
) -> AppResult<HashMap<String, Vec<role::Model>>> {
    let link = (user_role::Column::UserId, user_role::Column::RoleId);
    linked::<user_role::Entity, role::Entity>(db, tenant, user_ids, link, role::Column::Id, |r| &r.id).await
}

async fn scopes_of(txn: &DatabaseTransaction, tenant: &str, role_id: &str) -> AppResult<Vec<scope::Model>> {
    Ok(scopes_of_roles(txn, tenant, &[role_id.to_owned()])
        .await?
        .remove(role_id)
        .unwrap_or_default())
}

/// Fails with NOT_FOUND unless every id names a permission of this tenant; returns them deduped.
async fn existing_scopes(txn: &DatabaseTransaction, tenant: &str, ids: &[String]) -> AppResult<Vec<scope::Model>> {
    let mut unique: Vec<&str> = Vec::new();
    for id in ids {
        if !unique.contains(&id.as_str()) {
            unique.push(id);
        }
    }
    let found = scoped::<scope::Entity>(tenant)
        .filter(scope::Column::Id.is_in(unique.iter().copied()))
        .order_by_asc(scope::Column::Id)
        .all(txn)
        .await?;
    if found.len() != unique.len() {
        return Err(AppError::NotFound("permission"));
    }
    Ok(found)
}

/// Links `scopes` to the role, skipping links that exist already.
async fn link_scopes(txn: &DatabaseTransaction, tenant: &str, role_id: &str, scopes: &[scope::Model]) -> AppResult<()> {
    let present: Vec<String> = scopes_of(txn, tenant, role_id)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let now = now_ms();
    let rows: Vec<role_scope::ActiveModel> = scopes
        .iter()
        .filter(|s| !present.contains(&s.id))
        .map(|s| role_scope::ActiveModel {
            tenant_id: Set(tenant.to_owned()),
            role_id: Set(role_id.to_owned()),
            scope_id: Set(s.id.clone()),
            created_at: Set(now),
        })
        .collect();
    if !rows.is_empty() {
        role_scope::Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(())
}

/// Creates a role. With `scopeIds`, Logto sends `Role.Scopes.Updated` (with `roleId` and the
/// scopes assigned) before `Role.Created`; so does hookd, in the same transaction.
pub async fn create(db: &Db, caller: &Caller, input: CreateRole) -> AppResult<Committed<role::Model>> {
    let Caller { tenant, meta } = caller;
    validate_name("name", &input.name)?;
    validate_description(input.description.as_deref())?;
    let txn = db.write.begin().await?;
    let role = role::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(input.name.clone()),
        description: Set(input.description),
        role_type: Set(input.role_type.as_str().to_owned()),
        is_default: Set(input.is_default),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await
    .on_conflict(|| format!("a role named {:?} exists", input.name))?;
    let route = Route::new("POST", "/roles", 200);
    let mut emitted = Vec::new();
    if let Some(scope_ids) = input.scope_ids.filter(|ids| !ids.is_empty()) {
        let scopes = existing_scopes(&txn, tenant, &scope_ids).await?;
        link_scopes(&txn, tenant, &role.id, &scopes).await?;
        let data = Value::Array(scopes.iter().map(scope_json).collect());
        let extra = vec![("roleId", Value::from(role.id.as_str()))];
        emitted.push(
            outbox::emit(
                &txn,
                tenant,
                payload::management("Role.Scopes.Updated", meta, &route, extra, Some(data)),
            )
            .await?,
        );
    }
    let created = payload::management("Role.Created", meta, &route, Vec::new(), Some(role_json(&role)));
    emitted.push(outbox::emit(&txn, tenant, created).await?);
    txn.commit().await?;
    Ok(Committed::new(role, emitted))
}

pub async fn update(db: &Db, caller: &Caller, id: &str, input: UpdateRole) -> AppResult<Committed<role::Model>> {
    let Caller { tenant, meta } = caller;
    if let Some(name) = &input.name {
        validate_name("name", name)?;
    }
    validate_description(input.description.as_ref().and_then(|d| d.as_deref()))?;
    let txn = db.write.begin().await?;
    let mut model: role::ActiveModel = get_required(&txn, tenant, id).await?.into();
    if let Some(name) = input.name {
        model.name = Set(name);
    }
    if let Some(description) = input.description {
        model.description = Set(description);
    }
    if let Some(is_default) = input.is_default {
        model.is_default = Set(is_default);
    }
    let role = model
        .update(&txn)
        .await
        .on_conflict(|| "a role of that name exists".to_owned())?;
    let route = Route::new("PATCH", "/roles/:id", 200).param("id", id);
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Role.Data.Updated", meta, &route, Vec::new(), Some(role_json(&role))),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(role, [emitted]))
}

pub async fn delete(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let role = get_required(&txn, tenant, id).await?;
    role::Entity::delete_by_id((role.id.clone(), role.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = Route::new("DELETE", "/roles/:id", 204).param("id", id);
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Role.Deleted", meta, &route, Vec::new(), None),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(role.id, [emitted]))
}

/// Adds permissions to a role; the event's `data` is every permission of the role afterwards.
pub async fn add_scopes(
    db: &Db,
    caller: &Caller,
    id: &str,
    scope_ids: &[String],
) -> AppResult<Committed<Vec<scope::Model>>> {
    let Caller { tenant, meta } = caller;
    if scope_ids.is_empty() {
        return Err(AppError::bad_input("scopeIds", "name at least one permission"));
    }
    let txn = db.write.begin().await?;
    get_required(&txn, tenant, id).await?;
    let scopes = existing_scopes(&txn, tenant, scope_ids).await?;
    link_scopes(&txn, tenant, id, &scopes).await?;
    let all = scopes_of(&txn, tenant, id).await?;
    let route = Route::new("POST", "/roles/:id/scopes", 201).param("id", id);
    let data = Value::Array(all.iter().map(scope_json).collect());
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Role.Scopes.Updated", meta, &route, Vec::new(), Some(data)),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(all, [emitted]))
}

/// Removes one permission from a role; returns the permissions left.
pub async fn remove_scope(
    db: &Db,
    caller: &Caller,
    id: &str,
    scope_id: &str,
) -> AppResult<Committed<Vec<scope::Model>>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    get_required(&txn, tenant, id).await?;
    let removed = role_scope::Entity::delete_many()
        .filter(role_scope::Column::TenantId.eq(tenant))
        .filter(role_scope::Column::RoleId.eq(id))
        .filter(role_scope::Column::ScopeId.eq(scope_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AppError::NotFound("permission of this role"));
    }
    let route = Route::new("DELETE", "/roles/:id/scopes/:scopeId", 204)
        .param("id", id)
        .param("scopeId", scope_id);
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Role.Scopes.Updated", meta, &route, Vec::new(), None),
    )
    .await?;
    let left = scopes_of(&txn, tenant, id).await?;
    txn.commit().await?;
    Ok(Committed::new(left, [emitted]))
}

/// Assigns roles to a user. Only roles the user did not have count: `addedRoleIds` lists them,
/// and when there are none nothing is emitted.
pub async fn assign_to_user(
    db: &Db,
    caller: &Caller,
    user_id: &str,
    role_ids: &[String],
) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let user = users::get(&txn, tenant, user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let mut wanted: Vec<&str> = Vec::new();
    for id in role_ids {
        if !wanted.contains(&id.as_str()) {
            wanted.push(id);
        }
    }
    let found = scoped::<role::Entity>(tenant)
        .filter(role::Column::Id.is_in(wanted.iter().copied()))
        .all(&txn)
        .await?;
    if found.len() != wanted.len() {
        return Err(AppError::NotFound("role"));
    }
    let present: Vec<String> = roles_of_users(&txn, tenant, &[user_id.to_owned()])
        .await?
        .remove(user_id)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let added: Vec<&str> = wanted
        .into_iter()
        .filter(|id| !present.iter().any(|p| p == id))
        .collect();
    if added.is_empty() {
        txn.commit().await?;
        return Ok(Committed::new(user, None));
    }
    let now = now_ms();
    let rows = added.iter().map(|role_id| user_role::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        user_id: Set(user_id.to_owned()),
        role_id: Set((*role_id).to_owned()),
        created_at: Set(now),
    });
    user_role::Entity::insert_many(rows).exec(&txn).await?;
    let route = Route::new("POST", "/users/:userId/roles", 201).param("userId", user_id);
    let extra = vec![("userId", Value::from(user_id)), ("addedRoleIds", Value::from(added))];
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("User.Roles.Updated", meta, &route, extra, None),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(user, Some(emitted)))
}

pub async fn remove_from_user(
    db: &Db,
    caller: &Caller,
    user_id: &str,
    role_id: &str,
) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let user = users::get(&txn, tenant, user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let removed = user_role::Entity::delete_many()
        .filter(user_role::Column::TenantId.eq(tenant))
        .filter(user_role::Column::UserId.eq(user_id))
        .filter(user_role::Column::RoleId.eq(role_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AppError::NotFound("role of this user"));
    }
    let route = Route::new("DELETE", "/users/:userId/roles/:roleId", 204)
        .param("userId", user_id)
        .param("roleId", role_id);
    let extra = vec![
        ("userId", Value::from(user_id)),
        ("removedRoleIds", Value::from(vec![role_id])),
    ];
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("User.Roles.Updated", meta, &route, extra, None),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(user, [emitted]))
}
