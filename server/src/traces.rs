//! OpenTelemetry traces over OTLP/HTTP, on when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (with the other standard `OTEL_*`
//! variables: headers, timeout, service name, resource attributes, batch settings).
//!
//! Sluice's spans (`TRACE_TARGET`: a request, a publish and its batch's commit, each
//! delivery's claim, send and record, linked by message id) go to the collector and
//! never to the log; with traces off nothing subscribes to them, so the macros that
//! would make them cost one cached check each.

use axum::http::{HeaderMap, Method};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub use sluice_engine::telemetry::TRACE_TARGET;

/// The exporter's owner: flush and stop it before the process exits, or the last
/// spans are lost.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Traces as the standard variables say, or `None` when no endpoint is set.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return Ok(None);
        }
        Self::to(None).map(Some)
    }

    /// Traces to `traces_url` (the full `…/v1/traces` URL), or where the variables
    /// say when `None`.
    pub fn to(traces_url: Option<String>) -> anyhow::Result<Self> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        if let Some(url) = traces_url {
            exporter = exporter.with_endpoint(url);
        }
        let exporter = exporter.build()?;
        // The builder's detectors read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
        // a name set in code would override theirs, so "sluice" is only the default.
        let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
        let mut resource = Resource::builder()
            .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        if !named {
            resource = resource.with_service_name("sluice");
        }
        let resource = resource.build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        Ok(Self { provider })
    }

    /// The layer that turns Sluice's spans into OpenTelemetry ones (and nothing else:
    /// log lines stay in the log).
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer = self.provider.tracer("sluice");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(Targets::new().with_target(TRACE_TARGET, LevelFilter::INFO))
    }

    /// Sends what is buffered now (tests; the batch exporter otherwise sends every
    /// `OTEL_BSP_SCHEDULE_DELAY`).
    pub fn flush(&self) -> anyhow::Result<()> {
        Ok(self.provider.force_flush()?)
    }

    /// Sends what is left and stops the exporter.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        Ok(self.provider.shutdown()?)
    }
}

/// Leaves Sluice's spans out of a log layer's filter: they are for the collector.
pub fn without_trace_spans(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    match format!("{TRACE_TARGET}=off").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// The span of one HTTP request, named by its route's template, continuing the
/// caller's trace when its `traceparent` names one.
pub fn request_span(headers: &HeaderMap, method: &Method, template: &str, request_id: &str) -> tracing::Span {
    let span = tracing::info_span!(target: TRACE_TARGET, "request",
        otel.name = %format_args!("{method} {template}"), otel.kind = "server",
        http.request.method = %method, http.route = %template, request.id = %request_id,
        http.response.status_code = tracing::field::Empty);
    if !span.is_disabled() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
        let _ = span.set_parent(parent);
    }
    span
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
