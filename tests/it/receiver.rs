//! Webhook receivers on 127.0.0.1:0 that record what arrives and answer as scripted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// Status with this response body.
    Body(u16, &'static [u8]),
    /// Status plus response headers.
    WithHeaders(u16, Vec<(&'static str, String)>),
    /// Never answer (until the client gives up).
    Hang,
    /// 200 with a streamed body of this many bytes.
    Huge(usize),
    /// 200 whose body trickles one byte every 300 ms, forever.
    Trickle,
}

/// A request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Which requests a [`Receiver::script_for`] rule answers: a test of the JSON body.
type Matches = Box<dyn Fn(&Value) -> bool + Send + Sync>;

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    /// Replies for the requests whose body a rule matches, taken before `script`.
    rules: Mutex<Vec<(Matches, VecDeque<Reply>)>>,
    /// The answer when nothing is scripted (`None`: 200).
    otherwise: Mutex<Option<Reply>>,
    delay: Mutex<Duration>,
    in_flight: Mutex<Vec<String>>,
    overlaps: AtomicUsize,
    /// The most requests in flight at once, whatever their `webhook-id`.
    peak: AtomicUsize,
    notify: tokio::sync::Notify,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn spawn() -> Receiver {
        let inner = Arc::new(Inner::default());
        let router = axum::Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, inner }
    }

    /// Answers the next requests with these replies, then 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().expect("lock").extend(replies);
    }

    /// Answers the next requests whose JSON body `matches` with these replies (one each, before
    /// anything [`Receiver::script`]ed), e.g. to fail every attempt of one event a given number
    /// of times whatever order the requests come in. Rules are tried in the order they were
    /// added; a rule whose replies are used up answers nothing more.
    pub fn script_for(
        &self,
        matches: impl Fn(&Value) -> bool + Send + Sync + 'static,
        replies: impl IntoIterator<Item = Reply>,
    ) {
        self.inner
            .rules
            .lock()
            .expect("lock")
            .push((Box::new(matches), replies.into_iter().collect()));
    }

    /// Answers with `reply` whenever nothing is scripted (instead of 200), e.g. a receiver
    /// that always fails.
    pub fn set_otherwise(&self, reply: Reply) {
        *self.inner.otherwise.lock().expect("lock") = Some(reply);
    }

    /// Waits this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().expect("lock") = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.received.lock().expect("lock").len()
    }

    /// Requests that arrived while another request with the same `webhook-id` was in flight.
    pub fn overlaps(&self) -> usize {
        self.inner.overlaps.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at once, whatever their `webhook-id` (a request
    /// is in flight from its arrival until its answer is handed back).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.inner.notify.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {n} requests, got {}", received.len());
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

/// Marks a `webhook-id` in flight until dropped, also when the client hangs up mid-answer and
/// the handler is cancelled (a killed hookd does exactly that).
struct InFlight {
    inner: Arc<Inner>,
    id: String,
}

impl InFlight {
    fn enter(inner: &Arc<Inner>, id: String) -> InFlight {
        let mut in_flight = inner.in_flight.lock().expect("lock");
        if !id.is_empty() && in_flight.contains(&id) {
            inner.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        in_flight.push(id.clone());
        inner.peak.fetch_max(in_flight.len(), Ordering::SeqCst);
        InFlight {
            inner: inner.clone(),
            id,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = in_flight.iter().position(|x| *x == self.id) {
            in_flight.swap_remove(i);
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _in_flight = InFlight::enter(&inner, id);
    inner.received.lock().expect("lock").push(Received {
        headers,
        body: body.clone(),
        at: Instant::now(),
    });
    inner.notify.notify_waiters();
    let delay = *inner.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = scripted_for(&inner, &body)
        .or_else(|| inner.script.lock().expect("lock").pop_front())
        .or_else(|| inner.otherwise.lock().expect("lock").clone())
        .unwrap_or(Reply::Status(200));
    respond(reply).await
}

/// The next reply of the first [`Receiver::script_for`] rule that matches `body` and has one.
fn scripted_for(inner: &Inner, body: &[u8]) -> Option<Reply> {
    let mut rules = inner.rules.lock().expect("lock");
    if rules.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    rules
        .iter_mut()
        .find(|rule| !rule.1.is_empty() && (rule.0)(&value))
        .and_then(|rule| rule.1.pop_front())
}

async fn respond(reply: Reply) -> Response {
    let status = |code: u16| StatusCode::from_u16(code).expect("status");
    match reply {
        Reply::Status(code) => Response::builder()
            .status(status(code))
            .body(Body::from(format!("answered {code}")))
            .expect("response"),
        Reply::Body(code, body) => Response::builder()
            .status(status(code))
            .body(Body::from(body))
            .expect("response"),
        Reply::WithHeaders(code, headers) => {
            let mut builder = Response::builder().status(status(code));
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::empty()).expect("response")
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(Body::empty())
        }
        Reply::Huge(size) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = size.div_ceil(chunk.len());
            let stream = futures_util::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            Response::new(Body::from_stream(stream))
        }
        Reply::Trickle => {
            let stream = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b".")), ()))
            });
            Response::new(Body::from_stream(stream))
        }
    }
}

/// A TCP listener that resets every connection: it counts them, then closes with RST.
pub async fn resetting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            // Linger 0 turns the close into a reset.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    (url, accepted)
}

/// A TCP listener that only counts connections (for "no connection was made" assertions).
pub async fn counting_listener(addr: &str) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, accepted)
}
