//! Tests of `env`.
use super::*;

#[test]
fn finds_references_with_and_without_fallback() {
    let refs = find_references("a: ${KEY}\nb: x-${HOST:-localhost}/${P-1}\n");
    let summary: Vec<_> = refs
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.has_fallback,
                r.position.line,
                r.position.column,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("KEY", false, 1, 4),
            ("HOST", true, 2, 6),
            ("P", true, 2, 25)
        ]
    );
}

#[test]
fn ignores_comments_quotes_blocks_escapes_and_non_names() {
    let text = "# ${A}\nb: x # ${B}\nc: $${C}\nd: ${1X}\ne: \"#${E}\"\n\
                    f: |\n  ${F}\n\n  more ${F2}\ng: 'it''s # ${G}' ${G2}\n\
                    h: Rock 'n roll # ${H}\ni: ${I} # done\n";
    let refs = find_references(text);
    let names: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["G2", "I"]);
}

#[test]
fn stands_in_for_unset_variables_and_reports_them() {
    let env = Environment::from_pairs([("SET", "secret-value")]);
    let refs = find_references("a: ${SET}\nb: ${UNSET}\nc: ${DEFAULTED:-x}\n");
    let (properties, unset) = env.properties_for(&refs);
    assert_eq!(
        properties.get("SET").map(String::as_str),
        Some("secret-value")
    );
    assert_eq!(
        properties.get("UNSET").map(String::as_str),
        Some("${UNSET}")
    );
    assert!(!properties.contains_key("DEFAULTED"));
    assert_eq!(unset.len(), 1);
    assert_eq!(
        env.secrets_in(&refs),
        [("secret-value".to_owned(), "${SET}".to_owned())]
    );
}

#[test]
fn url_values_are_encoded_in_the_path_and_query_only() {
    let env = Environment::from_pairs([
        ("KEY", "abc123+x&n=5#frag"),
        ("BASE", "https://api.example.com/v2"),
        ("HOST", "api.example.com:8443"),
        ("EMPTY", ""),
    ]);
    // What the parser substitutes: each value as written.
    let check = |raw: &str| {
        let substituted = raw
            .replace("${KEY}", "abc123+x&n=5#frag")
            .replace("${BASE}", "https://api.example.com/v2")
            .replace("${HOST}", "api.example.com:8443")
            .replace("${EMPTY:-demo}", "demo")
            .replace("${KEY:-demo}", "abc123+x&n=5#frag")
            .replace("${UNSET-a&b}", "a&b")
            .replace("${KEY:+on}", "on");
        env.encode_in_url(raw, &substituted)
    };
    let encoded = "abc123%2Bx%26n%3D5%23frag";
    assert_eq!(
        check("https://h/q?apikey=${KEY}&s=1").unwrap().unwrap(),
        format!("https://h/q?apikey={encoded}&s=1")
    );
    assert_eq!(
        check("https://h/v1/${KEY}/x#${KEY}").unwrap().unwrap(),
        format!("https://h/v1/{encoded}/x#{encoded}")
    );
    assert_eq!(
        check("${BASE}/q?k=${KEY:-demo}").unwrap().unwrap(),
        format!("https://api.example.com/v2/q?k={encoded}")
    );
    // Values at the start or in the host, fallbacks and stand-ins: as written.
    for unchanged in [
        "${BASE}/quotes",
        "https://${HOST}/quotes",
        "https://h/q?k=${EMPTY:-demo}&a=${UNSET-a&b}&b=${KEY:+on}",
        "https://h/q?k=${UNSET}",
    ] {
        assert_eq!(check(unchanged), Ok(None), "{unchanged}");
    }
    assert_eq!(
        env.encode_in_url(
            "https://h/$${KEY}?k=${KEY}",
            "https://h/${KEY}?k=abc123+x&n=5#frag"
        ),
        Ok(Some(format!("https://h/${{KEY}}?k={encoded}")))
    );
    // A host value that would move the request elsewhere is an error naming the variable.
    assert_eq!(check("https://${KEY}/q"), Err("KEY".to_owned()));
    // A text the parser did not substitute this way is left alone.
    assert_eq!(env.encode_in_url("https://h/?k=${KEY}", "other"), Ok(None));
}

#[test]
fn encoded_values_are_secrets_too() {
    let env = Environment::from_pairs([("KEY", "abc123+x&n=5#frag")]);
    let secrets = env.secrets_in(&find_references("a: ${KEY}\n"));
    let values: Vec<&str> = secrets.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, ["abc123%2Bx%26n%3D5%23frag", "abc123+x&n=5#frag"]);
}
