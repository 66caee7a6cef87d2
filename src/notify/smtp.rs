//! The SMTP notifier: sends through a real mail server given as a URL, such as
//! `smtp://127.0.0.1:1025` (plain), `smtp://host:587?tls=required` (STARTTLS) or
//! `smtps://user:password@host` (TLS). The URL may hold a password: it is never shown.

use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Email, Notifier, NotifyError, message};

/// How long connecting to the SMTP server may take (the whole attempt: `notify.timeout`).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Sends e-mails through one SMTP server.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl Smtp {
    /// A notifier for the server at `url`.
    pub fn new(url: &str) -> Result<Smtp, NotifyError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifyError::Smtp(format!("bad SMTP URL: {e}")))?
            // lettre's async transport applies this to connecting only (lettre #1027): a server
            // that accepts and then never answers is cut by the overall per-attempt deadline,
            // `notify.timeout`, that the batch lifecycle puts around every notifier's send.
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(Smtp {
            transport,
            server: server_of(url),
        })
    }
}

/// `scheme://host:port` of an SMTP URL, without user or password, for messages.
pub fn server_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the SMTP server".to_owned(),
    }
}

#[async_trait]
impl Notifier for Smtp {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let message = message::build(email)?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| NotifyError::Smtp(format!("{}: {e}", self.server)))?;
        let id = response.message().collect::<Vec<_>>().join(" ");
        Ok(format!("{} ({})", self.server, id.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::server_of;

    #[test]
    fn server_never_shows_credentials() {
        assert_eq!(
            server_of("smtps://me:hunter22@mail.example.com:465"),
            "smtps://mail.example.com:465"
        );
    }
}
