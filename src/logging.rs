//! The one log set-up: [`init_cli`] (text on stderr) for the command line, [`init_lambda`]
//! (JSON lines on stdout, for CloudWatch) for the Lambda function. Both filter with
//! `STOCKRUN_LOG` (or `RUST_LOG`; default `warn,stockrun=info`), drop the AWS SDK's
//! credential-bearing `trace` events ([`redact::shows_no_credentials`]), and write through one
//! [`Redacting`] writer that replaces every secret of the process registry
//! ([`redact::register`]: the pipeline's secrets, the poller's credential-like headers and query
//! values, the environment's AWS credentials) in every line. Code that logs therefore never
//! redacts by hand.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{FormatFields, Writer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::redact;
use crate::visible;

/// What is logged when neither `STOCKRUN_LOG` nor `RUST_LOG` is set.
const DEFAULT_FILTER: &str = "warn,stockrun=info,aws_config=error";

/// Logs to stderr as text, coloured only on a terminal. Call once, before anything logs.
pub fn init_cli() {
    redact::register_aws_credentials_from_env();
    let layer = text_layer(
        || Redacting(std::io::stderr()),
        std::io::stderr().is_terminal(),
    );
    tracing_subscriber::registry()
        .with(env_filter())
        .with(layer)
        .init();
}

/// Logs to stdout as JSON lines (what Lambda sends to CloudWatch), one object per event with the
/// fields of the invocation's span (pipeline, request id). Call once, before anything logs.
pub fn init_lambda() {
    redact::register_aws_credentials_from_env();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(|| Redacting(std::io::stdout()))
        .with_filter(filter_fn(redact::shows_no_credentials));
    tracing_subscriber::registry()
        .with(env_filter())
        .with(layer)
        .init();
}

/// `STOCKRUN_LOG`, else `RUST_LOG`, else [`DEFAULT_FILTER`].
fn env_filter() -> EnvFilter {
    let filter = std::env::var("STOCKRUN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    EnvFilter::new(filter)
}

/// The command line's text layer, writing through `writer` (tests give it a buffer), without the
/// SDK's credential-bearing events.
fn text_layer<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(VisibleFields)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
        .with_filter(filter_fn(redact::shows_no_credentials))
}

/// The text layer's field formatter: `tracing_subscriber`'s default layout (the message, then
/// `name=value` separated by spaces; names italic and `=` dimmed on a terminal) with every value
/// passed through [`visible::lines`], so ESC, BEL, CR, C1 and bidi characters from the API are
/// shown escaped (`\x1b`) instead of reaching the terminal. Newlines and tabs stay.
pub(crate) struct VisibleFields;

impl<'writer> FormatFields<'writer> for VisibleFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = VisibleVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct VisibleVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl VisibleVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        // `log` records' metadata, already shown by the formatter (as the default visitor does).
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let text = value.to_string();
        let text = visible::lines(&text);
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = match (field.name(), self.writer.has_ansi_escapes()) {
            ("message", _) => write!(self.writer, "{separator}{text}"),
            (_, true) => write!(
                self.writer,
                "{separator}\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{text}"
            ),
            (_, false) => write!(self.writer, "{separator}{name}={text}"),
        };
    }
}

impl Visit for VisibleVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// Log output with every registered secret replaced. `tracing_subscriber`'s `fmt` formats each
/// event into one buffer and writes it in one call, so a secret is never split between two
/// writes.
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(redact::redact_registered(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::redact::Redactor;

    /// A log buffer tests read back: every line written through [`Redacting`].
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// Everything logged so far.
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }

        /// A subscriber that logs everything (`trace`) in the CLI's format into this buffer,
        /// through the redacting writer.
        pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
            let buffer = self.clone();
            let layer = text_layer(move || Redacting(buffer.clone()), false);
            tracing_subscriber::registry()
                .with(EnvFilter::new("trace"))
                .with(layer)
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_registered_secret_is_replaced_in_every_line_the_writer_writes() {
        let secret = "logging-test-secret-5f4e3d";
        redact::register(&Redactor::new([(
            secret.to_owned(),
            "${LOGGING_TEST_KEY}".to_owned(),
        )]));
        let captured = Captured::default();
        tracing::subscriber::with_default(captured.subscriber(), || {
            tracing::error!(error = %format!("denied: key {secret}"), "request failed");
            tracing::info!(?secret, "debug-formatted field");
            tracing::warn!("in the message itself: {secret}");
        });
        let text = captured.text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(!text.contains(secret), "{text}");
        assert_eq!(text.matches("${LOGGING_TEST_KEY}").count(), 3, "{text}");
    }

    #[test]
    fn control_characters_in_logged_values_are_escaped() {
        let hostile = "\u{1b}]0;pwned\u{7}A\rB\u{202e}C\u{9b}";
        let captured = Captured::default();
        tracing::subscriber::with_default(captured.subscriber(), || {
            tracing::warn!(symbol = %hostile, "display field");
            tracing::warn!(symbol = ?hostile, "debug field");
            tracing::warn!("in the message: {hostile}");
        });
        let text = captured.text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{9b}']),
            "{text:?}"
        );
        assert_eq!(text.matches("]0;pwned").count(), 3, "{text}");
    }
}
