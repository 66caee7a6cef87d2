//! Keeps secrets out of logs, errors and e-mails: every value substituted from the environment
//! into the pipeline (API keys) and every value of a secret-looking header is replaced by the
//! reference that brought it (`${API_KEY}`) or by `<redacted>`. Which header and query names look
//! secret is decided in one place, [`is_secret_name`], for `validate`'s literal-secret warning,
//! the source's redaction and `deploy-template`'s parameters.
//!
//! A [`Redactor`] is a set of secrets. What the process knows is also kept in one process-wide
//! registry: loading a pipeline and building its poller [`register`] their secrets, the log
//! set-up registers the environment's AWS credentials, and the log writer (`crate::logging`)
//! replaces every registered secret in every line it writes. Code that logs does not redact by
//! hand; text that leaves the process another way (a returned error, `show`'s table, the CLI's
//! last `stockrun: error:` line through [`redact_registered`]) still does.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

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

    /// Adds every secret of `other`, with its replacement (a value already known keeps its own).
    pub fn extend(&mut self, other: &Redactor) {
        for (value, shown) in &other.secrets {
            if !self.secrets.iter().any(|(v, _)| v == value) {
                self.secrets.push((value.clone(), shown.clone()));
            }
        }
        self.secrets
            .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    }

    /// The same secrets, every one shown as `shown` (such as `<redacted>`) rather than as the
    /// reference that brought it: for output that must not read as a `${VAR}` (`stockrun echo`).
    pub fn showing_all_as(&self, shown: &str) -> Redactor {
        Redactor {
            secrets: self
                .secrets
                .iter()
                .map(|(value, _)| (value.clone(), shown.to_owned()))
                .collect(),
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

/// Every secret the process has met; read by the log writer for every line. A `Redactor` with no
/// secrets is built without allocating, so this needs no lazy initialisation.
static REGISTRY: RwLock<Redactor> = RwLock::new(Redactor {
    secrets: Vec::new(),
});

/// Registers every secret `redactor` knows, so that no log line and no [`redact_registered`]
/// text shows it from now on. Secrets are never unregistered: a process that met a key keeps
/// hiding it.
pub fn register(redactor: &Redactor) {
    if redactor.secrets.is_empty() {
        return;
    }
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(&redactor.with_escaped_forms());
}

/// `text` with every registered secret replaced: what the log writer does to each line, and what
/// the command line does to its last `stockrun: error: …` line.
pub fn redact_registered(text: &str) -> Cow<'_, str> {
    REGISTRY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .redact(text)
}

impl Redactor {
    /// These secrets plus the forms a log line can show them in besides the raw one: escaped as
    /// in a JSON string (the Lambda log) and as in Rust's `Debug` (a `?field`). The log writer
    /// sees the line after formatting, so a secret with a quote or a backslash would otherwise
    /// slip through escaped.
    fn with_escaped_forms(&self) -> Redactor {
        let mut all = self.secrets.clone();
        for (value, shown) in &self.secrets {
            let json = serde_json::to_string(value).unwrap_or_default();
            let json = json
                .get(1..json.len().saturating_sub(1))
                .unwrap_or_default();
            for escaped in [json.to_owned(), value.escape_debug().to_string()] {
                if escaped != *value {
                    all.push((escaped, shown.clone()));
                }
            }
        }
        Redactor::new(all)
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

/// Registers the AWS credentials in the environment, each shown as `<redacted>`: the SDK prints
/// the access key ID in some of its `debug` events (endpoint parameters), whatever stockrun does.
/// The log set-up calls this once.
pub fn register_aws_credentials_from_env() {
    let values = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok())
    .map(|value| (value, "<redacted>".to_owned()));
    register(&Redactor::new(values));
}

/// Words that, in a header or query parameter name, say it carries a credential.
const SECRET_NAME_WORDS: [&str; 10] = [
    "key",
    "apikey",
    "token",
    "secret",
    "auth",
    "authorization",
    "password",
    "passwd",
    "signature",
    "credential",
];

/// Whether a header or query parameter name says it carries a credential: one of its words
/// (split at `-`, `_`, `.`) is a credential word, or it ends in `key`, `token` or `secret`
/// (`apikey`, `accesstoken`). `X-Author` and `keywords` do not.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower
        .split(['-', '_', '.', ' '])
        .any(|word| SECRET_NAME_WORDS.contains(&word))
        || ["key", "token", "secret"]
            .iter()
            .any(|end| lower.ends_with(end))
}

#[cfg(test)]
mod tests {
    use super::{Redactor, is_secret_name, redact_registered, register};

    #[test]
    fn recognises_credential_names() {
        for name in [
            "X-RapidAPI-Key",
            "apikey",
            "Authorization",
            "X-Access-Token",
            "api_secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "X-Author",
            "keywords",
            "X-RapidAPI-Host",
            "User-Agent",
            "function",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

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

    #[test]
    fn a_registered_secret_is_replaced_in_every_form_a_line_can_show() {
        let secret = "registry-test-\"quoted\"-value";
        assert_eq!(redact_registered(secret), secret);
        register(&Redactor::new([(
            secret.to_owned(),
            "${REGISTRY_TEST}".to_owned(),
        )]));
        let json = serde_json::to_string(secret).unwrap();
        let debug = format!("{secret:?}");
        let line = format!("raw {secret} json {json} debug {debug}");
        let shown = redact_registered(&line);
        assert!(!shown.contains("quoted"), "{shown}");
        assert_eq!(
            shown,
            "raw ${REGISTRY_TEST} json \"${REGISTRY_TEST}\" debug \"${REGISTRY_TEST}\""
        );
    }
}
