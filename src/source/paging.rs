//! Pagination (`source.next`): how a response says where its next page is, and the URL of that
//! page. A `link` is a URL in the body (absolute or relative to the page it is in), followed
//! only on the source's host, since the request's headers carry keys; a `cursor` is a value in
//! the body, sent back as a query parameter of the feed's own URL. A poll requests at most
//! `max_pages` pages per feed. Compiling the section checks it, for `validate` and the poller.

use jsonpath_rust::parser::model::JpQuery;
use reqwest::Url;

use crate::config::model::Source;
use crate::config::{Located, jsonpath};
use crate::diag::Diagnostic;

/// The most `max_pages` allows: a poll is bounded work.
const MAX_PAGES: u32 = 1000;

/// The JSONPath of the next page's link or cursor: as written, and compiled.
pub(crate) type NextPath = (String, JpQuery);

/// `source.next` compiled.
#[derive(Clone, Debug)]
pub(crate) struct Paging {
    /// How the next page is found.
    pub(crate) kind: Kind,
    /// The most pages per feed and poll, the first included.
    pub(crate) max_pages: u32,
}

/// Where the next page is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The response holds its URL.
    Link,
    /// The response holds a cursor, sent as this query parameter.
    Cursor(String),
}

/// Why there is no next page to request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PageError {
    /// The link does not parse as a URL.
    #[error("the next-page link `{0}` is not a URL")]
    Invalid(String),
    /// The link leads to another server, which must not get the request's headers.
    #[error(
        "the next-page link leads to {0}, not the source's {1}: not followed, so the request's headers stay with their server"
    )]
    OtherOrigin(String, String),
}

