//! Filling `{{key}}` placeholders in the source URL and headers from one feed.
//!
//! Both are Handlebars templates rendered in strict mode, like every template `validate` checks.
//! In the URL a substituted value is percent-encoded (`a b&c` → `a%20b%26c`), so a feed value
//! can never add a query parameter or change the path; `{{{key}}}` inserts it as written. Header
//! values are inserted as written. In a JSON request body (`source.body`) a value is escaped for
//! a JSON string, so a feed value can never add a member.

use handlebars::{Handlebars, RenderErrorReason};
use serde_json::{Map, Value};

use crate::config::model::Source;
use crate::config::{Located, template};
use crate::diag::Diagnostic;
use crate::percent::percent_encode;

/// The URL and header templates of a source, compiled once, in the two registries a feed's
/// request is rendered with.
pub(crate) struct Templates {
    /// Escapes substituted values for a URL; holds the URL template as `url`.
    url: Handlebars<'static>,
    /// Inserts substituted values unchanged; holds each header template under its name.
    plain: Handlebars<'static>,
    /// Escapes substituted values for a JSON string; holds the body template as `body`.
    json: Handlebars<'static>,
}

impl Templates {
    /// Compiles `source.url` and `source.headers` (those with a `{{`: other text is sent as
    /// written) in strict mode, so an unknown name is an error, not an empty string. The error
    /// lists every template that does not compile.
    pub(crate) fn new(source: &Source) -> Result<Templates, Vec<Diagnostic>> {
        let mut url = Handlebars::new();
        url.set_strict_mode(true);
        url.register_escape_fn(percent_encode);
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut json = Handlebars::new();
        json.set_strict_mode(true);
        json.register_escape_fn(json_escape);
        let mut problems = Vec::new();
        let mut add = |registry: &mut Handlebars<'static>,
                       name: &str,
                       value: &Located<String>,
                       path: &str| {
            if !value.contains("{{") {
                return;
            }
            match template::compile(value, path) {
                Ok(compiled) => registry.register_template(name, compiled),
                Err(problem) => problems.push(problem),
            }
        };
        add(&mut url, "url", &source.url, "source.url");
        for (name, value) in &source.headers {
            add(&mut plain, name, value, &format!("source.headers.{name}"));
        }
        if let Some(body) = &source.body {
            add(&mut json, "body", body, "source.body");
        }
        if problems.is_empty() {
            Ok(Templates { url, plain, json })
        } else {
            Err(problems)
        }
    }

    /// The URL for one feed.
    pub(crate) fn render_url(
        &self,
        template: &Located<String>,
        feed: &Map<String, Value>,
    ) -> Result<String, Vec<Diagnostic>> {
        render(&self.url, "url", template, feed, "source.url")
    }

    /// The request body for one feed, as rendered (not yet checked to be JSON).
    pub(crate) fn render_body(
        &self,
        template: &Located<String>,
        feed: &Map<String, Value>,
    ) -> Result<String, Vec<Diagnostic>> {
        render(&self.json, "body", template, feed, "source.body")
    }

    /// The value of header `name` for one feed.
    pub(crate) fn render_header(
        &self,
        name: &str,
        template: &Located<String>,
        feed: &Map<String, Value>,
    ) -> Result<String, Vec<Diagnostic>> {
        render(
            &self.plain,
            name,
            template,
            feed,
            &format!("source.headers.{name}"),
        )
    }
}

/// `text` escaped for the inside of a JSON string (its quotes are the template's).
fn json_escape(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Renders the template registered as `name` with `feed`; text that is no template (it has no
/// `{{`) is returned as written. A name the feed lacks fails with no diagnostic of its own:
/// which names a template may use is `validate`'s scope check, which reports it.
fn render(
    registry: &Handlebars<'static>,
    name: &str,
    template: &Located<String>,
    feed: &Map<String, Value>,
    path: &str,
) -> Result<String, Vec<Diagnostic>> {
    if !registry.has_template(name) {
        return Ok(template.value.clone());
    }
    registry
        .render(name, feed)
        .map_err(|err| match err.reason() {
            RenderErrorReason::MissingVariable(_) => Vec::new(),
            _ => vec![
                Diagnostic::error(
                    template.position,
                    format!("cannot fill the template: {err}"),
                )
                .at(path),
            ],
        })
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

    fn source(url: &str, headers: &[(&str, &str)]) -> Source {
        let headers: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v:?}, "))
            .collect();
        let yaml = format!("{{ url: {url:?}, headers: {{ {headers} }}, records: $ }}");
        serde_saphyr::from_str(&yaml).expect("a source")
    }

    #[test]
    fn url_values_are_percent_encoded_but_header_values_are_not() {
        let s = source(
            "https://h/price?Indices={{index}}&x={{q}}",
            &[("X-Index", "{{index}} & {{q}}")],
        );
        let t = Templates::new(&s).unwrap();
        let f = feed(&[("index", "NIFTY 50"), ("q", "a&b=c/d")]);
        assert_eq!(
            t.render_url(&s.url, &f).unwrap(),
            "https://h/price?Indices=NIFTY%2050&x=a%26b%3Dc%2Fd"
        );
        assert_eq!(
            t.render_header("X-Index", &s.headers["X-Index"], &f)
                .unwrap(),
            "NIFTY 50 & a&b=c/d"
        );
    }

    #[test]
    fn unknown_names_are_errors_in_strict_mode() {
        let s = source("https://h/?s={{symbl}}", &[]);
        let err = Templates::new(&s)
            .unwrap()
            .render_url(&s.url, &feed(&[("symbol", "A")]))
            .unwrap_err();
        assert!(err.is_empty(), "the scope check reports it: {err:?}");
    }

    #[test]
    fn templates_that_do_not_compile_are_errors() {
        let s = source("https://h/?s={{symbol}", &[("X-A", "{{#if}}")]);
        let errs = Templates::new(&s).err().expect("errors");
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["source.url", "source.headers.X-A"]);
    }

    #[test]
    fn body_values_are_escaped_for_json_strings() {
        let mut s = source("https://h/q", &[]);
        s.body = Some(Located::unlocated(
            r#"{"symbol": "{{symbol}}", "n": {{{n}}} }"#.to_owned(),
        ));
        let t = Templates::new(&s).unwrap();
        let f = feed(&[("symbol", r#"A\", "x": "1"#), ("n", "12")]);
        let body = t.render_body(s.body.as_ref().unwrap(), &f).unwrap();
        assert_eq!(body, r#"{"symbol": "A\\\", \"x\": \"1", "n": 12 }"#);
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["symbol"], "A\\\", \"x\": \"1");
    }

    #[test]
    fn text_without_placeholders_is_kept() {
        let s = source("https://h/a b", &[]);
        let t = Templates::new(&s).unwrap();
        assert_eq!(t.render_url(&s.url, &Map::new()).unwrap(), "https://h/a b");
    }
}
