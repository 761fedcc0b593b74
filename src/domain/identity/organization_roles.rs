//! Organization roles and organization permissions (scopes); the `OrganizationRole.*` and
//! `OrganizationScope.*` events.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde_json::{Map, Value};

use entity::{organization_role as org_role, organization_role_scope as role_scope, organization_scope as org_scope};

use crate::db::Db;
use crate::domain::Patch;
use crate::domain::caller::Caller;
use crate::domain::identity::payload::{self, Route};
use crate::domain::identity::resources::{validate_description, validate_name};
use crate::domain::identity::roles::RoleType;
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::{linked, scoped};
use crate::domain::webhooks::outbox::{self, Committed};
use crate::domain::{new_id, now_ms};
use crate::error::{AppError, AppResult, OnConflict};

/// `{ id, name, description, type }`.
pub fn role_json(role: &org_role::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), role.id.as_str().into());
    map.insert("name".into(), role.name.as_str().into());
    map.insert("description".into(), role.description.clone().into());
    map.insert("type".into(), role.role_type.as_str().into());
    Value::Object(map)
}

/// `{ id, name, description }`.
pub fn scope_json(scope: &org_scope::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), scope.id.as_str().into());
    map.insert("name".into(), scope.name.as_str().into());
    map.insert("description".into(), scope.description.clone().into());
    Value::Object(map)
}

