//! A rule's condition: a CEL expression, compiled once per pipeline and evaluated per record.
//! Every rule about what a condition may say lives here, so `validate` and the runtime agree:
//! positions inside the expression, unknown names (with did-you-mean), type mistakes, windows and
//! their spans (`check`), the always-true warning, and evaluation (`eval`).

mod check;
mod eval;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr, LiteralValue, operators};
use indexmap::IndexMap;
use serde_json::Value;

use self::check::{Checker, Ty};
#[cfg(test)]
use self::eval::window_variable;
use self::eval::{ENV, Resolver};
use super::Fields;
use super::window::{Aggregate, Window};
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
    /// The expression, window calls replaced by the variables their values are bound to.
    expression: Arc<IdedExpr>,
    /// The type of each name (to bind a stored value as the CEL value of its field's type).
    kinds: Arc<IndexMap<String, FieldType>>,
    /// The type of each window's value.
    window_kinds: Vec<FieldType>,
    /// Each window call as written (for evaluation errors).
    window_texts: Vec<String>,
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
        let at =
            |line: usize, column: usize, message: String, help: Option<String>, error: bool| {
                let diagnostic = if error {
                    Diagnostic::error(text.position, message)
                } else {
                    Diagnostic::warning(text.position, message)
                };
                let diagnostic = diagnostic.within(text, line, column).at(path);
                match help {
                    Some(help) => diagnostic.help(help),
                    None => diagnostic,
                }
            };
        let program = ENV.compile(text).map_err(|errors| {
            errors
                .errors
                .iter()
                .map(|e| {
                    let line = usize::try_from(e.pos.0 - 1).unwrap_or(0);
                    let column = usize::try_from(e.pos.1 - 1).unwrap_or(0);
                    let message = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
                    at(
                        line,
                        column,
                        format!("invalid condition: {message}"),
                        Some("conditions are CEL: `price > 2000.0 && prev.price <= 2000.0`".into()),
                        true,
                    )
                })
                .collect::<Vec<_>>()
        })?;
        let info = program.source_info();
        let place = |id: u64, shift: isize| -> (usize, usize) {
            let offset = info.offset_for(id).map_or(0, |(start, _)| start as usize);
            line_column(text, offset.saturating_add_signed(shift))
        };
        let mut expression = program.expression().clone();
        let mut checker = Checker::new(vocabulary);
        let ty = checker.expr(&mut expression, text);
        let mut errors: Vec<Diagnostic> = checker
            .problems
            .iter()
            .map(|p| {
                let (line, column) = place(p.id, p.shift);
                at(line, column, p.message.clone(), p.help.clone(), true)
            })
            .collect();
        if errors.is_empty() && !matches!(ty, Ty::Bool | Ty::Dyn) {
            let (line, column) = place(expression.id, 0);
            errors.push(at(
                line,
                column,
                format!("the condition is {}, not a bool", ty.a()),
                Some("compare it: `price > 2000.0`".into()),
                true,
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut warnings = Vec::new();
        if constant(&expression) == Some(true) {
            warnings.push(at(
                0,
                0,
                "the condition is always true: the rule fires on every record".into(),
                Some("compare a field, such as `price > 2000.0`".into()),
                false,
            ));
        }
        for (name, id) in &checker.used {
            if !vocabulary.always.contains(name) {
                let (line, column) = place(*id, 0);
                warnings.push(at(
                    line,
                    column,
                    format!("`{name}` is not required: the rule is skipped for records without it"),
                    Some(format!(
                        "mark `process.fields.{name}` `required: true` if every record has it"
                    )),
                    false,
                ));
            }
        }
        let window_kinds = checker
            .windows
            .iter()
            .map(|w| match (w.aggregate, &w.field) {
                (Aggregate::Count, _) => FieldType::Integer,
                (Aggregate::First | Aggregate::Last, Some(field)) => vocabulary.fields[field],
                _ => FieldType::Number,
            })
            .collect();
        let condition = Condition {
            windows: checker.windows,
            expression: Arc::new(expression),
            kinds: Arc::new(vocabulary.fields.clone()),
            window_kinds,
            window_texts: checker.window_texts,
        };
        Ok((condition, warnings))
    }

    /// Whether the condition holds for one record. A result that is not a bool, or an error
    /// (a missing optional field, no previous record, a division by zero), is an [`EvalError`].
    pub fn evaluate(&self, scope: &Scope<'_>) -> Result<bool, EvalError> {
        let resolver = Resolver {
            scope,
            kinds: &self.kinds,
            window_kinds: &self.window_kinds,
        };
        match eval::run(&self.expression, &resolver) {
            Ok(cel::Value::Bool(result)) => Ok(result),
            Ok(other) => Err(EvalError(format!(
                "the condition gave {other:?}, not a bool"
            ))),
            Err(error) => Err(EvalError(eval::explain(&error, &self.window_texts))),
        }
    }
}

/// The 0-based line and character column of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count())
}

/// The value of a condition that does not depend on the record: literals, and `&&`, `||` and
/// `!` over them (`x > 1 || true` is true). `None` when it depends on the record.
fn constant(expr: &IdedExpr) -> Option<bool> {
    match &expr.expr {
        Expr::Literal(LiteralValue::Boolean(b)) => Some(*b.inner()),
        Expr::Call(call) if call.target.is_none() => {
            let args: Vec<Option<bool>> = call.args.iter().map(constant).collect();
            match call.func_name.as_str() {
                operators::LOGICAL_AND => match (args[0], args[1]) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                operators::LOGICAL_OR => match (args[0], args[1]) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                operators::LOGICAL_NOT => args[0].map(|b| !b),
                _ if literals_only(expr) => {
                    let empty = Fields::new();
                    let scope = Scope {
                        fields: &empty,
                        prev: None,
                        windows: &[],
                    };
                    let kinds = IndexMap::new();
                    let resolver = Resolver {
                        scope: &scope,
                        kinds: &kinds,
                        window_kinds: &[],
                    };
                    match eval::run(expr, &resolver) {
                        Ok(cel::Value::Bool(b)) => Some(b),
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `expr` is made of literals and operators only (no name, no window).
fn literals_only(expr: &IdedExpr) -> bool {
    match &expr.expr {
        Expr::Literal(_) => true,
        Expr::Call(call) => {
            let operator = call.func_name.starts_with('_')
                || call.func_name.ends_with('_')
                || call.func_name == operators::IN;
            operator && call.target.is_none() && call.args.iter().all(literals_only)
        }
        Expr::List(list) => list.elements.iter().all(literals_only),
        _ => false,
    }
}

/// The variable a window call became (for tests).
#[cfg(test)]
fn variable(index: usize) -> String {
    window_variable(index)
}
