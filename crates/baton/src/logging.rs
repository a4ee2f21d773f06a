//! Logs through `tracing`, to stderr: readable text by default, JSON lines on request. Every
//! line is written with e-mail addresses and phone numbers masked, whatever put them there (an
//! error quoting a recipient, a service's answer).
//!
//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the
//! engine's spans (target `baton::trace`: one per execution run, one per step inside it, ids
//! and kinds only) are exported by OTLP over HTTP, protobuf or, with
//! `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, JSON. The logs never show those spans.

use std::io::{IsTerminal, Write};
use std::sync::{LazyLock, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use regex::Regex;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogFormat;

/// Installs the global subscriber. The filter was checked when the settings were resolved.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(|| Masked(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(fmt);
    let traces = tracer().map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(Targets::new().with_target("baton::trace", tracing::Level::TRACE))
    });
    subscriber.with(traces).init();
}

/// The tracer provider, while traces are on: [`shutdown`] sends what it holds.
static TRACES: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();

/// The OTLP tracer, when an endpoint is configured (the standard `OTEL_*` variables).
fn tracer() -> Option<opentelemetry_sdk::trace::Tracer> {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return None;
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    let protocol = match protocol.trim() {
        "http/json" => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("baton: warning: traces are off, the OTLP exporter did not start: {error}");
            return None;
        }
    };
    // The resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; `baton` otherwise.
    let mut resource = opentelemetry_sdk::Resource::builder();
    if !set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name("baton");
    }
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("baton");
    let _ = TRACES.set(provider);
    Some(tracer)
}

/// Sends the spans not yet exported, when traces are on; called once the command is done.
pub fn shutdown() {
    if let Some(provider) = TRACES.get()
        && let Err(error) = provider.shutdown()
    {
        eprintln!("baton: warning: the last traces could not be sent: {error}");
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("the e-mail pattern compiles")
});
/// International numbers (`+44 20 7946 0958`, `+1-415-555-0100`) and North American ones
/// written `(415) 555-0100`; dates, times and ids have no `+` or parenthesised area code.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+\d{1,3}[ .-]?(\(\d{1,4}\)[ .-]?)?\d{1,4}([ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}")
        .expect("the phone pattern compiles")
});

/// A log line with its e-mail addresses and phone numbers masked.
pub fn mask(line: &str) -> String {
    let line = EMAIL.replace_all(line, "[email]");
    PHONE.replace_all(&line, "[phone]").into_owned()
}

/// Stderr, each line written masked.
struct Masked<W>(W);

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let masked = mask(&String::from_utf8_lossy(buf));
        self.0.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn addresses_and_phone_numbers_are_masked_and_dates_and_ids_are_not() {
        assert_eq!(
            mask("could not send to ann.lee+shop@customer.example.co.uk: refused"),
            "could not send to [email]: refused"
        );
        assert_eq!(
            mask("call +44 20 7946 0958 or +1-415-555-0100"),
            "call [phone] or [phone]"
        );
        assert_eq!(mask("or (415) 555-0100 today"), "or [phone] today");
        let kept = r#"{"timestamp":"2026-12-04T21:52:06.123Z","execution":"0196f1c2-7a3b-7c4d-8e5f-0123456789ab","latency_ms":1234}"#;
        assert_eq!(mask(kept), kept);
    }
}
