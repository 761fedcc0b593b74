//! The only module that knows axum: routes, request limits, and turning HTTP into GraphQL
//! requests (with the caller's verified claims attached) and back.

mod dashboard;
mod graphiql;
mod graphql;
mod health;
mod static_files;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::graphql::HookdSchema;
use crate::graphql::documents::Documents;
use crate::state::AppState;

/// SPEC §8: larger request bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: HookdSchema,
    /// Ends WebSocket connections on shutdown.
    pub shutdown: CancellationToken,
    /// Upgraded WebSocket connections, which axum's graceful shutdown does not wait for.
    pub sockets: TaskTracker,
    /// One permit per open WebSocket connection (`HOOKD_MAX_CONNECTIONS`).
    pub connections: Arc<Semaphore>,
    /// Parsed documents, by their text.
    pub documents: Arc<Documents>,
}

/// Serves HTTP (and upgraded WebSockets) on `listener` until `shutdown`, then waits for the
/// open sockets to close (they close themselves on shutdown; at most 5 s).
pub async fn serve(app: AppState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let sockets = TaskTracker::new();
    let documents = Arc::new(Documents::default());
    let router = router(HttpState {
        connections: Arc::new(Semaphore::new(app.config.max_connections)),
        schema: crate::graphql::build(app.clone(), documents.clone()),
        app,
        shutdown: shutdown.clone(),
        sockets: sockets.clone(),
        documents,
    });
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    sockets.close();
    if tokio::time::timeout(Duration::from_secs(5), sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!("WebSocket connections still open after shutdown");
    }
    served
}

fn router(state: HttpState) -> Router {
    let mut router = Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/style.css", get(dashboard::style))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/start.js", get(graphiql::start))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    // With a listener of its own (`HOOKD_METRICS_LISTEN`), `/metrics` is served only there.
    if state.app.config.metrics_listen.is_none() {
        router = router.route("/metrics", get(health::metrics));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(measured))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Records each request's duration by route (as routed, so the label set is the router's) and
/// status in `hookd_http_request_duration_seconds`.
async fn measured(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    let status = response.status().as_u16().to_string();
    metrics::histogram!("hookd_http_request_duration_seconds", "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves `/metrics` alone on `listener` (`HOOKD_METRICS_LISTEN`) until `shutdown`.
pub async fn serve_metrics(app: AppState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let router = Router::new().route(
        "/metrics",
        get(|axum::extract::State(app): axum::extract::State<AppState>| async move {
            (
                [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                health::scrape(&app).await,
            )
        }),
    );
    axum::serve(listener, router.with_state(app))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