pub async fn list_roles(
    db: &impl ConnectionTrait,
    tenant: &str,
    page: &PageRequest,
) -> AppResult<Page<org_role::Model>> {
    page::fetch(
        db,
        scoped::<org_role::Entity>(tenant),
        org_role::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}

pub async fn list_scopes(
    db: &impl ConnectionTrait,
    tenant: &str,
    page: &PageRequest,
) -> AppResult<Page<org_scope::Model>> {
    page::fetch(
        db,
        scoped::<org_scope::Entity>(tenant),
        org_scope::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}

async fn get_role(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<org_role::Model> {
    scoped::<org_role::Entity>(tenant)
        .filter(org_role::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("organization role"))
}

async fn get_scope(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<org_scope::Model> {
    scoped::<org_scope::Entity>(tenant)
        .filter(org_scope::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("organization permission"))
}

/// The permissions of many organization roles, grouped by role.
pub async fn scopes_of_roles(
    db: &impl ConnectionTrait,
    tenant: &str,
    role_ids: &[String],
) -> AppResult<HashMap<String, Vec<org_scope::Model>>> {
    let link = (
        role_scope::Column::OrganizationRoleId,
        role_scope::Column::OrganizationScopeId,
    );
    linked::<role_scope::Entity, org_scope::Entity>(db, tenant, role_ids, link, org_scope::Column::Id, |s| &s.id).await
}

async fn scope_ids_of(txn: &DatabaseTransaction, tenant: &str, role_id: &str) -> AppResult<Vec<String>> {
    Ok(scopes_of_roles(txn, tenant, &[role_id.to_owned()])
        .await?
        .remove(role_id)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// NOT_FOUND unless every id names an organization permission of this tenant; deduplicated.
async fn existing_scope_ids(txn: &DatabaseTransaction, tenant: &str, ids: &[String]) -> AppResult<Vec<String>> {
    let mut unique: Vec<String> = Vec::new();
    for id in ids {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    let found = scoped::<org_scope::Entity>(tenant)
        .filter(org_scope::Column::Id.is_in(unique.iter().map(String::as_str)))
        .all(txn)
        .await?;
    if found.len() != unique.len() {
        return Err(AppError::NotFound("organization permission"));
    }
    Ok(unique)
}

async fn link(txn: &DatabaseTransaction, tenant: &str, role_id: &str, scope_ids: &[String]) -> AppResult<()> {
    if scope_ids.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let rows = scope_ids.iter().map(|scope_id| role_scope::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        organization_role_id: Set(role_id.to_owned()),
        organization_scope_id: Set(scope_id.clone()),
        created_at: Set(now),
    });
    role_scope::Entity::insert_many(rows).exec(txn).await?;
    Ok(())
}

/// Creates an organization role; with `organizationScopeIds`, `OrganizationRole.Scopes.Updated`
/// (with `organizationRoleId`) is emitted before `OrganizationRole.Created`, as for roles.
pub async fn create_role(
    db: &Db,
    caller: &Caller,
    name: String,
    description: Option<String>,
    role_type: RoleType,
    scope_ids: Option<Vec<String>>,
) -> AppResult<Committed<org_role::Model>> {
    let Caller { tenant, meta } = caller;
    validate_name("name", &name)?;
    validate_description(description.as_deref())?;
    let txn = db.write.begin().await?;
    let role = org_role::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now_ms()),
        role_type: Set(role_type.as_str().to_owned()),
    }
    .insert(&txn)
    .await
    .on_conflict(|| format!("an organization role named {name:?} exists"))?;
    let route = Route::new("POST", "/organization-roles", 201);
    let mut emitted = Vec::new();
    if let Some(ids) = scope_ids.filter(|ids| !ids.is_empty()) {
        let ids = existing_scope_ids(&txn, tenant, &ids).await?;
        link(&txn, tenant, &role.id, &ids).await?;
        let extra = vec![("organizationRoleId", Value::from(role.id.as_str()))];
        let event = payload::management("OrganizationRole.Scopes.Updated", meta, &route, extra, None);
        emitted.push(outbox::emit(&txn, tenant, event).await?);
    }
    let event = payload::management(
        "OrganizationRole.Created",
        meta,
        &route,
        Vec::new(),
        Some(role_json(&role)),
    );
    emitted.push(outbox::emit(&txn, tenant, event).await?);
    txn.commit().await?;
    Ok(Committed::new(role, emitted))
}

pub async fn update_role(
    db: &Db,
    caller: &Caller,
    id: &str,
    name: Option<String>,
    description: Patch<String>,
) -> AppResult<Committed<org_role::Model>> {
    let Caller { tenant, meta } = caller;
    let naming = Naming::checked(name, description)?;
    let txn = db.write.begin().await?;
    let current: org_role::ActiveModel = get_role(&txn, tenant, id).await?.into();
    let columns = (org_role::Column::Name, org_role::Column::Description);
    let role = naming.apply(&txn, current, columns, "an organization role").await?;
    let route = Route::new("PATCH", "/organization-roles/:id", 200).param("id", id);
    let data = Some(role_json(&role));
    let event = payload::management("OrganizationRole.Data.Updated", meta, &route, Vec::new(), data);
    outbox::commit(txn, tenant, event, role).await
}

pub async fn delete_role(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let role = get_role(&txn, tenant, id).await?;
    org_role::Entity::delete_by_id((role.id.clone(), role.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = Route::new("DELETE", "/organization-roles/:id", 204).param("id", id);
    let event = payload::management("OrganizationRole.Deleted", meta, &route, Vec::new(), None);
    outbox::commit(txn, tenant, event, role.id).await
}

/// A change to an organization role's permissions.
#[derive(Clone, Debug)]
pub enum ScopeChange {
    Add(Vec<String>),
    Replace(Vec<String>),
    Remove(String),
}

/// Applies a permission change to an organization role and emits `OrganizationRole.Scopes.Updated`
/// (no `data`, as Logto). Logto's route emits on every successful call, also when adding or
/// replacing changed nothing, and so do we (membership changes, unlike this, emit only real
/// changes).
pub async fn change_role_scopes(
    db: &Db,
    caller: &Caller,
    id: &str,
    change: ScopeChange,
) -> AppResult<Committed<org_role::Model>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let role = get_role(&txn, tenant, id).await?;
    let current = scope_ids_of(&txn, tenant, id).await?;
    let (added, removed, route) = match change {
        ScopeChange::Add(ids) => {
            let ids = existing_scope_ids(&txn, tenant, &ids).await?;
            let added: Vec<String> = ids.into_iter().filter(|i| !current.contains(i)).collect();
            (
                added,
                Vec::new(),
                Route::new("POST", "/organization-roles/:id/scopes", 201).param("id", id),
            )
        }
        ScopeChange::Replace(ids) => {
            let ids = existing_scope_ids(&txn, tenant, &ids).await?;
            let added: Vec<String> = ids.iter().filter(|i| !current.contains(i)).cloned().collect();
            let removed: Vec<String> = current.iter().filter(|c| !ids.contains(c)).cloned().collect();
            (
                added,
                removed,
                Route::new("PUT", "/organization-roles/:id/scopes", 204).param("id", id),
            )
        }
        ScopeChange::Remove(scope_id) => {
            if !current.contains(&scope_id) {
                return Err(AppError::NotFound("permission of this organization role"));
            }
            let route = Route::new("DELETE", "/organization-roles/:id/scopes/:organizationScopeId", 204)
                .param("id", id)
                .param("organizationScopeId", &scope_id);
            (Vec::new(), vec![scope_id], route)
        }
    };
    link(&txn, tenant, id, &added).await?;
    if !removed.is_empty() {
        role_scope::Entity::delete_many()
            .filter(role_scope::Column::TenantId.eq(tenant))
            .filter(role_scope::Column::OrganizationRoleId.eq(id))
            .filter(role_scope::Column::OrganizationScopeId.is_in(removed.iter().map(String::as_str)))
            .exec(&txn)
            .await?;
    }
    let event = payload::management("OrganizationRole.Scopes.Updated", meta, &route, Vec::new(), None);
    outbox::commit(txn, tenant, event, role).await
}

pub async fn create_scope(
    db: &Db,
    caller: &Caller,
    name: String,
    description: Option<String>,
) -> AppResult<Committed<org_scope::Model>> {
    let Caller { tenant, meta } = caller;
    validate_name("name", &name)?;
    validate_description(description.as_deref())?;
    let txn = db.write.begin().await?;
    let scope = org_scope::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await
    .on_conflict(|| format!("an organization permission named {name:?} exists"))?;
    let route = Route::new("POST", "/organization-scopes", 201);
    let event = payload::management(
        "OrganizationScope.Created",
        meta,
        &route,
        Vec::new(),
        Some(scope_json(&scope)),
    );
    outbox::commit(txn, tenant, event, scope).await
}

pub async fn update_scope(
    db: &Db,
    caller: &Caller,
    id: &str,
    name: Option<String>,
    description: Patch<String>,
) -> AppResult<Committed<org_scope::Model>> {
    let Caller { tenant, meta } = caller;
    let naming = Naming::checked(name, description)?;
    let txn = db.write.begin().await?;
    let current: org_scope::ActiveModel = get_scope(&txn, tenant, id).await?.into();
    let columns = (org_scope::Column::Name, org_scope::Column::Description);
    let scope = naming
        .apply(&txn, current, columns, "an organization permission")
        .await?;
    let route = Route::new("PATCH", "/organization-scopes/:id", 200).param("id", id);
    let data = Some(scope_json(&scope));
    let event = payload::management("OrganizationScope.Data.Updated", meta, &route, Vec::new(), data);
    outbox::commit(txn, tenant, event, scope).await
}

/// A checked change of name and description: what updating an organization role and an
/// organization permission share.
struct Naming {
    name: Option<String>,
    description: Patch<String>,
}

impl Naming {
    fn checked(name: Option<String>, description: Patch<String>) -> AppResult<Naming> {
        if let Some(name) = &name {
            validate_name("name", name)?;
        }
        validate_description(description.as_ref().and_then(|d| d.as_deref()))?;
        Ok(Naming { name, description })
    }

    /// Sets the changed columns of `row` and saves it; a taken name is CONFLICT naming `what`.
    async fn apply<A>(
        self,
        txn: &DatabaseTransaction,
        mut row: A,
        (name, description): (<A::Entity as EntityTrait>::Column, <A::Entity as EntityTrait>::Column),
        what: &str,
    ) -> AppResult<<A::Entity as EntityTrait>::Model>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        if let Some(value) = self.name {
            row.set(name, value.into());
        }
        if let Some(value) = self.description {
            row.set(description, value.into());
        }
        row.update(txn)
            .await
            .on_conflict(|| format!("{what} of that name exists"))
    }
}

pub async fn delete_scope(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let scope = get_scope(&txn, tenant, id).await?;
    org_scope::Entity::delete_by_id((scope.id.clone(), scope.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = Route::new("DELETE", "/organization-scopes/:id", 204).param("id", id);
    let event = payload::management("OrganizationScope.Deleted", meta, &route, Vec::new(), None);
    outbox::commit(txn, tenant, event, scope.id).await
}
