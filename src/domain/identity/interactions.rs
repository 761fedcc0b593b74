//! What a sign-in front end calls: register, sign in, reset a password (SPEC §3.3).
//!
//! Failures never say whether an account exists: a wrong password and an unknown identifier get
//! the same `UNAUTHENTICATED`. Five failures for one identifier within the lockout window lock
//! it for the rest of that window: the attempt that reaches the limit and every attempt while
//! locked emit `Identifier.Lockout` (as Logto does), and locked attempts get
//! `IDENTIFIER_LOCKED` without their password being checked.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::Value;

use entity::{sign_in_failure, user};

use crate::db::Db;
use crate::domain::caller::Caller;
use crate::domain::identity::organizations::{application_json, get_application};
use crate::domain::identity::payload::{self, Interaction};
use crate::domain::identity::users::{self, CreateUser, normalize_email, user_json};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::outbox::{self, Committed};
use crate::domain::{identity::passwords, new_id, now_ms};
use crate::error::{AppError, AppResult};

/// Failures within the window that lock an identifier.
pub const MAX_FAILURES: u64 = 5;
const WRONG_CREDENTIALS: &str = "wrong identifier or password";

/// What a successful interaction returns.
#[derive(Clone, Debug)]
pub struct InteractionResult {
    pub user_id: String,
    pub session_id: String,
}

async fn interaction(
    db: &impl ConnectionTrait,
    tenant: &str,
    kind: &'static str,
    application_id: Option<String>,
) -> AppResult<Interaction> {
    let application = match &application_id {
        Some(id) => {
            Some(application_json(&get_application(db, tenant, id).await?.ok_or_else(
                || AppError::bad_input("applicationId", "unknown application"),
            )?))
        }
        None => None,
    };
    Ok(Interaction {
        kind,
        session_id: new_id(),
        application_id,
        application,
    })
}

/// Registers a user with a password: `User.Created` (interaction shape), then `PostRegister`.
pub async fn register(
    db: &Db,
    caller: &Caller,
    username: Option<String>,
    email: Option<String>,
    password: String,
    application_id: Option<String>,
) -> AppResult<Committed<InteractionResult>> {
    let Caller { tenant, meta } = caller;
    if username.is_none() && email.is_none() {
        return Err(AppError::bad_input(
            "username",
            "register with a username, an email, or both",
        ));
    }
    let interaction = interaction(&db.read, tenant, "Register", application_id.clone()).await?;
    let input = CreateUser {
        username,
        primary_email: email,
        password: Some(password),
        ..CreateUser::default()
    };
    let (user, txn) = users::insert(db, tenant, input, application_id).await?;
    let user_entity = user_json(&user, false);
    let created = payload::interaction_data("User.Created", meta, &interaction, vec![("data", user_entity.clone())]);
    let posted = payload::interaction_event("PostRegister", meta, &interaction, &user.id, user_entity);
    let emitted = vec![
        outbox::emit(&txn, tenant, created).await?,
        outbox::emit(&txn, tenant, posted).await?,
    ];
    txn.commit().await?;
    Ok(Committed::new(
        InteractionResult {
            user_id: user.id,
            session_id: interaction.session_id,
        },
        emitted,
    ))
}

/// The user an identifier names: a username, or an email (any case).
async fn find_user(db: &impl ConnectionTrait, tenant: &str, identifier: &str) -> AppResult<Option<user::Model>> {
    let column = if identifier.contains('@') {
        user::Column::PrimaryEmail
    } else {
        user::Column::Username
    };
    let value = if identifier.contains('@') {
        identifier.to_lowercase()
    } else {
        identifier.to_owned()
    };
    Ok(scoped::<user::Entity>(tenant).filter(column.eq(value)).one(db).await?)
}

fn identifier_type(identifier: &str) -> &'static str {
    if identifier.contains('@') { "email" } else { "username" }
}

/// The outcome of a sign-in: the caller publishes `emitted` in either case.
pub enum SignIn {
    Ok(InteractionResult),
    Failed(AppError),
}

/// What reserving a sign-in attempt found.
enum Attempt {
    /// The identifier is locked: no password may be checked.
    Locked,
    /// This attempt may check a password; it is recorded as failure `nth` of the window until
    /// it succeeds.
    Reserved { id: String, nth: u64 },
}

/// Reserves one password check for `key`: counts its failures in the window and, below the
/// limit, records this attempt as one more, atomically, so that however many attempts run at
/// once at most `MAX_FAILURES` passwords are checked per identifier and window. On PostgreSQL
/// a transaction-scoped advisory lock on the identifier serializes the count and the insert;
/// SQLite's single writer does already.
async fn reserve(db: &Db, tenant: &str, key: &str, since: i64) -> AppResult<Attempt> {
    let txn = db.write.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        let lock = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("sign-in\n{tenant}\n{key}").into()],
        );
        txn.execute_raw(lock).await?;
    }
    let failures = scoped::<sign_in_failure::Entity>(tenant)
        .filter(sign_in_failure::Column::Identifier.eq(key))
        .filter(sign_in_failure::Column::CreatedAt.gte(since))
        .count(&txn)
        .await?;
    if failures >= MAX_FAILURES {
        txn.commit().await?;
        return Ok(Attempt::Locked);
    }
    let id = new_id();
    sign_in_failure::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant.to_owned()),
        identifier: Set(key.to_owned()),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Attempt::Reserved { id, nth: failures + 1 })
}

