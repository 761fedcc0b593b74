//! `GET /graphiql`: the GraphQL explorer, served entirely from the binary. The page, our start
//! script and GraphiQL's own files (`graphiql/assets/`, copied from pinned npm packages by
//! `tools/graphiql/build.sh`) are compiled in: no CDN, nothing leaves for a third party, and it
//! works without internet. Building hookd needs no Node.js.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::static_files::{self, CSS, JS, REVALIDATE};

const PAGE: &str = include_str!("graphiql/index.html");
const START: &str = include_str!("graphiql/start.js");

/// Only our own origin, for scripts, styles and connections (WebSocket included); GraphiQL's
/// fonts and icons are inline `data:` URLs and it styles elements inline.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'";

/// GraphiQL's files as published (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react.production.min.js",
        JS,
        include_bytes!("graphiql/assets/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("graphiql/assets/react-dom.production.min.js"),
    ),
    (
        "graphql-ws.min.js",
        JS,
        include_bytes!("graphiql/assets/graphql-ws.min.js"),
    ),
    ("graphiql.min.js", JS, include_bytes!("graphiql/assets/graphiql.min.js")),
    (
        "graphiql.min.css",
        CSS,
        include_bytes!("graphiql/assets/graphiql.min.css"),
    ),
];

pub async fn page() -> Response {
    static_files::page(POLICY, PAGE)
}

pub async fn start() -> Response {
    static_files::file(JS, REVALIDATE, START.as_bytes())
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => static_files::file(content_type, "public, max-age=86400", bytes),
        None => (StatusCode::NOT_FOUND, "no such GraphiQL file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// The committed files are the ones `tools/graphiql/build.sh` wrote: nobody edited them by
    /// hand, and every one of them is served.
    #[test]
    fn assets_match_their_checksums() {
        let sums = include_str!("graphiql/assets/SHA256SUMS");
        let listed: Vec<(&str, &str)> = sums
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(h, f)| (f, h))
            .collect();
        for (name, _, bytes) in super::ASSETS {
            let expected = listed.iter().find(|(f, _)| f == name).map(|(_, h)| *h);
            assert_eq!(expected, Some(hex::encode(Sha256::digest(bytes)).as_str()), "{name}");
        }
        assert_eq!(
            listed.iter().filter(|(f, _)| *f != "VERSIONS").count(),
            super::ASSETS.len()
        );
    }
}
