//! The bad-response corpus: each body and what it must come to.

/// What a response must come to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The body is refused whole: the feed fails and the log line says this.
    Feed(&'static str),
    /// The body holds records: `stored` of them process, and the others are poison with these
    /// reasons, in order.
    Records {
        stored: usize,
        poison: &'static [&'static str],
    },
}

use Outcome::{Feed, Records};

/// `(name, content type, body, outcome)`. The pipeline reads `$[*]`, keeps `symbol` (required
/// string), `price` (required number) and `volume` (optional integer), keyed by symbol.
pub(crate) const CASES: &[(&str, &str, &[u8], Outcome)] = &[
    // The body is not JSON records at all.
    ("empty", "application/json", b"", Feed("the body is empty")),
    (
        "whitespace",
        "application/json",
        b" \n\t ",
        Feed("the body is empty"),
    ),
    (
        "html",
        "text/html",
        b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
        Feed("response is not JSON (content-type text/html): `<!DOCTYPE html>"),
    ),
    (
        "xml",
        "application/xml",
        b"<?xml version=\"1.0\"?><error>quota</error>",
        Feed("response is not JSON (content-type application/xml)"),
    ),
    (
        "plain-text",
        "text/plain",
        b"Too Many Requests",
        Feed("`Too Many Requests`"),
    ),
    (
        "truncated",
        "application/json",
        br#"[{"symbol":"AAPL","price":1"#,
        Feed("EOF while parsing an object"),
    ),
    (
        "truncated-in-string",
        "application/json",
        br#"[{"symbol":"AA"#,
        Feed("EOF while parsing a string"),
    ),
    (
        "bare-nan",
        "application/json",
        br#"[{"symbol":"AAPL","price":NaN}]"#,
        Feed("expected value"),
    ),
    (
        "bare-infinity",
        "application/json",
        br#"[{"symbol":"AAPL","price":-Infinity}]"#,
        Feed("invalid number"),
    ),
    (
        "not-utf8",
        "application/json",
        b"[{\"symbol\":\"\xff\xfe\",\"price\":1}]",
        Feed("invalid unicode code point"),
    ),
    (
        "lone-surrogate",
        "application/json",
        br#"[{"symbol":"\ud800","price":1}]"#,
        Feed("unexpected end of hex escape"),
    ),
    (
        "trailing-garbage",
        "application/json",
        br#"[{"symbol":"AAPL","price":1}] <!-- cached -->"#,
        Feed("trailing characters"),
    ),
    (
        "comments",
        "application/json",
        b"// quotes\n[{\"symbol\":\"AAPL\",\"price\":1}]",
        Feed("is not JSON (content-type application/json): `// quotes"),
    ),
    // JSON of the wrong shape.
    ("empty-array", "application/json", b"[]", Records {
        stored: 0,
        poison: &[],
    }),
    (
        "object-instead-of-array",
        "application/json",
        br#"{"symbol":"AAPL","price":1}"#,
        Records {
            stored: 0,
            poison: &[
                "`symbol` (path `$.symbol`) is missing",
                "`symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "array-of-strings",
        "application/json",
        br#"["AAPL","MSFT"]"#,
        Records {
            stored: 0,
            poison: &["is missing", "is missing"],
        },
    ),
    (
        "nested-nulls",
        "application/json",
        br#"[null,{"symbol":null,"price":null},{"symbol":"AAPL","price":{"value":null}},[null]]"#,
        Records {
            stored: 0,
            poison: &[
                "`symbol` (path `$.symbol`) is missing",
                "`symbol` (path `$.symbol`)",
                "`price` (path `$.price`): {\"value\":null}: an object is not a number",
                "`symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "missing-fields",
        "application/json",
        br#"[{},{"symbol":"AAPL"},{"price":1}]"#,
        Records {
            stored: 0,
            poison: &[
                "required fields `symbol` (path `$.symbol`) is missing; `price` (path `$.price`) is missing",
                "required field `price` (path `$.price`) is missing",
                "required field `symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "wrong-types",
        "application/json",
        br#"[{"symbol":"A","price":true},{"symbol":"B","price":[1]},{"symbol":{"s":"C"},"price":1}]"#,
        Records {
            stored: 0,
            poison: &[
                "a boolean is not a number",
                "an array is not a number",
                "`symbol` (path `$.symbol`)",
            ],
        },
    ),
    // Numbers the store cannot keep, or that are not numbers.
    (
        "huge-numbers-as-strings",
        "application/json",
        br#"[{"symbol":"A","price":"1e400"},{"symbol":"B","price":"123456789012345678901234567890123456789012345678901234567890"},{"symbol":"C","price":"-1e-400"}]"#,
        Records {
            stored: 0,
            poison: &[
                "out of DynamoDB's range",
                "\"123456789012345678901234567890123456789012345678901234567890\": the number has 59 significant digits; DynamoDB keeps at most 38",
                "out of DynamoDB's range",
            ],
        },
    ),
    (
        "huge-bare-numbers",
        "application/json",
        br#"[{"symbol":"A","price":1e400},{"symbol":"B","price":123456789012345678901234567890123456789012345678901234567890}]"#,
        Records {
            stored: 0,
            poison: &[
                "out of DynamoDB's range",
                "the number has 59 significant digits",
            ],
        },
    ),
    (
        "nan-and-infinity-as-strings",
        "application/json",
        br#"[{"symbol":"A","price":"NaN"},{"symbol":"B","price":"Infinity"},{"symbol":"C","price":"-inf"},{"symbol":"D","price":"1,234.50"},{"symbol":"E","price":""}]"#,
        Records {
            stored: 0,
            poison: &[
                "\"NaN\": the text is not a decimal number",
                "\"Infinity\": the text is not a decimal number",
                "\"-inf\": the text is not a decimal number",
                "\"1,234.50\": the text is not a decimal number",
                "empty text is not a number",
            ],
        },
    ),
    (
        "negative-and-odd-but-valid-numbers",
        "application/json",
        br#"[{"symbol":"A","price":-12.5},{"symbol":"B","price":" +7 "},{"symbol":"C","price":0},{"symbol":"D","price":"1E-130"}]"#,
        Records {
            stored: 4,
            poison: &[],
        },
    ),
    (
        "bad-optional-field-is-left-out",
        "application/json",
        br#"[{"symbol":"A","price":1,"volume":"12.5"},{"symbol":"B","price":1,"volume":"NaN"}]"#,
        Records {
            stored: 2,
            poison: &[],
        },
    ),
    (
        "unicode-garbage",
        "application/json",
        "[{\"symbol\":\"\\u0000\\u202e\u{1F4A5}\\uFFFD\\u200b\",\"price\":1},{\"symbol\":\"\u{0928}\u{093F}\u{092B}\u{094D}\u{091F}\u{0940}\",\"price\":\"\u{0661}\u{0662}\"}]".as_bytes(),
        Records {
            stored: 1,
            poison: &["the text is not a decimal number"],
        },
    ),
    (
        "empty-key",
        "application/json",
        br#"[{"symbol":"","price":1}]"#,
        Records {
            stored: 0,
            poison: &["renders empty for this record"],
        },
    ),
    (
        "good-and-bad-in-one-body",
        "application/json",
        br#"[{"symbol":"A","price":1},{"symbol":"B","price":"x"},{"symbol":"C","price":"2.50"}]"#,
        Records {
            stored: 2,
            poison: &["`price` (path `$.price`): \"x\": the text is not a decimal number"],
        },
    ),
];