impl Paging {
    /// Compiles `source.next` (when there is one): the paging and the JSONPath of the link or
    /// cursor, as `(path as written, query)`. The error is every problem found.
    pub(crate) fn new(source: &Source) -> Result<Option<(Paging, NextPath)>, Vec<Diagnostic>> {
        let Some(next) = &source.next else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let chosen = match (&next.link, &next.cursor) {
            (Some(link), None) => Some(("link", link)),
            (None, Some(cursor)) => Some(("cursor", cursor)),
            (Some(_), Some(cursor)) => {
                problems.push(
                    Diagnostic::error(cursor.position, "`next` has both `link` and `cursor`")
                        .at("source.next.cursor")
                        .help("a response says where its next page is one way: keep one of them"),
                );
                None
            }
            (None, None) => {
                problems.push(
                    Diagnostic::error(next.position, "`next` needs `link` or `cursor`")
                        .at("source.next")
                        .help("write `next: { link: $.next }` for a URL in the response, or `next: { cursor: $.cursor, param: cursor }` for a cursor sent back as a query parameter"),
                );
                None
            }
        };
        let kind = match (chosen, &next.param) {
            (Some(("cursor", _)), None) => {
                problems.push(
                    Diagnostic::error(next.position, "`next.cursor` needs `param`")
                        .at("source.next")
                        .help("name the query parameter the API takes the cursor in, such as `param: cursor`"),
                );
                None
            }
            (Some(("cursor", _)), Some(param)) if param.trim().is_empty() => {
                problems.push(
                    Diagnostic::error(param.position, "`param` is empty")
                        .at("source.next.param")
                        .help("name the query parameter the API takes the cursor in, such as `cursor`"),
                );
                None
            }
            (Some(("cursor", _)), Some(param)) => Some(Kind::Cursor(param.value.clone())),
            (Some(_), Some(param)) => {
                problems.push(
                    Diagnostic::error(param.position, "`param` applies only to `cursor`")
                        .at("source.next.param")
                        .help("a `link` is the next page's whole URL: remove `param`"),
                );
                None
            }
            (Some(_), None) => Some(Kind::Link),
            (None, _) => None,
        };
        let query = chosen.and_then(|(key, path)| {
            jsonpath::compile(path, &format!("source.next.{key}"))
                .map(|query| (path.value.clone(), query))
                .map_err(|problem| problems.push(problem))
                .ok()
        });
        check_max_pages(&next.max_pages, &mut problems);
        if source
            .url
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("file:"))
        {
            problems.push(
                Diagnostic::error(next.position, "`next` needs an `http(s)` source URL")
                    .at("source.next")
                    .help(
                        "a `file:` URL reads one recorded response: remove `next`, or poll the API",
                    ),
            );
        }
        match (kind, query) {
            (Some(kind), Some(query)) if problems.is_empty() => Ok(Some((
                Paging {
                    kind,
                    max_pages: next.max_pages.value,
                },
                query,
            ))),
            _ => Err(problems),
        }
    }

    /// The URL of the page after the one requested at `current`, whose body gave `value`;
    /// `first` is the feed's own URL (the cursor goes into it; a link must stay on its origin,
    /// or move from `http` to `https` on its host).
    pub(crate) fn next_url(
        &self,
        first: &Url,
        current: &Url,
        value: &str,
    ) -> Result<Url, PageError> {
        match &self.kind {
            Kind::Cursor(param) => {
                let mut url = first.clone();
                let kept: Vec<(String, String)> = first
                    .query_pairs()
                    .filter(|(name, _)| name != param.as_str())
                    .map(|(name, value)| (name.into_owned(), value.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair(param, value);
                Ok(url)
            }
            Kind::Link => {
                let url = current
                    .join(value)
                    .map_err(|_| PageError::Invalid(value.to_owned()))?;
                let same = url.origin() == first.origin()
                    || (url.scheme() == "https" && url.host_str() == first.host_str());
                if same {
                    Ok(url)
                } else {
                    Err(PageError::OtherOrigin(
                        url.origin().ascii_serialization(),
                        first.origin().ascii_serialization(),
                    ))
                }
            }
        }
    }
}

fn check_max_pages(max_pages: &Located<u32>, problems: &mut Vec<Diagnostic>) {
    if !(1..=MAX_PAGES).contains(&max_pages.value) {
        problems.push(
            Diagnostic::error(
                max_pages.position,
                format!(
                    "`max_pages` is {}: it must be from 1 to {MAX_PAGES}",
                    max_pages.value
                ),
            )
            .at("source.next.max_pages")
            .help("the most pages one poll may request per feed, such as `10`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(kind: Kind) -> Paging {
        Paging { kind, max_pages: 3 }
    }

    #[test]
    fn a_cursor_replaces_its_parameter_in_the_feed_url() {
        let first = Url::parse("https://h.example/q?symbol=A&cursor=old&x=1").unwrap();
        let next = paging(Kind::Cursor("cursor".to_owned()))
            .next_url(&first, &first, "c 2&")
            .unwrap();
        assert_eq!(
            next.as_str(),
            "https://h.example/q?symbol=A&x=1&cursor=c+2%26"
        );
    }

    #[test]
    fn links_are_followed_only_on_the_source_host() {
        let first = Url::parse("http://h.example/api/q?page=1").unwrap();
        let link = paging(Kind::Link);
        let next = |value: &str| link.next_url(&first, &first, value);
        assert_eq!(
            next("?page=2").unwrap().as_str(),
            "http://h.example/api/q?page=2"
        );
        assert_eq!(
            next("/api/q?page=2").unwrap().as_str(),
            "http://h.example/api/q?page=2"
        );
        assert_eq!(
            next("https://h.example/api/q?page=2").unwrap().as_str(),
            "https://h.example/api/q?page=2"
        );
        assert_eq!(
            next("https://evil.example/q").unwrap_err(),
            PageError::OtherOrigin(
                "https://evil.example".to_owned(),
                "http://h.example".to_owned()
            )
        );
        assert!(matches!(next("http://[::1"), Err(PageError::Invalid(_))));
    }
}
