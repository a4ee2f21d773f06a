//! `email`: a mailbox on any mail server (a hosting provider's, Fastmail, Outlook, a
//! company's own), read over IMAP and sent from over SMTP with the address and password (or
//! app password) a mail program would use. Actions: send (a reply carries `In-Reply-To` and
//! `References`, so it lands in the conversation), search, read, move and mark read; the
//! `new_email` trigger watches a folder by UID, so no message runs a workflow twice.
//!
//! The credential is a form of fields (see [`FIELDS`]): `email`, `password`, `imap_host`,
//! `smtp_host`, and optionally `user` (when the login is not the address), ports, the
//! security of each connection (`tls`, `starttls` or `none`) and `allow_self_signed`. Mail
//! servers are reached under the same address policy as HTTP steps: an internal address only
//! when the operator allows it (`BATON_HTTP_ALLOW`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_imap::types::{Fetch, Flag};
use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, PollCall, Polled, Secret};
use futures::TryStreamExt;
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mail_parser::{MessageParser, MimeHeaders};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::{
    ActionDeclaration, AddressPolicy, AuthKind, Category, Connector, CredentialField, Declaration,
    RateLimit, TriggerDeclaration, inputs, output_schema, text_or_null,
};

/// The folder actions and the trigger use when none is given.
const INBOX: &str = "INBOX";

/// How long connecting (TCP and TLS) may take, and then a whole action.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const ACTION_TIMEOUT: Duration = Duration::from_secs(90);

/// The most messages one look of the trigger delivers; the rest come at the next look.
const MAX_PER_LOOK: usize = 25;

/// The most messages a search lists.
const MAX_SEARCH: u32 = 200;

/// The fields of the credential form, in the order it shows them.
pub static FIELDS: LazyLock<Vec<CredentialField>> = LazyLock::new(|| {
    let security = vec![
        ("tls", "SSL/TLS"),
        ("starttls", "STARTTLS"),
        ("none", "None (only on a network you trust)"),
    ];
    vec![
        CredentialField::text(
            "email",
            "Email address",
            "The address mail is sent from.",
            true,
        ),
        CredentialField::password(
            "password",
            "Password",
            "The mailbox's password, or an app password where the provider asks for one (Gmail, Outlook, iCloud, Yahoo).",
        ),
        CredentialField::text(
            "imap_host",
            "IMAP server",
            "Where mail is read, e.g. imap.fastmail.com.",
            true,
        ),
        CredentialField::number(
            "imap_port",
            "IMAP port",
            "993 with SSL/TLS, 143 with STARTTLS.",
            "993",
        ),
        CredentialField::choice("imap_security", "IMAP security", security.clone(), "tls"),
        CredentialField::text(
            "smtp_host",
            "SMTP server",
            "Where mail is sent, e.g. smtp.fastmail.com.",
            true,
        ),
        CredentialField::number(
            "smtp_port",
            "SMTP port",
            "587 with STARTTLS, 465 with SSL/TLS.",
            "587",
        ),
        CredentialField::choice("smtp_security", "SMTP security", security, "starttls"),
        CredentialField::text(
            "user",
            "User name",
            "Only when the login is not the email address.",
            false,
        ),
        CredentialField::checkbox(
            "allow_self_signed",
            "Accept a self-signed certificate",
            "Only for your own mail server with a certificate no authority signed: the connection is then encrypted but not proven to be your server's.",
        ),
    ]
});

/// `send`: a message from the connection's address.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    /// Recipients, comma-separated (`Ann <ann@example.com>, bob@example.com`).
    pub to: String,
    #[serde(default)]
    pub cc: Option<String>,
    #[serde(default)]
    pub bcc: Option<String>,
    pub subject: String,
    /// The text of the message.
    pub body: String,
    /// An HTML version, shown by mail programs that can (the text is the fallback).
    #[serde(default)]
    pub html: Option<String>,
    /// Where answers go, when not to the sender.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The `message_id` of the message this answers: the reply is threaded under it (and
    /// its subject gets `Re:`).
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The answered message's `references`, to keep a long conversation together.
    #[serde(default)]
    pub references: Option<String>,
    /// A folder to keep a copy in (e.g. `Sent`), for servers that do not keep one themselves.
    #[serde(default)]
    pub save_copy_to: Option<String>,
}

