//! A pipeline's compiled alert rules: each rule's conditions, timing and mail templates, built
//! once from `notify.rules` (where `validate` finds their problems) and run by `engine`.
//! The mail templates and what they see are in `mail`.

mod mail;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};

use self::mail::Mail;
use super::expr::{Condition, Vocabulary};
use super::{AlertKind, Fields};
use crate::config::Located;
use crate::config::model::{FieldType, Notify, Process, Rule, Store};
use crate::diag::Diagnostic;

/// The shortest and longest `notify.digest` period.
const DIGEST_MIN: Duration = Duration::from_secs(60);
const DIGEST_MAX: Duration = Duration::from_secs(24 * 3600);

/// Every rule of a pipeline, and what they share.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The rules, in the order they are written.
    pub rules: Vec<CompiledRule>,
    /// `notify.digest`: alerts are gathered into one mail per period.
    pub digest: Option<Duration>,
    /// The attribute that gives a record's time (for windows, cooldowns and expiry): the sort
    /// key when it is one timestamp field, else the insert time.
    pub time_field: String,
    /// The longest window any condition uses (the history a batch reads per series).
    pub longest_window: Option<Duration>,
    /// The pipeline's name (templates see it).
    pub pipeline: String,
    /// The compiled mail templates of every rule.
    mail: Mail,
}

/// One compiled rule.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// Its name.
    pub name: String,
    /// When it fires.
    pub when: Condition,
    /// When it re-arms once fired; `None`: when `when` is false.
    pub rearm: Option<Condition>,
    /// Least time between two firings for one series.
    pub cooldown: Option<Duration>,
    /// When it stops firing.
    pub expires: Option<DateTime<Utc>>,
    /// Whether it has a "back to normal" mail.
    pub resolves: bool,
}

/// What an alert's templates see.
#[derive(Clone, Copy, Debug)]
pub struct AlertContext<'a> {
    /// The record's attributes (top-level names in the templates).
    pub fields: &'a Fields,
    /// The previous record's attributes (`prev`), or null.
    pub prev: Option<&'a Fields>,
    /// The series (`series`).
    pub series: &'a str,
    /// When it happened (`fired_at`, RFC 3339).
    pub at: DateTime<Utc>,
}

/// An alert's rendered mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedAlert {
    /// Subject, one line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: Option<String>,
}

impl Rules {
    /// Compiles `notify.rules` for records processed by `process` and stored by `store`.
    /// Errors and warnings are located diagnostics (warnings on the `Ok` side).
    pub fn new(
        notify: &Notify,
        process: &Process,
        store: &Store,
        pipeline: &str,
    ) -> Result<(Rules, Vec<Diagnostic>), Vec<Diagnostic>> {
        let vocabulary = vocabulary(process, store);
        let mut found = Vec::new();
        let digest = notify.digest.as_ref().and_then(|digest| {
            let period = digest.value.0;
            if (DIGEST_MIN..=DIGEST_MAX).contains(&period) {
                return Some(period);
            }
            found.push(
                Diagnostic::error(
                    digest.position,
                    format!("digest period `{}` is out of range", digest.value),
                )
                .at("notify.digest")
                .help("from 1m to 1d, such as `15m`"),
            );
            None
        });
        let mut mail = Mail::new(&vocabulary, pipeline);
        let mut rules = Vec::with_capacity(notify.rules.len());
        for (name, rule) in &notify.rules {
            let path = format!("notify.rules.{name}");
            check_name(name, rule, &path, &mut found);
            let compiled = compile_rule(name, rule, &path, &vocabulary, &mut found);
            mail.add(rule, &path, &mut found);
            rules.extend(compiled);
        }
        if found.iter().any(Diagnostic::is_error) {
            return Err(found);
        }
        let longest_window = rules
            .iter()
            .flat_map(|r| {
                r.when
                    .windows
                    .iter()
                    .chain(r.rearm.iter().flat_map(|c| &c.windows))
            })
            .map(|w| w.span)
            .max();
        let rules = Rules {
            rules,
            digest,
            time_field: time_field(process, store),
            longest_window,
            pipeline: pipeline.to_owned(),
            mail,
        };
        Ok((rules, found))
    }

