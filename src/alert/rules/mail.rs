//! An alert rule's mail: its Handlebars templates (`subject`, `text`, `html`, and the
//! `resolved` pair), compiled once in strict mode like the per-batch mail (`notify::render`),
//! their names checked by `validate`'s template checker, and rendered per alert.
//!
//! The context: the record's attributes at the top level (every declared name is present, null
//! when the record lacks it), `prev` (an object with the same names: the previous record of the
//! series; all null for a series' first record, so `{{prev.price}}` renders empty rather than
//! failing), `rule`, `series`, `pipeline` and `fired_at` (RFC 3339).

use handlebars::Handlebars;
use serde_json::{Map, Value};

use super::{AlertContext, RenderedAlert};
use crate::alert::AlertKind;
use crate::alert::expr::Vocabulary;
use crate::config::model::Rule;
use crate::config::validate::templates::{self, Scope};
use crate::config::{Located, template};
use crate::diag::Diagnostic;
use crate::visible;

/// The names an alert template sees besides the record's attributes.
const CONTEXT: [&str; 5] = ["prev", "rule", "series", "pipeline", "fired_at"];

/// The compiled templates of every rule, named `<rule index>.<template>`.
#[derive(Clone, Debug)]
pub(super) struct Mail {
    /// `subject`, `text` and the `resolved` pair: plain text, nothing escaped.
    plain: Handlebars<'static>,
    /// `html`: values HTML-escaped.
    html: Handlebars<'static>,
    /// Every attribute name, for the null-filled context.
    names: Vec<String>,
    pipeline: String,
    scope: ScopeNames,
    /// How many rules were added (the next rule's index).
    count: usize,
}

/// The names templates may use (kept to check each rule's templates).
#[derive(Clone, Debug)]
struct ScopeNames(Vec<String>);

impl Mail {
    pub(super) fn new(vocabulary: &Vocabulary, pipeline: &str) -> Mail {
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let names: Vec<String> = vocabulary.fields.keys().cloned().collect();
        let mut top = names.clone();
        top.extend(CONTEXT.iter().map(|n| (*n).to_owned()));
        Mail {
            plain,
            html,
            names,
            pipeline: pipeline.to_owned(),
            scope: ScopeNames(top),
            count: 0,
        }
    }

    /// Compiles and checks the templates of the next rule (`path` is `notify.rules.NAME`).
    pub(super) fn add(&mut self, rule: &Rule, path: &str, found: &mut Vec<Diagnostic>) {
        let index = self.count;
        self.count += 1;
        if rule.subject.contains('\n') {
            found.push(
                Diagnostic::error(rule.subject.position, "the subject is one line")
                    .at(format!("{path}.subject"))
                    .help("put the details in `text`"),
            );
        }
        let mut templates = vec![
            ("subject", Some(&rule.subject), false),
            ("text", Some(&rule.text), false),
            ("html", rule.html.as_ref(), true),
        ];
        if let Some(resolved) = &rule.resolved {
            templates.push(("resolved.subject", Some(&resolved.subject), false));
            templates.push(("resolved.text", Some(&resolved.text), false));
        }
        for (key, value, html) in templates {
            let Some(value) = value else { continue };
            let registry = if html {
                &mut self.html
            } else {
                &mut self.plain
            };
            register(
                registry,
                &format!("{index}.{key}"),
                value,
                &format!("{path}.{key}"),
                &self.scope,
                found,
            );
        }
    }

    /// Renders rule `index`'s mail of `kind`.
    pub(super) fn render(
        &self,
        index: usize,
        rule: &str,
        kind: AlertKind,
        alert: &AlertContext<'_>,
    ) -> Result<RenderedAlert, String> {
        let prefix = match kind {
            AlertKind::Fired => format!("{index}."),
            AlertKind::Resolved => format!("{index}.resolved."),
        };
        let subject_name = format!("{prefix}subject");
        if !self.plain.has_template(&subject_name) {
            return Err(format!("rule `{rule}` has no `resolved` mail"));
        }
        let context = self.context(rule, alert);
        let render = |registry: &Handlebars<'static>, name: &str| {
            registry
                .render(name, &context)
                .map_err(|e| format!("rendering the mail of rule `{rule}`: {e}"))
        };
        let subject = render(&self.plain, &subject_name)?;
        let text = render(&self.plain, &format!("{prefix}text"))?;
        let html_name = format!("{index}.html");
        let html = match kind {
            AlertKind::Fired if self.html.has_template(&html_name) => {
                Some(render(&self.html, &html_name)?)
            }
            _ => None,
        };
        Ok(RenderedAlert {
            // One line, whatever the values hold, control characters shown escaped (as the
            // per-batch mail's subject).
            subject: visible::one_line(
                &subject.lines().map(str::trim).collect::<Vec<_>>().join(" "),
            )
            .into_owned(),
            text: visible::lines(&text).into_owned(),
            html,
        })
    }

    fn context(&self, rule: &str, alert: &AlertContext<'_>) -> Value {
        let record = |fields: Option<&crate::alert::Fields>| {
            let mut object = Map::with_capacity(self.names.len() + CONTEXT.len());
            for name in &self.names {
                let value = fields
                    .and_then(|f| f.get(name))
                    .cloned()
                    .unwrap_or(Value::Null);
                object.insert(name.clone(), value);
            }
            if let Some(fields) = fields {
                for (name, value) in fields {
                    object.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
            object
        };
        let mut context = record(Some(alert.fields));
        context.insert("prev".into(), Value::Object(record(alert.prev)));
        context.insert("rule".into(), Value::String(rule.to_owned()));
        context.insert("series".into(), Value::String(alert.series.to_owned()));
        context.insert("pipeline".into(), Value::String(self.pipeline.clone()));
        context.insert(
            "fired_at".into(),
            Value::String(alert.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        Value::Object(context)
    }
}

/// Compiles `value` (at `path`) as `name` into `registry` after checking the names it uses.
fn register(
    registry: &mut Handlebars<'static>,
    name: &str,
    value: &Located<String>,
    path: &str,
    names: &ScopeNames,
    found: &mut Vec<Diagnostic>,
) {
    match template::compile(value, path) {
        Ok(mut compiled) => {
            let scope = Scope {
                top: names.0.clone(),
                each: None,
                describe_top: "an alert template has",
                feed_keys: None,
            };
            found.extend(templates::diagnostics(value, path, &scope));
            compiled.name = Some(name.to_owned());
            registry.register_template(name, compiled);
        }
        Err(problem) => found.push(problem),
    }
}
