//! `/healthz` (the process answers), `/readyz` (the database answers and is migrated) and `/metrics`
//! (Prometheus text, with the pending-delivery gauge refreshed on each scrape).

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::HttpState;
use crate::metrics::{BUSIEST_HOOKS, Scrape};

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

/// Prometheus text format: the recorded series, then the state read now from the database
/// (so it is right across restarts and instances), the connection pools and the process.
pub async fn metrics(State(state): State<HttpState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        scrape(&state.app).await,
    )
}

/// The whole exposition of `/metrics`.
pub async fn scrape(app: &crate::state::AppState) -> String {
    use crate::domain::webhooks::deliveries;
    let mut scrape = Scrape::default();
    let db = &app.db;
    let now = crate::domain::now_ms();
    match deliveries::backlog(&db.read, now).await {
        Ok(backlog) => {
            scrape.gauge(
                "hookd_deliveries_pending",
                "Deliveries waiting or in flight, all tenants and processes.",
                (backlog.pending + backlog.sending) as f64,
            );
            scrape.series(
                "hookd_deliveries_queued",
                "gauge",
                "Deliveries waiting (PENDING) and in flight (SENDING), all tenants and processes.",
                &[
                    (vec![("status", "PENDING")], backlog.pending as f64),
                    (vec![("status", "SENDING")], backlog.sending as f64),
                ],
            );
            let age = backlog
                .oldest_due_at
                .map_or(0.0, |due| ((now - due).max(0) as f64) / 1000.0);
            scrape.gauge(
                "hookd_oldest_pending_delivery_age_seconds",
                "How long the most overdue waiting delivery has been due (0 when none is): how far behind delivery runs.",
                age,
            );
        }
        Err(_) => tracing::warn!("cannot read the backlog for /metrics"),
    }
    match deliveries::busiest_hooks(&db.read, BUSIEST_HOOKS).await {
        Ok(hooks) => {
            let samples: Vec<(Vec<(&str, &str)>, f64)> = hooks
                .iter()
                .flat_map(|(hook, pending, sending)| {
                    [
                        (vec![("hook_id", hook.as_str()), ("status", "PENDING")], *pending as f64),
                        (vec![("hook_id", hook.as_str()), ("status", "SENDING")], *sending as f64),
                    ]
                })
                .collect();
            scrape.series(
                "hookd_hook_deliveries_queued",
                "gauge",
                "Queued deliveries of the 20 hooks with the most, by status.",
                &samples,
            );
        }
        Err(_) => tracing::warn!("cannot read the busiest hooks for /metrics"),
    }
    let pools = db.pools();
    let samples: Vec<(Vec<(&str, &str)>, f64)> = pools
        .iter()
        .flat_map(|pool| {
            [
                (
                    vec![("pool", pool.name), ("state", "busy")],
                    (pool.size - pool.idle) as f64,
                ),
                (vec![("pool", pool.name), ("state", "idle")], pool.idle as f64),
                (vec![("pool", pool.name), ("state", "max")], pool.max as f64),
            ]
        })
        .collect();
    scrape.series(
        "hookd_db_connections",
        "gauge",
        "Database connections by pool: busy, idle, and the most the pool opens.",
        &samples,
    );
    scrape.process();
    crate::metrics::render(scrape)
}
