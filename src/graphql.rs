//! The GraphQL schema, in two wings like `domain/`: [`webhooks`] and [`identity`], merged in
//! `root.rs`. Shared pieces sit beside them: Relay connections (`connection.rs`, which names every
//! concrete edge type and so imports both wings), scope guards, request context, the per-request
//! budget, input checks and DataLoaders. [`schema_builder`] is pure (no database, no network), so
//! `hookd schema` and the SDL drift test build exactly what the server serves. This module never
//! imports axum.

mod budget;
mod connection;
mod context;
pub mod documents;
mod errors;
mod guard;
mod identity;
mod input;
pub mod loaders;
mod root;
mod values;
mod viewer;
mod webhooks;

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder};

pub use budget::RequestBudget;
pub use errors::ensure_error_codes;
pub use root::{Mutation, Query};
pub use webhooks::subscription::Subscription;

use crate::graphql::documents::Documents;
use crate::state::AppState;

pub type HookdSchema = Schema<Query, Mutation, Subscription>;

/// SPEC §8 limits.
pub const MAX_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 2000;

pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(64)
        .limit_directives(32)
        .extension(input::StringInput)
        .extension(budget::Budget)
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The schema the server executes, with the shared state attached.
pub fn build(state: AppState, documents: Arc<Documents>) -> HookdSchema {
    let introspection = state.config.introspection;
    let builder = schema_builder().data(state).data(documents);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}
