//! Keeps secrets out of logs, errors and e-mails: every value substituted from the environment
//! into the pipeline (API keys) and every value of a secret-looking header is replaced by the
//! reference that brought it (`${RAPIDAPI_KEY}`) or by `<redacted>`.

use std::borrow::Cow;

/// Replaces known secret values in text before it is shown anywhere. Its `Debug` output shows
/// only what replaces the secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    /// `(secret value, what to show instead)`, longest value first.
    secrets: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<&str> = self.secrets.iter().map(|(_, s)| s.as_str()).collect();
        f.debug_struct("Redactor").field("secrets", &shown).finish()
    }
}

impl Redactor {
    /// A redactor for these `(value, replacement)` pairs. Empty values are ignored.
    pub fn new(secrets: impl IntoIterator<Item = (String, String)>) -> Redactor {
        let mut secrets: Vec<(String, String)> =
            secrets.into_iter().filter(|(v, _)| !v.is_empty()).collect();
        secrets.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        secrets.dedup_by(|a, b| a.0 == b.0);
        Redactor { secrets }
    }

    /// Adds one more secret, shown as `<redacted>`.
    pub fn add(&mut self, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() && !self.secrets.iter().any(|(v, _)| *v == value) {
            self.secrets.push((value, "<redacted>".to_owned()));
            self.secrets
                .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        }
    }

    /// `text` with every secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for (value, shown) in &self.secrets {
            if text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), shown));
            }
        }
        text
    }
}

/// Whether a log event or span may be shown: not the AWS SDK's `trace` ones, which print the
/// access key ID (the resolved identity and the signing parameters; the SDK itself hides the
/// secret key and the session token). For `tracing_subscriber::filter::filter_fn`.
pub fn shows_no_credentials(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    *metadata.level() != tracing::Level::TRACE
        || !(target.starts_with("aws_smithy_runtime")
            || target.starts_with("aws_sigv4")
            || target.starts_with("aws_credential_types")
            || target.starts_with("aws_config"))
}

/// The AWS credentials in the environment, each shown as `<redacted>`: the SDK prints the access
/// key ID in some of its `debug` events (endpoint parameters), whatever stockrun does.
pub fn aws_credentials_from_env() -> Redactor {
    let values = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok())
    .map(|value| (value, "<redacted>".to_owned()));
    Redactor::new(values)
}

/// Log output (to stderr on the command line, stdout in Lambda) with every secret the redactor
/// knows replaced; `tracing_subscriber`'s `fmt` writes each event in one call, so a secret is
/// never split between two writes.
pub struct Redacted<W>(pub W, pub std::sync::Arc<Redactor>);

impl<W: std::io::Write> std::io::Write for Redacted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(self.1.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::Redactor;

    #[test]
    fn replaces_longest_first() {
        let mut r = Redactor::new([
            ("abcdef".to_owned(), "${A}".to_owned()),
            ("abcdefgh".to_owned(), "${B}".to_owned()),
        ]);
        r.add("zzzzzz");
        assert_eq!(
            r.redact("x abcdefgh y abcdef zzzzzz"),
            "x ${B} y ${A} <redacted>"
        );
        assert_eq!(r.redact("nothing"), "nothing");
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("abcdef") && !debug.contains("zzzzzz"),
            "{debug}"
        );
    }
}