/// Signs in with a password. Returns the outcome and the events to publish (a failure may
/// still have emitted `Identifier.Lockout`).
///
/// Order matters: the attempt is reserved first (a locked identifier's password is never
/// checked, and a locked attempt never waits for Argon2 capacity), then the password is
/// checked, against a real hash or, for an unknown identifier, with the same Argon2 work; a
/// `BUSY` answer (no Argon2 capacity) takes the reservation back: it is no failure.
pub async fn sign_in(
    db: &Db,
    caller: &Caller,
    window: Duration,
    identifier: String,
    password: String,
    application_id: Option<String>,
) -> AppResult<Committed<SignIn>> {
    let Caller { tenant, meta } = caller;
    let interaction = interaction(&db.read, tenant, "SignIn", application_id).await?;
    let key = identifier.trim().to_lowercase();
    let since = now_ms() - window.as_millis() as i64;
    let lockout = |interaction: &Interaction| {
        payload::interaction_data(
            "Identifier.Lockout",
            meta,
            interaction,
            vec![
                ("type", Value::from(identifier_type(&identifier))),
                ("value", Value::from(identifier.as_str())),
            ],
        )
    };
    let emit_lockout = || async {
        let txn = db.write.begin().await?;
        let emitted = outbox::emit(&txn, tenant, lockout(&interaction)).await?;
        txn.commit().await?;
        AppResult::Ok(emitted)
    };

    let (attempt_id, nth) = match reserve(db, tenant, &key, since).await? {
        Attempt::Locked => {
            let locked = AppError::IdentifierLocked("too many failed sign-ins; try again later".into());
            return Ok(Committed::new(SignIn::Failed(locked), vec![emit_lockout().await?]));
        }
        Attempt::Reserved { id, nth } => (id, nth),
    };
    let user = find_user(&db.read, tenant, identifier.trim()).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = match passwords::verify(password, hash).await {
        Ok(verified) => verified,
        Err(busy) => {
            // Nothing was checked: this attempt is no failure.
            sign_in_failure::Entity::delete_by_id((attempt_id, tenant.to_owned()))
                .exec(&db.write)
                .await?;
            return Err(busy);
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        // The reserved attempt stays recorded as this failure; the one that reaches the limit
        // announces the lockout.
        let emitted = if nth >= MAX_FAILURES {
            vec![emit_lockout().await?]
        } else {
            Vec::new()
        };
        return Ok(Committed::new(
            SignIn::Failed(AppError::Unauthenticated(WRONG_CREDENTIALS.into())),
            emitted,
        ));
    };
    if user.is_suspended {
        // The right password: not a failure.
        sign_in_failure::Entity::delete_by_id((attempt_id, tenant.to_owned()))
            .exec(&db.write)
            .await?;
        return Ok(Committed::new(
            SignIn::Failed(AppError::Forbidden("this account is suspended".into())),
            Vec::new(),
        ));
    }

    let txn = db.write.begin().await?;
    let mut model: user::ActiveModel = user.into();
    model.last_sign_in_at = Set(Some(now_ms()));
    let user = model.update(&txn).await?;
    // This attempt was no failure. Earlier failures keep counting until the window passes (a
    // success does not clear them), so at most MAX_FAILURES passwords per window fail to
    // verify, however the attempts interleave.
    sign_in_failure::Entity::delete_by_id((attempt_id, tenant.to_owned()))
        .exec(&txn)
        .await?;
    let event = payload::interaction_event("PostSignIn", meta, &interaction, &user.id, user_json(&user, false));
    let emitted = outbox::emit(&txn, tenant, event).await?;
    txn.commit().await?;
    let result = InteractionResult {
        user_id: user.id,
        session_id: interaction.session_id,
    };
    Ok(Committed::new(SignIn::Ok(result), vec![emitted]))
}

/// Sets a new password for the account an identifier names: `User.Data.Updated` (interaction
/// shape), then `PostResetPassword`. An unknown identifier gets the same error as a wrong
/// password elsewhere.
pub async fn reset_password(
    db: &Db,
    caller: &Caller,
    identifier: String,
    new_password: String,
    application_id: Option<String>,
) -> AppResult<Committed<InteractionResult>> {
    let Caller { tenant, meta } = caller;
    passwords::validate(&new_password)?;
    let interaction = interaction(&db.read, tenant, "ForgotPassword", application_id).await?;
    let identifier = if identifier.contains('@') {
        normalize_email(identifier)?
    } else {
        identifier
    };
    // An unknown identifier costs the same Argon2 work as a known one (timing tells nothing).
    let Some(user) = find_user(&db.read, tenant, &identifier).await? else {
        passwords::verify(new_password, None).await?;
        return Err(AppError::Unauthenticated(WRONG_CREDENTIALS.into()));
    };
    let hash = passwords::hash(new_password).await?;
    let txn = db.write.begin().await?;
    let user = find_user(&txn, tenant, &identifier)
        .await?
        .filter(|current| current.id == user.id)
        .ok_or_else(|| AppError::Unauthenticated(WRONG_CREDENTIALS.into()))?;
    let mut model: user::ActiveModel = user.into();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(now_ms());
    let user = model.update(&txn).await?;
    let entity = user_json(&user, false);
    let updated = payload::interaction_data("User.Data.Updated", meta, &interaction, vec![("data", entity.clone())]);
    let posted = payload::interaction_event("PostResetPassword", meta, &interaction, &user.id, entity);
    let emitted = vec![
        outbox::emit(&txn, tenant, updated).await?,
        outbox::emit(&txn, tenant, posted).await?,
    ];
    txn.commit().await?;
    Ok(Committed::new(
        InteractionResult {
            user_id: user.id,
            session_id: interaction.session_id,
        },
        emitted,
    ))
}
