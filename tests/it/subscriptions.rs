//! GraphQL subscriptions over a real WebSocket (SPEC §2, §3.2).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::db_test;
use crate::receiver::{Receiver, Reply};
use crate::support::{Backend, TEST_SECRET, TestApp};

db_test!(
    updates_arrive_in_order_for_one_delivery,
    filters_and_tenants,
    bad_tokens_and_slow_init_are_closed,
    an_expired_token_ends_the_stream,
    fifty_subscribers_all_receive,
    legacy_protocol_and_event_emitted,
    shutdown_closes_subscriptions,
);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Client {
    socket: Socket,
    legacy: bool,
}

impl Client {
    /// Opens a socket with `protocol` without sending anything.
    async fn open(app: &TestApp, protocol: &str) -> Client {
        Client::open_at(&app.base_url, protocol).await
    }

    /// Opens a socket to the hookd at `base` (`http://…`) without sending anything.
    async fn open_at(base: &str, protocol: &str) -> Client {
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("request");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().expect("header"));
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("connect");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Client {
            socket,
            legacy: protocol == "graphql-ws",
        }
    }

    /// Opens a `graphql-transport-ws` socket and completes the handshake with `token`.
    async fn connect(app: &TestApp, token: &str) -> Client {
        Client::connect_at(&app.base_url, token).await
    }

    /// [`Client::connect`] to the hookd at `base`.
    pub async fn connect_at(base: &str, token: &str) -> Client {
        let mut client = Client::open_at(base, "graphql-transport-ws").await;
        client.init(json!({ "authorization": format!("Bearer {token}") })).await;
        assert_eq!(client.next().await["type"], "connection_ack");
        client
    }

    async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query } }))
            .await;
    }

    /// The next protocol message (skipping pings and keep-alives); panics after 30 s.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("a message in time")
                .expect("socket open")
                .expect("message");
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("json");
                    if value["type"] != "ka" && value["type"] != "ping" {
                        return value;
                    }
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next `next`/`data` payload's data.
    async fn next_data(&mut self) -> Value {
        let message = self.next().await;
        let expected = if self.legacy { "data" } else { "next" };
        assert_eq!(message["type"], expected, "{message}");
        message["payload"]["data"].clone()
    }

    /// Waits for the server to close the socket; returns the close code.
    async fn closed(&mut self, within: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("closed in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return u16::from(CloseCode::Abnormal),
                Some(Ok(_)) => {}
            }
        }
    }
}

const UPDATES: &str = "subscription { deliveryUpdates { deliveryId hookId eventId event status attemptCount responseStatus durationMs error nextAttemptAt at } }";

pub(crate) async fn updates_arrive_in_order_for_one_delivery(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("10ms".into())).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::Status(500)]);
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let mut client = Client::connect(&app, &app.admin()).await;
    client.subscribe("1", UPDATES).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let event_id = app.emit("User.Created", json!({})).await;

    let mut updates = Vec::new();
    loop {
        let update = client.next_data().await["deliveryUpdates"].clone();
        let done = update["status"] == "SUCCEEDED";
        updates.push(update);
        if done {
            break;
        }
    }
    let statuses: Vec<&str> = updates.iter().map(|u| u["status"].as_str().expect("status")).collect();
    assert_eq!(
        statuses,
        ["PENDING", "SENDING", "PENDING", "SENDING", "SUCCEEDED"],
        "{updates:?}"
    );
    assert!(
        updates
            .iter()
            .all(|u| u["eventId"] == event_id.as_str() && u["hookId"] == hook["id"])
    );
    assert!(
        updates
            .iter()
            .all(|u| u["deliveryId"] == updates[0]["deliveryId"] && u["event"] == "User.Created")
    );
    let failed = &updates[2];
    assert_eq!(failed["responseStatus"], 500);
    assert_eq!(failed["attemptCount"], 1);
    assert!(failed["nextAttemptAt"].is_string() && failed["error"].is_string());
    assert_eq!(updates[4]["responseStatus"], 200);
    assert_eq!(updates[4]["attemptCount"], 2);
}

