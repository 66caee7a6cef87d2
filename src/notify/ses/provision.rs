//! Creating the sender's SES v2 identity for development (`stockrun init`): the e-mail address
//! of `notify.from`. AWS e-mails the address a confirmation link; SES refuses to send from it
//! until it is confirmed, so whether it is verified is returned too.

use crate::aws::{Aws, sdk_error_message};
use crate::resources::Provisioned;

/// Why the identity could not be found or made.
#[derive(Debug, thiserror::Error)]
#[error("SES identity {address}: {operation}: {message}")]
pub struct ProvisionError {
    /// The address.
    pub address: String,
    /// The call, such as `GetEmailIdentity`.
    pub operation: &'static str,
    /// What AWS said.
    pub message: String,
}

/// The sender's identity, found or created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Whether it was there.
    pub provisioned: Provisioned,
    /// Whether SES lets it send yet.
    pub verified: bool,
}

/// Finds the e-mail identity `address`, creating it when missing.
pub async fn identity(aws: &Aws, address: &str) -> Result<Identity, ProvisionError> {
    let client = aws.sesv2().await;
    let error = |operation, message| ProvisionError {
        address: address.to_owned(),
        operation,
        message,
    };
    match client
        .get_email_identity()
        .email_identity(address)
        .send()
        .await
    {
        Ok(output) => Ok(Identity {
            provisioned: Provisioned::Existed,
            verified: output.verified_for_sending_status(),
        }),
        Err(get)
            if get
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            let output = client
                .create_email_identity()
                .email_identity(address)
                .send()
                .await
                .map_err(|e| error("CreateEmailIdentity", sdk_error_message(&e)))?;
            Ok(Identity {
                provisioned: Provisioned::Created,
                verified: output.verified_for_sending_status(),
            })
        }
        Err(get) => Err(error("GetEmailIdentity", sdk_error_message(&get))),
    }
}
