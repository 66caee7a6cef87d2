//! Hostile values from the API (issue 16, item 7): a symbol holding terminal control sequences
//! (`ESC ] 0 ; pwned BEL` retitles an xterm, CR overwrites a line, U+202E reverses text) is
//! stored as it came, but `show`, the log lines and the e-mail headers and body show it escaped
//! (`\x1b`, `\u{202e}`), never raw.

use serde_json::json;

use crate::support::assert_contains;
use crate::workspace::{Workspace, pipeline, serve, stored};

/// The hostile symbol: an OSC title sequence, a colour, a carriage return and a bidi override.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[31mEVIL\r\u{202e}LPAA";
/// How it reads once escaped.
const ESCAPED: &str = "\\x1b]0;pwned\\x07\\x1b[31mEVIL\\x0d\\u{202e}LPAA";

/// Raw control characters (other than the line ends) in `bytes`, as `(offset, byte)`.
fn raw_controls(bytes: &[u8]) -> Vec<(usize, char)> {
    String::from_utf8_lossy(bytes)
        .char_indices()
        .filter(|(_, c)| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// The body: one good quote with the hostile symbol, one poison quote (no price) with it too.
fn hostile_body() -> String {
    json!([
        {"symbol": HOSTILE, "lastPrice": 51.76, "dayHigh": 52, "dayLow": 51,
         "lastUpdateTime": "18-Mar-2024 15:59:38"},
        {"symbol": format!("{HOSTILE}-DEAD"), "lastPrice": "-",
         "lastUpdateTime": "18-Mar-2024 15:59:38"},
    ])
    .to_string()
}

/// The pipeline of `workspace::pipeline`, with the symbols in the subject.
fn hostile_pipeline(url: &str) -> String {
    let yaml = pipeline(url, "quotes");
    let subject = "subject: \"{{count}} new quotes\"";
    assert!(yaml.contains(subject));
    yaml.replace(
        subject,
        "subject: \"quotes: {{#each records}}{{symbol}} {{/each}}\"",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_from_the_api_are_stored_as_they_came_and_shown_escaped() {
    let server = serve(hostile_body()).await;
    let ws = Workspace::new(&hostile_pipeline(&format!("{}/price", server.uri())));
    let out = ws
        .command(&["run", "--once"])
        .output()
        .expect("stockrun runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(raw_controls(&out.stdout), [], "run's stdout");
    assert_eq!(raw_controls(&out.stderr), [], "run's log lines");

    // Stored data is unchanged: only its rendering is escaped.
    let items = stored(&ws.database("quotes"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1["symbol"], HOSTILE);

    let show = ws.command(&["show"]).output().expect("stockrun runs");
    assert_eq!(show.status.code(), Some(0));
    assert_eq!(raw_controls(&show.stdout), [], "show's stdout");
    assert_contains(&String::from_utf8_lossy(&show.stdout), ESCAPED);
    assert_contains(&String::from_utf8_lossy(&show.stdout), "1 of 1 item(s)");

    let dead = ws
        .command(&["show", "--dead"])
        .output()
        .expect("stockrun runs");
    assert_eq!(dead.status.code(), Some(0));
    assert_eq!(raw_controls(&dead.stdout), [], "show --dead's stdout");
    assert_contains(
        &String::from_utf8_lossy(&dead.stdout),
        "1 dead-lettered message(s)",
    );

    let emails = ws.emails();
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    // The header block, unfolded: `Subject:` plus its continuation lines.
    let (headers, body) = email.split_once("\r\n\r\n").expect("headers and body");
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    let subject = unfolded
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Subject: "))
        .expect("a Subject header");
    assert_eq!(raw_controls(subject.as_bytes()), [], "Subject: {subject:?}");
    assert!(
        !subject.contains("=?"),
        "not hidden in an encoded word: {subject}"
    );
    assert_eq!(subject, format!("quotes: {ESCAPED}"));
    assert_eq!(
        raw_controls(headers.replace("\r\n", "\n").as_bytes()),
        [],
        "headers"
    );
    assert_eq!(
        raw_controls(body.replace("\r\n", "\n").as_bytes()),
        [],
        "text body: {body:?}"
    );
}
