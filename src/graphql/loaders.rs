//! Batch loaders for nested fields, created per request with the caller's tenant, so that a
//! list of N deliveries loads its attempts, hooks and events in one query each, not N.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, QueryFilter};

use entity::{delivery, delivery_attempt, event, hook};

use crate::db::Db;
use crate::domain::page::{Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::deliveries::{self, DeliveryStatus, HookStats};
use crate::error::AppError;
use crate::state::AppState;

/// Everything a request's resolvers batch through (cheap to clone: a batched POST shares it).
#[derive(Clone)]
pub struct Loaders {
    pub hooks: Arc<DataLoader<HookLoader>>,
    pub events: Arc<DataLoader<EventLoader>>,
    pub attempts: Arc<DataLoader<AttemptsLoader>>,
    pub event_deliveries: Arc<DataLoader<EventDeliveriesLoader>>,
    pub hook_deliveries: Arc<DataLoader<HookDeliveriesLoader>>,
    pub hook_stats: Arc<DataLoader<HookStatsLoader>>,
    pub role_scopes: Arc<DataLoader<RoleScopesLoader>>,
    pub resource_scopes: Arc<DataLoader<ResourceScopesLoader>>,
    pub user_roles: Arc<DataLoader<UserRolesLoader>>,
    pub organization_users: Arc<DataLoader<OrganizationUsersLoader>>,
    pub organization_applications: Arc<DataLoader<OrganizationApplicationsLoader>>,
    pub organization_role_scopes: Arc<DataLoader<OrganizationRoleScopesLoader>>,
}

impl Loaders {
    pub fn new(state: &AppState, tenant: &str) -> Loaders {
        let scope = || TenantDb {
            db: state.db.clone(),
            tenant: Arc::from(tenant),
        };
        Loaders {
            hooks: Arc::new(DataLoader::new(HookLoader(scope()), tokio::spawn)),
            events: Arc::new(DataLoader::new(EventLoader(scope()), tokio::spawn)),
            attempts: Arc::new(DataLoader::new(AttemptsLoader(scope()), tokio::spawn)),
            event_deliveries: Arc::new(DataLoader::new(EventDeliveriesLoader(scope()), tokio::spawn)),
            hook_deliveries: Arc::new(DataLoader::new(HookDeliveriesLoader(scope()), tokio::spawn)),
            hook_stats: Arc::new(DataLoader::new(HookStatsLoader(scope()), tokio::spawn)),
            role_scopes: Arc::new(DataLoader::new(RoleScopesLoader(scope()), tokio::spawn)),
            resource_scopes: Arc::new(DataLoader::new(ResourceScopesLoader(scope()), tokio::spawn)),
            user_roles: Arc::new(DataLoader::new(UserRolesLoader(scope()), tokio::spawn)),
            organization_users: Arc::new(DataLoader::new(OrganizationUsersLoader(scope()), tokio::spawn)),
            organization_applications: Arc::new(DataLoader::new(OrganizationApplicationsLoader(scope()), tokio::spawn)),
            organization_role_scopes: Arc::new(DataLoader::new(OrganizationRoleScopesLoader(scope()), tokio::spawn)),
        }
    }
}

/// The database and the tenant that every loader of one request reads in.
#[derive(Clone)]
pub struct TenantDb {
    db: Db,
    tenant: Arc<str>,
}

fn to_graphql(e: impl Into<AppError>) -> async_graphql::Error {
    e.into().into()
}

pub struct HookLoader(TenantDb);

impl Loader<String> for HookLoader {
    type Value = Arc<hook::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let rows = scoped::<hook::Entity>(&self.0.tenant)
            .filter(hook::Column::Id.is_in(keys.iter().map(String::as_str)))
            .all(&self.0.db.read)
            .await
            .map_err(to_graphql)?;
        Ok(rows.into_iter().map(|h| (h.id.clone(), Arc::new(h))).collect())
    }
}

pub struct EventLoader(TenantDb);

