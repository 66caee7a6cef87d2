//! Builds the RFC 5322 message (lettre) that both the outbox and SMTP notifiers deliver.

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};

use super::{Email, NotifyError};

/// The MIME message for `email`: plain text, or text and HTML as `multipart/alternative`.
pub fn build(email: &Email) -> Result<lettre::Message, NotifyError> {
    let mailbox = |address: &str| {
        address
            .parse::<Mailbox>()
            .map_err(|e| NotifyError::Build(format!("address `{address}`: {e}")))
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(&email.from)?)
        .subject(&email.subject)
        // A unique id (RFC 5322 says every message should have one), from lettre with the host name.
        .message_id(None)
        .user_agent(concat!("stockrun/", env!("CARGO_PKG_VERSION")).to_owned());
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    let built = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        ),
    };
    built.map_err(|e| NotifyError::Build(e.to_string()))
}
