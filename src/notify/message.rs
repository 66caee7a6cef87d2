//! Builds the RFC 5322 message (lettre) that both the outbox and SMTP notifiers deliver.
//!
//! lettre encodes a header value (RFC 2047) only when it holds NUL, CR, LF or non-ASCII; ESC,
//! BEL and DEL go into the header raw, and an encoded C1 or bidi character comes back raw in the
//! reader's client. So the subject and the display names are passed through
//! [`visible::one_line`] first (the subject already is by [`super::render`]; this holds for any
//! e-mail built), and the text body through [`visible::lines`].
//!
//! With inline images (`notify.chart`) the HTML part becomes `multipart/related`: the HTML (the
//! pipeline's, or the text in `<pre>`) followed by an `<img src="cid:…">` per image, and each
//! PNG with its `Content-ID`; the text part is the same as without them.

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};

use super::{Email, NotifyError};
use crate::visible;

/// The MIME message for `email`: plain text, or text and HTML as `multipart/alternative`. The
/// addresses are already parsed (`render::addresses`); only their display names are made visible.
pub fn build(email: &Email) -> Result<lettre::Message, NotifyError> {
    let mailbox = |address: &Mailbox| Mailbox {
        name: address
            .name
            .as_ref()
            .map(|name| visible::one_line(name).into_owned()),
        email: address.email.clone(),
    };
    let text = visible::lines(&email.text).into_owned();
    let mut builder = lettre::Message::builder()
        .from(mailbox(&email.from))
        .subject(visible::one_line(&email.subject))
        // A unique id (RFC 5322 says every message should have one), from lettre with the host name.
        .message_id(None)
        .user_agent(concat!("stockrun/", env!("CARGO_PKG_VERSION")).to_owned());
    for to in &email.to {
        builder = builder.to(mailbox(to));
    }
    let built = match &email.html {
        _ if !email.images.is_empty() => builder.multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(text))
                .multipart(related(email)?),
        ),
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        ),
    };
    built.map_err(|e| NotifyError::Build(e.to_string()))
}

/// The HTML part with its images: `multipart/related` of the HTML, then each PNG.
fn related(email: &Email) -> Result<MultiPart, NotifyError> {
    let mut related = MultiPart::related().singlepart(SinglePart::html(html_with_images(email)));
    let png = ContentType::parse("image/png").map_err(|e| NotifyError::Build(e.to_string()))?;
    for image in &email.images {
        related = related.singlepart(
            Attachment::new_inline(image.content_id.clone()).body(image.png.clone(), png.clone()),
        );
    }
    Ok(related)
}

/// The HTML body followed by an `<img>` per inline image; without an HTML body, the text in
/// `<pre>` (escaped) stands in for it.
pub fn html_with_images(email: &Email) -> String {
    let mut html = match &email.html {
        Some(html) => html.clone(),
        None => format!("<pre>{}</pre>\n", escape(&visible::lines(&email.text))),
    };
    for image in &email.images {
        html.push_str(&format!(
            "<p><img src=\"cid:{}\" alt=\"{}\"></p>\n",
            escape(&image.content_id),
            escape(&image.alt)
        ));
    }
    html
}

/// `text` with `&`, `<`, `>` and `"` escaped for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
