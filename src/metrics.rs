//! Prometheus metrics (`GET /metrics`, SPEC §5.5).
//!
//! The recorder is process-global (the `metrics` facade has one), installed once however many
//! servers a process starts (the tests start many).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Attempt durations in seconds: from a local receiver's sub-millisecond answers up to the
/// longest allowed timeout.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub fn install() {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("hookd_delivery_attempt_duration_seconds".into()),
                &DURATION_BUCKETS,
            )
            .ok()?
            .install_recorder();
        match recorder {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        }
    });
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
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
