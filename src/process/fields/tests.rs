//! Tests of `fields`.

use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::{Value, json};

use super::{Query, show};

/// The direct walk selects what jsonpath-rust selects.
#[test]
fn direct_paths_agree_with_jsonpath_rust() {
    let values = [
        json!({"a": {"b": [1, 2, {"c": "x"}]}, "05. price": "1.0", "": 3}),
        json!([[1, 2], [3]]),
        json!("text"),
        json!(null),
    ];
    let paths = [
        "$",
        "$.a",
        "$.a.b",
        "$.a.b[0]",
        "$.a.b[-1]",
        "$.a.b[-3]",
        "$.a.b[-4]",
        "$.a.b[3]",
        "$.a.b[2].c",
        "$['05. price']",
        "$['']",
        "$[0][1]",
        "$[-1][0]",
        "$.missing.deeper",
        "$[0].a",
    ];
    for value in &values {
        for path in paths {
            let parsed = parse_json_path(path).unwrap();
            let expected: Vec<&Value> = js_path_process(&parsed, value)
                .unwrap()
                .into_iter()
                .map(|r| r.val)
                .collect();
            let query = Query::compile(parsed);
            assert!(matches!(query, Query::Direct(_)), "{path} is not direct");
            let got = query.single(value).unwrap();
            assert_eq!(
                got.into_iter().collect::<Vec<_>>(),
                expected,
                "{path} on {value}"
            );
        }
    }
}

#[test]
fn shown_values_are_cut() {
    assert_eq!(show(&json!("abc")), "\"abc\"");
    let long = show(&json!("é".repeat(200)));
    assert_eq!(long.chars().count(), 81);
    assert!(long.ends_with('…'));
}
