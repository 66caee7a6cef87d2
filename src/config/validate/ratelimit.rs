//! The rule for `source.ratelimit_headers`: each name must be a valid HTTP header name. `validate`
//! reports a bad one here, and the poller builds its header names through [`header_name`], so the
//! rule is written once.

use reqwest::header::HeaderName;

use super::Ctx;
use crate::config::Located;
use crate::config::model::RateLimitHeaders;
use crate::diag::Diagnostic;

/// Reports every rate-limit header name that is not a valid HTTP header name.
pub(super) fn check(ctx: &mut Ctx<'_>, headers: &RateLimitHeaders) {
    let named = [
        ("limit", &headers.limit),
        ("remaining", &headers.remaining),
        ("reset", &headers.reset),
    ];
    for (key, name) in named {
        if let Err(diagnostic) = header_name(name, &format!("source.ratelimit_headers.{key}")) {
            ctx.push(diagnostic);
        }
    }
}

/// `name` as an HTTP header name, or an error located at it (`path` is its place in the pipeline,
/// such as `source.ratelimit_headers.remaining`).
pub(crate) fn header_name(name: &Located<String>, path: &str) -> Result<HeaderName, Diagnostic> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Diagnostic::error(
            name.position,
            format!("`{}` is not a valid HTTP header name", name.as_str()),
        )
        .at(path)
        .help(
            "a header name is letters, digits and `-` (no spaces, `:` or quotes), such as \
             `X-RateLimit-Remaining`",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::header_name;
    use crate::config::Located;

    #[test]
    fn header_names_follow_http() {
        let name = |text: &str| header_name(&Located::unlocated(text.to_owned()), "p");
        assert_eq!(
            name("X-RateLimit-Remaining").unwrap().as_str(),
            "x-ratelimit-remaining"
        );
        for bad in ["", "X RateLimit", "X-Limit:", "Ünicode"] {
            let err = name(bad).unwrap_err();
            assert!(
                err.message.contains("not a valid HTTP header name"),
                "{bad}"
            );
            assert_eq!(err.path, "p");
        }
    }
}
