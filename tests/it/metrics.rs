//! `/metrics` as Prometheus reads it: parsed by a Prometheus text parser, every series has its
//! help and type, and the series an on-call engineer needs are there with the values the
//! traffic before the scrape implies. A separate listener (`HOOKD_METRICS_LISTEN`) serves them
//! alone.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

use crate::db_test;
use crate::receiver::{Receiver, Reply};
use crate::support::{Backend, Banner, TestApp, hookd_binary, read_banner};

db_test!(metrics_have_help_and_the_series_on_call_needs);

async fn scrape(base: &str) -> (String, Scrape) {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format");
    (text, parsed)
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => 0.0,
    }
}

/// The samples of `metric` whose labels include `labels`.
fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// A queued backlog and real attempts (one receiver answering 200, one 500), then a scrape:
/// every `# TYPE` has its `# HELP`, the parser reads every sample, and the backlog, oldest
/// age, busiest hooks, pools, HTTP latency by route and status, failed attempts by class,
/// per-hook outcomes, build and process series hold what the traffic implies.
async fn metrics_have_help_and_the_series_on_call_needs(backend: Backend) {
    let app = TestApp::delivering(backend, |raw| raw.retry_schedule = Some("1h".to_owned())).await;
    let ok = Receiver::spawn().await;
    let failing = Receiver::spawn().await;
    failing.set_otherwise(Reply::Status(500));
    let good = app.hook_to(&ok.url, &["User.Created"]).await;
    app.hook_to(&failing.url, &["User.Created"]).await;
    for _ in 0..3 {
        app.emit("User.Created", json!({})).await;
    }
    ok.wait_for(3, Duration::from_secs(30)).await;
    failing.wait_for(3, Duration::from_secs(30)).await;
    // The failing hook's three wait an hour for their retry: a backlog whose age grows.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (text, scraped) = loop {
        let (text, scraped) = scrape(&app.base_url).await;
        let pending = find(&scraped, "hookd_deliveries_queued", &[("status", "PENDING")]);
        if pending.first().is_some_and(|s| value(s) >= 3.0) {
            break (text, scraped);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog never showed:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every series has its help and type, and every sample belongs to a described series.
    let mut helped = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_whitespace().next().expect("name");
            let help = rest[name.len()..].trim();
            assert!(!help.is_empty(), "{name} has an empty help");
            helped.insert(name.to_owned());
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().expect("name");
            assert!(helped.contains(name), "{name} has a TYPE but no HELP before it");
        }
    }
    for sample in &scraped.samples {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.metric.strip_suffix(suffix))
            .filter(|base| helped.contains(*base))
            .unwrap_or(&sample.metric);
        assert!(helped.contains(base), "{} has no HELP", sample.metric);
        assert!(scraped.docs.contains_key(base), "the parser read no help for {base}");
    }

    let one = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        let found = find(&scraped, metric, labels);
        assert!(!found.is_empty(), "no {metric} {labels:?} in:\n{text}");
        found.iter().map(|s| value(s)).sum()
    };
    assert!(one("hookd_deliveries_queued", &[("status", "PENDING")]) >= 3.0);
    assert!(one("hookd_deliveries_pending", &[]) >= 3.0);
    assert!(one("hookd_oldest_pending_delivery_age_seconds", &[]) >= 0.0);
    let busiest: HashMap<&str, f64> = find(&scraped, "hookd_hook_deliveries_queued", &[("status", "PENDING")])
        .into_iter()
        .map(|s| (s.labels.get("hook_id").expect("hook_id"), value(s)))
        .collect();
    assert!(
        busiest.values().any(|n| *n >= 3.0),
        "the failing hook is among the busiest: {busiest:?}"
    );
    assert!(busiest.len() <= 20, "at most 20 hooks are listed");
    assert!(one("hookd_db_connections", &[("state", "max")]) >= 1.0);
    assert!(one("hookd_delivery_attempts_failed_total", &[("class", "status")]) >= 3.0);
    assert!(
        one(
            "hookd_hook_deliveries_total",
            &[("hook_id", good["id"].as_str().expect("id")), ("result", "succeeded")]
        ) >= 3.0
    );
    assert!(one("hookd_deliveries_total", &[("result", "retry")]) >= 3.0);
    assert!(
        one(
            "hookd_http_request_duration_seconds_count",
            &[("route", "/graphql"), ("status", "200")]
        ) >= 1.0
    );
    assert!(one("hookd_delivery_attempt_duration_seconds_count", &[]) >= 6.0);
    assert!(one("hookd_events_total", &[("type", "User.Created")]) >= 3.0);
    assert_eq!(one("hookd_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert!(one("process_resident_memory_bytes", &[]) > 1_000_000.0);
    assert!(one("process_cpu_seconds_total", &[]) > 0.0);
    assert!(one("process_open_fds", &[]) > 3.0);
}

/// With `HOOKD_METRICS_LISTEN`, `/metrics` is served there (the banner says where) and not on
/// the API's address.
#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = hookd_binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env("HOOKD_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookd");
    let Banner { base, metrics, .. } = read_banner(&mut child).await;
    assert_ne!(metrics, format!("{base}/metrics"), "a separate address: {metrics}");
    let text = reqwest::get(&metrics)
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("hookd_build_info"), "{text}");
    let main = reqwest::get(format!("{base}/metrics")).await.expect("main");
    assert_eq!(main.status(), 404, "the API's address no longer serves /metrics");
}
