//! Logs through `tracing`, to stderr: readable text by default, JSON lines on request. Every
//! line is written with e-mail addresses and phone numbers masked, whatever put them there (an
//! error quoting a recipient, a service's answer).

use std::io::{IsTerminal, Write};
use std::sync::LazyLock;

use regex::Regex;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. The filter was checked when the settings were resolved.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Masked(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
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
