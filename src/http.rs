//! The only module that knows axum: routes, request limits, and turning HTTP into GraphQL
//! requests (with the caller's verified claims attached) and back.

mod graphql;
mod health;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::graphql::HookdSchema;
use crate::state::AppState;

/// SPEC §8: larger request bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: HookdSchema,
}

pub fn router(app: AppState, schema: HookdSchema) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql", get(graphql::graphiql))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(HttpState { app, schema })
}
