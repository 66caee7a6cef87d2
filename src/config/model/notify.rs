//! The `notify` section: who is told what. Alert rules (`rules`) mail what matters, once; the
//! per-batch mail (`subject` + `text`) lists the new or changed records of every batch.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, MailChart};
use crate::config::Located;

/// Who is told what, by e-mail.
///
/// Give `rules` to mail alerts: each rule is a condition over the record, the previous record of
/// its series and the series' stored history; it fires once, then re-arms. Give `subject` and
/// `text` (without rules, or beside them) to mail every batch's new or changed records, as a
/// digest. A mail with nothing new in it is never sent.
///
/// Templates are Handlebars in strict mode. A batch mail sees `pipeline`, `count` and `records`
/// (inside `{{#each records}}` each record has its fields, `inserted_at` and `feed`). An alert
/// mail sees the record's fields, `prev` (the previous record's fields; empty for a series' first), `rule`,
/// `series`, `pipeline` and `fired_at`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Sender, such as `stockrun@example.com` or `Stock bot <bot@example.com>`. On AWS it must be
    /// a verified SES identity.
    pub from: Located<String>,
    /// Recipients.
    pub to: Located<Vec<Located<String>>>,
    /// Subject template of the per-batch mail, such as `{{count}} new quotes`. With `text`, every
    /// batch that stored new or changed records mails them.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Located<String>>,
    /// Plain-text body template of the per-batch mail.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Located<String>>,
    /// HTML body template of the per-batch mail, sent beside the text body.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<Located<String>>,
    /// Alert rules by name (letters, digits, `_` and `-`). Each series (the records sharing the
    /// partition key, such as one symbol) has its own state per rule.
    #[serde(default)]
    pub rules: IndexMap<String, Rule>,
    /// Gathers the alerts fired in a period, such as `15m`, into one mail per period (per
    /// pipeline) instead of one mail per alert. Locally the consumer sends it; on Lambda the
    /// scheduled invocation does.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Located<Duration>>,
    /// How long one attempt to send the e-mail may take in all (connecting, every SMTP exchange,
    /// or the whole SES call) before it is abandoned; a failed attempt is retried 3 times, with
    /// pauses of at most 2.8 s in all. Default `10s`. On Lambda the four attempts must fit in the
    /// function's timeout with room to spare: keep `--function-timeout` at least 4 × this +
    /// 15 s (the default 60 s fits the default 10 s).
    #[serde(default = "default_timeout")]
    pub timeout: Located<Duration>,
    /// A small PNG chart per series in the mail (the per-batch mail, each alert, the digest),
    /// as an inline image of its HTML part; the text part is unchanged. `{}` for a chart of the
    /// last day, 600 × 240 pixels, or such as `{since: 7d, width: 800, height: 300}`. The fields
    /// it draws are the `chart` section's.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<Located<MailChart>>,
}

/// One alert rule: when it fires, when it re-arms, and what it mails.
///
/// Conditions are CEL expressions (the language of Kubernetes validation rules). They see each
/// declared field by name (`price`), `prev` (the previous stored record of the series, by sort
/// key: `prev.price`), and window aggregates over the series' stored records before this one:
/// `min_over(price, "20d")`, `max_over`, `avg_over`, `first_over`, `last_over`, and
/// `count_over("1h")`. A condition that cannot be evaluated for a record (an optional field
/// missing, no previous record yet) skips the rule for that record; the record is stored anyway.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The condition that fires the rule, such as
    /// `prev.price > 0.0 && abs(price - prev.price) / prev.price > 0.02`.
    pub when: Located<String>,
    /// The condition that re-arms the rule once it fired. Default: `when` is false again. Write
    /// one to re-arm only after the value moved back by some amount, such as `price < 1990.0`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rearm: Option<Located<String>>,
    /// The least time between two firings of this rule for one series, such as `30m`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Located<Duration>>,
    /// When the rule stops firing: an RFC 3339 time such as `2026-12-31T00:00:00Z`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Located<String>>,
    /// Subject template of the alert, such as `{{symbol}} moved to {{price}}`.
    pub subject: Located<String>,
    /// Plain-text body template of the alert.
    pub text: Located<String>,
    /// HTML body template of the alert, sent beside the text body.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<Located<String>>,
    /// A "back to normal" mail, sent when the rule re-arms after it fired.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
}

/// The "back to normal" mail of a rule.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// Subject template, such as `{{symbol}} back to {{price}}`.
    pub subject: Located<String>,
    /// Plain-text body template.
    pub text: Located<String>,
}

/// The default per-attempt deadline of an e-mail: ample for one e-mail to a healthy server, short
/// enough that four attempts fit in the default Lambda function timeout (60 s).
fn default_timeout() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(10))
}