/// `search`: messages in a folder matching every criterion given.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// The folder (`INBOX` when absent).
    #[serde(default)]
    pub folder: Option<String>,
    /// Text in the sender's name or address.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// Text in the subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text anywhere in the message.
    #[serde(default)]
    pub text: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`).
    #[serde(default)]
    pub since: Option<String>,
    /// Received before this day (`YYYY-MM-DD`).
    #[serde(default)]
    pub before: Option<String>,
    /// Only messages not read yet.
    #[serde(default)]
    pub unread_only: bool,
    /// At most this many, newest first (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `read`: one message, by its UID in a folder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Read {
    #[serde(default)]
    pub folder: Option<String>,
    pub uid: u32,
}

/// `move`: a message to another folder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Move {
    #[serde(default)]
    pub folder: Option<String>,
    pub uid: u32,
    /// The folder it goes to, e.g. `Archive`.
    pub to_folder: String,
}

/// `mark_read`: mark a message read, or unread again.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    #[serde(default)]
    pub folder: Option<String>,
    pub uid: u32,
    /// `false` marks it unread (default `true`).
    #[serde(default = "yes")]
    pub read: bool,
}

fn yes() -> bool {
    true
}

/// The `new_email` trigger's settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmail {
    /// The folder watched (`INBOX` when absent).
    #[serde(default)]
    pub folder: Option<String>,
}

/// A message as `read` and the trigger give it.
fn message_schema() -> Value {
    let addresses = json!({"type": "array", "items": {"type": "string"}});
    output_schema(&[
        ("uid", json!({"type": "integer"})),
        ("folder", json!({"type": "string"})),
        ("message_id", text_or_null()),
        ("in_reply_to", text_or_null()),
        ("references", text_or_null()),
        ("from", text_or_null()),
        ("from_name", text_or_null()),
        ("to", addresses.clone()),
        ("cc", addresses),
        ("reply_to", text_or_null()),
        ("subject", text_or_null()),
        ("date", text_or_null()),
        ("text", text_or_null()),
        ("html", text_or_null()),
        (
            "attachments",
            json!({"type": "array", "items": {"type": "object", "properties": {
                "filename": {"type": ["string", "null"]},
                "content_type": {"type": "string"},
                "size": {"type": "integer"}
            }, "required": ["filename", "content_type", "size"]}}),
        ),
        ("read", json!({"type": "boolean"})),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "email",
    name: "Email (IMAP/SMTP)",
    category: Category::Business,
    auth: AuthKind::Fields {
        fields: FIELDS.clone(),
    },
    actions: vec![
        ActionDeclaration {
            id: "send",
            description: "Send a message from the connection's address; with in_reply_to, a reply in the conversation.",
            input_schema: schemars::schema_for!(SendEmail).to_value(),
            output_schema: output_schema(&[
                ("message_id", json!({"type": "string"})),
                (
                    "accepted",
                    json!({"type": "array", "items": {"type": "string"}}),
                ),
            ]),
            example: json!({"to": "ann@customer.com", "subject": "Your order", "body": "It ships today.", "in_reply_to": "{{trigger.message_id}}"}),
            writes: true,
        },
        ActionDeclaration {
            id: "search",
            description: "Find messages in a folder by sender, subject, text, date or unread, newest first.",
            input_schema: schemars::schema_for!(Search).to_value(),
            output_schema: output_schema(&[
                (
                    "messages",
                    json!({"type": "array", "items": {"type": "object", "properties": {
                        "uid": {"type": "integer"},
                        "message_id": {"type": ["string", "null"]},
                        "from": {"type": ["string", "null"]},
                        "subject": {"type": ["string", "null"]},
                        "date": {"type": ["string", "null"]},
                        "read": {"type": "boolean"}
                    }, "required": ["uid", "message_id", "from", "subject", "date", "read"]}}),
                ),
                ("total", json!({"type": "integer"})),
            ]),
            example: json!({"folder": "INBOX", "from": "billing@supplier.com", "unread_only": true, "limit": 10}),
            writes: false,
        },
        ActionDeclaration {
            id: "read",
            description: "Read a message: from, to, subject, its text and HTML, attachments, and the ids a reply needs.",
            input_schema: schemars::schema_for!(Read).to_value(),
            output_schema: message_schema(),
            example: json!({"folder": "INBOX", "uid": 4211}),
            writes: false,
        },
        ActionDeclaration {
            id: "move",
            description: "Move a message to another folder (Archive, a customer's folder, Junk).",
            input_schema: schemars::schema_for!(Move).to_value(),
            output_schema: output_schema(&[
                ("uid", json!({"type": "integer"})),
                ("folder", json!({"type": "string"})),
            ]),
            example: json!({"folder": "INBOX", "uid": 4211, "to_folder": "Archive"}),
            writes: true,
        },
        ActionDeclaration {
            id: "mark_read",
            description: "Mark a message read (or unread again).",
            input_schema: schemars::schema_for!(MarkRead).to_value(),
            output_schema: output_schema(&[
                ("uid", json!({"type": "integer"})),
                ("read", json!({"type": "boolean"})),
            ]),
            example: json!({"folder": "INBOX", "uid": 4211, "read": true}),
            writes: true,
        },
    ],
    triggers: vec![TriggerDeclaration {
        id: "new_email",
        description: "A message arrives in a folder (each one runs the workflow once).",
        input_schema: schemars::schema_for!(NewEmail).to_value(),
        example: json!({
            "uid": 4211, "folder": "INBOX", "message_id": "<CAF=1x2y3z@mail.customer.com>",
            "in_reply_to": null, "references": null,
            "from": "ann@customer.com", "from_name": "Ann Lee", "to": ["support@acme.com"], "cc": [],
            "reply_to": null, "subject": "Where is my order?", "date": "2026-12-04T09:12:00Z",
            "text": "Hello, I ordered on Monday...", "html": null, "attachments": [], "read": false
        }),
    }],
    // Providers limit logins rather than commands (Gmail: 15 connections per account); each
    // action is one login, so this keeps well under them.
    rate_limit: Some(RateLimit {
        requests: 60,
        per: Duration::from_secs(60),
    }),
});

/// How a connection to a mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// Plain first, then upgraded with STARTTLS before logging in (IMAP 143, SMTP 587).
    StartTls,
    /// Never encrypted: the password crosses the network in the clear.
    None,
}

/// One server of the account.
#[derive(Clone, Debug)]
struct Server {
    host: String,
    port: u16,
    security: Security,
}

/// The connection's settings, read from its secret.
#[derive(Clone, Debug)]
struct Account {
    email: String,
    user: String,
    password: String,
    imap: Server,
    smtp: Server,
    allow_self_signed: bool,
}

/// A problem with a stored secret: the field (`.imap_port`) and what is wrong with it.
type SecretProblem = (String, String);

impl Account {
    fn open(secret: &Value) -> Result<Self, SecretProblem> {
        let problem = |field: &str, message: String| (format!(".{field}"), message);
        let text = |field: &str| -> Result<Option<String>, SecretProblem> {
            match secret.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
                Some(_) => Err(problem(field, "must be text".into())),
            }
        };
        let required = |field: &str, what: &str| -> Result<String, SecretProblem> {
            text(field)?.ok_or_else(|| problem(field, format!("{what} is missing")))
        };
        let email = required("email", "the email address")?;
        if email.parse::<lettre::Address>().is_err() {
            return Err(problem(
                "email",
                format!("{email:?} is not an email address"),
            ));
        }
        let password = match secret.get("password") {
            Some(Value::String(password)) if !password.is_empty() => password.clone(),
            _ => return Err(problem("password", "the password is missing".into())),
        };
        let security = |field: &str, default: Security| -> Result<Security, SecretProblem> {
            match text(field)?.as_deref() {
                None => Ok(default),
                Some("tls" | "ssl") => Ok(Security::Tls),
                Some("starttls") => Ok(Security::StartTls),
                Some("none") => Ok(Security::None),
                Some(other) => Err(problem(
                    field,
                    format!("{other:?} is not one of tls, starttls, none"),
                )),
            }
        };
        let port =
            |field: &str, security: Security, ports: [u16; 3]| -> Result<u16, SecretProblem> {
                let given = match secret.get(field) {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(number)) => Some(number.to_string()),
                    Some(Value::String(text)) if text.trim().is_empty() => None,
                    Some(Value::String(text)) => Some(text.trim().to_owned()),
                    Some(_) => return Err(problem(field, "must be a port number".into())),
                };
                match given {
                    None => Ok(match security {
                        Security::Tls => ports[0],
                        Security::StartTls => ports[1],
                        Security::None => ports[2],
                    }),
                    Some(text) => text
                        .parse::<u16>()
                        .ok()
                        .filter(|port| *port > 0)
                        .ok_or_else(|| {
                            problem(field, format!("{text:?} is not a port number (1 to 65535)"))
                        }),
                }
            };
        let host = |field: &str, what: &str| -> Result<String, SecretProblem> {
            let host = required(field, what)?;
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let valid = bare.parse::<std::net::IpAddr>().is_ok()
                || (bare.len() <= 253
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
            if valid {
                Ok(bare.to_owned())
            } else {
                Err(problem(
                    field,
                    format!(
                        "{host:?} is not a host name (give it without a scheme or port, e.g. imap.example.com)"
                    ),
                ))
            }
        };
        let imap_security = security("imap_security", Security::Tls)?;
        let smtp_security = security("smtp_security", Security::StartTls)?;
        let allow_self_signed = match secret.get("allow_self_signed") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(allow)) => *allow,
            Some(Value::String(text)) => matches!(text.trim(), "true" | "on" | "yes" | "1"),
            Some(_) => return Err(problem("allow_self_signed", "must be true or false".into())),
        };
        Ok(Self {
            user: text("user")?.unwrap_or_else(|| email.clone()),
            email,
            password,
            imap: Server {
                host: host("imap_host", "the IMAP server")?,
                port: port("imap_port", imap_security, [993, 143, 143])?,
                security: imap_security,
            },
            smtp: Server {
                host: host("smtp_host", "the SMTP server")?,
                port: port("smtp_port", smtp_security, [465, 587, 25])?,
                security: smtp_security,
            },
            allow_self_signed,
        })
    }

    fn from_secret(service: &str, secret: Option<&Secret>) -> Result<Self, StepError> {
        let secret = secret.ok_or_else(|| {
            StepError::permanent(format!(
                "{service} needs a connection: add one under Integrations"
            ))
        })?;
        Self::open(&secret.0).map_err(|(field, message)| {
            StepError::permanent(format!("the {service} connection's {field}: {message}"))
        })
    }
}

/// What an IMAP session reads and writes through: a socket, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// Accepts any certificate the server shows, for `allow_self_signed` (the handshake's
/// signatures are still checked, so the traffic is encrypted to whoever holds the key).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS settings for an IMAP connection: the public roots, or any certificate.
fn tls_connector(allow_self_signed: bool) -> Result<tokio_rustls::TlsConnector, StepError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| StepError::system(format!("TLS could not be set up: {error}")))?;
    let config = if allow_self_signed {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// What a mail server's error means for a retry: a refused login is the connection's to fix,
/// a server that cannot be reached may be back later.
fn imap_error(host: &str, what: &str, error: async_imap::error::Error) -> StepError {
    use async_imap::error::Error;
    match error {
        Error::No(message) | Error::Bad(message) => StepError::permanent(format!(
            "the mail server {host} refused to {what}: {}",
            message.trim()
        )),
        Error::Io(error) => StepError::transient(format!(
            "the mail server {host} could not be reached ({what}): {error}"
        )),
        Error::ConnectionLost => StepError::transient(format!(
            "the mail server {host} closed the connection ({what})"
        )),
        other => StepError::transient(format!("the mail server {host} ({what}): {other}")),
    }
}

pub struct Email {
    policy: AddressPolicy,
}

impl Email {
    pub fn new(policy: AddressPolicy) -> Self {
        Self { policy }
    }

    /// The address to connect to for `host`: the first the policy allows, so a name that
    /// resolves inward is refused as the `http` connector refuses it.
    async fn address(&self, server: &Server) -> Result<SocketAddr, StepError> {
        let resolved: Vec<SocketAddr> =
            tokio::net::lookup_host((server.host.as_str(), server.port))
                .await
                .map_err(|error| {
                    StepError::transient(format!(
                        "the mail server {} could not be found: {error}",
                        server.host
                    ))
                })?
                .collect();
        let allowed = self
            .policy
            .keep_allowed(&server.host, &resolved)
            .first()
            .copied();
        match (allowed, resolved.first()) {
            (Some(address), _) => Ok(address),
            (None, Some(address)) => Err(StepError::permanent(format!(
                "the mail server {} is at an internal address ({}), which Baton does not reach unless the operator allows it (BATON_HTTP_ALLOW)",
                server.host,
                address.ip()
            ))),
            (None, None) => Err(StepError::transient(format!(
                "the mail server {} does not resolve",
                server.host
            ))),
        }
    }

    async fn tls(
        &self,
        account: &Account,
        socket: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, StepError> {
        let host = &account.imap.host;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| StepError::permanent(format!("{host:?} is not a name TLS can check")))?;
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            tls_connector(account.allow_self_signed)?.connect(name, socket),
        )
        .await
        .map_err(|_| StepError::transient(format!("the mail server {host} did not finish TLS")))?
        .map_err(|error| {
            let message = error.to_string();
            if message.contains("certificate") || message.contains("Certificate") {
                StepError::permanent(format!(
                    "the mail server {host}'s certificate is not trusted ({message}); if it is your own server with a self-signed certificate, tick \"Accept a self-signed certificate\" in the connection"
                ))
            } else {
                StepError::transient(format!("TLS with the mail server {host} failed: {message}"))
            }
        })
    }

    /// A logged-in IMAP session.
    async fn imap(&self, account: &Account) -> Result<Session, StepError> {
        let host = &account.imap.host;
        let address = self.address(&account.imap).await?;
        let socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| StepError::transient(format!("the mail server {host} did not answer")))?
            .map_err(|error| {
                StepError::transient(format!(
                    "the mail server {host} could not be reached on port {}: {error}",
                    account.imap.port
                ))
            })?;
        let stream: Box<dyn Io> = match account.imap.security {
            Security::None => Box::new(socket),
            Security::Tls => Box::new(self.tls(account, socket).await?),
            Security::StartTls => {
                let mut plain = async_imap::Client::new(socket);
                let greeting = plain
                    .read_response()
                    .await
                    .map_err(|error| imap_error(host, "greet", error.into()))?;
                if greeting.is_none() {
                    return Err(StepError::transient(format!(
                        "the mail server {host} closed the connection before greeting"
                    )));
                }
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|error| imap_error(host, "start TLS", error))?;
                Box::new(self.tls(account, plain.into_inner()).await?)
            }
        };
        let mut client = async_imap::Client::new(stream);
        if account.imap.security != Security::StartTls {
            let greeting = client
                .read_response()
                .await
                .map_err(|error| imap_error(host, "greet", error.into()))?;
            if greeting.is_none() {
                return Err(StepError::transient(format!(
                    "the mail server {host} closed the connection before greeting"
                )));
            }
        }
        client
            .login(&account.user, &account.password)
            .await
            .map_err(|(error, _)| match error {
                async_imap::error::Error::No(message) | async_imap::error::Error::Bad(message) => {
                    StepError::revoked(format!(
                        "the mail server {host} refused the user name or password ({}): update the connection",
                        message.trim()
                    ))
                }
                other => imap_error(host, "log in", other),
            })
    }

    /// Runs `work` in a logged-in session, logging out after; the whole within the action's
    /// time limit.
    async fn with_imap<T, F>(&self, account: &Account, work: F) -> Result<T, StepError>
    where
        F: for<'s> FnOnce(
            &'s mut Session,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StepError>> + Send + 's>,
        >,
    {
        let host = account.imap.host.clone();
        tokio::time::timeout(ACTION_TIMEOUT, async {
            let mut session = self.imap(account).await?;
            let result = work(&mut session).await;
            let _ = session.logout().await;
            result
        })
        .await
        .map_err(|_| {
            StepError::transient(format!(
                "the mail server {host} took longer than {} s",
                ACTION_TIMEOUT.as_secs()
            ))
        })?
    }

    async fn send(&self, call: &ActionCall, account: &Account) -> Result<Value, StepError> {
        let input: SendEmail = inputs(call)?;
        let mailboxes = |field: &str, text: &str| -> Result<Vec<Mailbox>, StepError> {
            let parsed: Mailboxes = text.parse().map_err(|_| {
                StepError::permanent(format!(
                    "email send inputs: {field} {text:?} is not a list of email addresses"
                ))
            })?;
            Ok(parsed.into_iter().collect())
        };
        let from: Mailbox = account.email.parse().map_err(|_| {
            StepError::permanent(format!(
                "the email connection's address {:?} is not valid",
                account.email
            ))
        })?;
        let domain = account.email.rsplit('@').next().unwrap_or("localhost");
        // The same id for every attempt of this step: a retry after a lost answer sends a
        // message mail programs recognise as the same one.
        let digest = sha2::Sha256::digest(call.idempotency_key.as_bytes());
        let message_id = format!("<{}@{domain}>", hex::encode(&digest[..16]));
        let mut subject = input.subject.clone();
        let mut builder = Message::builder()
            .from(from)
            .message_id(Some(message_id.clone()));
        for to in mailboxes("to", &input.to)? {
            builder = builder.to(to);
        }
        for (field, list) in [("cc", &input.cc), ("bcc", &input.bcc)] {
            let Some(list) = list.as_deref().filter(|list| !list.trim().is_empty()) else {
                continue;
            };
            for mailbox in mailboxes(field, list)? {
                builder = if field == "cc" {
                    builder.cc(mailbox)
                } else {
                    builder.bcc(mailbox)
                };
            }
        }
        if let Some(reply_to) = input.reply_to.as_deref().filter(|to| !to.trim().is_empty()) {
            for mailbox in mailboxes("reply_to", reply_to)? {
                builder = builder.reply_to(mailbox);
            }
        }
        if let Some(answered) = input
            .in_reply_to
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            let answered = angle(answered);
            let mut references: Vec<String> = input
                .references
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(angle)
                .collect();
            if !references.contains(&answered) {
                references.push(answered.clone());
            }
            builder = builder
                .in_reply_to(answered)
                .references(references.join(" "));
            let lower = subject.trim_start().to_ascii_lowercase();
            if !lower.starts_with("re:") {
                subject = format!("Re: {}", subject.trim_start());
            }
        }
        let builder = builder.subject(subject);
        let message = match input.html.as_deref().filter(|html| !html.trim().is_empty()) {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                input.body.clone(),
                html.to_owned(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(header::ContentType::TEXT_PLAIN)
                    .body(input.body.clone()),
            ),
        }
        .map_err(|error| StepError::permanent(format!("email send: {error}")))?;
        let accepted: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        let transport = self.smtp(account).await?;
        let host = &account.smtp.host;
        tokio::time::timeout(ACTION_TIMEOUT, transport.send(message.clone()))
            .await
            .map_err(|_| StepError::transient(format!("the mail server {host} took too long")))?
            .map_err(|error| smtp_error(host, &error))?;
        if let Some(folder) = input
            .save_copy_to
            .as_deref()
            .map(str::trim)
            .filter(|folder| !folder.is_empty())
        {
            let folder = folder.to_owned();
            let raw = message.formatted();
            self.with_imap(account, move |session| {
                Box::pin(async move {
                    session
                        .append(&folder, Some("(\\Seen)"), None, &raw)
                        .await
                        .map_err(|error| {
                            StepError::permanent(format!(
                                "the message was sent, but no copy could be kept in {folder:?}: {error}"
                            ))
                        })
                })
            })
            .await?;
        }
        Ok(json!({"message_id": message_id, "accepted": accepted}))
    }

    /// An SMTP transport for one message, logging in with the connection's password.
    async fn smtp(
        &self,
        account: &Account,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, StepError> {
        let server = &account.smtp;
        let address = self.address(server).await?;
        let parameters = || {
            TlsParameters::builder(server.host.clone())
                .dangerous_accept_invalid_certs(account.allow_self_signed)
                .build_rustls()
                .map_err(|error| StepError::system(format!("TLS could not be set up: {error}")))
        };
        let tls = match server.security {
            Security::Tls => Tls::Wrapper(parameters()?),
            Security::StartTls => Tls::Required(parameters()?),
            Security::None => Tls::None,
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .credentials(Credentials::new(
                    account.user.clone(),
                    account.password.clone(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login])
                .timeout(Some(CONNECT_TIMEOUT))
                .build(),
        )
    }
}

/// A message id in angle brackets, as headers carry it.
fn angle(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('<') && id.ends_with('>') {
        id.to_owned()
    } else {
        format!("<{}>", id.trim_matches(['<', '>']))
    }
}

/// What an SMTP server's refusal means: 4xx may pass, 5xx will not; a refused login is the
/// connection's to fix.
fn smtp_error(host: &str, error: &lettre::transport::smtp::Error) -> StepError {
    let code = error.status().map(|code| code.to_string());
    let message = error.to_string();
    if code.as_deref().is_some_and(|code| code.starts_with("535")) || message.contains("535") {
        return StepError::revoked(format!(
            "the mail server {host} refused the user name or password: {message}"
        ));
    }
    if error.is_permanent() {
        StepError::permanent(format!(
            "the mail server {host} refused the message: {message}"
        ))
    } else if error.is_tls() {
        StepError::permanent(format!(
            "TLS with the mail server {host} failed ({message}); if it is your own server with a self-signed certificate, tick \"Accept a self-signed certificate\" in the connection"
        ))
    } else {
        StepError::transient(format!(
            "the mail server {host} could not take the message: {message}"
        ))
    }
}

/// An IMAP quoted string (RFC 3501 4.3): `"` and `\` escaped; line breaks, which would end the
/// command, refused.
fn quoted(field: &str, text: &str) -> Result<String, StepError> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(StepError::permanent(format!(
            "email search inputs: {field} cannot hold a line break"
        )));
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// A day as IMAP's SEARCH takes it (`4-Dec-2026`), from `YYYY-MM-DD`.
fn imap_day(field: &str, text: &str) -> Result<String, StepError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(|day| day.format("%-d-%b-%Y").to_string())
        .map_err(|_| {
            StepError::permanent(format!(
                "email search inputs: {field} {text:?} is not a day as YYYY-MM-DD"
            ))
        })
}