    /// Renders the mail of `kind` of the rule `rule` (an index into `rules`).
    pub fn render(
        &self,
        rule: usize,
        kind: AlertKind,
        context: &AlertContext<'_>,
    ) -> Result<RenderedAlert, String> {
        let name = &self
            .rules
            .get(rule)
            .ok_or_else(|| format!("no rule {rule}"))?
            .name;
        self.mail.render(rule, name, kind, context)
    }

    /// Whether any condition uses a window (a batch then reads each series' recent history).
    pub fn uses_windows(&self) -> bool {
        self.longest_window.is_some()
    }
}

/// What a condition and a template can name: the declared fields, the key attributes and the
/// insert-time attribute.
pub fn vocabulary(process: &Process, store: &Store) -> Vocabulary {
    let mut vocabulary = Vocabulary::default();
    for (name, field) in process.fields.iter() {
        vocabulary.fields.insert(name.clone(), field.kind.value);
        if field.required {
            vocabulary.always.insert(name.clone());
        }
    }
    let key = std::iter::once(&store.key.partition).chain(store.key.sort.as_ref());
    for name in key.map(|k| &k.name.value).chain([&store.inserted_at.value]) {
        vocabulary
            .fields
            .entry(name.clone())
            .or_insert(FieldType::String);
        vocabulary.always.insert(name.clone());
    }
    vocabulary
}

/// The sort key's field when the sort key is exactly one timestamp field (`{{quoted_at}}`),
/// else the insert-time attribute.
fn time_field(process: &Process, store: &Store) -> String {
    let sort_field = store.key.sort.as_ref().and_then(|sort| {
        let name = sort
            .value
            .trim()
            .strip_prefix("{{")?
            .strip_suffix("}}")?
            .trim();
        let field = process.fields.get(name)?;
        (field.kind.value == FieldType::Timestamp).then(|| name.to_owned())
    });
    sort_field.unwrap_or_else(|| store.inserted_at.value.clone())
}

/// A rule name is letters, digits, `_` and `-` (it is part of alert ids and log lines).
fn check_name(name: &str, rule: &Rule, path: &str, found: &mut Vec<Diagnostic>) {
    let fine = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !fine {
        found.push(
            Diagnostic::error(
                rule.when.position,
                format!("rule name `{name}` is not usable"),
            )
            .at(path)
            .help("name a rule with letters, digits, `_` and `-`, such as `big_move`"),
        );
    }
}

/// Compiles one rule's conditions and timing; `None` when any of it has an error (in `found`).
fn compile_rule(
    name: &str,
    rule: &Rule,
    path: &str,
    vocabulary: &Vocabulary,
    found: &mut Vec<Diagnostic>,
) -> Option<CompiledRule> {
    let mut condition = |text: &Located<String>, key: &str| match Condition::compile(
        text,
        &format!("{path}.{key}"),
        vocabulary,
    ) {
        Ok((condition, warnings)) => {
            found.extend(warnings);
            Some(condition)
        }
        Err(errors) => {
            found.extend(errors);
            None
        }
    };
    let when = condition(&rule.when, "when");
    let rearm = rule.rearm.as_ref().map(|text| condition(text, "rearm"));
    let cooldown = rule.cooldown.as_ref().map(|cooldown| {
        if cooldown.value.0.is_zero() {
            found.push(
                Diagnostic::error(cooldown.position, "a cooldown of 0 is no cooldown")
                    .at(format!("{path}.cooldown"))
                    .help("give a duration such as `30m`, or leave `cooldown` out"),
            );
        }
        cooldown.value.0
    });
    let expires = match &rule.expires {
        None => Some(None),
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) => {
                let at = at.with_timezone(&Utc);
                if at <= Utc::now() {
                    found.push(
                        Diagnostic::warning(
                            text.position,
                            format!("rule `{name}` expired at {at}: it never fires"),
                        )
                        .at(format!("{path}.expires")),
                    );
                }
                Some(Some(at))
            }
            Err(err) => {
                found.push(
                    Diagnostic::error(
                        text.position,
                        format!("invalid time `{}`: {err}", text.as_str()),
                    )
                    .at(format!("{path}.expires"))
                    .help("an RFC 3339 time, such as `2026-12-31T00:00:00Z`"),
                );
                None
            }
        },
    };
    Some(CompiledRule {
        name: name.to_owned(),
        when: when?,
        rearm: rearm.map_or(Some(None), |r| r.map(Some))?,
        cooldown: cooldown.filter(|c| !c.is_zero()),
        expires: expires?,
        resolves: rule.resolved.is_some(),
    })
}
