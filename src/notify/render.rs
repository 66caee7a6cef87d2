//! Renders the digest e-mail of a batch from the pipeline's Handlebars templates, compiled once
//! (which is where their syntax is checked, for `validate` and the consumer alike).
//!
//! The context is exactly what `validate` checks templates against: `pipeline`, `count` and
//! `records` at the top level; each record has its fields, the `inserted_at` attribute and `feed`.
//! Templates render in strict mode, so a misspelt name is an error rather than an empty string;
//! a declared field a record does not have is present as null (rendered empty), because
//! optional fields are optional.

use handlebars::Handlebars;
use lettre::message::Mailbox;
use serde_json::{Map, Value, json};

use super::Email;
use crate::alert::Alert;
use crate::config::model::Notify;
use crate::config::{Located, template};
use crate::diag::Diagnostic;
use crate::store::Item;
use crate::visible;

/// Why a digest could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Rendering failed, such as a helper given the wrong arguments.
    #[error("rendering notify.{name}: {message}")]
    Render {
        /// Which template.
        name: &'static str,
        /// What Handlebars said.
        message: String,
    },
    /// An address holds a `${…}` variable that was not set (`validate` warns about it).
    #[error("{path} `{written}` holds an unset variable: set it to send e-mail")]
    UnsetAddress {
        /// Where, such as `notify.from`.
        path: String,
        /// The address as written.
        written: String,
    },
}

/// A parsed `notify.from` or `notify.to` address, or, when it holds a `${…}` variable that was
/// not set, the address as written (checked once set).
pub type Address = Result<Mailbox, String>;

/// One stored record as the templates see it.
#[derive(Clone, Copy, Debug)]
pub struct StoredRecord<'a> {
    /// The item as it was written.
    pub item: &'a Item,
    /// The feed the record came from.
    pub feed: &'a Map<String, Value>,
}

/// The compiled `notify` templates of a pipeline.
#[derive(Clone)]
pub struct Templates {
    /// `subject` and `text`: plain text, nothing escaped.
    plain: Handlebars<'static>,
    /// `html`: values HTML-escaped.
    html: Option<Handlebars<'static>>,
    from: Address,
    to: Vec<Address>,
    fields: Vec<String>,
    pipeline: String,
}

impl Templates {
    /// Compiles the templates of `notify` for the pipeline named `pipeline`, whose records
    /// have `fields`, and parses its addresses (see [`addresses`]). The error lists every
    /// template that does not compile and every address that does not parse.
    pub fn new(
        notify: &Notify,
        fields: Vec<String>,
        pipeline: &str,
    ) -> Result<Templates, Vec<Diagnostic>> {
        let (addresses, mut problems) = match addresses(notify) {
            Ok(addresses) => (Some(addresses), Vec::new()),
            Err(problems) => (None, problems),
        };
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        if let Some(subject) = &notify.subject {
            register(&mut plain, "subject", subject, &mut problems);
        }
        if let Some(text) = &notify.text {
            register(&mut plain, "text", text, &mut problems);
        }
        let html = notify.html.as_ref().map(|template| {
            let mut html = Handlebars::new();
            html.set_strict_mode(true);
            register(&mut html, "html", template, &mut problems);
            html
        });
        let Some((from, to)) = addresses.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        Ok(Templates {
            plain,
            html,
            from,
            to,
            fields,
            pipeline: pipeline.to_owned(),
        })
    }

    /// Whether the pipeline mails every batch's new records (`notify.subject` and `text`).
    pub fn mails_batches(&self) -> bool {
        self.plain.has_template("subject") && self.plain.has_template("text")
    }

