//! Filling `{{key}}` placeholders in the source URL and headers from one feed.
//!
//! Both are Handlebars templates rendered in strict mode, like every template `validate` checks.
//! In the URL a substituted value is percent-encoded (`a b&c` → `a%20b%26c`), so a feed value
//! can never add a query parameter or change the path; `{{{key}}}` inserts it as written. Header
//! values are inserted as written.

use handlebars::Handlebars;
use serde_json::{Map, Value};

use super::SourceError;

/// The two registries a feed's request is rendered with.
pub(crate) struct Templates {
    /// Escapes substituted values for a URL.
    url: Handlebars<'static>,
    /// Inserts substituted values unchanged (headers).
    plain: Handlebars<'static>,
}

impl Templates {
    /// Empty registries in strict mode (an unknown name is an error, not an empty string).
    pub(crate) fn new() -> Templates {
        let mut url = Handlebars::new();
        url.set_strict_mode(true);
        url.register_escape_fn(percent_encode);
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        Templates { url, plain }
    }

    /// The URL for one feed.
    pub(crate) fn render_url(
        &self,
        template: &str,
        feed: &Map<String, Value>,
    ) -> Result<String, SourceError> {
        render(&self.url, template, feed, "source.url")
    }

    /// A header value for one feed.
    pub(crate) fn render_header(
        &self,
        name: &str,
        template: &str,
        feed: &Map<String, Value>,
    ) -> Result<String, SourceError> {
        render(
            &self.plain,
            template,
            feed,
            &format!("source.headers.{name}"),
        )
    }
}

/// Renders `template` with `feed`; text without `{{` is returned as written (as `validate` only
/// checks templates that contain one).
fn render(
    registry: &Handlebars<'static>,
    template: &str,
    feed: &Map<String, Value>,
    what: &str,
) -> Result<String, SourceError> {
    if !template.contains("{{") {
        return Ok(template.to_owned());
    }
    registry
        .render_template(template, feed)
        .map_err(|err| SourceError(format!("`{what}`: cannot fill its template: {err}")))
}

/// Percent-encodes everything but the URL's unreserved characters (RFC 3986 §2.3).
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences (for the path of a `file:` URL); invalid sequences stay as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    }

    #[test]
    fn url_values_are_percent_encoded_but_header_values_are_not() {
        let t = Templates::new();
        let f = feed(&[("index", "NIFTY 50"), ("q", "a&b=c/d")]);
        assert_eq!(
            t.render_url("https://h/price?Indices={{index}}&x={{q}}", &f)
                .unwrap(),
            "https://h/price?Indices=NIFTY%2050&x=a%26b%3Dc%2Fd"
        );
        assert_eq!(
            t.render_header("X-Index", "{{index}} & {{q}}", &f).unwrap(),
            "NIFTY 50 & a&b=c/d"
        );
    }

    #[test]
    fn unknown_names_are_errors_in_strict_mode() {
        let t = Templates::new();
        let err = t.render_url("https://h/?s={{symbl}}", &feed(&[("symbol", "A")]));
        assert!(err.unwrap_err().0.contains("source.url"));
    }

    #[test]
    fn text_without_placeholders_is_kept() {
        let t = Templates::new();
        assert_eq!(
            t.render_url("https://h/a b", &Map::new()).unwrap(),
            "https://h/a b"
        );
    }

    #[test]
    fn decodes_percent_sequences() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(percent_decode(&percent_encode("NIFTY 50/é")), "NIFTY 50/é");
    }
}
