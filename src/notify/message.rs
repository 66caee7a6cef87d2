//! Builds the RFC 5322 message (lettre) that both the outbox and SMTP notifiers deliver.
//!
//! lettre encodes a header value (RFC 2047) only when it holds NUL, CR, LF or non-ASCII; ESC,
//! BEL and DEL go into the header raw, and an encoded C1 or bidi character comes back raw in the
//! reader's client. So the subject and the display names are passed through
//! [`visible::one_line`] first (the subject already is by [`super::render`]; this holds for any
//! e-mail built), and the text body through [`visible::lines`].

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};

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
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        ),
    };
    built.map_err(|e| NotifyError::Build(e.to_string()))
}
