//! Evaluation of a compiled condition against one record: the CEL environment (built once per
//! process: the standard library plus `abs`, `min` and `max`), and the variable resolver that
//! binds a record's fields, `prev.<field>` and the window values straight from the record, without
//! building a map per record.

use std::sync::{Arc, LazyLock};

use cel::common::types::{CelBool, CelDouble, CelInt, CelString, DOUBLE_TYPE, INT_TYPE};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Env, ExecutionError};
use indexmap::IndexMap;
use serde_json::Value;

use super::Scope;
use crate::alert::window::as_f64;
use crate::config::model::FieldType;

/// The environment every condition runs in (and is parsed with).
pub(super) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    add_numeric(&mut env).expect("the helpers' names are free in the standard library");
    Arc::new(env)
});

/// `abs(x)`, `min(a, b)` and `max(a, b)` of doubles or ints (CEL's `math.*` extension has them
/// under other names; rules are read by people who write `abs`).
fn add_numeric(env: &mut Env) -> Result<(), cel::DeclarationError> {
    env.add_overload("abs", "abs_double", vec![DOUBLE_TYPE], abs)?;
    env.add_overload("abs", "abs_int", vec![INT_TYPE], abs)?;
    for (name, pick) in [
        ("min", min as cel::common::functions::Function),
        ("max", max),
    ] {
        env.add_overload(
            name,
            &format!("{name}_double"),
            vec![DOUBLE_TYPE, DOUBLE_TYPE],
            pick,
        )?;
        env.add_overload(name, &format!("{name}_int"), vec![INT_TYPE, INT_TYPE], pick)?;
    }
    Ok(())
}

fn abs<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args
        .first()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    if let Some(double) = value.downcast_ref::<CelDouble>() {
        return Ok(CowVal::owned(CelDouble::from(double.inner().abs())));
    }
    if let Some(int) = value.downcast_ref::<CelInt>() {
        let abs = int
            .inner()
            .checked_abs()
            .ok_or_else(|| ExecutionError::function_error("abs", "integer overflow"))?;
        return Ok(CowVal::owned(CelInt::from(abs)));
    }
    Err(ExecutionError::function_error("abs", "takes a number"))
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pick(args, true)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pick(args, false)
}

fn pick<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
    least: bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(b), Some(a)) = (args.pop(), args.pop()) else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    let first_is_less = match (a.downcast_ref::<CelDouble>(), b.downcast_ref::<CelDouble>()) {
        (Some(x), Some(y)) => x.inner() <= y.inner(),
        _ => match (a.downcast_ref::<CelInt>(), b.downcast_ref::<CelInt>()) {
            (Some(x), Some(y)) => x.inner() <= y.inner(),
            _ => {
                return Err(ExecutionError::function_error(
                    "min/max",
                    "takes two numbers of one type",
                ));
            }
        },
    };
    Ok(if first_is_less == least { a } else { b })
}

/// The variable a condition's `index`th window call is replaced with.
pub(super) fn window_variable(index: usize) -> String {
    format!("{WINDOW_PREFIX}{index}")
}

/// Names no CEL identifier the checks allow can clash with (they are no field).
pub(super) const WINDOW_PREFIX: &str = "__window_";

/// Binds the names of one evaluation.
pub(super) struct Resolver<'a> {
    pub scope: &'a Scope<'a>,
    pub kinds: &'a IndexMap<String, FieldType>,
    /// Each window's kind of value (its field's type; `Integer` for a count, `Number` for
    /// min, max and avg).
    pub window_kinds: &'a [FieldType],
}

impl VariableResolver for Resolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        if let Some(field) = variable.strip_prefix("prev.") {
            let prev = self.scope.prev?;
            return bind(prev.get(field)?, *self.kinds.get(field)?);
        }
        if let Some(index) = variable.strip_prefix(WINDOW_PREFIX) {
            let index: usize = index.parse().ok()?;
            let value = self.scope.windows.get(index)?.as_ref()?;
            return bind(value, *self.window_kinds.get(index)?);
        }
        if variable == "prev" {
            // Reached only when `prev.<field>` was not bound: the previous record lacks it.
            self.scope.prev?;
            let empty: Box<dyn Val> =
                cel::Value::from(std::collections::HashMap::<String, i64>::new())
                    .try_into()
                    .ok()?;
            return Some(CowVal::Owned(empty));
        }
        bind(self.scope.fields.get(variable)?, *self.kinds.get(variable)?)
    }
}

/// A stored value as the CEL value of its field's type; `None` (the name is then unbound, and
/// the evaluation fails) for null or a value of another type.
fn bind(value: &Value, kind: FieldType) -> Option<CowVal<'_, '_>> {
    Some(match (kind, value) {
        (_, Value::Null) => return None,
        (FieldType::Number, value) => CowVal::owned(CelDouble::from(as_f64(value)?)),
        (FieldType::Integer, Value::Number(n)) => CowVal::owned(CelInt::from(n.as_i64()?)),
        (FieldType::Integer, Value::String(s)) => {
            CowVal::owned(CelInt::from(s.parse::<i64>().ok()?))
        }
        (FieldType::Bool, Value::Bool(b)) => CowVal::owned(CelBool::from(*b)),
        (FieldType::String | FieldType::Timestamp, Value::String(s)) => {
            CowVal::owned(CelString::from(s.as_str()))
        }
        _ => return None,
    })
}

/// Why an evaluation failed, in words naming what the user wrote.
pub(super) fn explain(error: &ExecutionError, window_texts: &[String]) -> String {
    if let ExecutionError::UndeclaredReference(name) = error {
        if name.as_str() == "prev" {
            return "the series has no previous record".to_owned();
        }
        if let Some(index) = name.strip_prefix(WINDOW_PREFIX) {
            let text = index
                .parse::<usize>()
                .ok()
                .and_then(|i| window_texts.get(i))
                .map_or("a window", String::as_str);
            return format!("`{text}` has no value: no earlier record of the series in its window");
        }
        return format!("the record has no `{name}`");
    }
    if let ExecutionError::NoSuchKey(name) = error {
        return format!("the previous record has no `{name}`");
    }
    error.to_string()
}

/// Evaluates `expression` with the names `resolver` binds.
pub(super) fn run(
    expression: &cel::IdedExpr,
    resolver: &Resolver<'_>,
) -> Result<cel::Value, ExecutionError> {
    let mut context = cel::Context::with_env(Arc::clone(&ENV));
    context.set_variable_resolver(resolver);
    context.resolve(expression)
}
