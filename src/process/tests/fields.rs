//! Picking and converting fields; required and optional fields; message errors.

use serde_json::{Map, Value, json};

use super::{body_for, ok, pipeline, poison, processor, text_of};

#[test]
fn strings_take_text_numbers_and_booleans() {
    let p = processor("name: { path: $.name }");
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","name":"Amazon.com Inc"}"#), "name").unwrap(),
        "\"Amazon.com Inc\""
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","name":51.7600}"#), "name").unwrap(),
        "\"51.7600\""
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","name":false}"#), "name").unwrap(),
        "\"false\""
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","name":""}"#), "name").unwrap(),
        "\"\""
    );
}

#[test]
fn objects_and_arrays_are_not_strings() {
    let p = processor("name: { path: $.name, required: true }");
    let reason = poison(&p, r#"{"symbol":"A","name":{"first":"x"}}"#);
    assert_eq!(
        reason,
        "required field `name` (path `$.name`): {\"first\":\"x\"}: an object is not text"
    );
    assert!(poison(&p, r#"{"symbol":"A","name":[1]}"#).contains("an array is not text"));
}

#[test]
fn numbers_keep_their_exact_digits() {
    let p = processor("price: { path: $.price, type: number, required: true }");
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","price":"51.7600"}"#), "price").unwrap(),
        "51.7600"
    );
    assert_eq!(
        text_of(
            &ok(&p, r#"{"symbol":"A","price":1234567890.123456789}"#),
            "price"
        )
        .unwrap(),
        "1234567890.123456789"
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","price":-8.65}"#), "price").unwrap(),
        "-8.65"
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","price":" +12 "}"#), "price").unwrap(),
        "12"
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","price":"-3.5e2"}"#), "price").unwrap(),
        "-3.5e+2"
    );
}

#[test]
fn numbers_that_cannot_be_stored_exactly_are_poison() {
    let p = processor("price: { path: $.price, type: number, required: true }");
    for bad in [
        r#""NaN""#,
        r#""Infinity""#,
        r#""1,234""#,
        r#""""#,
        r#""0x10""#,
        "true",
    ] {
        let reason = poison(&p, &format!(r#"{{"symbol":"A","price":{bad}}}"#));
        assert!(
            reason.starts_with("required field `price` (path `$.price`): "),
            "{reason}"
        );
    }
    let huge = "9".repeat(500);
    let reason = poison(&p, &format!(r#"{{"symbol":"A","price":"{huge}"}}"#));
    assert!(reason.contains("500 significant digits"), "{reason}");
    // The value is shown cut to 80 characters.
    assert!(
        reason.contains(&format!("\"{}…", "9".repeat(79))),
        "{reason}"
    );
    assert!(!reason.contains(&"9".repeat(81)), "{reason}");
}

#[test]
fn integers_refuse_fractions() {
    let p = processor("volume: { path: $.volume, type: integer, required: true }");
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","volume":"72115500"}"#), "volume").unwrap(),
        "72115500"
    );
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","volume":-7}"#), "volume").unwrap(),
        "-7"
    );
    let reason = poison(&p, r#"{"symbol":"A","volume":"4.0"}"#);
    assert!(reason.contains("`4.0` is not an integer"), "{reason}");
    assert!(poison(&p, r#"{"symbol":"A","volume":4.5}"#).contains("not an integer"));
}

#[test]
fn booleans_from_json_and_text() {
    let p = processor("open: { path: $.open, type: bool, required: true }");
    for (input, expected) in [
        ("true", true),
        ("false", false),
        (r#""TRUE""#, true),
        (r#""False""#, false),
        (r#"" true ""#, true),
    ] {
        let record = ok(&p, &format!(r#"{{"symbol":"A","open":{input}}}"#));
        assert_eq!(record.fields["open"], Value::Bool(expected), "{input}");
    }
    for bad in [r#""yes""#, "1", "0", r#""1""#] {
        poison(&p, &format!(r#"{{"symbol":"A","open":{bad}}}"#));
    }
}

#[test]
fn missing_and_null_optional_fields_are_left_out() {
    let p =
        processor("price: { path: $.price, type: number }\nhigh: { path: $.high, type: number }");
    let record = ok(&p, r#"{"symbol":"A","high":null}"#);
    assert_eq!(record.fields.keys().collect::<Vec<_>>(), ["symbol"]);
}

#[test]
fn optional_fields_that_fail_conversion_are_left_out() {
    let p =
        processor("price: { path: $.price, type: number }\nhigh: { path: $.high, type: number }");
    let record = ok(&p, r#"{"symbol":"A","price":"n/a","high":"5.10"}"#);
    assert_eq!(record.fields.keys().collect::<Vec<_>>(), ["symbol", "high"]);
    assert_eq!(text_of(&record, "high").unwrap(), "5.10");
}

#[test]
fn fields_keep_the_declared_order() {
    let p = processor("b: { path: $.b }\na: { path: $.a }");
    let record = ok(&p, r#"{"a":"1","b":"2","symbol":"S"}"#);
    assert_eq!(
        record.fields.keys().collect::<Vec<_>>(),
        ["symbol", "b", "a"]
    );
}

#[test]
fn every_failing_required_field_is_in_the_reason() {
    let p = processor(
        "price: { path: $.price, type: number, required: true }\n\
         at: { path: $.at, type: timestamp, required: true }\n\
         low: { path: $.low, type: number }",
    );
    let reason = poison(&p, r#"{"price":"abc","at":null,"low":"x"}"#);
    assert_eq!(
        reason,
        "required fields `symbol` (path `$.symbol`) is missing; \
         `price` (path `$.price`): \"abc\": the text is not a decimal number (such as `51.76`, `-3.5e2`); \
         `at` (path `$.at`) is missing"
    );
}

#[test]
fn a_path_matching_several_values_is_a_failure() {
    let p = processor("price: { path: \"$.prices[*]\", type: number, required: true }");
    let reason = poison(&p, r#"{"symbol":"A","prices":[1,2,3]}"#);
    assert!(
        reason.contains("the path matches 3 values; a field takes exactly one"),
        "{reason}"
    );
    // One match is fine, also through a general JSONPath.
    assert_eq!(
        text_of(&ok(&p, r#"{"symbol":"A","prices":[1.50]}"#), "price").unwrap(),
        "1.50"
    );
}

#[test]
fn filter_paths_select_one_value() {
    let p = processor(
        "close: { path: \"$.quotes[?@.kind == 'close'].value\", type: number, required: true }",
    );
    let record = ok(
        &p,
        r#"{"symbol":"A","quotes":[{"kind":"open","value":1},{"kind":"close","value":2.50}]}"#,
    );
    assert_eq!(text_of(&record, "close").unwrap(), "2.50");
}

#[test]
fn the_feed_is_copied() {
    let p = processor("");
    let mut feed = Map::new();
    feed.insert("symbol".into(), json!("MSFT"));
    let record = p
        .process(&body_for("test", r#"{"symbol":"MSFT"}"#, feed.clone()))
        .unwrap();
    assert_eq!(record.feed, feed);
}

#[test]
fn a_message_for_another_pipeline_is_poison() {
    let p = processor("");
    let reason = p
        .process(&body_for("other", r#"{"symbol":"A"}"#, Map::new()))
        .unwrap_err()
        .reason;
    assert_eq!(
        reason,
        "the message is for pipeline `other`, this is `test`"
    );
}

#[test]
fn a_body_that_is_not_a_message_is_poison() {
    let p = processor("");
    let reason = p.process("symbol: AAPL").unwrap_err().reason;
    assert!(
        reason.starts_with("the message body is not JSON: "),
        "{reason}"
    );
    let reason = p.process("").unwrap_err().reason;
    assert!(
        reason.starts_with("the message body is not JSON: "),
        "{reason}"
    );
    let reason = p
        .process(r#"{"pipeline":"test","record":{}}"#)
        .unwrap_err()
        .reason;
    assert!(
        reason
            .starts_with("the message body is not a stockrun message: missing field `fetched_at`"),
        "{reason}"
    );
    let reason = p.process(r#"[1,2]"#).unwrap_err().reason;
    assert!(
        reason.starts_with("the message body is not a stockrun message"),
        "{reason}"
    );
}

#[test]
fn a_record_that_is_not_an_object_misses_its_fields() {
    let p = processor("");
    let reason = p
        .process(&body_for("test", r#""just text""#, Map::new()))
        .unwrap_err()
        .reason;
    assert_eq!(
        reason,
        "required field `symbol` (path `$.symbol`) is missing"
    );
}

#[test]
fn an_uncompilable_pipeline_is_an_error_naming_each_problem() {
    let mut pipeline = pipeline(
        "a: { path: $.a }\nb: { path: $.b }",
        "partition: { name: a, value: \"{{a}}\" }",
    );
    pipeline
        .process
        .fields
        .value
        .get_mut("a")
        .unwrap()
        .value
        .path
        .as_mut()
        .unwrap()
        .value = "$[".into();
    pipeline
        .process
        .fields
        .value
        .get_mut("b")
        .unwrap()
        .value
        .timezone = Some("Mars/Base".to_owned().into());
    pipeline.store.key.partition.value.value = "{{#if}}".into();
    let problems = super::compile(&pipeline).err().expect("an error");
    let found: Vec<(&str, &str)> = problems
        .iter()
        .map(|d| (d.path.as_str(), d.message.as_str()))
        .collect();
    let expected = [
        ("process.fields.a.path", "invalid JSONPath `$[`: "),
        ("process.fields.b.timezone", "unknown time zone `Mars/Base`"),
        ("store.key.partition.value", "invalid template: "),
    ];
    assert_eq!(found.len(), expected.len(), "{problems:#?}");
    for ((path, message), (want_path, want_start)) in found.iter().zip(expected) {
        assert_eq!(*path, want_path);
        assert!(message.starts_with(want_start), "{message}");
    }
}
