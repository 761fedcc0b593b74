//! `GET /`: the dashboard (SPEC §7): a page, a script and a style sheet, compiled into the
//! binary: no build step, no CDN, works offline. The script is plain JavaScript with no
//! library (ARCHITECTURE.md says why) and talks only to our own GraphQL API, over HTTP and
//! over the WebSocket for the live feed.

use axum::response::Response;

use crate::http::static_files::{self, CSS, JS, REVALIDATE};

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// Our own origin only, for everything; no inline script or style, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub async fn page() -> Response {
    static_files::page(POLICY, PAGE)
}

pub async fn script() -> Response {
    static_files::file(JS, REVALIDATE, SCRIPT.as_bytes())
}

pub async fn style() -> Response {
    static_files::file(CSS, REVALIDATE, STYLE.as_bytes())
}
