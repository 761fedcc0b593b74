//! How the files compiled into the binary (the dashboard's and GraphiQL's) are answered: a page
//! under its content security policy, never sending a referrer, and scripts and styles with
//! their content type and cache rule.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
/// Revalidated on every load: our own files change with each hookd.
pub const REVALIDATE: &str = "no-cache";

/// An HTML page that may load only what `policy` allows.
pub fn page(policy: &'static str, html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// A script, style sheet or other file.
pub fn file(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    (
        [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)],
        body,
    )
        .into_response()
}
