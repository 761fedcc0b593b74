//! Users: validation, storage, and the `User.*` events (SPEC §3.3, §4).
//!
//! Every change and its event commit in one transaction (through `outbox::emit`); the caller
//! publishes the returned `Committed` after the commit. Passwords are hashed by `passwords.rs` and
//! never leave these modules: not in a payload, a log line or an error.

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::{Map, Value, json};

use entity::user;

use crate::db::Db;
use crate::domain::caller::{Caller, RequestMeta};
use crate::domain::identity::payload::{self, Route};
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::outbox::{self, Committed, Emitted};
use crate::domain::{Patch, identity::passwords, like_containing, new_id, now_ms};
use crate::error::{AppError, AppResult};

const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, Default)]
pub struct CreateUser {
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub password: Option<String>,
    pub custom_data: Option<Value>,
    pub profile: Option<Value>,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateUser {
    pub username: Patch<String>,
    pub primary_email: Patch<String>,
    pub primary_phone: Patch<String>,
    pub name: Patch<String>,
    pub avatar: Patch<String>,
}

/// Logto's user entity, keys in Logto's order; `hasPassword` is added in admin responses.
pub fn user_json(user: &user::Model, with_has_password: bool) -> Value {
    let object = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    let mut map = Map::new();
    map.insert("id".into(), user.id.as_str().into());
    map.insert("username".into(), user.username.clone().into());
    map.insert("primaryEmail".into(), user.primary_email.clone().into());
    map.insert("primaryPhone".into(), user.primary_phone.clone().into());
    map.insert("name".into(), user.name.clone().into());
    map.insert("avatar".into(), user.avatar.clone().into());
    map.insert("customData".into(), object(&user.custom_data));
    map.insert("identities".into(), object(&user.identities));
    map.insert("lastSignInAt".into(), user.last_sign_in_at.into());
    map.insert("createdAt".into(), user.created_at.into());
    map.insert("updatedAt".into(), user.updated_at.into());
    map.insert("profile".into(), object(&user.profile));
    map.insert("applicationId".into(), user.application_id.clone().into());
    map.insert("isSuspended".into(), user.is_suspended.into());
    if with_has_password {
        map.insert("hasPassword".into(), user.password_hash.is_some().into());
    }
    Value::Object(map)
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<user::Model>> {
    Ok(scoped::<user::Entity>(tenant)
        .filter(user::Column::Id.eq(id))
        .one(db)
        .await?)
}

async fn get_required(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<user::Model> {
    get(db, tenant, id).await?.ok_or(AppError::NotFound("user"))
}

/// Users whose username, email, phone or name contains `search` (case-insensitive), oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &str,
    search: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<user::Model>> {
    let mut query = scoped::<user::Entity>(tenant);
    if let Some(search) = search.filter(|s| !s.is_empty()) {
        let pattern = like_containing(&search.to_lowercase());
        let contains = |column: user::Column| Func::lower(Expr::col(column)).like(pattern.clone());
        query = query.filter(
            contains(user::Column::Username)
                .or(contains(user::Column::PrimaryEmail))
                .or(contains(user::Column::PrimaryPhone))
                .or(contains(user::Column::Name)),
        );
    }
    page::fetch(db, query, user::Column::Id, page, Order::OldestFirst).await
}

pub async fn create(db: &Db, caller: &Caller, input: CreateUser) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    let (user, txn) = insert(db, tenant, input, None).await?;
    let route = Route::new("POST", "/users", 200);
    let emitted = emit(&txn, tenant, meta, "User.Created", &route, user_json(&user, true)).await?;
    txn.commit().await?;
    Ok(Committed::new(user, [emitted]))
}

/// Validates and inserts a user in a new transaction, returned open: the caller adds its
/// events and commits.
pub async fn insert(
    db: &Db,
    tenant: &str,
    input: CreateUser,
    application_id: Option<String>,
) -> AppResult<(user::Model, DatabaseTransaction)> {
    let username = input.username.map(|u| validate_username(&u).map(|()| u)).transpose()?;
    let primary_email = input.primary_email.map(normalize_email).transpose()?;
    let primary_phone = input
        .primary_phone
        .map(|p| validate_phone(&p).map(|()| p))
        .transpose()?;
    let name = input.name.map(|n| validate_name(&n).map(|()| n)).transpose()?;
    let avatar = input.avatar.map(|a| validate_avatar(&a).map(|()| a)).transpose()?;
    let custom_data = json_object("customData", input.custom_data)?;
    let profile = json_object("profile", input.profile)?;
    // Nothing is hashed for a request that will be refused: check the password and the unique
    // names first (the transaction checks the names again).
    if let Some(password) = &input.password {
        passwords::validate(password)?;
        ensure_unique(&db.read, tenant, None, username.as_deref(), primary_email.as_deref()).await?;
    }
    let password_hash = match input.password {
        Some(password) => Some(passwords::hash(password).await?),
        None => None,
    };

    let txn = db.write.begin().await?;
    let now = now_ms();
    let user = user::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.to_owned()),
        username: Set(username),
        primary_email: Set(primary_email),
        primary_phone: Set(primary_phone),
        name: Set(name),
        avatar: Set(avatar),
        custom_data: Set(custom_data),
        identities: Set("{}".to_owned()),
        profile: Set(profile),
        password_hash: Set(password_hash),
        application_id: Set(application_id),
        is_suspended: Set(false),
        last_sign_in_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(taken)?;
    Ok((user, txn))
}

pub async fn update(db: &Db, caller: &Caller, id: &str, input: UpdateUser) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    let check = |value: &Patch<String>, f: fn(&str) -> AppResult<()>| match value {
        Some(Some(v)) => f(v),
        _ => Ok(()),
    };
    check(&input.username, validate_username)?;
    check(&input.primary_phone, validate_phone)?;
    check(&input.name, validate_name)?;
    check(&input.avatar, validate_avatar)?;
    let primary_email = match input.primary_email {
        Some(Some(email)) => Some(Some(normalize_email(email)?)),
        other => other,
    };

