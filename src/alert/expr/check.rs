//! The static checks of a condition, in one walk over its syntax tree: every name it uses is a
//! field (or `prev.<field>`), every call is one CEL has, window calls are well formed (and are
//! replaced by the variables evaluation binds them to), and a small type inference catches a
//! string compared with a number, arithmetic on a bool, or int mixed with double (CEL converts
//! neither implicitly, so `price + 1` fails on every record).

use std::time::Duration;

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, operators};

use super::Vocabulary;
use super::eval::window_variable;
use crate::alert::window::{Aggregate, Window};
use crate::config::model::FieldType;
use crate::diag::did_you_mean;

/// The least and greatest span of a window.
const SPAN_MIN: Duration = Duration::from_secs(1);
const SPAN_MAX: Duration = Duration::from_secs(400 * 24 * 3600);

/// Global functions a condition may call besides the window functions (CEL's standard ones
/// that are enabled, and the helpers added here).
pub(super) const FUNCTIONS: [&str; 14] = [
    "abs",
    "min",
    "max",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "dyn",
    "type",
    "timestamp",
    "duration",
];

/// Methods a condition may call (`symbol.startsWith("N")`, `timestamp(t).getHours()`).
const METHODS: [&str; 14] = [
    "contains",
    "startsWith",
    "endsWith",
    "size",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// The window functions, by name.
pub(super) const WINDOWS: [(&str, Aggregate); 6] = [
    ("min_over", Aggregate::Min),
    ("max_over", Aggregate::Max),
    ("avg_over", Aggregate::Avg),
    ("first_over", Aggregate::First),
    ("last_over", Aggregate::Last),
    ("count_over", Aggregate::Count),
];

/// What the type inference knows of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Bool,
    Int,
    Double,
    String,
    Timestamp,
    Duration,
    Null,
    /// Anything (a list element, a map value, a function we do not model).
    Dyn,
}

impl Ty {
    fn of(field: FieldType) -> Ty {
        match field {
            FieldType::Number => Ty::Double,
            FieldType::Integer => Ty::Int,
            FieldType::Bool => Ty::Bool,
            FieldType::String | FieldType::Timestamp => Ty::String,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Double => "double",
            Ty::String => "string",
            Ty::Timestamp => "timestamp",
            Ty::Duration => "duration",
            Ty::Null => "null",
            Ty::Dyn => "dyn",
        }
    }

    /// The name with its article: "an int", "a double".
    pub(super) fn a(self) -> String {
        match self {
            Ty::Int => "an int".to_owned(),
            other => format!("a {}", other.name()),
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Ty::Int | Ty::Double)
    }
}

/// One problem: the node it is about (its id, for the position), the message and a help.
pub(super) struct Problem {
    pub id: u64,
    /// Point this many bytes after the node's own offset (the field of `prev.x`), or before it
    /// (a call's offset is its `(`: its name is before).
    pub shift: isize,
    pub message: String,
    pub help: Option<String>,
}

/// The walk's findings.
#[derive(Default)]
pub(super) struct Checker<'v> {
    pub vocabulary: Option<&'v Vocabulary>,
    pub problems: Vec<Problem>,
    /// The windows called, distinct, in order of first use.
    pub windows: Vec<Window>,
    /// Each window's call as written (for evaluation errors).
    pub window_texts: Vec<String>,
    /// The fields used (by name, with the node of their first use), in order.
    pub used: Vec<(String, u64)>,
    /// Comprehension variables in scope.
    locals: Vec<String>,
}

impl<'v> Checker<'v> {
    pub fn new(vocabulary: &'v Vocabulary) -> Checker<'v> {
        Checker {
            vocabulary: Some(vocabulary),
            ..Checker::default()
        }
    }

    fn vocabulary(&self) -> &'v Vocabulary {
        self.vocabulary.expect("set by new")
    }

    fn problem(&mut self, id: u64, message: impl Into<String>, help: Option<String>) {
        self.problems.push(Problem {
            id,
            shift: 0,
            message: message.into(),
            help,
        });
    }

