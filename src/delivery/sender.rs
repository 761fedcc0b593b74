//! One HTTP attempt (SPEC §5.1): build the signed request, send it, read a bounded answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use url::{Host, Url};

use crate::delivery::retry::parse_retry_after;
use crate::delivery::sign::{logto_signature, standard_signature};
use crate::domain::now_ms;
use crate::ssrf::{GuardedResolver, TargetPolicy};

/// Response bytes read at most; the rest is not downloaded.
pub const MAX_READ_BYTES: usize = 64 * 1024;
/// Response bytes stored with the attempt.
pub const MAX_STORED_BYTES: usize = 20 * 1024;
/// Response headers stored with the attempt: at most this many, …
const MAX_STORED_HEADERS: usize = 64;
/// … each value cut to this many bytes, …
const MAX_HEADER_VALUE_BYTES: usize = 1024;
/// … and this many bytes of names and values in all.
const MAX_STORED_HEADER_BYTES: usize = 8 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const USER_AGENT_VALUE: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));

/// What to send.
pub struct Outgoing<'a> {
    pub url: &'a str,
    /// The delivery id: `webhook-id`, the same on every attempt.
    pub message_id: &'a str,
    pub body: &'a str,
    pub custom_headers: &'a [(String, String)],
    /// The key of `logto-signature-sha-256`, if the hook signs with HMAC.
    pub logto_key: Option<&'a str>,
    /// The keys of `webhook-signature` (`whsec_…` and `whsk_…`), one entry each.
    pub standard_keys: &'a [String],
    /// The attempt's W3C trace context, when traces are on: sent as `traceparent`.
    pub traceparent: Option<&'a str>,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct AttemptResult {
    pub started_at: i64,
    pub duration_ms: i32,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    /// Every header of the request as it went out, signatures included, as `name: value`
    /// lines (see [`header_lines`]).
    pub request_headers: String,
    /// The response's headers (bounded) in the same form; empty when no response came.
    pub response_headers: String,
}

impl AttemptResult {
    /// A 2xx answer read to the end (or to our read limit) without error.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200..=299)) && self.error.is_none()
    }

    /// What kind of failure this was, for logs: `status` (the receiver answered, not 2xx),
    /// `timeout`, `blocked_target` (SSRF rules), `connect`, `read` (the answer broke off),
    /// `request` (anything else); `none` for a success.
    pub fn error_class(&self) -> &'static str {
        let error = self.error.as_deref().unwrap_or_default();
        match self.status {
            _ if self.succeeded() => "none",
            Some(status) if !(200..300).contains(&status) => "status",
            Some(_) => "read",
            None if error.starts_with("timed out") => "timeout",
            None if error.contains("target not allowed") => "blocked_target",
            None if error.starts_with("connection failed") => "connect",
            None => "request",
        }
    }
}

pub struct Sender {
    client: reqwest::Client,
    policy: Arc<TargetPolicy>,
    timeout: Duration,
}

impl Sender {
    pub fn new(policy: Arc<TargetPolicy>, timeout: Duration) -> anyhow::Result<Sender> {
        let client = reqwest::Client::builder()
            // Proxy variables are for the operator's outbound browsing, not for webhooks: a
            // proxy would also connect to addresses we never checked.
            .no_proxy()
            // A redirect could point anywhere, including inside the network: never follow.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver::new(policy.clone()))
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Sender {
            client,
            policy,
            timeout,
        })
    }

    /// The headers of an attempt, signed now.
    pub fn headers(&self, out: &Outgoing<'_>, timestamp: i64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        // The HTTP client would add this one itself; set here, it is recorded like the rest.
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        // Custom headers may replace content-type and user-agent (as in Logto); validation
        // keeps them away from the signature headers, which are inserted last regardless.
        for (name, value) in out.custom_headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
                headers.insert(name, value);
            }
        }
        let body = out.body.as_bytes();
        let keys: Vec<&str> = out.standard_keys.iter().map(String::as_str).collect();
        let logto = out
            .logto_key
            .map(|key| ("logto-signature-sha-256", logto_signature(key, body)));
        let trace = out.traceparent.map(|t| ("traceparent", t.to_owned()));
        let signatures = logto.into_iter().chain(trace).chain([
            ("webhook-id", out.message_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                standard_signature(&keys, out.message_id, timestamp, body),
            ),
        ]);
        for (name, value) in signatures {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        headers
    }

    /// Sends one attempt. Never fails: every problem is an `AttemptResult` with an `error`.
    pub async fn send(&self, out: &Outgoing<'_>) -> AttemptResult {
        let started_at = now_ms();
        let clock = Instant::now();
        let headers = self.headers(out, started_at / 1000);
        let url = Url::parse(out.url);
        let request_headers = recorded_request(url.as_ref().ok(), out.body.len(), &headers);
        let mut result = match tokio::time::timeout(self.timeout, self.exchange(url, headers, out.body)).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => AttemptResult {
                error: Some(error),
                ..AttemptResult::default()
            },
            Err(_) => AttemptResult {
                error: Some(format!("timed out after {:?}", self.timeout)),
                ..AttemptResult::default()
            },
        };
        result.started_at = started_at;
        result.request_headers = request_headers;
        result.duration_ms = clock.elapsed().as_millis().min(i32::MAX as u128) as i32;
        result
    }

    async fn exchange(
        &self,
        url: Result<Url, url::ParseError>,
        headers: HeaderMap,
        body: &str,
    ) -> Result<AttemptResult, String> {
        let url = url.map_err(|e| format!("invalid URL: {e}"))?;
        // IP literals never reach the resolver, so they are checked here.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        if let Some(ip) = literal {
            self.policy.check(ip).map_err(|class| {
                format!("target not allowed: {ip} is a {class} address (HOOKD_ALLOWED_TARGETS can allow it)")
            })?;
        }
        let mut response = self
            .client
            .post(url)
            .headers(headers)
            .body(body.to_owned())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let response_headers = recorded_response(response.headers());
        let mut read = Vec::new();
        let mut error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_READ_BYTES - read.len();
                    read.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if read.len() >= MAX_READ_BYTES {
                        // Dropping the response closes the connection: the rest is never read.
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the response failed: {}", describe(e)));
                    break;
                }
            }
        }
        read.truncate(MAX_STORED_BYTES);
        Ok(AttemptResult {
            status: Some(status),
            body: Some(storable(&read)),
            error: error.or_else(|| (!(200..300).contains(&status)).then(|| format!("receiver answered {status}"))),
            retry_after,
            response_headers,
            ..AttemptResult::default()
        })
    }
}

