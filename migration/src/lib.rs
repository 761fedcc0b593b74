//! Database migrations. Each migration spells out its own table and column names and never
//! imports the `entity` crate: an old migration must keep meaning what it meant when it shipped.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_hooks;
mod m20261126_000002_create_events_and_deliveries;
mod m20261126_000003_create_users;
mod m20261126_000004_create_roles_and_scopes;
mod m20261126_000005_create_organizations;
mod m20261126_000006_create_sign_in_failures;
mod m20261203_000007_claim_index_with_hook;
mod m20261203_000008_deliveries_by_tenant_and_event;
mod m20261203_000009_keys_include_tenant;
mod m20261203_000010_claim_index_by_tenant;
mod m20261203_000011_hook_filter_and_ed25519;
mod m20261206_000012_hook_delivery_policy;
mod m20261206_000013_event_trace_context;
mod m20261206_000014_attempt_headers;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_hooks::Migration),
            Box::new(m20261126_000002_create_events_and_deliveries::Migration),
            Box::new(m20261126_000003_create_users::Migration),
            Box::new(m20261126_000004_create_roles_and_scopes::Migration),
            Box::new(m20261126_000005_create_organizations::Migration),
            Box::new(m20261126_000006_create_sign_in_failures::Migration),
            Box::new(m20261203_000007_claim_index_with_hook::Migration),
            Box::new(m20261203_000008_deliveries_by_tenant_and_event::Migration),
            Box::new(m20261203_000009_keys_include_tenant::Migration),
            Box::new(m20261203_000010_claim_index_by_tenant::Migration),
            Box::new(m20261203_000011_hook_filter_and_ed25519::Migration),
            Box::new(m20261206_000012_hook_delivery_policy::Migration),
            Box::new(m20261206_000013_event_trace_context::Migration),
            Box::new(m20261206_000014_attempt_headers::Migration),
        ]
    }
}