    /// The e-mail for a batch of stored records.
    pub fn render(&self, records: &[StoredRecord<'_>]) -> Result<Email, RenderError> {
        let context = self.context(records);
        let render = |registry: &Handlebars<'static>, name: &'static str| {
            registry
                .render(name, &context)
                .map_err(|e| RenderError::Render {
                    name,
                    message: e.to_string(),
                })
        };
        let set = |address: &Address, path: String| {
            address
                .clone()
                .map_err(|written| RenderError::UnsetAddress { path, written })
        };
        let from = set(&self.from, "notify.from".to_owned())?;
        let to = self
            .to
            .iter()
            .enumerate()
            .map(|(i, to)| set(to, format!("notify.to[{i}]")))
            .collect::<Result<Vec<Mailbox>, RenderError>>()?;
        let subject = render(&self.plain, "subject")?;
        Ok(Email {
            from,
            to,
            // A subject is one line, whatever the template's values hold, and shows its control
            // characters escaped (for every notifier, SES included).
            subject: visible::one_line(
                &subject.lines().map(str::trim).collect::<Vec<_>>().join(" "),
            )
            .into_owned(),
            text: visible::lines(&render(&self.plain, "text")?).into_owned(),
            html: match &self.html {
                Some(html) => Some(render(html, "html")?),
                None => None,
            },
            images: Vec::new(),
        })
    }

    /// The e-mail of one alert, rendered when it was raised.
    pub fn alert_email(&self, alert: &Alert) -> Result<Email, RenderError> {
        Ok(Email {
            from: self.sender()?,
            to: self.recipients()?,
            subject: alert.subject.clone(),
            text: alert.text.clone(),
            html: alert.html.clone(),
            images: Vec::new(),
        })
    }

    /// One e-mail gathering `alerts` (`notify.digest`): each alert's subject and text in turn.
    pub fn digest_email(&self, alerts: &[Alert]) -> Result<Email, RenderError> {
        let mut text = String::new();
        for alert in alerts {
            text.push_str(&alert.subject);
            text.push('\n');
            text.push_str(alert.text.trim_end());
            text.push_str("\n\n");
        }
        let rules: std::collections::BTreeSet<&str> =
            alerts.iter().map(|alert| alert.rule.as_str()).collect();
        let count = alerts.len();
        let noun = if count == 1 { "alert" } else { "alerts" };
        Ok(Email {
            from: self.sender()?,
            to: self.recipients()?,
            subject: format!(
                "{}: {count} {noun} ({})",
                self.pipeline,
                rules.into_iter().collect::<Vec<_>>().join(", ")
            ),
            text,
            html: None,
            images: Vec::new(),
        })
    }

    fn sender(&self) -> Result<Mailbox, RenderError> {
        self.from
            .clone()
            .map_err(|written| RenderError::UnsetAddress {
                path: "notify.from".to_owned(),
                written,
            })
    }

    fn recipients(&self) -> Result<Vec<Mailbox>, RenderError> {
        self.to
            .iter()
            .enumerate()
            .map(|(i, to)| {
                to.clone().map_err(|written| RenderError::UnsetAddress {
                    path: format!("notify.to[{i}]"),
                    written,
                })
            })
            .collect()
    }

    fn context(&self, records: &[StoredRecord<'_>]) -> Value {
        let records: Vec<Value> = records
            .iter()
            .map(|record| {
                let mut object = Map::with_capacity(record.item.attributes.len() + 2);
                for name in &self.fields {
                    object.insert(name.clone(), Value::Null);
                }
                for (name, value) in &record.item.attributes {
                    object.insert(name.clone(), value.clone());
                }
                object.insert("feed".to_owned(), Value::Object(record.feed.clone()));
                Value::Object(object)
            })
            .collect();
        json!({
            "pipeline": self.pipeline,
            "count": records.len(),
            "records": records,
        })
    }
}

/// Parses `notify.from` and every `notify.to` once, into the mailboxes every notifier sends
/// with: the one place the address rule lives (`validate` reports what it returns). An address
/// holding an unset `${…}` variable is kept as written and not checked (`validate` warns about
/// the variable; rendering an e-mail with it fails). The error has one located diagnostic per
/// address that does not parse.
pub fn addresses(notify: &Notify) -> Result<(Address, Vec<Address>), Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut parse = |address: &Located<String>, path: &str| -> Address {
        if address.contains("${") {
            return Err(address.value.clone());
        }
        address.parse::<Mailbox>().map_err(|err| {
            problems.push(
                Diagnostic::error(
                    address.position,
                    format!("invalid e-mail address `{}`: {err}", address.as_str()),
                )
                .at(path)
                .help("write `name@example.com` or `Name <name@example.com>`"),
            );
            address.value.clone()
        })
    };
    let from = parse(&notify.from, "notify.from");
    let to = notify
        .to
        .iter()
        .enumerate()
        .map(|(i, to)| parse(to, &format!("notify.to[{i}]")))
        .collect();
    if problems.is_empty() {
        Ok((from, to))
    } else {
        Err(problems)
    }
}

/// Compiles `template` as `notify.NAME` into `registry`, or adds why it does not compile to
/// `problems`.
fn register(
    registry: &mut Handlebars<'static>,
    name: &'static str,
    template: &Located<String>,
    problems: &mut Vec<Diagnostic>,
) {
    match template::compile(template, &format!("notify.{name}")) {
        Ok(mut compiled) => {
            compiled.name = Some(name.to_owned());
            registry.register_template(name, compiled);
        }
        Err(problem) => problems.push(problem),
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use serde_json::{Map, Value};

    use super::{StoredRecord, Templates};
    use crate::config::env::Environment;
    use crate::config::load::{UnsetVariables, check};
    use crate::store::Item;

    fn templates(notify: &str) -> Templates {
        let yaml = format!(
            "name: t\nsource: {{ url: 'https://a.example/q' }}\nprocess:\n  fields:\n    symbol: {{ path: $.s, required: true }}\n    low: {{ path: $.l, type: number }}\nstore:\n  table: quotes\n  key: {{ partition: {{ name: symbol, value: '{{{{symbol}}}}' }} }}\nnotify:\n  from: a@example.com\n  to: [b@example.com]\n{notify}"
        );
        let checked = check(
            yaml.as_bytes(),
            &Environment::from_pairs::<&str, &str>([]),
            UnsetVariables::Deny,
        );
        let pipeline = checked
            .pipeline
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let fields = pipeline.process.fields.keys().cloned().collect();
        let notify = pipeline.notify.as_ref().expect("notify is set");
        Templates::new(notify, fields, &pipeline.name).expect("templates compile")
    }

    fn item(symbol: &str, low: Option<&str>) -> Item {
        let mut attributes = IndexMap::new();
        attributes.insert("symbol".to_owned(), Value::String(symbol.to_owned()));
        if let Some(low) = low {
            attributes.insert(
                "low".to_owned(),
                Value::Number(serde_json::from_str(low).unwrap()),
            );
        }
        attributes.insert(
            "inserted_at".to_owned(),
            Value::String("2024-01-01T00:00:00.000Z".into()),
        );
        Item {
            partition: symbol.to_owned(),
            sort: None,
            attributes,
        }
    }

    #[test]
    fn missing_optional_fields_render_empty_and_text_is_not_escaped() {
        let t = templates(
            "  subject: \"{{count}} quotes for {{pipeline}}\"\n  text: \"{{#each records}}{{symbol}}={{low}};{{/each}}\"\n  html: \"{{#each records}}<b>{{symbol}}</b>{{/each}}\"\n",
        );
        let feed = Map::new();
        let (a, b) = (item("S&P", Some("1.50")), item("X", None));
        let email = t
            .render(&[
                StoredRecord {
                    item: &a,
                    feed: &feed,
                },
                StoredRecord {
                    item: &b,
                    feed: &feed,
                },
            ])
            .unwrap();
        assert_eq!(email.subject, "2 quotes for t");
        assert_eq!(email.text, "S&P=1.50;X=;");
        assert_eq!(email.html.as_deref(), Some("<b>S&amp;P</b><b>X</b>"));
        let to: Vec<String> = email.to.iter().map(ToString::to_string).collect();
        assert_eq!(to, ["b@example.com"]);
    }

    #[test]
    fn addresses_are_parsed_once_and_an_unset_variable_fails_only_the_rendering() {
        let t = templates("  subject: s\n  text: t\n");
        let feed = Map::new();
        let a = item("A", None);
        let record = StoredRecord {
            item: &a,
            feed: &feed,
        };
        let email = t.render(&[record]).unwrap();
        assert_eq!(email.from.email.to_string(), "a@example.com");
        let mut unset = t.clone();
        unset.from = Err("${MAIL_FROM}".to_owned());
        let error = unset.render(&[record]).unwrap_err().to_string();
        assert_eq!(
            error,
            "notify.from `${MAIL_FROM}` holds an unset variable: set it to send e-mail"
        );
    }
}
