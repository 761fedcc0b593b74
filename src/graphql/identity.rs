//! GraphQL for the identity wing: users, roles, permissions and API resources
//! (`users_and_roles.rs`), organizations and applications (`organizations.rs`), sign-in
//! interactions (`interactions.rs`), and their object and input types (`user.rs`, `role.rs`,
//! `organization.rs`). Every mutation here emits its Logto event through the domain.

pub mod interactions;
pub mod organization;
pub mod organizations;
pub mod role;
pub mod user;
pub mod users_and_roles;
