//! Tests of `body`.

use super::*;
use reading::{Step, steps};

/// The member name a normalized path ends with.
fn last_member(path: &str) -> Option<String> {
    match steps(path)?.pop() {
        Some(Step::Name(name)) => Some(name),
        _ => None,
    }
}

fn fetched(body: &str, content_type: Option<&str>) -> Fetched {
    Fetched {
        status: Some(reqwest::StatusCode::OK),
        content_type: content_type.map(str::to_owned),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn error_messages_prefer_the_json_message() {
    assert_eq!(
        error_message(br#"{"message":"Invalid API key"}"#, None),
        "Invalid API key"
    );
    assert_eq!(
        error_message(b"<html>\n <b>Bad</b></html>", Some("text/html")),
        "text/html body `<html> <b>Bad</b></html>`"
    );
    assert_eq!(error_message(b"", None), "empty body");
}

#[test]
fn html_is_not_json() {
    let err = parse(&fetched("<!DOCTYPE html><p>oops</p>", Some("text/html"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "response is not JSON (content-type text/html): `<!DOCTYPE html><p>oops</p>`"
    );
    let err = parse(&fetched("{\"a\":", Some("application/json"))).unwrap_err();
    assert!(err.to_string().contains("EOF while parsing"), "{err}");
}

#[test]
fn a_file_that_is_not_json_is_not_quoted() {
    let mut file = fetched("root:*:20228:0:99999:7::: password=hunter2", None);
    file.status = None;
    let err = parse(&file).unwrap_err().to_string();
    assert!(!err.contains("root") && !err.contains("hunter2"), "{err}");
    assert!(err.starts_with("file is not JSON: expected value"), "{err}");
    file.body = br#"{"password": "hunter2", "#.to_vec();
    let err = parse(&file).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    let path = |p: &str| Located::unlocated(p.to_owned());
    let extractor = Extractor::new(&path("$[*]"), &[path("$.error")]).unwrap();
    file.body = br#"{"error": "token hunter2 expired"}"#.to_vec();
    let err = extractor.records(&file).unwrap_err().to_string();
    assert_eq!(err, "the body is an error (`$.error` matched)");
}

#[test]
fn null_error_matches_do_not_count() {
    let path = |p: &str| Located::unlocated(p.to_owned());
    let extractor = Extractor::new(&path("$[*]"), &[path("$.message")]).unwrap();
    let records = extractor
        .records(&fetched(r#"{"message": null}"#, None))
        .unwrap();
    assert_eq!(records, vec![Value::Null]);
}

#[test]
fn empty_and_false_error_matches_do_not_count() {
    let path = |p: &str| Located::unlocated(p.to_owned());
    let extractor = Extractor::new(&path("$.data[*]"), &[path("$.error")]).unwrap();
    for error in ["null", "false", r#""""#, "[]", "{}"] {
        let body = format!(r#"{{"error": {error}, "data": [{{"symbol": "A"}}]}}"#);
        let records = extractor.records(&fetched(&body, None));
        assert_eq!(records.unwrap().len(), 1, "{error}");
    }
    for error in [
        "true",
        r#""Invalid key""#,
        "0",
        r#"["x"]"#,
        r#"{"code": 1}"#,
    ] {
        let body = format!(r#"{{"error": {error}, "data": []}}"#);
        let err = extractor.records(&fetched(&body, None)).unwrap_err();
        assert!(matches!(err, BodyError::ErrorBody { .. }), "{error}: {err}");
    }
}

#[test]
fn a_filter_matches_only_what_it_tests() {
    let path = |p: &str| Located::unlocated(p.to_owned());
    let extractor = Extractor::new(&path("$.result"), &[path("$[?@.status == 'error']")]).unwrap();
    let ok = r#"{"result": {"status": "ok", "price": 1}}"#;
    assert_eq!(extractor.records(&fetched(ok, None)).unwrap().len(), 1);
    // A filter's match counts even when it is empty: the filter is the test.
    let extractor_empty =
        Extractor::new(&path("$.result"), &[path("$[?!@['01. symbol']]")]).unwrap();
    let err = extractor_empty
        .records(&fetched(r#"{"result": {}}"#, None))
        .unwrap_err();
    assert!(matches!(err, BodyError::ErrorBody { .. }), "{err}");
    let failed = r#"{"result": {"status": "error", "reason": "closed"}}"#;
    let err = extractor.records(&fetched(failed, None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"the body is an error (`$[?@.status == 'error']` matched): {"status":"error","reason":"closed"}"#
    );
}

#[test]
fn member_names_come_from_the_normalized_path() {
    assert_eq!(
        last_member("$['a']['2024-03-15']").as_deref(),
        Some("2024-03-15")
    );
    assert_eq!(
        last_member("$['it\\'s \\\\ \\n \\u001f']").as_deref(),
        Some("it's \\ \n \u{1f}")
    );
    assert_eq!(last_member("$['a'][3]"), None);
    assert_eq!(last_member("$"), None);
    assert_eq!(
        steps("$['a'][12]['']"),
        Some(vec![
            Step::Name("a".to_owned()),
            Step::Index(12),
            Step::Name(String::new())
        ])
    );
    assert_eq!(steps("$[x]"), None);
    let path = |p: &str| Located::unlocated(p.to_owned());
    let extractor = Extractor::new(&path("$['Time Series'].*"), &[])
        .unwrap()
        .with_context(true, &[path("$.meta.symbol"), path("$.meta.*")]);
    let body = r#"{"meta": {"symbol": "IBM", "tz": "US/Eastern"},
        "Time Series": {"2024-03-15": {"close": "1"}, "it's": {"close": "2"}}}"#;
    let page = extractor.page(fetched(body, None)).unwrap();
    let members: Vec<_> = page.records.iter().map(|s| s.member.as_deref()).collect();
    assert_eq!(members, [Some("2024-03-15"), Some("it's")]);
    assert_eq!(
        Value::Object(page.root),
        serde_json::json!({"$.meta.symbol": "IBM"})
    );
}

#[test]
fn next_values_are_text_numbers_or_nothing() {
    let path = |p: &str| Located::unlocated(p.to_owned());
    let next = jsonpath::compile(&path("$.next"), "source.next.cursor").unwrap();
    let extractor = Extractor::new(&path("$.data[*]"), &[])
        .unwrap()
        .with_next(("$.next".to_owned(), next));
    let next = |body: &str| extractor.open(fetched(body, None)).unwrap().next;
    assert_eq!(
        next(r#"{"data": [], "next": "abc"}"#),
        Ok(Some("abc".to_owned()))
    );
    assert_eq!(
        next(r#"{"data": [], "next": 20}"#),
        Ok(Some("20".to_owned()))
    );
    for last in [r#"{"data": []}"#, r#"{"next": null}"#, r#"{"next": ""}"#] {
        assert_eq!(next(last), Ok(None), "{last}");
    }
    assert_eq!(
        next(r#"{"next": {"a": 1}}"#),
        Err("`$.next` selects object, not a link or cursor".to_owned())
    );
}

#[test]
fn shortens_on_character_boundaries() {
    assert_eq!(shorten("héllo", 2), "hé…");
    assert_eq!(shorten("hé", 2), "hé");
}
