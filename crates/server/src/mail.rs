//! Mail the server sends (password-reset links, invitations): through SMTP when configured,
//! otherwise written as `.eml` files to an outbox folder in the data dir, so that a self-hoster
//! without a mail server can still open the link. The log names the file, never the link: a
//! link is a credential.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A mail to one person.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail settings are invalid: {0}")]
    Settings(String),
    #[error("the address {0:?} is not a valid mailbox")]
    Address(String),
    #[error("the mail could not be sent: {0}")]
    Send(String),
    #[error("the mail could not be written to the outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

/// Where mail goes.
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: Mailbox,
    },
}

pub const DEFAULT_FROM: &str = "Baton <baton@localhost>";

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|_| MailError::Address(address.to_owned()))
}

impl Mailer {
    /// SMTP at `url` (`smtp://host:port`, `smtps://user:pass@host`, or with `?tls=required`).
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| MailError::Settings(error.to_string()))?
            .build();
        Ok(Self::Smtp {
            transport,
            from: mailbox(from)?,
        })
    }

    /// Files in `dir`, created when the first mail is written.
    pub fn outbox(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailError> {
        Ok(Self::Outbox {
            dir: dir.into(),
            from: mailbox(from)?,
        })
    }

    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Outbox { from, .. } => from.clone(),
        };
        let message = Message::builder()
            .from(from)
            .to(mailbox(&mail.to)?)
            .subject(mail.subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|error| MailError::Send(error.to_string()))?;
        match self {
            Self::Smtp { transport, .. } => {
                transport
                    .send(message)
                    .await
                    .map_err(|error| MailError::Send(error.to_string()))?;
                tracing::info!(to = %crate::redact::email(&mail.to), "mail sent");
            }
            Self::Outbox { dir, .. } => {
                // The outbox holds live links (password resets, invitations): its owner's alone.
                tokio::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .await?;
                let path = dir.join(format!("{}.eml", uuid_like()));
                // Written as it reads, not encoded for transport, so that a link can be copied
                // from the file as it is.
                let headers = message.headers().to_string();
                let headers: String = headers
                    .lines()
                    .filter(|line| !line.starts_with("Content-Transfer-Encoding"))
                    .map(|line| format!("{line}\r\n"))
                    .collect();
                let text = format!(
                    "{headers}Content-Transfer-Encoding: 8bit\r\n\r\n{}",
                    mail.body
                );
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .await?;
                tokio::io::AsyncWriteExt::write_all(&mut file, text.as_bytes()).await?;
                tokio::io::AsyncWriteExt::flush(&mut file).await?;
                tracing::warn!(
                    to = %crate::redact::email(&mail.to),
                    file = %path.display(),
                    "no SMTP server is configured (BATON_SMTP_URL); the mail, with its link, was written to the outbox"
                );
            }
        }
        Ok(())
    }
}

/// A file name that sorts by time and does not collide.
fn uuid_like() -> String {
    format!(
        "{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        rand::random::<u32>()
    )
}