    let txn = db.write.begin().await?;
    let current = get_required(&txn, tenant, id).await?;
    let mut model: user::ActiveModel = current.into();
    if let Some(v) = input.username {
        model.username = Set(v);
    }
    if let Some(v) = primary_email {
        model.primary_email = Set(v);
    }
    if let Some(v) = input.primary_phone {
        model.primary_phone = Set(v);
    }
    if let Some(v) = input.name {
        model.name = Set(v);
    }
    if let Some(v) = input.avatar {
        model.avatar = Set(v);
    }
    model.updated_at = Set(now_ms());
    let user = model.update(&txn).await.map_err(taken)?;
    let route = Route::new("PATCH", "/users/:userId", 200).param("userId", id);
    let emitted = emit(&txn, tenant, meta, "User.Data.Updated", &route, user_json(&user, true)).await?;
    txn.commit().await?;
    Ok(Committed::new(user, [emitted]))
}

/// Replaces the user's custom data; the event's `data` is the custom data only (as Logto).
pub async fn set_custom_data(db: &Db, caller: &Caller, id: &str, custom_data: Value) -> AppResult<Committed<Value>> {
    let Caller { tenant, meta } = caller;
    let text = json_object("customData", Some(custom_data.clone()))?;
    let route = Route::new("PATCH", "/users/:userId/custom-data", 200).param("userId", id);
    set_json(db, tenant, meta, id, route, |m| m.custom_data = Set(text), custom_data).await
}

/// Replaces the user's profile; the event's `data` is the profile only (as Logto).
pub async fn set_profile(db: &Db, caller: &Caller, id: &str, profile: Value) -> AppResult<Committed<Value>> {
    let Caller { tenant, meta } = caller;
    let text = json_object("profile", Some(profile.clone()))?;
    let route = Route::new("PATCH", "/users/:userId/profile", 200).param("userId", id);
    set_json(db, tenant, meta, id, route, |m| m.profile = Set(text), profile).await
}

async fn set_json(
    db: &Db,
    tenant: &str,
    meta: &RequestMeta,
    id: &str,
    route: Route,
    apply: impl FnOnce(&mut user::ActiveModel),
    data: Value,
) -> AppResult<Committed<Value>> {
    let txn = db.write.begin().await?;
    let mut model: user::ActiveModel = get_required(&txn, tenant, id).await?.into();
    apply(&mut model);
    model.updated_at = Set(now_ms());
    model.update(&txn).await?;
    let emitted = emit(&txn, tenant, meta, "User.Data.Updated", &route, data.clone()).await?;
    txn.commit().await?;
    Ok(Committed::new(data, [emitted]))
}

pub async fn set_password(db: &Db, caller: &Caller, id: &str, password: String) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    passwords::validate(&password)?;
    get_required(&db.read, tenant, id).await?;
    let hash = passwords::hash(password).await?;
    let txn = db.write.begin().await?;
    let mut model: user::ActiveModel = get_required(&txn, tenant, id).await?.into();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(now_ms());
    let user = model.update(&txn).await?;
    let route = Route::new("PATCH", "/users/:userId/password", 200).param("userId", id);
    let emitted = emit(&txn, tenant, meta, "User.Data.Updated", &route, user_json(&user, true)).await?;
    txn.commit().await?;
    Ok(Committed::new(user, [emitted]))
}

