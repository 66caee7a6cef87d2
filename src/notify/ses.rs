//! The SES v2 notifier: one SendEmail with simple content (subject, text body, optional HTML
//! body, all UTF-8), or raw content (the MIME message) when the mail has inline images.
//! Throttling is retried by the SDK's standard retry policy; the runtime retries the rest and
//! never lets a failed e-mail touch the stored records. `provision` creates the sender's
//! identity for `stockrun init`.

pub(crate) mod provision;

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, RawMessage};

use super::{Email, Notifier, NotifyError};
use crate::aws::{Aws, sdk_error_message};

/// Sends e-mails through Amazon SES v2.
pub struct Ses {
    aws: Arc<Aws>,
}

impl Ses {
    /// A notifier that sends nothing and builds no client until the first e-mail.
    pub fn new(aws: Arc<Aws>) -> Ses {
        Ses { aws }
    }
}

/// Text in UTF-8, as SES wants it.
fn utf8(data: &str) -> Content {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .expect("data is set")
}

/// The SES content of `email`: simple content, or, with inline images (which simple content
/// cannot reference by Content-ID), the MIME message the outbox and SMTP send, as raw content.
fn content(email: &Email) -> Result<EmailContent, NotifyError> {
    if !email.images.is_empty() {
        let message = super::message::build(email)?;
        let raw = RawMessage::builder()
            .data(Blob::new(message.formatted()))
            .build()
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        return Ok(EmailContent::builder().raw(raw).build());
    }
    let mut body = Body::builder().text(utf8(&email.text));
    if let Some(html) = &email.html {
        body = body.html(utf8(html));
    }
    let message = Message::builder()
        .subject(utf8(&email.subject))
        .body(body.build())
        .build();
    Ok(EmailContent::builder().simple(message).build())
}

#[async_trait]
impl Notifier for Ses {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let client = self.aws.sesv2().await;
        let output = client
            .send_email()
            .from_email_address(email.from.to_string())
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.iter().map(ToString::to_string).collect()))
                    .build(),
            )
            .content(content(email)?)
            .send()
            .await
            .map_err(|e| {
                let rejected = e
                    .as_service_error()
                    .is_some_and(|s| s.is_message_rejected());
                if rejected {
                    NotifyError::Ses(format!(
                        "the e-mail from {} was rejected: {}; create/verify the sender identity: \
                         `stockrun init FILE --backend aws`",
                        email.from,
                        sdk_error_message(&e)
                    ))
                } else {
                    NotifyError::Ses(format!("SendEmail failed: {}", sdk_error_message(&e)))
                }
            })?;
        Ok(format!(
            "SES message {}",
            output.message_id().unwrap_or("(no id)")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(html: Option<&str>) -> Email {
        Email {
            from: "stockrun@example.com".parse().unwrap(),
            to: vec!["me@example.com".parse().unwrap()],
            subject: "2 new quotes".to_owned(),
            text: "AAPL: 1".to_owned(),
            html: html.map(str::to_owned),
            images: Vec::new(),
        }
    }

    #[test]
    fn text_only_has_no_html_part() {
        let content = content(&email(None)).unwrap();
        let body = content.simple().unwrap().body().unwrap();
        assert_eq!(body.text().unwrap().data(), "AAPL: 1");
        assert_eq!(body.text().unwrap().charset(), Some("UTF-8"));
        assert!(body.html().is_none());
    }

    #[test]
    fn html_goes_beside_the_text() {
        let content = content(&email(Some("<b>AAPL</b>: 1"))).unwrap();
        let message = content.simple().unwrap();
        assert_eq!(message.subject().unwrap().data(), "2 new quotes");
        let body = message.body().unwrap();
        assert_eq!(body.text().unwrap().data(), "AAPL: 1");
        assert_eq!(body.html().unwrap().data(), "<b>AAPL</b>: 1");
    }
}