/// The SEARCH criteria for `search`'s inputs (`ALL` when none).
fn criteria(search: &Search) -> Result<String, StepError> {
    let mut parts = Vec::new();
    for (key, field, value) in [
        ("FROM", "from", &search.from),
        ("TO", "to", &search.to),
        ("SUBJECT", "subject", &search.subject),
        ("TEXT", "text", &search.text),
    ] {
        if let Some(value) = value.as_deref().filter(|value| !value.trim().is_empty()) {
            parts.push(format!("{key} {}", quoted(field, value.trim())?));
        }
    }
    if let Some(since) = &search.since {
        parts.push(format!("SINCE {}", imap_day("since", since)?));
    }
    if let Some(before) = &search.before {
        parts.push(format!("BEFORE {}", imap_day("before", before)?));
    }
    if search.unread_only {
        parts.push("UNSEEN".into());
    }
    if parts.is_empty() {
        return Ok("ALL".into());
    }
    let ascii = parts.iter().all(|part| part.is_ascii());
    Ok(if ascii {
        parts.join(" ")
    } else {
        format!("CHARSET UTF-8 {}", parts.join(" "))
    })
}

fn folder_of(given: Option<&str>) -> String {
    given
        .map(str::trim)
        .filter(|folder| !folder.is_empty())
        .unwrap_or(INBOX)
        .to_owned()
}

