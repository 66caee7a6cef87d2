//! The notify stage: one e-mail per processed batch. One trait; `outbox` writes `.eml` files,
//! `smtp` sends through an SMTP server, the AWS one uses SES v2. `render` builds the e-mail from
//! the pipeline's Handlebars templates.

pub mod message;
pub mod outbox;
pub mod render;
pub mod ses;
pub mod smtp;

use async_trait::async_trait;
use lettre::message::Mailbox;

/// A rendered e-mail, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// The sender, parsed once when the pipeline was compiled (`render::addresses`).
    pub from: Mailbox,
    /// The recipients, parsed likewise.
    pub to: Vec<Mailbox>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, when the pipeline has an `html` template.
    pub html: Option<String>,
    /// Images shown inline in the HTML part (`notify.chart`), after the HTML body (or, without
    /// one, after the text in `<pre>`); the text part stays as it is.
    pub images: Vec<InlineImage>,
}

/// A PNG image of the HTML part, referenced by `cid:` (`multipart/related`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineImage {
    /// Its Content-ID, without the angle brackets, such as `chart-0@stockrun`.
    pub content_id: String,
    /// The image's text alternative.
    pub alt: String,
    /// The PNG file.
    pub png: Vec<u8>,
}

/// Why an e-mail could not be sent. Stored records are never affected.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The message could not be built (bad address, bad header).
    #[error("cannot build the e-mail: {0}")]
    Build(String),
    /// Writing the `.eml` file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The SMTP server refused or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(String),
    /// SES refused the e-mail or could not be reached.
    #[error("SES: {0}")]
    Ses(String),
    /// The attempt took longer than `notify.timeout` and was abandoned (a server that accepts
    /// and never answers, or stops answering halfway).
    #[error("no answer within {} (notify.timeout): attempt abandoned", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
}

/// Sends one e-mail.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `email` and says where it went (a file path or a message id).
    async fn send(&self, email: &Email) -> Result<String, NotifyError>;
}