pub async fn set_suspended(db: &Db, caller: &Caller, id: &str, suspended: bool) -> AppResult<Committed<user::Model>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let mut model: user::ActiveModel = get_required(&txn, tenant, id).await?.into();
    model.is_suspended = Set(suspended);
    model.updated_at = Set(now_ms());
    let user = model.update(&txn).await?;
    let route = Route::new("PATCH", "/users/:userId/is-suspended", 200).param("userId", id);
    let emitted = emit(
        &txn,
        tenant,
        meta,
        "User.SuspensionStatus.Updated",
        &route,
        // Logto 1.42 sends the full admin user here, `hasPassword` included.
        user_json(&user, true),
    )
    .await?;
    txn.commit().await?;
    Ok(Committed::new(user, [emitted]))
}

/// Deletes the user; the event carries the user as it was.
pub async fn delete(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<String>> {
    let Caller { tenant, meta } = caller;
    let txn = db.write.begin().await?;
    let user = get_required(&txn, tenant, id).await?;
    user::Entity::delete_by_id((user.id.clone(), user.tenant_id.clone()))
        .exec(&txn)
        .await?;
    let route = Route::new("DELETE", "/users/:userId", 204).param("userId", id);
    let emitted = emit(&txn, tenant, meta, "User.Deleted", &route, user_json(&user, false)).await?;
    txn.commit().await?;
    Ok(Committed::new(user.id, [emitted]))
}

async fn emit(
    txn: &DatabaseTransaction,
    tenant: &str,
    meta: &RequestMeta,
    event: &str,
    route: &Route,
    data: Value,
) -> AppResult<Emitted> {
    outbox::emit(
        txn,
        tenant,
        payload::management(event, meta, route, Vec::new(), Some(data)),
    )
    .await
}

/// The unique indexes keep usernames and primary emails unique per tenant, also when two
/// requests race; their violation is a `CONFLICT` naming the field.
fn taken(e: sea_orm::DbErr) -> AppError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(index)) if index.contains("username") => {
            AppError::Conflict("the username is already in use".to_owned())
        }
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("the primary email is already in use".to_owned())
        }
        _ => AppError::Db(e),
    }
}

/// Before hashing a password for a new user: are its names free? (So that a request refused
/// for a taken name hashes nothing; the unique indexes have the last word, see [`taken`].)
async fn ensure_unique(
    db: &impl ConnectionTrait,
    tenant: &str,
    except: Option<&str>,
    username: Option<&str>,
    email: Option<&str>,
) -> AppResult<()> {
    let taken = |column: user::Column, value: &str| {
        let mut query = scoped::<user::Entity>(tenant).filter(column.eq(value));
        if let Some(id) = except {
            query = query.filter(user::Column::Id.ne(id));
        }
        query.one(db)
    };
    if let Some(username) = username
        && taken(user::Column::Username, username).await?.is_some()
    {
        return Err(AppError::Conflict(format!(
            "the username {username:?} is already in use"
        )));
    }
    if let Some(email) = email
        && taken(user::Column::PrimaryEmail, email).await?.is_some()
    {
        return Err(AppError::Conflict("the primary email is already in use".to_owned()));
    }
    Ok(())
}

/// Logto's rule: a letter or underscore, then letters, digits and underscores.
pub fn validate_username(username: &str) -> AppResult<()> {
    let mut chars = username.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || username.len() > 128 {
        return Err(AppError::bad_input(
            "username",
            "username must start with a letter or _ and hold only letters, digits and _ (at most 128)",
        ));
    }
    Ok(())
}

/// Emails are stored lower-case, so uniqueness ignores case.
pub fn normalize_email(email: String) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if !valid {
        return Err(AppError::bad_input(
            "primaryEmail",
            "primaryEmail must be an email address",
        ));
    }
    Ok(email)
}

fn validate_phone(phone: &str) -> AppResult<()> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if !(5..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_input(
            "primaryPhone",
            "primaryPhone must be 5 to 20 digits, optionally after +",
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> AppResult<()> {
    if name.chars().count() > 128 {
        return Err(AppError::bad_input("name", "name must be at most 128 characters"));
    }
    Ok(())
}

fn validate_avatar(avatar: &str) -> AppResult<()> {
    let ok = avatar.len() <= 2048 && url::Url::parse(avatar).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        return Err(AppError::bad_input(
            "avatar",
            "avatar must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(())
}

/// A JSON object (or `{}` when absent) as stored text.
fn json_object(field: &str, value: Option<Value>) -> AppResult<String> {
    let value = value.unwrap_or_else(|| json!({}));
    if !value.is_object() {
        return Err(AppError::bad_input(field, format!("{field} must be a JSON object")));
    }
    let text = value.to_string();
    if text.len() > MAX_JSON_BYTES {
        return Err(AppError::bad_input(field, format!("{field} must be at most 64 KiB")));
    }
    Ok(text)
}
