//! SeaORM models, one file per table. This crate knows SeaORM only: no GraphQL, no HTTP.
//!
//! Conventions shared by every table:
//! - `id` is an opaque string (a UUID v7, so ids sort by creation time and keep indexes local);
//! - `tenant_id` names the tenant that owns the row; every query filters on it;
//! - times are `i64` milliseconds since the Unix epoch, identical on SQLite and PostgreSQL;
//! - small structured values (a hook's events, headers, retired keys) are JSON text columns.

pub mod application;
pub mod delivery;
pub mod delivery_attempt;
pub mod event;
pub mod event_type;
pub mod hook;
pub mod organization;
pub mod organization_application;
pub mod organization_role;
pub mod organization_role_scope;
pub mod organization_scope;
pub mod organization_user;
pub mod resource;
pub mod role;
pub mod role_scope;
pub mod scope;
pub mod sign_in_failure;
pub mod user;
pub mod user_role;
