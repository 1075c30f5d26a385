//! Where log lines and spans go, and how they look.
//!
//! - `flowex serve NAME` (production): the configured `log.level`
//!   (`FLOWEX_LOG_LEVEL`), and with `log.json` (`FLOWEX_LOG_JSON`; the
//!   container image and the Kubernetes configuration set it) one JSON
//!   object per line: `service` (`gateway`, `auth`, `trading`,
//!   `market-data`, `wallet`), `timestamp`, `level`, `target`, `message`
//!   and the event's fields at the top level, and `span` with the request's
//!   fields (`request_id`, `method`, `path`, and `trace_id` when spans are
//!   exported) inside a request. deploy/logging's Fluentd parses exactly
//!   these.
//! - Every other command (`flowex up`, the CLI): human-readable lines,
//!   warnings and errors only unless `RUST_LOG` says otherwise, so a
//!   terminal shows the banner, not a stream of requests. With `log.json`,
//!   `flowex up`'s lines say `"service":"flowex"` (all services, one process).
//! - `log.otlp_endpoint` (`FLOWEX_OTLP_ENDPOINT`, unset by default): spans
//!   at `info` and above of FlowEx's own crates are batched and exported
//!   over OTLP/HTTP protobuf to that URL (Jaeger's collector port 4318, or
//!   an OpenTelemetry collector) as service `flowex-NAME`, whatever
//!   `log.level` is.
//!
//! Every process also records `flowex_db_query_duration_seconds` from
//! sqlx's statement events (`flowex_service::query_metrics`), whatever the
//! level of the log lines.
//!
//! `RUST_LOG` always wins over the configured level of log lines. Lines go
//! to standard error; standard output stays for what a command prints.

use crate::ops::Overrides;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Which spans are exported: FlowEx's own at `info` and above (request
/// spans), not every dependency's.
const EXPORTED_SPANS: &str = "warn,flowex=info";

/// Keeps the span exporter alive; dropping it flushes the spans still
/// batched (so a process that exits still delivers its last requests).
#[must_use = "dropping it stops the span export"]
pub struct Telemetry(Option<SdkTracerProvider>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("flowex: flushing spans to log.otlp_endpoint failed: {e}");
            }
        }
    }
}

/// Installs the process's log subscriber. `service`: the service a
/// `flowex serve` process runs, which takes level and format from the
/// configuration; `None` for every other command.
pub fn init(overrides: &Overrides, service: Option<&'static str>) -> Telemetry {
    // A configuration that does not load is reported by the command itself.
    let log = overrides.load().ok().map(|c| c.log);
    let (level, json) = match (&log, service) {
        (Some(l), Some(_)) => (l.level.clone(), l.json),
        (Some(l), None) => ("warn".to_string(), l.json),
        (None, _) => ("warn".to_string(), false),
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let name = service.unwrap_or("flowex");
    let lines: Box<dyn Layer<Registry> + Send + Sync> = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(ServiceLines::new(name))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    let endpoint = log.and_then(|l| l.otlp_endpoint);
    let provider = endpoint.and_then(|url| match span_exporter(&url, name) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("flowex: no span export to log.otlp_endpoint {url:?}: {e}");
            None
        }
    });
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("flowex"))
            .with_filter(EnvFilter::new(EXPORTED_SPANS))
    });
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(spans)
        .with(flowex_service::query_metrics::layer())
        .init();
    Telemetry(provider)
}

/// A batching OTLP/HTTP exporter to `url`, naming the service
/// `flowex-NAME` (`flowex` for `flowex up`).
fn span_exporter(url: &str, name: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .map_err(|e| e.to_string())?;
    let service = if name == "flowex" {
        "flowex".to_string()
    } else {
        format!("flowex-{name}")
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Standard error, with `"service":NAME` as the first field of each JSON
/// line: tracing-subscriber's JSON format has no constant fields, and a
/// root span would move the request's span out of `span`, where Fluentd
/// reads it. The formatter hands over each line in one writer.
struct ServiceLines {
    prefix: Arc<[u8]>,
}

impl ServiceLines {
    fn new(service: &str) -> Self {
        let name = serde_json::to_string(service).expect("a string serialises");
        ServiceLines {
            prefix: format!("{{\"service\":{name},").into_bytes().into(),
        }
    }
}

impl<'a> MakeWriter<'a> for ServiceLines {
    type Writer = ServiceLine;

    fn make_writer(&'a self) -> ServiceLine {
        ServiceLine {
            prefix: Some(self.prefix.clone()),
            out: std::io::stderr(),
        }
    }
}

/// One line's writer: the prefix replaces the line's opening brace.
struct ServiceLine {
    prefix: Option<Arc<[u8]>>,
    out: std::io::Stderr,
}

impl Write for ServiceLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match (self.prefix.take(), buf.split_first()) {
            (Some(prefix), Some((b'{', rest))) => {
                let mut line = Vec::with_capacity(prefix.len() + rest.len());
                line.extend_from_slice(&prefix);
                line.extend_from_slice(rest);
                self.out.write_all(&line)?;
                Ok(buf.len())
            }
            _ => self.out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
