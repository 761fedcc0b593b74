//! GraphQL object and input types. They wrap entity models; they are not the models.

pub mod connection;
pub mod delivery;
pub mod event;
pub mod event_type;
pub mod hook;
pub mod organization;
pub mod role;
pub mod user;
