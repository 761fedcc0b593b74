//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! We run the handshake ourselves so that its failures carry the close codes clients expect:
//! no `connection_init` within 10 s closes with 4408, a bad or missing token with 4403, and a
//! connection whose token expires closes with 4403 too. After a good `connection_init`, the
//! socket is handed to async-graphql's protocol machine with the verified claims as its data.
//! Every socket ends on shutdown (close 1001); `App::serve` waits for them, since axum does not
//! track upgraded connections.
//!
//! Bounds, checked here on the messages in both directions ([`Gatekeeper`]): at most
//! `HOOKD_MAX_CONNECTIONS` sockets (the next upgrade gets 503 `BUSY`), at most
//! `HOOKD_MAX_SUBSCRIPTIONS_PER_CONNECTION` active subscriptions on one (the next gets an
//! `error` message with `LIMIT_EXCEEDED` and the socket stays open), a second subscription with
//! an id in use closes with 4409, a frame over 64 KiB with 1009, a malformed frame with 1002
//! (1007 for text that is not UTF-8).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use futures_util::stream::{self, SplitSink, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::auth::Claims;
use crate::graphql::loaders::Loaders;
use crate::http::HttpState;

/// SPEC §8: the longest WebSocket message accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn upgrade(state: HttpState, upgrade: WebSocketUpgrade) -> Response {
    let Ok(connection) = state.connections.clone().try_acquire_owned() else {
        let body = serde_json::json!({ "errors": [{
            "message": "too many WebSocket connections are open; try again later",
            "extensions": { "code": "BUSY" },
        }] });
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    };
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
    upgrade.on_upgrade(move |socket| {
        sockets.track_future(async move {
            serve(state, socket, protocol).await;
            drop(connection);
        })
    })
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

    // Replay the init message we consumed, then the rest of the socket, into async-graphql,
    // through the gatekeeper: it drops what it refuses and tells the loop below what to answer
    // (refusals over a queue, and why it ended the input, if it did).
    let gate = Arc::new(Mutex::new(Gatekeeper::new(
        protocol,
        state.app.config.max_subscriptions_per_connection,
    )));
    let (replies_tx, mut replies) = mpsc::channel::<String>(REPLY_QUEUE);
    let inbound_gate = gate.clone();
    let rest = source
        .scan(false, move |ended, message| {
            if *ended {
                return std::future::ready(None);
            }
            let verdict = match message {
                Ok(Message::Text(text)) => lock(&inbound_gate).inbound(text.as_bytes()),
                Ok(Message::Binary(bytes)) => lock(&inbound_gate).inbound(&bytes),
                Ok(Message::Close(_)) => Verdict::End,
                Ok(Message::Ping(_) | Message::Pong(_)) => Verdict::Skip,
                Err(e) => Verdict::Close(frame_error_code(&e.to_string()), "bad frame".to_owned()),
            };
            let item = match verdict {
                Verdict::Pass(bytes) => Some(bytes),
                Verdict::Skip => None,
                Verdict::Reply(text) => {
                    if replies_tx.try_send(text).is_ok() {
                        None
                    } else {
                        // The client sends what we refuse faster than we can answer it.
                        lock(&inbound_gate).closing = Some((1008, "too many refused messages".to_owned()));
                        *ended = true;
                        return std::future::ready(None);
                    }
                }
                Verdict::Close(code, reason) => {
                    lock(&inbound_gate).closing = Some((code, reason));
                    *ended = true;
                    return std::future::ready(None);
                }
                Verdict::End => {
                    *ended = true;
                    return std::future::ready(None);
                }
            };
            std::future::ready(Some(item))
        })
        .filter_map(std::future::ready);
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
            Some(reply) = replies.recv() => {
                if sink.send(Message::Text(reply.into())).await.is_err() {
                    return;
                }
            }
            message = protocol_machine.next() => match message {
                Some(WsMessage::Text(text)) => {
                    lock(&gate).outbound(&text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => return close(&mut sink, code, &reason).await,
                None => {
                    // The input ended: the client left, or the gatekeeper ended it for a reason.
                    while let Ok(reply) = replies.try_recv() {
                        let _ = sink.send(Message::Text(reply.into())).await;
                    }
                    let closing = lock(&gate).closing.take();
                    let (code, reason) = closing.unwrap_or((1000, String::new()));
                    return close(&mut sink, code, &reason).await;
                }
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

/// Refusals the gatekeeper may queue for the connection loop; a client that fills it is closed.
const REPLY_QUEUE: usize = 16;

enum Verdict {
    /// Hand the message to the protocol machine.
    Pass(Vec<u8>),
    /// Nothing to hand on (a ping).
    Skip,
    /// The client closed the socket.
    End,
    /// Drop the message and send this instead.
    Reply(String),
    /// Drop the message and close the socket with this code.
    Close(u16, String),
}

fn lock(gate: &Mutex<Gatekeeper>) -> std::sync::MutexGuard<'_, Gatekeeper> {
    gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The close code for a frame the WebSocket layer refused.
fn frame_error_code(error: &str) -> u16 {
    if error.contains("too long") || error.contains("Space limit") {
        1009
    } else if error.contains("UTF-8") || error.contains("utf-8") {
        1007
    } else {
        1002
    }
}

/// Tracks the subscriptions a connection has open, from the client's `subscribe`/`start` and
/// `complete`/`stop` messages and the server's `complete`/`error` messages.
struct Gatekeeper {
    protocol: WebSocketProtocols,
    max: usize,
    active: HashSet<String>,
    /// Why the gatekeeper ended the client's input, if it did: the close code to send.
    closing: Option<(u16, String)>,
}

impl Gatekeeper {
    fn new(protocol: WebSocketProtocols, max: usize) -> Gatekeeper {
        Gatekeeper {
            protocol,
            max,
            active: HashSet::new(),
            closing: None,
        }
    }

    fn inbound(&mut self, bytes: &[u8]) -> Verdict {
        let Ok(message) = serde_json::from_slice::<Value>(bytes) else {
            return Verdict::Close(4400, "Invalid message".to_owned());
        };
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        match message["type"].as_str() {
            Some("subscribe" | "start") => {
                if self.active.contains(&id) {
                    return Verdict::Close(4409, format!("Subscriber for {id} already exists"));
                }
                if self.active.len() >= self.max {
                    return Verdict::Reply(self.refusal(&id));
                }
                self.active.insert(id);
            }
            Some("complete" | "stop") => {
                self.active.remove(&id);
            }
            _ => {}
        }
        Verdict::Pass(bytes.to_vec())
    }

    fn outbound(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if matches!(message["type"].as_str(), Some("complete" | "error"))
            && let Some(id) = message["id"].as_str()
        {
            self.active.remove(id);
        }
    }

    fn refusal(&self, id: &str) -> String {
        let error = serde_json::json!({
            "message": format!("at most {} subscriptions may be active on one connection", self.max),
            "extensions": { "code": "LIMIT_EXCEEDED" },
        });
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => serde_json::json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
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
