//! Prometheus metrics (`GET /metrics`, SPEC §5.5): every series with `# HELP` and `# TYPE`.
//!
//! Two kinds of series. Counters and histograms are recorded as things happen, through the
//! `metrics` facade, whose recorder is process-global (installed once however many servers a
//! process starts; the tests start many) and described in [`describe`]. Gauges of state (the
//! backlog, the busiest hooks, the database pools, the process) are read at scrape time and
//! written by [`Scrape`] after the recorder's output, so they are right across restarts and
//! processes and never go stale.
//!
//! Label cardinality is bounded: event types by the catalogue (custom types are `custom`),
//! routes by the router, statuses by HTTP, hooks by [`MAX_HOOK_LABELS`] (counters) or
//! [`BUSIEST_HOOKS`] (gauges).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use metrics::{Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Attempt and request durations in seconds: from a local receiver's sub-millisecond answers up
/// to the longest allowed timeout.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Hooks with a label of their own in `hookd_hook_deliveries_total`; later ones count as
/// `other`.
pub const MAX_HOOK_LABELS: usize = 100;
/// Hooks listed by `hookd_hook_deliveries_queued`: those with the most queued deliveries.
pub const BUSIEST_HOOKS: u64 = 20;

pub fn install() {
    started();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &DURATION_BUCKETS)
            .ok()?
            .install_recorder();
        match recorder {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        }
    });
}

/// The help text of every series recorded as things happen.
fn describe() {
    describe_counter!(
        "hookd_events_total",
        "Events stored, by type (custom types as `custom`)."
    );
    describe_counter!(
        "hookd_deliveries_total",
        "Delivery outcomes recorded by this process: succeeded, retry (failed, retry scheduled), failed (for good), cancelled."
    );
    describe_counter!(
        "hookd_hook_deliveries_total",
        "hookd_deliveries_total by hook: the first 100 hooks this process records have their own hook_id label, the rest count as `other`."
    );
    describe_histogram!(
        "hookd_delivery_attempt_duration_seconds",
        Unit::Seconds,
        "How long one delivery attempt took, from connecting to reading the answer."
    );
    describe_counter!(
        "hookd_delivery_attempts_failed_total",
        "Failed delivery attempts by error class: status, timeout, connect, blocked_target, read, request."
    );
    describe_histogram!(
        "hookd_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP requests served, by route and status (a WebSocket upgrade counts until it is accepted)."
    );
    describe_counter!(
        "hookd_graphql_requests_total",
        "GraphQL requests by operation type (query, mutation, subscription)."
    );
    describe_counter!(
        "hookd_bus_lagged_total",
        "Updates a live subscriber fell too far behind to receive, by subscription (it is told and should re-read)."
    );
    describe_counter!(
        "hookd_relay_messages_sent_total",
        "NOTIFY messages sent to the other processes."
    );
    describe_counter!(
        "hookd_relay_messages_received_total",
        "NOTIFY messages received from the other processes."
    );
    describe_counter!(
        "hookd_relay_reconnects_total",
        "Times the connection listening to the other processes was re-established."
    );
    describe_counter!(
        "hookd_relay_lost_total",
        "Signals the relay queue had no room for; the other processes catch up from the database."
    );
}

/// Series read at scrape time, in Prometheus text format.
#[derive(Default)]
pub struct Scrape {
    text: String,
}

impl Scrape {
    /// One series with its help, type and samples (labels, value).
    pub fn series(&mut self, name: &str, kind: &str, help: &str, samples: &[(Vec<(&str, &str)>, f64)]) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(self.text, "{name} {value}");
            } else {
                let _ = writeln!(self.text, "{name}{{{}}} {value}", labels.join(","));
            }
        }
        self.text.push('\n');
    }

    /// A gauge with one sample and no labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.series(name, "gauge", help, &[(Vec::new(), value)]);
    }

    /// The process's own series: build, memory, CPU, files, start time.
    pub fn process(&mut self) {
        let version = env!("CARGO_PKG_VERSION");
        self.series(
            "hookd_build_info",
            "gauge",
            "The running build: always 1, with its version.",
            &[(vec![("version", version)], 1.0)],
        );
        self.gauge(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch.",
            *START.get_or_init(unix_now),
        );
        if let Some(rss) = proc_status_kib("VmRSS:") {
            self.gauge(
                "process_resident_memory_bytes",
                "Resident memory in bytes.",
                rss * 1024.0,
            );
        }
        if let Some(seconds) = proc_cpu_seconds() {
            self.series(
                "process_cpu_seconds_total",
                "counter",
                "CPU time used by the process (user and system), in seconds.",
                &[(Vec::new(), seconds)],
            );
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.gauge("process_open_fds", "Open file descriptors.", fds.count() as f64);
        }
    }
}

static START: OnceLock<f64> = OnceLock::new();

/// Notes the process's start time (called at start-up).
pub fn started() {
    START.get_or_init(unix_now);
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn proc_status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of `/proc/self/stat`, in clock ticks of 1/100 s (Linux's USER_HZ).
fn proc_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The recorder's series, then `scraped`, in Prometheus text format.
pub fn render(scraped: Scrape) -> String {
    let mut text = HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    if !text.is_empty() && !text.ends_with("\n\n") {
        text.push('\n');
    }
    text + &scraped.text
}

/// Event types as a label: catalogue names as they are, custom types as `custom`, so a tenant
/// defining many types cannot blow up the number of series.
pub fn event_label(event_type: &str) -> String {
    if crate::domain::webhooks::catalogue::find(event_type).is_some() {
        event_type.to_owned()
    } else {
        "custom".to_owned()
    }
}

/// A hook as a label: its id for the first [`MAX_HOOK_LABELS`] hooks this process labels,
/// `other` after.
pub fn hook_label(hook_id: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.contains(hook_id) {
        return hook_id.to_owned();
    }
    if seen.len() < MAX_HOOK_LABELS {
        seen.insert(hook_id.to_owned());
        return hook_id.to_owned();
    }
    "other".to_owned()
}
