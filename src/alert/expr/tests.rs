//! Conditions: where compile errors point, did-you-mean, types, the always-true warning, and
//! evaluation with `prev` and windows.

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::{Condition, EvalError, Scope, Vocabulary};
use crate::alert::Fields;
use crate::alert::window::{Aggregate, Window};
use crate::config::Located;
use crate::config::model::FieldType;
use crate::diag::Diagnostic;
use crate::located::Position;

fn vocabulary() -> Vocabulary {
    let mut fields = IndexMap::new();
    fields.insert("symbol".to_owned(), FieldType::String);
    fields.insert("price".to_owned(), FieldType::Number);
    fields.insert("volume".to_owned(), FieldType::Integer);
    fields.insert("halted".to_owned(), FieldType::Bool);
    fields.insert("quoted_at".to_owned(), FieldType::Timestamp);
    let always = ["symbol", "price", "quoted_at"].map(str::to_owned).into();
    Vocabulary { fields, always }
}

fn located(text: &str) -> Located<String> {
    Located {
        value: text.to_owned(),
        position: Position {
            line: 10,
            column: 7,
            offset: None,
            len: None,
        },
    }
}

fn compile(text: &str) -> Result<(Condition, Vec<Diagnostic>), Vec<Diagnostic>> {
    Condition::compile(&located(text), "notify.rules.r.when", &vocabulary())
}

/// Each error as `line:column message` inside the expression (0-based).
fn errors(text: &str) -> Vec<String> {
    compile(text)
        .err()
        .unwrap_or_else(|| panic!("`{text}` compiles"))
        .iter()
        .map(|d| {
            let inside = d.inside.as_ref().expect("placed inside the value");
            let help = d
                .help
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            format!("{}:{} {}{help}", inside.line, inside.column, d.message)
        })
        .collect()
}

fn warnings(text: &str) -> Vec<String> {
    let (_, warnings) = compile(text).unwrap_or_else(|e| panic!("{e:?}"));
    warnings.iter().map(|d| d.message.clone()).collect()
}

#[test]
fn syntax_errors_point_inside_a_multi_line_expression() {
    assert_eq!(
        errors("price > 1.0 &&\n  (prev.price < 2.0"),
        [
            "1:19 invalid condition: missing ')' at '<EOF>' (conditions are CEL: `price > 2000.0 && prev.price <= 2000.0`)"
        ]
    );
}

#[test]
fn unknown_names_get_did_you_mean_at_their_column() {
    assert_eq!(
        errors("price > 1.0 &&\n  prise < 2.0"),
        ["1:2 unknown name `prise` (did you mean `price`?)"]
    );
    assert_eq!(
        errors("prev.volumme > 1"),
        ["0:5 `prev.volumme`: a record has no attribute `volumme` (did you mean `prev.volume`?)"]
    );
    assert_eq!(
        errors("ab(price) > 1.0"),
        ["0:0 unknown function `ab` (did you mean `abs`?)"]
    );
}

#[test]
fn type_mistakes_are_errors() {
    assert_eq!(
        errors("symbol > 5")[0],
        "0:7 compares a string with an int (a text field compares with text: `symbol == \"NIFTY\"`; convert with `double(x)` or `string(x)`)"
    );
    assert!(errors("halted + 1 > 2")[0].contains("arithmetic (`+`) on a bool"));
    assert!(errors("price + 1 > 2.0")[0].starts_with("0:6 `+` mixes an int and a double"));
    assert!(errors("symbol + 1 == 'a'")[0].contains("`+` between a string and an int"));
    assert_eq!(
        errors("price * 2.0"),
        ["0:6 the condition is a double, not a bool (compare it: `price > 2000.0`)"]
    );
}

#[test]
fn windows_are_checked() {
    assert!(
        errors("price > max_over(price, \"401d\")")[0].contains("window `401d` is out of range")
    );
    assert!(
        errors("price > max_over(symbol, \"1d\")")[0]
            .contains("needs a number field; `symbol` is a string")
    );
    assert!(
        errors("count_over(price, \"1h\") > 3")[0].contains("`count_over` takes 1 argument, not 2")
    );
    assert!(errors("price > avg_over(price, span)")[0].contains("is a duration in quotes"));
    assert!(errors("price > min_over(price, \"soon\")")[0].contains("invalid window `soon`"));
}

