//! `/healthz` (the process answers), `/readyz` (the database answers and is migrated) and `/metrics`
//! (Prometheus text, with the pending-delivery gauge refreshed on each scrape).

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::HttpState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database is reachable and every migration is applied.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if state.app.db.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable or not migrated")
    }
}

/// Prometheus text format. The pending gauge is read from the database at scrape time, so it
/// is right across restarts and instances.
pub async fn metrics(State(state): State<HttpState>) -> impl axum::response::IntoResponse {
    match crate::domain::webhooks::deliveries::pending_count(&state.app.db.read).await {
        Ok(pending) => metrics::gauge!("hookd_deliveries_pending").set(pending as f64),
        Err(_) => tracing::warn!("cannot count pending deliveries for /metrics"),
    }
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}