/// The request's headers as they go out: `host` (which the HTTP client adds from the URL), ours,
/// and `content-length` (which it adds from the body).
fn recorded_request(url: Option<&Url>, body_len: usize, headers: &HeaderMap) -> String {
    let mut lines = String::with_capacity(512);
    if let Some(host) = url.and_then(Url::host_str) {
        match url.and_then(Url::port) {
            Some(port) => push_line(&mut lines, "host", format_args!("{host}:{port}")),
            None => push_line(&mut lines, "host", format_args!("{host}")),
        }
    }
    for (name, value) in headers {
        push_line(
            &mut lines,
            name.as_str(),
            format_args!("{}", String::from_utf8_lossy(value.as_bytes())),
        );
    }
    push_line(&mut lines, "content-length", format_args!("{body_len}"));
    lines
}

/// A response's headers, bounded: [`MAX_STORED_HEADERS`] of them, values cut to
/// [`MAX_HEADER_VALUE_BYTES`], [`MAX_STORED_HEADER_BYTES`] in all.
fn recorded_response(headers: &HeaderMap) -> String {
    let mut lines = String::new();
    for (name, value) in headers.iter().take(MAX_STORED_HEADERS) {
        let bytes = value.as_bytes();
        let value = storable(&bytes[..bytes.len().min(MAX_HEADER_VALUE_BYTES)]);
        if lines.len() + name.as_str().len() + value.len() + 3 > MAX_STORED_HEADER_BYTES {
            break;
        }
        push_line(&mut lines, name.as_str(), format_args!("{value}"));
    }
    lines
}

/// Appends `name: value\n`. Header names hold no `:` and values no line break (HTTP forbids
/// both), so the lines split back unambiguously: [`header_lines`].
fn push_line(lines: &mut String, name: &str, value: std::fmt::Arguments<'_>) {
    use std::fmt::Write;
    let _ = writeln!(lines, "{name}: {value}");
}

/// Stored header lines as `(name, value)` pairs, in order.
pub fn header_lines(stored: &str) -> impl Iterator<Item = (&str, &str)> {
    stored.lines().filter_map(|line| line.split_once(": "))
}

/// Bytes (a response body, a header value) as text that both databases store: invalid UTF-8 and NUL (which PostgreSQL
/// text cannot hold) become U+FFFD.
fn storable(body: &[u8]) -> String {
    String::from_utf8_lossy(body).replace('\0', "\u{FFFD}")
}

/// A reqwest error with its causes, e.g. "connection failed: … target not allowed: …".
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(std::error::Error::source);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_headers_are_bounded_and_split_back() {
        let mut headers = HeaderMap::new();
        for i in 0..100 {
            let name = HeaderName::try_from(format!("x-h{i}")).expect("name");
            headers.insert(name, HeaderValue::from_str(&"v".repeat(2000)).expect("value"));
        }
        let stored = recorded_response(&headers);
        assert!(stored.len() <= MAX_STORED_HEADER_BYTES, "{}", stored.len());
        let pairs: Vec<(&str, &str)> = header_lines(&stored).collect();
        assert!(!pairs.is_empty() && pairs.len() <= MAX_STORED_HEADERS);
        assert!(pairs.iter().all(|(_, v)| v.len() == MAX_HEADER_VALUE_BYTES));
        assert_eq!(pairs[0].0, "x-h0");
    }

    #[test]
    fn the_request_record_names_host_and_length() {
        let mut headers = HeaderMap::new();
        headers.insert("x-team", HeaderValue::from_static("a: b"));
        let url = Url::parse("http://example.com:8081/hook").expect("url");
        let stored = recorded_request(Some(&url), 42, &headers);
        let pairs: Vec<(&str, &str)> = header_lines(&stored).collect();
        assert_eq!(
            pairs,
            [
                ("host", "example.com:8081"),
                ("x-team", "a: b"),
                ("content-length", "42")
            ]
        );
    }
}
