//! Batch loaders for nested fields, created per request with the caller's tenant, so that a
//! list of N deliveries loads its attempts, hooks and events in one query each, not N.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, QueryFilter};

use entity::{delivery, delivery_attempt, event, hook};

use crate::db::Db;
use crate::domain::deliveries;
use crate::domain::tenant::scoped;
use crate::error::AppError;
use crate::state::AppState;

/// Everything a request's resolvers batch through (cheap to clone: a batched POST shares it).
#[derive(Clone)]
pub struct Loaders {
    pub hooks: Arc<DataLoader<HookLoader>>,
    pub events: Arc<DataLoader<EventLoader>>,
    pub attempts: Arc<DataLoader<AttemptsLoader>>,
    pub event_deliveries: Arc<DataLoader<EventDeliveriesLoader>>,
}

impl Loaders {
    pub fn new(state: &AppState, tenant: &str) -> Loaders {
        let scope = || Scope {
            db: state.db.clone(),
            tenant: Arc::from(tenant),
        };
        Loaders {
            hooks: Arc::new(DataLoader::new(HookLoader(scope()), tokio::spawn)),
            events: Arc::new(DataLoader::new(EventLoader(scope()), tokio::spawn)),
            attempts: Arc::new(DataLoader::new(AttemptsLoader(scope()), tokio::spawn)),
            event_deliveries: Arc::new(DataLoader::new(EventDeliveriesLoader(scope()), tokio::spawn)),
        }
    }
}

#[derive(Clone)]
pub struct Scope {
    db: Db,
    tenant: Arc<str>,
}

fn to_graphql(e: impl Into<AppError>) -> async_graphql::Error {
    e.into().into()
}

pub struct HookLoader(Scope);

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

pub struct EventLoader(Scope);

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

pub struct AttemptsLoader(Scope);

impl Loader<String> for AttemptsLoader {
    type Value = Vec<delivery_attempt::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        deliveries::attempts_of(&self.0.db.read, &self.0.tenant, keys)
            .await
            .map_err(to_graphql)
    }
}

pub struct EventDeliveriesLoader(Scope);

impl Loader<String> for EventDeliveriesLoader {
    type Value = Vec<delivery::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        deliveries::of_events(&self.0.db.read, &self.0.tenant, keys)
            .await
            .map_err(to_graphql)
    }
}