    fn field_names(&self) -> Vec<&'v str> {
        self.vocabulary()
            .fields
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// A problem with a call, pointed at the call's name (before its `(`).
    fn call_problem(
        &mut self,
        id: u64,
        name: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            id,
            shift: -isize::try_from(name.len()).unwrap_or(0),
            message: message.into(),
            help,
        });
    }

    fn use_field(&mut self, name: &str, id: u64) {
        if !self.used.iter().any(|(used, _)| used == name) {
            self.used.push((name.to_owned(), id));
        }
    }

    /// Checks `expr`, rewriting window calls into variables, and returns its type.
    pub fn expr(&mut self, expr: &mut IdedExpr, source: &str) -> Ty {
        let id = expr.id;
        match &mut expr.expr {
            Expr::Literal(literal) => match literal {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::UInt(_) | LiteralValue::Bytes(_) => Ty::Dyn,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::Null => Ty::Null,
            },
            Expr::Ident(name) => self.ident(&name.clone(), id),
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr
                    && root == "prev"
                    && !self.locals.iter().any(|l| l == "prev")
                {
                    let ty = self.prev_field(&select.field, id);
                    return if select.test { Ty::Bool } else { ty };
                }
                self.expr(&mut select.operand, source);
                if select.test { Ty::Bool } else { Ty::Dyn }
            }
            Expr::Call(call) => {
                if call.target.is_none()
                    && let Some(&(_, aggregate)) =
                        WINDOWS.iter().find(|(name, _)| *name == call.func_name)
                {
                    let (ty, variable) = self.window(call, aggregate, id, source);
                    if let Some(variable) = variable {
                        expr.expr = Expr::Ident(variable);
                    }
                    return ty;
                }
                self.call(call, id, source)
            }
            Expr::List(list) => {
                for element in &mut list.elements {
                    self.expr(element, source);
                }
                Ty::Dyn
            }
            Expr::Map(map) => {
                for entry in &mut map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(entry) = &mut entry.expr {
                        self.expr(&mut entry.key, source);
                        self.expr(&mut entry.value, source);
                    }
                }
                Ty::Dyn
            }
            Expr::Comprehension(comprehension) => {
                self.expr(&mut comprehension.iter_range, source);
                self.expr(&mut comprehension.accu_init, source);
                let pushed = 2 + usize::from(comprehension.iter_var2.is_some());
                self.locals.push(comprehension.iter_var.clone());
                self.locals.push(comprehension.accu_var.clone());
                if let Some(second) = &comprehension.iter_var2 {
                    self.locals.push(second.clone());
                }
                self.expr(&mut comprehension.loop_cond, source);
                self.expr(&mut comprehension.loop_step, source);
                let ty = self.expr(&mut comprehension.result, source);
                self.locals.truncate(self.locals.len() - pushed);
                ty
            }
            Expr::Struct(_) | Expr::Unspecified => {
                self.problem(id, "message literals are not supported here", None);
                Ty::Dyn
            }
        }
    }

    fn ident(&mut self, name: &str, id: u64) -> Ty {
        if self.locals.iter().any(|l| l == name) {
            return Ty::Dyn;
        }
        if let Some(&kind) = self.vocabulary().fields.get(name) {
            self.use_field(name, id);
            return Ty::of(kind);
        }
        if name == "prev" {
            return Ty::Dyn;
        }
        let mut names = self.field_names();
        names.push("prev");
        let help = match did_you_mean(name, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("a record has {}, and `prev`", quoted(&self.field_names())),
        };
        self.problem(id, format!("unknown name `{name}`"), Some(help));
        Ty::Dyn
    }

    fn prev_field(&mut self, field: &str, id: u64) -> Ty {
        if let Some(&kind) = self.vocabulary().fields.get(field) {
            self.use_field(field, id);
            return Ty::of(kind);
        }
        let names = self.field_names();
        let help = match did_you_mean(field, &names) {
            Some(best) => format!("did you mean `prev.{best}`?"),
            None => format!("a record has {}", quoted(&names)),
        };
        self.problems.push(Problem {
            id,
            shift: 1,
            message: format!("`prev.{field}`: a record has no attribute `{field}`"),
            help: Some(help),
        });
        Ty::Dyn
    }

    /// A window call: checks its arguments, records the window, and names the variable the
    /// call is replaced with.
    fn window(
        &mut self,
        call: &CallExpr,
        aggregate: Aggregate,
        id: u64,
        source: &str,
    ) -> (Ty, Option<String>) {
        let name = call.func_name.clone();
        let usage = if aggregate == Aggregate::Count {
            format!("write `{name}(\"1h\")`: a duration such as `30m`, `1h` or `20d`")
        } else {
            format!("write `{name}(price, \"20d\")`: a number field, and a duration")
        };
        let wanted = if aggregate == Aggregate::Count { 1 } else { 2 };
        if call.args.len() != wanted {
            let message = format!(
                "`{name}` takes {wanted} argument{}, not {}",
                if wanted == 1 { "" } else { "s" },
                call.args.len()
            );
            self.call_problem(id, &name, message, Some(usage));
            return (Ty::Dyn, None);
        }
        let mut ty = match aggregate {
            Aggregate::Count => Ty::Int,
            Aggregate::Min | Aggregate::Max | Aggregate::Avg => Ty::Double,
            Aggregate::First | Aggregate::Last => Ty::Dyn,
        };
        let mut field = None;
        if aggregate != Aggregate::Count {
            let argument = &call.args[0];
            match &argument.expr {
                Expr::Ident(named) if self.vocabulary().fields.contains_key(named) => {
                    let kind = self.vocabulary().fields[named];
                    let numeric = matches!(kind, FieldType::Number | FieldType::Integer);
                    if !numeric && ty == Ty::Double {
                        self.problem(
                            argument.id,
                            format!(
                                "`{name}` needs a number field; `{named}` is a {}",
                                kind.name()
                            ),
                            None,
                        );
                    }
                    if ty == Ty::Dyn {
                        ty = Ty::of(kind);
                    }
                    field = Some(named.clone());
                }
                Expr::Ident(named) => {
                    self.ident(&named.clone(), argument.id);
                }
                _ => self.problem(
                    argument.id,
                    format!("the first argument of `{name}` is a field's name"),
                    Some(usage.clone()),
                ),
            }
        }
        let span_argument = call.args.last().expect("counted above");
        let span = match &span_argument.expr {
            Expr::Literal(LiteralValue::String(text)) => {
                match humantime::parse_duration(text.inner()) {
                    Ok(span) if (SPAN_MIN..=SPAN_MAX).contains(&span) => Some(span),
                    Ok(_) => {
                        let message =
                            format!("window `{}` is out of range: from 1s to 400d", text.inner());
                        self.problem(span_argument.id, message, None);
                        None
                    }
                    Err(err) => {
                        let message = format!("invalid window `{}`: {err}", text.inner());
                        self.problem(span_argument.id, message, Some(usage));
                        None
                    }
                }
            }
            _ => {
                let message = format!("the window of `{name}` is a duration in quotes");
                self.problem(span_argument.id, message, Some(usage));
                None
            }
        };
        let Some(span) = span.filter(|_| field.is_some() || aggregate == Aggregate::Count) else {
            return (ty, None);
        };
        let window = Window {
            aggregate,
            field,
            span,
        };
        let index = match self.windows.iter().position(|w| *w == window) {
            Some(index) => index,
            None => {
                self.windows.push(window);
                self.window_texts.push(call_text(call, &name, source));
                self.windows.len() - 1
            }
        };
        (ty, Some(window_variable(index)))
    }

    fn call(&mut self, call: &mut CallExpr, id: u64, source: &str) -> Ty {
        let target = call.target.as_mut().map(|t| self.expr(t, source));
        let args: Vec<Ty> = call.args.iter_mut().map(|a| self.expr(a, source)).collect();
        let name = call.func_name.as_str();
        match name {
            operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT => {
                let op = match name {
                    operators::LOGICAL_AND => "&&",
                    operators::LOGICAL_OR => "||",
                    _ => "!",
                };
                for (arg, ty) in call.args.iter().zip(&args) {
                    if !matches!(ty, Ty::Bool | Ty::Dyn) {
                        self.problem(
                            arg.id,
                            format!("`{op}` needs bools; this is {}", ty.a()),
                            None,
                        );
                    }
                }
                Ty::Bool
            }
            operators::EQUALS
            | operators::NOT_EQUALS
            | operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                let (a, b) = (args[0], args[1]);
                let equality = matches!(name, operators::EQUALS | operators::NOT_EQUALS);
                let fine = a == b
                    || a == Ty::Dyn
                    || b == Ty::Dyn
                    || (a.is_number() && b.is_number())
                    || (equality && (a == Ty::Null || b == Ty::Null));
                if !fine {
                    let help = (a == Ty::String || b == Ty::String)
                        .then(|| "a text field compares with text: `symbol == \"NIFTY\"`; convert with `double(x)` or `string(x)`".to_owned());
                    self.problem(id, format!("compares {} with {}", a.a(), b.a()), help);
                }
                Ty::Bool
            }
            operators::ADD
            | operators::SUBSTRACT
            | operators::MULTIPLY
            | operators::DIVIDE
            | operators::MODULO => self.arithmetic(name, &args, id),
            operators::NEGATE => {
                if !matches!(args[0], Ty::Int | Ty::Double | Ty::Dyn) {
                    self.problem(id, format!("`-` on {}", args[0].a()), None);
                }
                args[0]
            }
            operators::CONDITIONAL => {
                if !matches!(args[0], Ty::Bool | Ty::Dyn) {
                    let message = format!("`? :` needs a bool before `?`; this is {}", args[0].a());
                    self.problem(call.args[0].id, message, None);
                }
                if args[1] == args[2] { args[1] } else { Ty::Dyn }
            }
            operators::INDEX | operators::OPT_INDEX | operators::OPT_SELECT => Ty::Dyn,
            operators::IN | operators::NOT_STRICTLY_FALSE => Ty::Bool,
            _ if target.is_some() => self.method(name, target, id),
            _ => self.function(name, &args, id),
        }
    }

    fn arithmetic(&mut self, name: &str, args: &[Ty], id: u64) -> Ty {
        let op = &name[1..2];
        let (a, b) = (args[0], args[1]);
        if a == Ty::Bool || b == Ty::Bool {
            self.problem(id, format!("arithmetic (`{op}`) on a bool"), None);
            return Ty::Dyn;
        }
        if a == Ty::Dyn || b == Ty::Dyn {
            return Ty::Dyn;
        }
        match (a, b) {
            (Ty::Int, Ty::Double) | (Ty::Double, Ty::Int) => {
                self.problem(
                    id,
                    format!("`{op}` mixes an int and a double: CEL converts neither"),
                    Some("write the whole number with a decimal point (`1.0`), or convert with `double(x)`".into()),
                );
                Ty::Double
            }
            (x, y) if x == y && x.is_number() => x,
            (Ty::String, Ty::String) if op == "+" => Ty::String,
            (Ty::Timestamp, Ty::Duration) | (Ty::Duration, Ty::Timestamp) => Ty::Timestamp,
            (Ty::Timestamp, Ty::Timestamp) if op == "-" => Ty::Duration,
            (Ty::Duration, Ty::Duration) => Ty::Duration,
            _ => {
                let message = format!("`{op}` between {} and {}", a.a(), b.a());
                let help = (a == Ty::String || b == Ty::String).then(|| {
                    "convert text with `double(x)`, or a number with `string(x)`".to_owned()
                });
                self.problem(id, message, help);
                Ty::Dyn
            }
        }
    }

    fn method(&mut self, name: &str, target: Option<Ty>, id: u64) -> Ty {
        if !METHODS.contains(&name) {
            let help = did_you_mean(name, &METHODS).map(|best| format!("did you mean `{best}`?"));
            self.call_problem(id, name, format!("unknown method `{name}`"), help);
            return Ty::Dyn;
        }
        match name {
            "contains" | "startsWith" | "endsWith" => {
                if !matches!(target, Some(Ty::String | Ty::Dyn)) {
                    let ty = target.map_or("value", Ty::name);
                    let message = format!("`{name}` is a method of strings, not of a {ty}");
                    self.call_problem(id, name, message, None);
                }
                Ty::Bool
            }
            _ => Ty::Int,
        }
    }

    fn function(&mut self, name: &str, args: &[Ty], id: u64) -> Ty {
        match name {
            "abs" | "min" | "max" => {
                let wanted = if name == "abs" { 1 } else { 2 };
                if args.len() != wanted {
                    let message = format!("`{name}` takes {wanted} number(s), not {}", args.len());
                    self.call_problem(id, name, message, None);
                    return Ty::Dyn;
                }
                if let Some(bad) = args
                    .iter()
                    .find(|t| !matches!(t, Ty::Int | Ty::Double | Ty::Dyn))
                {
                    let message = format!("`{name}` takes numbers, not {}", bad.a());
                    self.call_problem(id, name, message, None);
                    return Ty::Dyn;
                }
                if wanted == 2 && args[0] != args[1] && !args.contains(&Ty::Dyn) {
                    self.call_problem(
                        id,
                        name,
                        format!("`{name}` of an int and a double"),
                        Some("write the whole number with a decimal point (`1.0`), or convert with `double(x)`".into()),
                    );
                }
                args[0]
            }
            "size" | "int" | "uint" => Ty::Int,
            "double" => Ty::Double,
            "string" => Ty::String,
            "bool" => Ty::Bool,
            "timestamp" => Ty::Timestamp,
            "duration" => Ty::Duration,
            _ if FUNCTIONS.contains(&name) => Ty::Dyn,
            _ => {
                let mut known: Vec<&str> = FUNCTIONS.to_vec();
                known.extend(WINDOWS.iter().map(|(n, _)| *n));
                let help = match did_you_mean(name, &known) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the functions are {}", quoted(&known)),
                };
                self.call_problem(id, name, format!("unknown function `{name}`"), Some(help));
                Ty::Dyn
            }
        }
    }
}

/// The call as written, for messages: `min_over(price, "20d")`.
fn call_text(call: &CallExpr, name: &str, _source: &str) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|a| match &a.expr {
            Expr::Ident(i) => i.clone(),
            Expr::Literal(LiteralValue::String(s)) => format!("{:?}", s.inner()),
            _ => "…".into(),
        })
        .collect();
    format!("{name}({})", args.join(", "))
}

fn quoted(names: &[&str]) -> String {
    if names.is_empty() {
        return "no fields".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
