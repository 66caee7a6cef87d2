//! A rule's condition: a CEL expression, compiled once per pipeline and evaluated per record.
//! Every rule about what a condition may say lives here, so `validate` and the runtime agree:
//! positions inside the expression, unknown names (with did-you-mean), type mistakes, windows and
//! their spans, and the always-true warning.
//!
//! STUB: the lead's interface; the expression helper fills it in.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::Fields;
use super::window::Window;
use crate::config::Located;
use crate::config::model::FieldType;
use crate::diag::Diagnostic;

/// What a condition can name: the record's fields with their types (the key attributes and the
/// insert time are strings), and which of them every record has (`required`).
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    /// Every name a record has, with its type.
    pub fields: IndexMap<String, FieldType>,
    /// The names every stored record has (required fields, key attributes, the insert time).
    pub always: HashSet<String>,
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The windows it uses, in the order [`Scope::windows`] gives their values.
    pub windows: Vec<Window>,
}

/// What a condition sees when it is evaluated for one record.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The record's attributes.
    pub fields: &'a Fields,
    /// The previous record of the series (by sort key), when there is one.
    pub prev: Option<&'a Fields>,
    /// The value of each of the condition's windows (`None`: no record in it has the field).
    pub windows: &'a [Option<Value>],
}

/// Why a condition could not be evaluated for one record: the rule is skipped for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl Condition {
    /// Compiles `text` (found at `path`, such as `notify.rules.big_move.when`) against what a
    /// record has. Errors point inside the expression; the `Ok` side carries warnings (always
    /// true, a field used that is not always present).
    pub fn compile(
        text: &Located<String>,
        path: &str,
        vocabulary: &Vocabulary,
    ) -> Result<(Condition, Vec<Diagnostic>), Vec<Diagnostic>> {
        let _ = (text, path, vocabulary);
        todo!("expression helper")
    }

    /// Whether the condition holds for one record. A result that is not a bool, or an error
    /// (a missing optional field, no previous record, a division by zero), is an [`EvalError`].
    pub fn evaluate(&self, scope: &Scope<'_>) -> Result<bool, EvalError> {
        let _ = scope;
        todo!("expression helper")
    }
}
