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
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable or not migrated",
        )
    }
}
