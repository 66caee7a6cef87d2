//! The `notify` section: the e-mail sent after each processed batch.

use schemars::JsonSchema;
use serde::Deserialize;

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
}
