//! API resources and their permissions (scopes), and the `Scope.*` events.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde_json::{Map, Value};

use entity::{resource, scope};

use crate::db::Db;
use crate::domain::Patch;
use crate::domain::caller::Caller;
use crate::domain::identity::payload::{self, Route};
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::outbox::{self, Committed};
use crate::domain::{new_id, now_ms};
use crate::error::{AppError, AppResult, OnConflict};

/// Logto's scope entity: `{ id, resourceId, name, description, createdAt }`.
pub fn scope_json(scope: &scope::Model) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), scope.id.as_str().into());
    map.insert("resourceId".into(), scope.resource_id.as_str().into());
    map.insert("name".into(), scope.name.as_str().into());
    map.insert("description".into(), scope.description.clone().into());
    map.insert("createdAt".into(), scope.created_at.into());
    Value::Object(map)
}

pub fn validate_name(field: &str, name: &str) -> AppResult<()> {
    if name.trim().is_empty() || name.chars().count() > 128 {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to 128 characters"),
        ));
    }
    Ok(())
}

pub fn validate_description(description: Option<&str>) -> AppResult<()> {
    if description.is_some_and(|d| d.chars().count() > 1024) {
        return Err(AppError::bad_input(
            "description",
            "description must be at most 1024 characters",
        ));
    }
    Ok(())
}

fn validate_scope_name(name: &str) -> AppResult<()> {
    validate_name("name", name)?;
    if name.contains(char::is_whitespace) {
        return Err(AppError::bad_input(
            "name",
            "a permission name has no spaces, e.g. read:users",
        ));
    }
    Ok(())
}

/// Creates an API resource. Logto sends no event for resources.
pub async fn create_resource(db: &Db, caller: &Caller, name: String, indicator: String) -> AppResult<resource::Model> {
    let tenant = caller.tenant.as_str();
    validate_name("name", &name)?;
    let valid_indicator = indicator.len() <= 2048 && url::Url::parse(&indicator).is_ok();
    if !valid_indicator {
        return Err(AppError::bad_input(
            "indicator",
            "indicator must be an absolute URI, e.g. https://api.example.com",
        ));
    }
    resource::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        name: Set(name),
        indicator: Set(indicator.clone()),
        created_at: Set(now_ms()),
    }
    .insert(&db.write)
    .await
    .on_conflict(|| format!("an API resource with indicator {indicator:?} exists"))
}

pub async fn get_resource(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<resource::Model>> {
    Ok(scoped::<resource::Entity>(tenant)
        .filter(resource::Column::Id.eq(id))
        .one(db)
        .await?)
}

pub async fn list_resources(
    db: &impl ConnectionTrait,
    tenant: &str,
    page: &PageRequest,
) -> AppResult<Page<resource::Model>> {
    page::fetch(
        db,
        scoped::<resource::Entity>(tenant),
        resource::Column::Id,
        page,
        Order::OldestFirst,
    )
    .await
}

/// The scopes of many resources, grouped by resource, in one query.
pub async fn scopes_of_resources(
    db: &impl ConnectionTrait,
    tenant: &str,
    ids: &[String],
) -> AppResult<HashMap<String, Vec<scope::Model>>> {
    let rows = scoped::<scope::Entity>(tenant)
        .filter(scope::Column::ResourceId.is_in(ids.iter().map(String::as_str)))
        .order_by_asc(scope::Column::Id)
        .all(db)
        .await?;
    let mut grouped: HashMap<String, Vec<scope::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.resource_id.clone()).or_default().push(row);
    }
    Ok(grouped)
}

pub async fn get_scope(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<scope::Model> {
    scoped::<scope::Entity>(tenant)
        .filter(scope::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("permission"))
}

fn scope_route(method: &'static str, status: u16, scope: &scope::Model, with_id: bool) -> Route {
    if with_id {
        Route::new(method, "/resources/:resourceId/scopes/:scopeId", status)
            .param("resourceId", &scope.resource_id)
            .param("scopeId", &scope.id)
    } else {
        Route::new(method, "/resources/:resourceId/scopes", status).param("resourceId", &scope.resource_id)
    }
}

pub async fn create_scope(
    db: &Db,
    caller: &Caller,
    resource_id: &str,
    name: String,
    description: Option<String>,
) -> AppResult<Committed<scope::Model>> {
    let Caller { tenant, meta } = caller;
    validate_scope_name(&name)?;
    validate_description(description.as_deref())?;
    let txn = db.write.begin().await?;
    get_resource(&txn, tenant, resource_id)
        .await?
        .ok_or(AppError::NotFound("API resource"))?;
    let scope = scope::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        resource_id: Set(resource_id.to_owned()),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await
    .on_conflict(|| format!("the API resource already has a permission {name:?}"))?;
    let route = scope_route("POST", 201, &scope, false);
    let event = payload::management("Scope.Created", meta, &route, Vec::new(), Some(scope_json(&scope)));
    outbox::commit(txn, tenant, event, scope).await
}

pub async fn update_scope(
    db: &Db,
    caller: &Caller,
    id: &str,
    name: Option<String>,
    description: Patch<String>,
) -> AppResult<Committed<scope::Model>> {
    let Caller { tenant, meta } = caller;
    if let Some(name) = &name {
        validate_scope_name(name)?;
    }
    validate_description(description.as_ref().and_then(|d| d.as_deref()))?;
    let txn = db.write.begin().await?;
    let mut model: scope::ActiveModel = get_scope(&txn, tenant, id).await?.into();
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(description) = description {
        model.description = Set(description);
    }
    let scope = model
        .update(&txn)
        .await
        .on_conflict(|| "the API resource already has a permission of that name".to_owned())?;
    let route = scope_route("PATCH", 200, &scope, true);
    let event = payload::management("Scope.Data.Updated", meta, &route, Vec::new(), Some(scope_json(&scope)));
    outbox::commit(txn, tenant, event, scope).await
}

pub async fn delete_scope(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let scope = get_scope(&txn, tenant, id).await?;
    scope::Entity::delete_by_id((scope.id.clone(), scope.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = scope_route("DELETE", 204, &scope, true);
    let emitted = outbox::emit(
        &txn,
        tenant,
        payload::management("Scope.Deleted", meta, &route, Vec::new(), None),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(scope.id, [emitted]))
}