#[test]
fn always_true_and_optional_fields_are_warnings() {
    assert_eq!(
        warnings("true"),
        ["the condition is always true: the rule fires on every record"]
    );
    assert_eq!(
        warnings("1 < 2 || price > 3.0"),
        ["the condition is always true: the rule fires on every record"]
    );
    assert_eq!(
        warnings("volume > 1000 && price > 1.0"),
        ["`volume` is not required: the rule is skipped for records without it"]
    );
    assert!(warnings("price > 1.0 && prev.price < 1.0").is_empty());
}

fn record(pairs: Value) -> Fields {
    serde_json::from_value(pairs).unwrap()
}

fn evaluate(
    text: &str,
    fields: &Fields,
    prev: Option<&Fields>,
    windows: &[Option<Value>],
) -> Result<bool, EvalError> {
    let (condition, _) = compile(text).unwrap_or_else(|e| panic!("{e:?}"));
    condition.evaluate(&Scope {
        fields,
        prev,
        windows,
    })
}

#[test]
fn evaluation_binds_fields_prev_and_helpers() {
    let now = record(
        json!({"symbol": "X", "price": "103.50", "volume": 10, "halted": false, "quoted_at": "2026-01-02T10:00:00Z"}),
    );
    let before = record(json!({"symbol": "X", "price": 100, "quoted_at": "2026-01-02T09:00:00Z"}));
    let move_ = "abs(price - prev.price) / prev.price > 0.02";
    assert_eq!(evaluate(move_, &now, Some(&before), &[]), Ok(true));
    assert_eq!(
        evaluate(move_, &now, None, &[]),
        Err(EvalError("the series has no previous record".into()))
    );
    assert_eq!(
        evaluate("prev.volume > 1", &now, Some(&before), &[]),
        Err(EvalError("the previous record has no `volume`".into()))
    );
    assert_eq!(
        evaluate(
            "max(price, 200.0) == 200.0 && min(volume, 3) == 3 && !halted",
            &now,
            None,
            &[]
        ),
        Ok(true)
    );
    assert_eq!(
        evaluate(
            "symbol.startsWith('X') && quoted_at > '2026-01-01'",
            &now,
            None,
            &[]
        ),
        Ok(true)
    );
    assert_eq!(
        evaluate("timestamp(quoted_at).getHours() == 10", &now, None, &[]),
        Ok(true)
    );
    let without = record(json!({"symbol": "X", "price": 1, "quoted_at": "2026-01-02T10:00:00Z"}));
    assert_eq!(
        evaluate("volume > 1", &without, None, &[]),
        Err(EvalError("the record has no `volume`".into()))
    );
    assert!(evaluate("price / 0.0 > 1.0 && volume / 0 > 1", &now, None, &[]).is_err());
}

#[test]
fn windows_are_distinct_in_order_and_bound_to_their_values() {
    let text = "price > max_over(price, \"20d\") && count_over(\"1h\") >= 2 && max_over(price, \"20d\") > 0.0 && first_over(volume, \"1d\") < 5";
    let (condition, _) = compile(text).unwrap();
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(
        condition.windows,
        [
            Window {
                aggregate: Aggregate::Max,
                field: Some("price".into()),
                span: day * 20
            },
            Window {
                aggregate: Aggregate::Count,
                field: None,
                span: std::time::Duration::from_secs(3600)
            },
            Window {
                aggregate: Aggregate::First,
                field: Some("volume".into()),
                span: day
            },
        ]
    );
    let now = record(json!({"symbol": "X", "price": 105, "volume": 1}));
    let windows = [Some(json!(104.5)), Some(json!(2)), Some(json!(4))];
    let scope = Scope {
        fields: &now,
        prev: None,
        windows: &windows,
    };
    assert_eq!(condition.evaluate(&scope), Ok(true));
    let empty = [None, Some(json!(2)), Some(json!(4))];
    let scope = Scope {
        fields: &now,
        prev: None,
        windows: &empty,
    };
    assert_eq!(
        condition.evaluate(&scope),
        Err(EvalError("`max_over(price, \"20d\")` has no value: no earlier record of the series in its window".into()))
    );
    assert_eq!(super::variable(0), "__window_0");
}
