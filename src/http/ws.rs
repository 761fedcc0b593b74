//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! We run the handshake ourselves so that its failures carry the close codes clients expect:
//! no `connection_init` within 10 s closes with 4408, a bad or missing token with 4403, and a
//! connection whose token expires closes with 4403 too. After a good `connection_init`, the
//! socket is handed to async-graphql's protocol machine with the verified claims as its data.
//! Every socket ends on shutdown (close 1001); `App::serve` waits for them, since axum does not
//! track upgraded connections.

use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use futures_util::stream::{self, SplitSink, StreamExt};
use serde_json::Value;

use crate::auth::Claims;
use crate::graphql::loaders::Loaders;
use crate::http::HttpState;

/// SPEC §8: the longest WebSocket message accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn upgrade(state: HttpState, upgrade: WebSocketUpgrade) -> Response {
    let upgrade = upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.parse::<WebSocketProtocols>().ok());
    let Some(protocol) = protocol else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "use the graphql-transport-ws (or legacy graphql-ws) WebSocket subprotocol",
        )
            .into_response();
    };
    let sockets = state.sockets.clone();
    upgrade.on_upgrade(move |socket| sockets.track_future(serve(state, socket, protocol)))
}

type Sink = SplitSink<WebSocket, Message>;

async fn close(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

async fn serve(state: HttpState, socket: WebSocket, protocol: WebSocketProtocols) {
    let (mut sink, mut source) = socket.split();
    let first = tokio::select! {
        first = tokio::time::timeout(INIT_TIMEOUT, next_text(&mut source)) => first,
        () = state.shutdown.cancelled() => return close(&mut sink, 1001, "server shutting down").await,
    };
    let init = match first {
        Err(_) => return close(&mut sink, 4408, "Connection initialisation timeout").await,
        Ok(None) => return,
        Ok(Some(text)) => text,
    };
    let claims = match authenticate(&state, &init).await {
        Ok(claims) => claims,
        Err((code, reason)) => return close(&mut sink, code, &reason).await,
    };
    let expires_in = Duration::from_secs((claims.expires_at - chrono::Utc::now().timestamp()).max(0) as u64);
    let loaders = Loaders::new(&state.app, &claims.tenant);

    // Replay the init message we consumed, then the rest of the socket, into async-graphql.
    let rest = source.take_while(|m| std::future::ready(m.is_ok())).filter_map(|m| {
        std::future::ready(match m {
            Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
            _ => None,
        })
    });
    let input = stream::once(std::future::ready(init.into_bytes())).chain(rest);
    let mut protocol_machine =
        GraphQLWebSocket::new(state.schema.clone(), input, protocol).on_connection_init(move |_| async move {
            let mut data = Data::default();
            data.insert(claims);
            data.insert(loaders);
            Ok(data)
        });

    // Subscriptions complete when the token expires (see `graphql/subscription.rs`); the
    // socket closes a moment later, so that their `complete` messages go out first.
    let expiry = tokio::time::sleep(expires_in + Duration::from_secs(1));
    tokio::pin!(expiry);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        tokio::select! {
            message = protocol_machine.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => return close(&mut sink, code, &reason).await,
                None => return close(&mut sink, 1000, "").await,
            },
            _ = keepalive.tick() => {
                // graphql-transport-ws relies on WebSocket pings; the legacy protocol has `ka`.
                let ping = match protocol {
                    WebSocketProtocols::GraphQLWS => Message::Ping(Default::default()),
                    WebSocketProtocols::SubscriptionsTransportWS => Message::Text(r#"{"type":"ka"}"#.into()),
                };
                if sink.send(ping).await.is_err() {
                    return;
                }
            }
            () = &mut expiry => return close(&mut sink, 4403, "Forbidden: token expired").await,
            () = state.shutdown.cancelled() => return close(&mut sink, 1001, "server shutting down").await,
        }
    }
}

/// The next text (or binary) message, skipping pings; `None` when the socket closed.
async fn next_text(source: &mut futures_util::stream::SplitStream<WebSocket>) -> Option<String> {
    while let Some(Ok(message)) = source.next().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return String::from_utf8(bytes.to_vec()).ok(),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

/// Checks that the first message is `connection_init` with a good token: `authorization`
/// (`Bearer <jwt>`, any case) or `token` in its payload.
async fn authenticate(state: &HttpState, init: &str) -> Result<Claims, (u16, String)> {
    let message: Value = serde_json::from_str(init).map_err(|_| (4400, "Invalid message".to_owned()))?;
    if message["type"] != "connection_init" {
        return Err((4401, "Unauthorized: send connection_init first".to_owned()));
    }
    let payload = &message["payload"];
    let field = |name: &str| {
        payload
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
    };
    let auth = &state.app.auth;
    let verified = match (field("authorization"), field("token")) {
        (Some(header), _) => auth.authenticate_header(Some(header)).await,
        (None, Some(token)) => auth.verify(token).await,
        (None, None) => return Err((4403, "Forbidden: missing token in connection_init".to_owned())),
    };
    verified.map_err(|e| (4403, format!("Forbidden: {}", e.0)))
}