impl Loader<String> for EventLoader {
    type Value = Arc<event::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let rows = scoped::<event::Entity>(&self.0.tenant)
            .filter(event::Column::Id.is_in(keys.iter().map(String::as_str)))
            .all(&self.0.db.read)
            .await
            .map_err(to_graphql)?;
        Ok(rows.into_iter().map(|e| (e.id.clone(), Arc::new(e))).collect())
    }
}

/// `Hook.deliveries(status, first, after)` of one hook; hooks asked with the same arguments
/// load together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HookDeliveriesKey {
    pub hook_id: String,
    pub status: Option<DeliveryStatus>,
    pub first: u64,
    pub after: Option<String>,
}

pub struct HookDeliveriesLoader(TenantDb);

impl Loader<HookDeliveriesKey> for HookDeliveriesLoader {
    type Value = Page<delivery::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HookDeliveriesKey]) -> Result<HashMap<HookDeliveriesKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(Option<DeliveryStatus>, u64, Option<String>), Vec<String>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.status, key.first, key.after.clone()))
                .or_default()
                .push(key.hook_id.clone());
        }
        let mut loaded = HashMap::new();
        for ((status, first, after), hook_ids) in groups {
            // Counted per hook by `pages_of_hooks` itself, in one grouped query.
            let page = PageRequest {
                first,
                after: after.clone(),
                count: false,
            };
            let pages = deliveries::pages_of_hooks(&self.0.db.read, &self.0.tenant, &hook_ids, status, &page)
                .await
                .map_err(to_graphql)?;
            for (hook_id, page) in pages {
                let key = HookDeliveriesKey {
                    hook_id,
                    status,
                    first,
                    after: after.clone(),
                };
                loaded.insert(key, page);
            }
        }
        Ok(loaded)
    }
}

/// `Hook.executionStats(window)` of one hook; hooks asked with the same window load together.
pub struct HookStatsLoader(TenantDb);

impl Loader<(String, i64)> for HookStatsLoader {
    type Value = HookStats;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[(String, i64)]) -> Result<HashMap<(String, i64), Self::Value>, Self::Error> {
        let mut windows: HashMap<i64, Vec<String>> = HashMap::new();
        for (hook_id, window) in keys {
            windows.entry(*window).or_default().push(hook_id.clone());
        }
        let mut loaded = HashMap::new();
        for (window, hook_ids) in windows {
            let stats = deliveries::stats_of_hooks(&self.0.db.read, &self.0.tenant, &hook_ids, window)
                .await
                .map_err(to_graphql)?;
            for hook_id in hook_ids {
                let value = stats.get(&hook_id).cloned().unwrap_or(HookStats {
                    request_count: 0,
                    success_count: 0,
                    p50_latency_ms: None,
                    p95_latency_ms: None,
                });
                loaded.insert((hook_id, window), value);
            }
        }
        Ok(loaded)
    }
}

/// Declares a loader of a grouped list keyed by id, backed by a `domain` function.
macro_rules! grouped_loader {
    ($name:ident, $value:ty, $load:path) => {
        pub struct $name(TenantDb);

        impl Loader<String> for $name {
            type Value = Vec<$value>;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
                $load(&self.0.db.read, &self.0.tenant, keys)
                    .await
                    .map_err(to_graphql)
            }
        }
    };
}

grouped_loader!(
    RoleScopesLoader,
    entity::scope::Model,
    crate::domain::identity::roles::scopes_of_roles
);
grouped_loader!(
    ResourceScopesLoader,
    entity::scope::Model,
    crate::domain::identity::resources::scopes_of_resources
);
grouped_loader!(
    UserRolesLoader,
    entity::role::Model,
    crate::domain::identity::roles::roles_of_users
);
grouped_loader!(
    OrganizationUsersLoader,
    entity::user::Model,
    crate::domain::identity::organizations::users_of
);
grouped_loader!(
    OrganizationApplicationsLoader,
    entity::application::Model,
    crate::domain::identity::organizations::applications_of
);
grouped_loader!(
    OrganizationRoleScopesLoader,
    entity::organization_scope::Model,
    crate::domain::identity::organization_roles::scopes_of_roles
);
grouped_loader!(AttemptsLoader, delivery_attempt::Model, deliveries::attempts_of);
grouped_loader!(EventDeliveriesLoader, delivery::Model, deliveries::of_events);
