//! A pipeline's compiled alert rules: each rule's conditions, timing and mail templates, built
//! once from `notify.rules` (where `validate` finds their problems) and run by `engine`.
//!
//! STUB: the lead's interface; the expression helper fills in `Rules::new` and `render`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::expr::Condition;
use super::{AlertKind, Fields};
use crate::config::model::{Notify, Process, Store};
use crate::diag::Diagnostic;

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
        let _ = (notify, process, store, pipeline);
        todo!("expression helper")
    }

    /// Renders the mail of `kind` of the rule `rule` (an index into `rules`).
    pub fn render(
        &self,
        rule: usize,
        kind: AlertKind,
        context: &AlertContext<'_>,
    ) -> Result<RenderedAlert, String> {
        let _ = (rule, kind, context);
        todo!("expression helper")
    }

    /// Whether any condition uses a window (a batch then reads each series' recent history).
    pub fn uses_windows(&self) -> bool {
        self.longest_window.is_some()
    }
}
