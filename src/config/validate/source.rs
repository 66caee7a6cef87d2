//! Config-level checks of `source` and `feeds`: secrets written in the URL and headers, the
//! names their templates (and the request body's) use, feeds no request uses, a body without
//! `POST`, timeout and body limits. The URL's syntax, the cron schedule with its time zone and
//! active windows, the JSONPaths and the quota are the source stage's to check
//! (`crate::source::Schedule::new`, `crate::source::CompiledSource::new`).

use super::Ctx;
use super::templates::{self, Scope};
use crate::config::Located;
use crate::config::model::{Feed, Method, Source};
use crate::diag::Diagnostic;
use crate::redact::is_secret_name;

/// Runs every check of the `source` section; `feeds` is `None` when that section did not parse.
pub(super) fn check(ctx: &mut Ctx<'_>, source: &Source, feeds: Option<&[Located<Feed>]>) {
    let feed_scope = feeds.map(feed_scope);
    check_url(ctx, &source.url, feed_scope.as_ref());
    for (name, value) in &source.headers {
        let path = format!("source.headers.{name}");
        ctx.check_not_interpolated(value, &path);
        check_literal_secret(ctx, name, value, &path);
        if let Some(scope) = &feed_scope
            && value.contains("{{")
        {
            templates::check(ctx, value, &path, scope);
        }
    }
    check_body(ctx, source, feed_scope.as_ref());
    if let Some(feeds) = feeds
        && !feeds.is_empty()
        && !source.url.contains("{{")
        && !source.headers.values().any(|v| v.contains("{{"))
        && !source.body.as_ref().is_some_and(|b| b.contains("{{"))
    {
        ctx.push(
            Diagnostic::warning(feeds[0].position, "feeds are listed but the source uses none of their keys")
                .at("feeds")
                .help("every feed makes the same request; use a feed key in the URL, such as `?symbol={{symbol}}`"),
        );
    }
    if source.timeout.0.is_zero() {
        ctx.push(
            Diagnostic::error(
                source.timeout.position,
                "`timeout` is 0: every request would time out",
            )
            .at("source.timeout")
            .help("give the API time to answer, such as `10s`"),
        );
    }
    let max_body = source.max_body.0;
    if !(MIN_BODY..=MAX_BODY).contains(&max_body) {
        ctx.push(
            Diagnostic::error(
                source.max_body.position,
                format!(
                    "`max_body` is {}: it must be from 1 KiB to 1 GiB",
                    *source.max_body
                ),
            )
            .at("source.max_body")
            .help("the largest response the API sends, with room to spare, such as `10MiB`"),
        );
    }
}

/// `body` is sent only with `method: POST`; the names its template uses are checked like the
/// URL's.
fn check_body(ctx: &mut Ctx<'_>, source: &Source, feeds: Option<&Scope>) {
    let Some(body) = &source.body else { return };
    ctx.check_not_interpolated(body, "source.body");
    let method = source.method.as_ref().map(|m| m.value).unwrap_or_default();
    if method != Method::Post {
        ctx.push(
            Diagnostic::error(
                body.position,
                format!(
                    "`body` is sent only with `method: POST`, not `{}`",
                    method.name()
                ),
            )
            .at("source.body")
            .help("add `method: POST`, or remove `body` and put the query in the URL"),
        );
    }
    if body.contains("{{")
        && let Some(scope) = feeds
    {
        templates::check(ctx, body, "source.body", scope);
    }
}

/// The keys every feed has (what a template may use from any feed).
pub(crate) fn keys_every_feed_has(feeds: &[Located<Feed>]) -> Vec<String> {
    let mut keys: Vec<String> = feeds
        .first()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    keys.retain(|k| feeds.iter().all(|f| f.contains_key(k)));
    keys
}

/// Bounds of `source.max_body`: a cap under 1 KiB fails any real response; one over 1 GiB is no
/// cap on a machine this runs on.
const MIN_BODY: u64 = 1024;
const MAX_BODY: u64 = 1024 * 1024 * 1024;

/// The names a URL or header template can use: the keys every feed has.
fn feed_scope(feeds: &[Located<Feed>]) -> Scope {
    Scope {
        top: keys_every_feed_has(feeds),
        each: None,
        describe_top: "every feed has",
        feed_keys: None,
    }
}

fn check_url(ctx: &mut Ctx<'_>, url: &Located<String>, feeds: Option<&Scope>) {
    ctx.check_not_interpolated(url, "source.url");
    if url.contains("{{")
        && let Some(scope) = feeds
    {
        templates::check(ctx, url, "source.url", scope);
    }
    check_query_secrets(ctx, url);
}

/// Warns about query parameters such as `?apikey=…` whose value is written in the file.
fn check_query_secrets(ctx: &mut Ctx<'_>, url: &Located<String>) {
    let written = ctx.source_text(url).trim_matches(['"', '\'']).to_owned();
    let Some((_, query)) = written.split_once('?') else {
        return;
    };
    let query = query.split('#').next().unwrap_or("");
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let from_elsewhere = value.contains("${") || value.contains("{{");
        if is_secret_name(&name) && !value.is_empty() && !from_elsewhere {
            ctx.push(
                Diagnostic::warning(
                    url.position,
                    format!("query parameter `{name}` holds a literal secret"),
                )
                .at("source.url")
                .help(format!(
                    "a key written in the file ends up in git and in logs; write `{name}=${{{}}}` and set it in the environment",
                    name.to_ascii_uppercase()
                ))
                .secret(),
            );
        }
    }
}

/// Whether a value looks like a generated key: long, letters and digits only, well mixed.
fn looks_like_a_key(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let letters = value.chars().filter(char::is_ascii_alphabetic).count();
    value.len() >= 32 && digits + letters == value.len() && digits >= 4 && letters >= 4
}

fn check_literal_secret(ctx: &mut Ctx<'_>, name: &str, value: &Located<String>, path: &str) {
    let written = ctx.source_text(value);
    if written.contains("${") || value.contains("{{") || value.is_empty() {
        return; // from the environment, or a feed template
    }
    if is_secret_name(name) || looks_like_a_key(value) {
        let variable = name.to_ascii_uppercase().replace(['-', ' '], "_");
        ctx.push(
            Diagnostic::warning(value.position, format!("header `{name}` holds a literal secret"))
                .at(path)
                .help(format!(
                    "a key written in the file ends up in git and in logs; set it in the environment and write `{name}: ${{{variable}}}`"
                ))
                .secret(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_generated_key_values() {
        assert!(looks_like_a_key(
            "9f8e7d6c5b4a39281716aAbBcCdDeEfF0a1b2c3d4e5f6a7b"
        ));
        assert!(!looks_like_a_key("stockrun_pipeline_build_2025"));
    }
}
