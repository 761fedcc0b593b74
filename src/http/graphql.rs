//! `POST /graphql` and `GET /graphql` (queries only).

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::auth::Claims;
use crate::domain::caller::RequestMeta;
use crate::graphql::RequestBudget;
use crate::graphql::loaders::Loaders;
use crate::http::HttpState;
use tracing::Instrument;

/// Operations in one batched POST.
const MAX_BATCH: usize = 10;

pub async fn post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("application/graphql-response+json"));
    if !json_body {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the GraphQL request as JSON with content-type: application/json",
        );
    }
    let mut batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("invalid GraphQL request body: {e}"),
            );
        }
    };
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > MAX_BATCH
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            &format!("at most {MAX_BATCH} operations per batch"),
        );
    }
    let claims = match authenticate(&state, &headers).await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    let mut operations = Vec::new();
    for request in batch.iter_mut() {
        let (operation, name) = operation(&state, request);
        count_request(operation);
        operations.push((operation, name));
    }
    let loaders = Loaders::new(&state.app, &claims.tenant);
    let meta = request_meta(&headers, peer, &state.app.config.trusted_proxies);
    let budget = RequestBudget::new(state.app.config.max_response_bytes);
    let span = operation_span(&headers, &operations);
    execute(&state, batch.data(claims).data(loaders).data(meta).data(budget))
        .instrument(span)
        .await
}

/// The span of one HTTP request's GraphQL operations (a batch is one span), named after the
/// operation, and a child of the caller's W3C `traceparent` when it sent one.
fn operation_span(headers: &HeaderMap, operations: &[(Option<OperationType>, Option<String>)]) -> tracing::Span {
    let kind = |operation: &Option<OperationType>| match operation {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "invalid",
    };
    let (name, kind, operation_name) = match operations {
        [(operation, name)] => (
            format!("graphql {}", name.as_deref().unwrap_or(kind(operation))),
            kind(operation),
            name.clone().unwrap_or_default(),
        ),
        _ => ("graphql batch".to_owned(), "batch", String::new()),
    };
    let span = tracing::debug_span!(
        "graphql",
        otel.name = %name,
        otel.kind = "server",
        graphql.operation.type = kind,
        graphql.operation.name = %operation_name,
    );
    if let Some(parent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        crate::telemetry::set_parent(&span, parent);
    }
    span
}

/// A WebSocket upgrade (subscriptions) or a query in the query string.
pub async fn get(State(state): State<HttpState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let wants_socket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_socket {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => super::ws::upgrade(state, upgrade),
            Err(rejection) => rejection.into_response(),
        };
    }
    let headers = parts.headers.clone();
    let query = parts.uri.query().map(str::to_owned);

    let mut request = match parse_query_string(query.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("invalid GraphQL query string: {e}"),
            );
        }
    };
    // GET must not change anything (it may be cached, prefetched or replayed by a browser).
    let (operation, operation_name) = operation(&state, &mut request);
    if operation.is_some_and(|t| t != OperationType::Query) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "only queries may be sent with GET; use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let claims = match authenticate(&state, &headers).await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    count_request(operation);
    let loaders = Loaders::new(&state.app, &claims.tenant);
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let meta = peer
        .map(|peer| request_meta(&headers, peer, &state.app.config.trusted_proxies))
        .unwrap_or_default();
    let budget = RequestBudget::new(state.app.config.max_response_bytes);
    let span = operation_span(&headers, &[(operation, operation_name)]);
    execute(
        &state,
        BatchRequest::Single(request.data(claims).data(loaders).data(meta).data(budget)),
    )
    .instrument(span)
    .await
}

/// A GET request's `query`, `operationName`, `variables` and `extensions` parameters (the
/// GraphQL-over-HTTP names; async-graphql's own parser misses `operationName`).
fn parse_query_string(input: &str) -> Result<async_graphql::Request, String> {
    let mut request = async_graphql::Request::new("");
    for (name, value) in url::form_urlencoded::parse(input.as_bytes()) {
        match &*name {
            "query" => request.query = value.into_owned(),
            "operationName" => request.operation_name = Some(value.into_owned()),
            "variables" => {
                request.variables = serde_json::from_str(&value).map_err(|e| format!("invalid variables: {e}"))?;
            }
            "extensions" => {
                request.extensions = serde_json::from_str(&value).map_err(|e| format!("invalid extensions: {e}"))?;
            }
            _ => {}
        }
    }
    Ok(request)
}

async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Claims, Response> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    state.app.auth.authenticate_header(header).await.map_err(|e| {
        let mut response = error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", e.0);
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    })
}

async fn execute(state: &HttpState, batch: BatchRequest) -> Response {
    let mut response: BatchResponse = state.schema.execute_batch(batch).await;
    match &mut response {
        BatchResponse::Single(response) => crate::graphql::ensure_error_codes(response),
        BatchResponse::Batch(responses) => responses.iter_mut().for_each(crate::graphql::ensure_error_codes),
    }
    match serde_json::to_vec(&response) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize GraphQL response");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
    }
}

fn count_request(operation: Option<OperationType>) {
    let label = match operation {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "invalid",
    };
    metrics::counter!("hookd_graphql_requests_total", "operation_type" => label).increment(1);
}

/// Who is calling, for event payloads: the `User-Agent`, and the client address, which is the
/// peer unless the peer is a trusted proxy (`HOOKD_TRUSTED_PROXIES`): then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
fn request_meta(headers: &HeaderMap, peer: SocketAddr, trusted: &[IpNet]) -> RequestMeta {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.ip();
    if is_trusted(&client) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        for ip in forwarded.into_iter().rev() {
            client = ip;
            if !is_trusted(&ip) {
                break;
            }
        }
    }
    RequestMeta {
        user_agent,
        ip: Some(client.to_string()),
    }
}

/// The type and name of the operation a request would run, when its document parses. The
/// parsed document stays in the request, so the schema does not parse it a second time.
fn operation(state: &HttpState, request: &mut async_graphql::Request) -> (Option<OperationType>, Option<String>) {
    let operation_name = request.operation_name.clone();
    let Some(document) = state.documents.prepare(request) else {
        return (None, None);
    };
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), name) => (Some(op.node.ty), name),
        (DocumentOperations::Multiple(ops), Some(name)) => (ops.get(name.as_str()).map(|op| op.node.ty), Some(name)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map_or((None, None), |(name, op)| (Some(op.node.ty), Some(name.to_string()))),
        (DocumentOperations::Multiple(_), None) => (None, None),
    }
}

/// A GraphQL-shaped error for failures before execution (auth, transport, limits).
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
