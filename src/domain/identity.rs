//! The identity wing: users, roles and permissions, API resources, organizations with their
//! roles and members, and sign-in interactions. Each change writes its Logto-shaped event
//! (built in `payload.rs`) through the webhook core's outbox in the same transaction.
//! Passwords are hashed in `passwords.rs` and never leave this wing.

pub mod interactions;
pub mod organization_roles;
pub mod organizations;
pub mod passwords;
pub mod payload;
pub mod resources;
pub mod roles;
pub mod users;