async fn filters_and_tenants(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let wanted = app.hook_to(&receiver.url, &["User.Created", "Role.Created"]).await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let mut filtered = Client::connect(&app, &app.admin()).await;
    filtered
        .subscribe(
            "f",
            &format!(
                "subscription {{ deliveryUpdates(hookId: \"{}\", events: [\"User.Created\"], statuses: [SUCCEEDED]) {{ hookId event status }} }}",
                wanted["id"].as_str().expect("id")
            ),
        )
        .await;
    let other = app.token("admin", "other");
    let mut outsider = Client::connect(&app, &other).await;
    outsider.subscribe("o", UPDATES).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.emit("Role.Created", json!({})).await;
    app.emit("User.Created", json!({})).await;
    let update = filtered.next_data().await["deliveryUpdates"].clone();
    assert_eq!(
        update,
        json!({ "hookId": wanted["id"], "event": "User.Created", "status": "SUCCEEDED" })
    );

    // Tenant B saw nothing of A: the first update it receives is about its own hook.
    let their_hook = app
        .gql(
            &other,
            "mutation($url: String!) { createHook(input: { name: \"b\", events: [\"User.Created\"], url: $url }) { id } }",
            json!({ "url": receiver.url }),
        )
        .await;
    let their_hook = their_hook["data"]["createHook"]["id"].clone();
    app.gql(
        &other,
        "mutation { emitEvent(input: { type: \"User.Created\", data: {} }) { id } }",
        json!({}),
    )
    .await;
    let first = outsider.next_data().await["deliveryUpdates"].clone();
    assert_eq!(
        first["hookId"], their_hook,
        "tenant B received an update of tenant A: {first}"
    );
}

async fn bad_tokens_and_slow_init_are_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for payload in [
        json!({}),
        json!({ "authorization": "Bearer not.a.token" }),
        json!({ "token": "garbage" }),
    ] {
        let mut client = Client::open(&app, "graphql-transport-ws").await;
        client.init(payload.clone()).await;
        assert_eq!(client.closed(Duration::from_secs(30)).await, 4403, "{payload}");
    }
    // `token` works as well as `authorization`.
    let mut client = Client::open(&app, "graphql-transport-ws").await;
    client.init(json!({ "token": app.admin() })).await;
    assert_eq!(client.next().await["type"], "connection_ack");
    // A valid token without deliveries:read cannot subscribe.
    let mut weak = Client::connect(&app, &app.token("hooks:read", "default")).await;
    weak.subscribe("1", UPDATES).await;
    let refused = weak.next().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    assert_eq!(refused["payload"]["data"], Value::Null);
    // No connection_init within 10 s: 4408.
    let mut silent = Client::open(&app, "graphql-transport-ws").await;
    assert_eq!(silent.closed(Duration::from_secs(40)).await, 4408);
}

async fn an_expired_token_ends_the_stream(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = chrono::Utc::now().timestamp();
    let short = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "scope": "admin", "exp": now + 2 }),
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("token");
    let mut client = Client::connect(&app, &short).await;
    client.subscribe("1", UPDATES).await;
    // The subscription completes at expiry, and the connection closes with 4403.
    let message = client.next().await;
    assert_eq!(message, json!({ "type": "complete", "id": "1" }));
    assert_eq!(client.closed(Duration::from_secs(30)).await, 4403);
}

async fn fifty_subscribers_all_receive(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &["User.Created"]).await;
    let token = app.admin();
    let mut clients = Vec::new();
    for i in 0..50 {
        let mut client = Client::connect(&app, &token).await;
        client
            .subscribe(
                &format!("s{i}"),
                "subscription { deliveryUpdates(statuses: [SUCCEEDED]) { deliveryId status } }",
            )
            .await;
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.emit("User.Created", json!({})).await;
    let received = futures_util::future::join_all(clients.iter_mut().map(|c| c.next_data())).await;
    assert_eq!(received.len(), 50);
    assert!(received.iter().all(|d| d["deliveryUpdates"]["status"] == "SUCCEEDED"));
    assert!(
        received
            .iter()
            .all(|d| d["deliveryUpdates"]["deliveryId"] == received[0]["deliveryUpdates"]["deliveryId"])
    );
}

pub(crate) async fn legacy_protocol_and_event_emitted(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let mut client = Client::open(&app, "graphql-ws").await;
    client
        .init(json!({ "authorization": format!("Bearer {}", app.admin()) }))
        .await;
    assert_eq!(client.next().await["type"], "connection_ack");
    client
        .subscribe(
            "e",
            "subscription { eventEmitted(types: [\"Invoice.Paid\", \"User.Created\"]) { id type payload } }",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.emit("Role.Created", json!({})).await;
    let id = app.emit("User.Created", json!({ "n": 1 })).await;
    let data = client.next_data().await;
    assert_eq!(
        data["eventEmitted"]["id"],
        id.as_str(),
        "filtered to the requested types: {data}"
    );
    assert_eq!(data["eventEmitted"]["payload"]["data"], json!({ "n": 1 }));
}

async fn shutdown_closes_subscriptions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = Client::connect(&app, &app.admin()).await;
    client.subscribe("1", UPDATES).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shut_down();
    assert_eq!(client.closed(Duration::from_secs(30)).await, 1001, "going away");
}

