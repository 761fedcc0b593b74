use async_graphql::{Context, ID, MergedObject, Object, Result};

use crate::auth::Scope;
use crate::domain::catalogue::CATALOGUE;
use crate::domain::hooks::{self, HookFilter};
use crate::domain::page::PageRequest;
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::types::connection::{Connection, Edge};
use crate::graphql::types::event_type::EventType;
use crate::graphql::types::hook::Hook;

/// Read access to hooks, events, deliveries and identity data of the caller's tenant.
#[derive(MergedObject, Default)]
pub struct Query(HookQuery);

#[derive(Default)]
pub struct HookQuery;

#[Object]
impl HookQuery {
    /// One hook by id; null when there is none in the caller's tenant. Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
    ) -> Result<Option<Hook>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(hooks::get(&state.db.read, tenant, &id)
            .await?
            .map(Hook::from))
    }

    /// The caller's hooks, oldest first. Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn hooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<
            String,
        >,
        #[graphql(desc = "Only enabled (true) or disabled (false) hooks.")] enabled: Option<bool>,
        #[graphql(desc = "Only hooks subscribed to this event name.")] event: Option<String>,
    ) -> Result<Connection<Edge<Hook>>> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        let page = PageRequest::new(first, after)?;
        let filter = HookFilter { enabled, event };
        let page = hooks::list(&state.db.read, tenant, &filter, &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, Hook::from))
    }

    /// The catalogue of events hooks can subscribe to. Needs `hooks:read`.
    #[graphql(guard = "RequireScope(Scope::HooksRead)")]
    async fn event_types(&self) -> Vec<EventType> {
        CATALOGUE.iter().map(EventType::from).collect()
    }
}
