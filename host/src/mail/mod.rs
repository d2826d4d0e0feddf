//! Outgoing mail: through SMTP when configured, otherwise kept as `.eml` files under the data dir. Either
//! way every mail is recorded for the tenant's admins, so invitation and reset flows work without a server.
//!
//! A mail may carry a single-use secret (an invitation or reset link). Without SMTP the admins' copy must show
//! it, since that copy is how the link reaches its owner; once SMTP has taken the mail, the recorded copy shows
//! [`WITHHELD`] instead, so no admin can read another person's link and take over their account.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{SmtpConfig, SmtpTls};
use crate::storage::{StorageError, TenantScope};

/// Sends or keeps mail.
#[derive(Clone)]
pub struct Mailer {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    kept_dir: PathBuf,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("smtp", &self.smtp.is_some()).field("kept_dir", &self.kept_dir).finish()
    }
}

/// Mail could not be recorded (sending failures are recorded, not returned).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What the recorded copy of a mail sent through SMTP shows in place of its secret.
pub const WITHHELD: &str = "[link withheld: sent to the recipient only]";

impl Mailer {
    pub fn new(smtp: Option<&SmtpConfig>, data_dir: &std::path::Path) -> Result<Self, MailError> {
        let from_addr = smtp.map(|s| s.from.as_str()).unwrap_or("Portico <portal@portico.localhost>");
        let from: Mailbox = from_addr.parse().map_err(|e| MailError::Config(format!("smtp.from: {e}")))?;
        let smtp = smtp
            .map(|s| {
                let builder = match s.tls {
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host),
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host),
                }
                .map_err(|e| MailError::Config(format!("smtp.host: {e}")))?;
                let mut builder = builder.port(s.port);
                if let (Some(user), Some(pass)) = (&s.username, &s.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), pass.expose_secret().to_string()));
                }
                Ok::<_, MailError>(builder.build())
            })
            .transpose()?;
        Ok(Self { smtp, from, kept_dir: data_dir.join("mail") })
    }

    /// Sends (or keeps) a plain-text mail and records it for the tenant. A delivery failure is logged and
    /// recorded as `failed`; it does not fail the caller's operation. `secret`, when the body holds one, is
    /// withheld from the recorded copy of a mail that goes through SMTP (see the module's docs).
    pub async fn send(
        &self,
        scope: TenantScope<'_>,
        to: &str,
        subject: &str,
        body: &str,
        secret: Option<&str>,
    ) -> Result<(), MailError> {
        self.send_with_headers(scope, to, subject, body, secret, &[]).await
    }

    /// [`Mailer::send`] with extra headers (`List-Unsubscribe`, say), each a name and its value as written; a
    /// value is encoded and folded like any header's, so it cannot add headers of its own.
    pub async fn send_with_headers(
        &self,
        scope: TenantScope<'_>,
        to: &str,
        subject: &str,
        body: &str,
        secret: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<(), MailError> {
        let withheld = match secret {
            Some(secret) if self.smtp.is_some() => body.replace(secret, WITHHELD),
            _ => body.to_string(),
        };
        let to_box: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => {
                scope.record_mail(to, subject, &withheld, "failed", &format!("invalid address: {e}")).await?;
                return Ok(());
            }
        };
        let mut builder = Message::builder().from(self.from.clone()).to(to_box).subject(subject);
        for (name, value) in headers {
            let name = HeaderName::new_from_ascii(name.to_string())
                .map_err(|_| MailError::Config(format!("invalid header name {name:?}")))?;
            builder = builder.raw_header(HeaderValue::new(name, value.clone()));
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Config(e.to_string()))?;
        match &self.smtp {
            Some(smtp) => match smtp.send(message).await {
                Ok(_) => {
                    scope.record_mail(to, subject, &withheld, "sent", "").await?;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mail delivery failed");
                    scope.record_mail(to, subject, &withheld, "failed", &e.to_string()).await?;
                }
            },
            None => {
                let id = scope.record_mail(to, subject, body, "kept", "").await?;
                let dir = self.kept_dir.join(scope.tenant_id());
                let written = async {
                    tokio::fs::create_dir_all(&dir).await?;
                    tokio::fs::write(dir.join(format!("{id}.eml")), message.formatted()).await
                }
                .await;
                if let Err(e) = written {
                    tracing::warn!(error = %e, "could not keep mail file");
                }
            }
        }
        Ok(())
    }
}