/// Whether a fetched message carries `\Seen`.
fn is_read(fetch: &Fetch) -> bool {
    fetch.flags().any(|flag| flag == Flag::Seen)
}

fn address_list(list: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    list.map(|list| {
        list.iter()
            .filter_map(|addr| addr.address().map(str::to_owned))
            .collect()
    })
    .unwrap_or_default()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Option<String> {
    match value {
        mail_parser::HeaderValue::Text(id) => Some(angle(id)),
        mail_parser::HeaderValue::TextList(list) if !list.is_empty() => Some(
            list.iter()
                .map(|id| angle(id))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// A whole message as a step reads it.
fn message_out(folder: &str, uid: u32, read: bool, raw: &[u8]) -> Value {
    let Some(message) = MessageParser::default().parse(raw) else {
        return json!({
            "uid": uid, "folder": folder, "message_id": null, "in_reply_to": null,
            "references": null, "from": null, "from_name": null, "to": [], "cc": [],
            "reply_to": null, "subject": null, "date": null,
            "text": String::from_utf8_lossy(raw), "html": null, "attachments": [], "read": read,
        });
    };
    let sender = message.from().and_then(|from| from.first());
    let attachments: Vec<Value> = message
        .attachments()
        .map(|part| {
            let content_type = part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |kind| match kind.subtype() {
                    Some(sub) => format!("{}/{sub}", kind.ctype()),
                    None => kind.ctype().to_owned(),
                },
            );
            json!({
                "filename": part.attachment_name(),
                "content_type": content_type,
                "size": part.contents().len(),
            })
        })
        .collect();
    json!({
        "uid": uid,
        "folder": folder,
        "message_id": message.message_id().map(angle),
        "in_reply_to": ids(message.in_reply_to()),
        "references": ids(message.references()),
        "from": sender.and_then(|addr| addr.address()),
        "from_name": sender.and_then(|addr| addr.name()),
        "to": address_list(message.to()),
        "cc": address_list(message.cc()),
        "reply_to": message.reply_to().and_then(|to| to.first()).and_then(|addr| addr.address()),
        "subject": message.subject(),
        "date": message.date().map(|date| date.to_rfc3339()),
        "text": message.body_text(0),
        "html": message.body_html(0),
        "attachments": attachments,
        "read": read,
    })
}

/// A message's summary for `search`, from its header.
fn summary_out(uid: u32, read: bool, header: &[u8]) -> Value {
    let parsed = MessageParser::default().parse_headers(header);
    let message = parsed.as_ref();
    json!({
        "uid": uid,
        "message_id": message.and_then(|m| m.message_id()).map(angle),
        "from": message.and_then(|m| m.from()).and_then(|from| from.first()).and_then(|addr| addr.address()),
        "subject": message.and_then(|m| m.subject()),
        "date": message.and_then(|m| m.date()).map(|date| date.to_rfc3339()),
        "read": read,
    })
}

/// The items an IMAP command answers with (fetched messages, expunged ones), gathered; a
/// failure to start or to finish is said by `failed`.
async fn gathered<T, S>(
    started: async_imap::error::Result<S>,
    failed: impl Fn(async_imap::error::Error) -> StepError,
) -> Result<Vec<T>, StepError>
where
    S: futures::Stream<Item = async_imap::error::Result<T>>,
{
    started
        .map_err(&failed)?
        .try_collect()
        .await
        .map_err(failed)
}

/// Selects `folder` (read-write, or read-only with `examine`), naming it when it is missing.
async fn open_folder(
    session: &mut Session,
    host: &str,
    folder: &str,
    examine: bool,
) -> Result<async_imap::types::Mailbox, StepError> {
    let opened = if examine {
        session.examine(folder).await
    } else {
        session.select(folder).await
    };
    opened.map_err(|error| match error {
        async_imap::error::Error::No(message) => StepError::permanent(format!(
            "the mailbox has no folder {folder:?} ({})",
            message.trim()
        )),
        other => imap_error(host, &format!("open the folder {folder:?}"), other),
    })
}

/// Fetches one message's `items`, or says that `folder` has no message `uid`.
async fn fetch_one(
    session: &mut Session,
    host: &str,
    folder: &str,
    uid: u32,
    items: &str,
) -> Result<Fetch, StepError> {
    let fetched: Vec<Fetch> = gathered(session.uid_fetch(uid.to_string(), items).await, |error| {
        imap_error(host, "fetch the message", error)
    })
    .await?;
    fetched
        .into_iter()
        .find(|fetch| fetch.uid == Some(uid))
        .ok_or_else(|| {
            StepError::permanent(format!(
                "the folder {folder:?} has no message with uid {uid}"
            ))
        })
}

#[async_trait]
impl Connector for Email {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn secret_problem(&self, secret: &Value) -> Option<(String, String)> {
        Account::open(secret).err()
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let account = Account::from_secret("email", call.secret.as_ref())?;
        let host = account.imap.host.clone();
        match call.action.as_str() {
            "send" => self.send(call, &account).await,
            "search" => {
                let input: Search = inputs(call)?;
                let query = criteria(&input)?;
                let folder = folder_of(input.folder.as_deref());
                let limit = input.limit.unwrap_or(20).clamp(1, MAX_SEARCH) as usize;
                self.with_imap(&account, move |session| {
                    Box::pin(async move {
                        open_folder(session, &host, &folder, true).await?;
                        let found: HashSet<u32> = session
                            .uid_search(&query)
                            .await
                            .map_err(|error| imap_error(&host, "search", error))?;
                        let mut uids: Vec<u32> = found.into_iter().collect();
                        uids.sort_unstable_by(|a, b| b.cmp(a));
                        let total = uids.len();
                        uids.truncate(limit);
                        let mut messages = Vec::new();
                        if !uids.is_empty() {
                            let set: Vec<String> = uids.iter().map(u32::to_string).collect();
                            let fetched: Vec<Fetch> = gathered(
                                session
                                    .uid_fetch(set.join(","), "(UID FLAGS BODY.PEEK[HEADER])")
                                    .await,
                                |error| imap_error(&host, "list messages", error),
                            )
                            .await?;
                            for uid in &uids {
                                if let Some(fetch) =
                                    fetched.iter().find(|fetch| fetch.uid == Some(*uid))
                                {
                                    messages.push(summary_out(
                                        *uid,
                                        is_read(fetch),
                                        fetch.header().unwrap_or_default(),
                                    ));
                                }
                            }
                        }
                        Ok(json!({"messages": messages, "total": total}))
                    })
                })
                .await
            }
            "read" => {
                let input: Read = inputs(call)?;
                let folder = folder_of(input.folder.as_deref());
                self.with_imap(&account, move |session| {
                    Box::pin(async move {
                        open_folder(session, &host, &folder, true).await?;
                        let fetch = fetch_one(
                            session,
                            &host,
                            &folder,
                            input.uid,
                            "(UID FLAGS BODY.PEEK[])",
                        )
                        .await?;
                        Ok(message_out(
                            &folder,
                            input.uid,
                            is_read(&fetch),
                            fetch.body().unwrap_or_default(),
                        ))
                    })
                })
                .await
            }
            "move" => {
                let input: Move = inputs(call)?;
                let folder = folder_of(input.folder.as_deref());
                let to = input.to_folder.trim().to_owned();
                if to.is_empty() {
                    return Err(StepError::permanent(
                        "email move inputs: to_folder is empty",
                    ));
                }
                self.with_imap(&account, move |session| {
                    Box::pin(async move {
                        open_folder(session, &host, &folder, false).await?;
                        fetch_one(session, &host, &folder, input.uid, "(UID)").await?;
                        let capabilities = session
                            .capabilities()
                            .await
                            .map_err(|error| imap_error(&host, "list its capabilities", error))?;
                        let uid = input.uid.to_string();
                        let refused = |error| match error {
                            async_imap::error::Error::No(message) => StepError::permanent(format!(
                                "the message could not be moved to {to:?} ({}): does that folder exist?",
                                message.trim()
                            )),
                            other => imap_error(&host, "move the message", other),
                        };
                        if capabilities.has_str("MOVE") {
                            session.uid_mv(&uid, &to).await.map_err(refused)?;
                        } else {
                            // Without MOVE (RFC 6851): copy, then delete the original.
                            session.uid_copy(&uid, &to).await.map_err(refused)?;
                            let failed = |error| imap_error(&host, "delete the original", error);
                            let deleted = session.uid_store(&uid, "+FLAGS.SILENT (\\Deleted)");
                            let _: Vec<Fetch> = gathered(deleted.await, failed).await?;
                            if capabilities.has_str("UIDPLUS") {
                                let _: Vec<u32> =
                                    gathered(session.uid_expunge(&uid).await, failed).await?;
                            } else {
                                let _: Vec<u32> = gathered(session.expunge().await, failed).await?;
                            }
                        }
                        Ok(json!({"uid": input.uid, "folder": to}))
                    })
                })
                .await
            }
            "mark_read" => {
                let input: MarkRead = inputs(call)?;
                let folder = folder_of(input.folder.as_deref());
                self.with_imap(&account, move |session| {
                    Box::pin(async move {
                        open_folder(session, &host, &folder, false).await?;
                        fetch_one(session, &host, &folder, input.uid, "(UID)").await?;
                        let change = if input.read { "+" } else { "-" };
                        let failed = |error| imap_error(&host, "mark the message", error);
                        let flags = format!("{change}FLAGS.SILENT (\\Seen)");
                        let marking = session.uid_store(input.uid.to_string(), flags);
                        let _: Vec<Fetch> = gathered(marking.await, failed).await?;
                        Ok(json!({"uid": input.uid, "read": input.read}))
                    })
                })
                .await
            }
            other => Err(StepError::permanent(format!(
                "email has no action {other:?}"
            ))),
        }
    }

    /// Messages that arrived in the folder since the last look, by UID: the cursor keeps the
    /// folder's UIDVALIDITY and the next UID to deliver. The first look, and a look after the
    /// server renumbered the folder (a new UIDVALIDITY), only mark where to start, so nothing
    /// old runs and nothing runs twice.
    async fn poll(&self, call: &PollCall) -> Result<Polled, StepError> {
        if call.event != "new_email" {
            return Err(StepError::permanent(format!(
                "email has no event {:?}",
                call.event
            )));
        }
        let account = Account::from_secret("email", call.secret.as_ref())?;
        let input: NewEmail = if call.inputs.is_null() {
            NewEmail::default()
        } else {
            serde_json::from_value(call.inputs.clone())
                .map_err(|error| StepError::permanent(format!("email new_email inputs: {error}")))?
        };
        let folder = folder_of(input.folder.as_deref());
        let host = account.imap.host.clone();
        let cursor = call.cursor.clone();
        self.with_imap(&account, move |session| {
            Box::pin(async move {
                let mailbox = open_folder(session, &host, &folder, true).await?;
                let validity = mailbox.uid_validity.unwrap_or(0);
                let found: HashSet<u32> = session
                    .uid_search("ALL")
                    .await
                    .map_err(|error| imap_error(&host, "list messages", error))?;
                let highest = found.iter().copied().max().unwrap_or(0);
                let start = mailbox
                    .uid_next
                    .unwrap_or(highest + 1)
                    .max(highest + 1);
                let mark = |next: u32| json!({"folder": folder, "uid_validity": validity, "next_uid": next});
                let known = cursor.as_ref().and_then(|cursor| {
                    let same_folder = cursor["folder"].as_str().is_none_or(|was| was == folder);
                    let same_numbering = cursor["uid_validity"].as_u64() == Some(u64::from(validity));
                    (same_folder && same_numbering)
                        .then(|| cursor["next_uid"].as_u64())
                        .flatten()
                        .and_then(|next| u32::try_from(next).ok())
                });
                let Some(next) = known else {
                    if cursor.is_some() {
                        tracing::warn!(folder, validity, "the mail folder was renumbered (a new UIDVALIDITY): watching from its newest message on");
                    }
                    return Ok(Polled { items: Vec::new(), cursor: mark(start) });
                };
                let mut new: Vec<u32> = found.into_iter().filter(|uid| *uid >= next).collect();
                new.sort_unstable();
                let more = new.len() > MAX_PER_LOOK;
                new.truncate(MAX_PER_LOOK);
                let Some(last) = new.last().copied() else {
                    return Ok(Polled { items: Vec::new(), cursor: mark(next) });
                };
                let set: Vec<String> = new.iter().map(u32::to_string).collect();
                let failed = |error| imap_error(&host, "fetch new messages", error);
                let fetching = session.uid_fetch(set.join(","), "(UID FLAGS BODY.PEEK[])");
                let fetched: Vec<Fetch> = gathered(fetching.await, failed).await?;
                let mut items = Vec::new();
                for uid in &new {
                    // A message deleted between the search and the fetch is passed over.
                    if let Some(fetch) = fetched.iter().find(|fetch| fetch.uid == Some(*uid)) {
                        items.push((
                            format!("{folder}/{validity}/{uid}"),
                            message_out(&folder, *uid, is_read(fetch), fetch.body().unwrap_or_default()),
                        ));
                    }
                }
                let next = if more { last + 1 } else { start.max(last + 1) };
                Ok(Polled { items, cursor: mark(next) })
            })
        })
        .await
    }

    /// Logs in to both servers: the IMAP one (listing nothing) and the SMTP one.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let account = Account::from_secret("email", Some(secret))?;
        let folders = self
            .with_imap(&account, |session| {
                Box::pin(async move {
                    let status = session
                        .status(INBOX, "(MESSAGES UNSEEN)")
                        .await
                        .map_err(|error| imap_error("", "open the inbox", error))?;
                    Ok(json!({"messages": status.exists, "unread": status.unseen}))
                })
            })
            .await?;
        let transport = self.smtp(&account).await?;
        transport
            .test_connection()
            .await
            .map_err(|error| smtp_error(&account.smtp.host, &error))?;
        Ok(json!({"email": account.email, "inbox": folders}))
    }
}