const EMITTED: &str = "subscription { eventEmitted { id } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_open_unbounded_streams() {
    let app = TestApp::spawn_with(Backend::Sqlite, |raw| {
        raw.max_subscriptions_per_connection = Some("3".into());
    })
    .await;
    let mut client = Client::connect(&app, &app.admin()).await;
    for id in ["1", "2", "3"] {
        client.subscribe(id, EMITTED).await;
    }
    // The fourth is refused with an error for its id; the socket stays open.
    client.subscribe("4", EMITTED).await;
    let refused = client.next().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "4");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{refused}"
    );
    // Completing one makes room for another.
    client.send(json!({ "id": "1", "type": "complete" })).await;
    client.subscribe("5", EMITTED).await;
    app.emit("User.Created", json!({})).await;
    let mut ids: Vec<String> = Vec::new();
    while ids.len() < 3 {
        let message = client.next().await;
        if message["type"] == "complete" && message["id"] == "1" {
            continue;
        }
        assert_eq!(message["type"], "next", "{message}");
        ids.push(message["id"].as_str().expect("id").to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["2", "3", "5"]);

    // Many aliased root fields in one subscription: refused (the spec allows one).
    client.send(json!({ "id": "5", "type": "complete" })).await;
    assert_eq!(client.next().await["type"], "complete");
    let aliases: String = (0..500).map(|i| format!("a{i}: eventEmitted {{ id }} ")).collect();
    client.subscribe("6", &format!("subscription {{ {aliases} }}")).await;
    let refused = client.next().await;
    let code = refused["payload"][0]["extensions"]["code"]
        .as_str()
        .or(refused["payload"]["errors"][0]["extensions"]["code"].as_str());
    assert_eq!(code, Some("BAD_USER_INPUT"), "{refused}");

    // An id in use: 4409.
    client.subscribe("2", EMITTED).await;
    assert_eq!(client.closed(Duration::from_secs(30)).await, 4409);

    // A frame over 64 KiB: 1009.
    let mut big = Client::connect(&app, &app.admin()).await;
    big.socket
        .send(Message::Text("x".repeat(70 * 1024).into()))
        .await
        .expect("send");
    assert_eq!(big.closed(Duration::from_secs(30)).await, 1009);

    // Not a protocol message: a close frame, not silence.
    let mut garbled = Client::connect(&app, &app.admin()).await;
    garbled
        .socket
        .send(Message::Text("not json".into()))
        .await
        .expect("send");
    assert_eq!(garbled.closed(Duration::from_secs(30)).await, 4400);

    // Thousands of subscriptions sent at once get refusals or a close, never thousands of streams.
    let mut flood = Client::connect(&app, &app.admin()).await;
    for id in 0..2000 {
        let message = json!({ "id": format!("f{id}"), "type": "subscribe", "payload": { "query": EMITTED } });
        if flood
            .socket
            .send(Message::Text(message.to_string().into()))
            .await
            .is_err()
        {
            break; // closed by the server
        }
    }
    let mut refusals = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), flood.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(message["type"], "error", "{message}");
                refusals += 1;
                if refusals == 2000 - 3 {
                    break None;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            // The server closed while we were still sending: the close frame may be lost.
            Ok(Some(Err(_)) | None) => break Some(1008),
            Err(elapsed) => panic!("neither refusals nor a close: {elapsed}"),
        }
    };
    assert!(
        code.is_none() || code == Some(1008),
        "closed with {code:?} after {refusals} refusals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped() {
    let app = TestApp::spawn_with(Backend::Sqlite, |raw| raw.max_connections = Some("2".into())).await;
    let first = Client::connect(&app, &app.admin()).await;
    let _second = Client::connect(&app, &app.admin()).await;
    let url = format!("{}/graphql", app.base_url.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a third connection was not refused: {other:?}"),
    }
    // A closed connection frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if tokio_tungstenite::connect_async(request.clone()).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
