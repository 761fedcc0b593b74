//! Logs and traces.
//!
//! Logs go to stderr, as text or JSON lines, at `RUST_LOG`'s levels. Traces go over OTLP/HTTP
//! to `HOOKD_OTLP_ENDPOINT` when it is set (off by default): hookd's own spans (target
//! `hookd`, level DEBUG, so that with traces off and logs at INFO they cost nothing) become
//! OpenTelemetry spans through `tracing-opentelemetry`, batched and exported in the background. One event's path is one trace: the GraphQL operation (a child of the
//! caller's W3C `traceparent`, if it sent one) stores the event with the trace context of the
//! moment (`events.traceparent`), and each delivery attempt of that event, in whatever process
//! and however much later, is a child of it and sends its own `traceparent` to the receiver.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

use crate::config::{LogFormat, Otlp, OtlpProtocol};

/// What runs in the background for traces; flush it with [`Telemetry::shutdown`] before exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs the process's logging and, with `otlp`, its trace export. A `RUST_LOG` that does
/// not parse is refused rather than ignored.
pub fn init(format: LogFormat, otlp: Option<&Otlp>) -> Result<Telemetry, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).map_err(|e| format!("invalid RUST_LOG {directives:?}: {e}"))?
        }
        _ => EnvFilter::new("info"),
    };
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    let (provider, traces) = match otlp {
        None => (None, None),
        Some(otlp) => {
            let protocol = match otlp.protocol {
                OtlpProtocol::Protobuf => Protocol::HttpBinary,
                OtlpProtocol::Json => Protocol::HttpJson,
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(otlp.traces_url())
                .build()
                .map_err(|e| format!("invalid HOOKD_OTLP_ENDPOINT (--otlp-endpoint): {e}"))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("hookd")
                .build();
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("hookd"))
                .with_filter(filter::Targets::new().with_target("hookd", tracing::Level::DEBUG));
            (Some(provider), Some(layer))
        }
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| format!("cannot install logging: {e}"))?;
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Exports the spans still buffered.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("hookd: exporting the last traces failed: {e}");
        }
    }
}

/// The W3C `traceparent` of the current span, when traces are on.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
}

/// The W3C `traceparent` of `span`, when traces are on.
pub fn traceparent_of(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of `traceparent` (a caller's, or the one stored with an event); a value
/// that is not a valid W3C `traceparent` is ignored.
pub fn set_parent(span: &Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// Links `span` to the span `traceparent` names (used where one span serves many traces).
pub fn add_link(span: &Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}
