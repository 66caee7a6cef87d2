//! The `notify` section: the e-mail sent after each processed batch.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Duration;
use crate::config::Located;

/// An e-mail digest of every processed batch.
///
/// Templates are Handlebars in strict mode. At the top level they see `pipeline` (the name),
/// `count` (records in the batch) and `records`; inside `{{#each records}}` each record has its
/// fields, `inserted_at` and `feed`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Sender, such as `stockrun@example.com` or `Stock bot <bot@example.com>`. On AWS it must be
    /// a verified SES identity.
    pub from: Located<String>,
    /// Recipients.
    pub to: Located<Vec<Located<String>>>,
    /// Subject template, such as `{{count}} new quotes`.
    pub subject: Located<String>,
    /// Plain-text body template.
    pub text: Located<String>,
    /// HTML body template, sent beside the text body.
    #[serde(default)]
    pub html: Option<Located<String>>,
    /// How long one attempt to send the e-mail may take in all (connecting, every SMTP exchange,
    /// or the whole SES call) before it is abandoned; a failed attempt is retried 3 times, with
    /// pauses of at most 2.8 s in all. Default `10s`. On Lambda the four attempts must fit in the
    /// function's timeout with room to spare: keep `--function-timeout` at least 4 × this +
    /// 15 s (the default 60 s fits the default 10 s).
    #[serde(default = "default_timeout")]
    pub timeout: Located<Duration>,
}

/// The default per-attempt deadline of an e-mail: ample for one e-mail to a healthy server, short
/// enough that four attempts fit in the default Lambda function timeout (60 s).
fn default_timeout() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(10))
}
