//! The one error type at the API boundary, and the policy for showing errors to clients.
//!
//! - Client errors (`NotFound`, `BadInput`, `Conflict`, …) carry a message written for the
//!   client and become GraphQL errors with `extensions.code` (and `extensions.field`).
//! - Infrastructure errors (`Db`, `Internal`) are logged once, where they become GraphQL errors
//!   (`graphql/errors.rs`), with their detail, and the client sees only "internal error" with
//!   code `INTERNAL`: no SQL, no paths, no stack.
//! - `AppError` deliberately does not implement `Display`: async-graphql converts anything
//!   `Display` into an error carrying its text, which would leak database messages. Without it,
//!   the only way into a GraphQL error is the `From` in `graphql/errors.rs`. This file knows
//!   nothing of GraphQL, so the domain never depends on it.

use sea_orm::DbErr;

#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    /// Names the kind of object ("hook"); the same for "absent" and "another tenant's".
    NotFound(&'static str),
    BadInput {
        field: String,
        message: String,
    },
    Conflict(String),
    LimitExceeded(String),
    /// The response would be larger than `HOOKD_MAX_RESPONSE_BYTES`.
    ResponseTooLarge(String),
    /// A bounded resource (password hashing, test deliveries) is fully used: try again shortly.
    Busy(String),
    /// Too many failed sign-ins: a FORBIDDEN whose code says why.
    IdentifierLocked(String),
    Db(DbErr),
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            AppError::ResponseTooLarge(_) => "RESPONSE_TOO_LARGE",
            AppError::Busy(_) => "BUSY",
            AppError::IdentifierLocked(_) => "IDENTIFIER_LOCKED",
            AppError::Db(_) | AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The text a client may see.
    pub fn client_message(&self) -> String {
        match self {
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::LimitExceeded(m)
            | AppError::ResponseTooLarge(m)
            | AppError::Busy(m)
            | AppError::IdentifierLocked(m) => m.clone(),
            AppError::BadInput { message, .. } => message.clone(),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Db(_) | AppError::Internal(_) => "internal error".to_owned(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        AppError::Db(e)
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

/// Maps a unique-constraint violation to `CONFLICT` where it happens; other database errors
/// stay infrastructure errors.
pub trait OnConflict<T> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> AppResult<T>;
}

impl<T> OnConflict<T> for Result<T, DbErr> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> AppResult<T> {
        self.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(message()),
            _ => AppError::Db(e),
        })
    }
}
