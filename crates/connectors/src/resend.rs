//! `resend`: send email (one, or a batch of up to 100 in one request) and read a sent email's
//! status through Resend's API, with an API key (`{"api_key": "re_..."}`). Resend answers
//! errors as `{statusCode, name, message}`; the names are sorted here into worth-retrying
//! (`rate_limit_exceeded`, server errors) and not (a daily or monthly quota spent, a refused
//! key, a message Resend will not take). Its webhooks (delivery, bounce, ...) are signed by Svix,
//! which is Standard Webhooks under `svix-*` header names.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, RateLimit, inputs, output_schema,
};

pub const DEFAULT_BASE_URL: &str = "https://api.resend.com";

/// How far a delivery's `svix-timestamp` may be from now.
const SIGNATURE_WINDOW_SECONDS: i64 = 300;

/// The most emails one batch request carries (Resend's limit).
pub const MAX_BATCH: usize = 100;

/// One address, or several.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Addresses {
    One(String),
    Many(Vec<String>),
}

/// A file attached by its URL (Resend fetches it).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The file's name as the recipient sees it, e.g. `invoice-42.pdf`.
    pub filename: String,
    /// Where Resend fetches the file: an `https://` URL.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A tag Resend keeps with the email and sends back in its events.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Letters, digits, `_` and `-` only.
    pub name: String,
    pub value: String,
}

/// `send_email`: one message, as HTML and/or plain text.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    /// The sender, on a domain verified in Resend: `Acme <billing@acme.com>`.
    pub from: String,
    /// One address or a list (at most 50).
    pub to: Addresses,
    pub subject: String,
    /// The message as HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The message as plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<Addresses>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<Addresses>,
    /// Where replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Addresses>,
    /// Files attached by URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// `send_batch`: up to 100 messages in one request (no attachments: Resend's batches take none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBatch {
    /// The messages, each as `send_email` takes it.
    pub emails: Vec<SendEmail>,
}

/// `get_email`: a sent email and what last happened to it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetEmail {
    /// The `id` that sending it gave.
    pub email_id: String,
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "resend",
    name: "Resend",
    category: Category::Business,
    auth: AuthKind::ApiKey,
    actions: vec![
        ActionDeclaration {
            id: "send_email",
            description: "Send an email: HTML or text, cc and bcc, reply-to, files by URL, tags.",
            input_schema: schemars::schema_for!(SendEmail).to_value(),
            output_schema: output_schema(&[("id", json!({"type": "string"}))]),
            example: json!({"from": "Acme <billing@acme.com>", "to": "ann@customer.com", "subject": "Your invoice", "html": "<p>Hello Ann, your invoice is attached.</p>", "attachments": [{"filename": "invoice-42.pdf", "path": "https://files.acme.com/invoice-42.pdf"}], "tags": [{"name": "kind", "value": "invoice"}]}),
            writes: true,
        },
        ActionDeclaration {
            id: "send_batch",
            description: "Send up to 100 emails in one request (without attachments).",
            input_schema: schemars::schema_for!(SendBatch).to_value(),
            output_schema: output_schema(&[(
                "ids",
                json!({"type": "array", "items": {"type": "string"}}),
            )]),
            example: json!({"emails": [{"from": "Acme <news@acme.com>", "to": "ann@customer.com", "subject": "March news", "text": "Hello Ann"}, {"from": "Acme <news@acme.com>", "to": "bob@customer.com", "subject": "March news", "text": "Hello Bob"}]}),
            writes: true,
        },
        ActionDeclaration {
            id: "get_email",
            description: "Read a sent email and what last happened to it (delivered, bounced, ...).",
            input_schema: schemars::schema_for!(GetEmail).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("from", json!({"type": ["string", "null"]})),
                ("to", json!({"type": "array", "items": {"type": "string"}})),
                ("subject", json!({"type": ["string", "null"]})),
                ("created_at", json!({"type": ["string", "null"]})),
                ("last_event", json!({"type": ["string", "null"]})),
            ]),
            example: json!({"email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}),
            writes: false,
        },
    ],
    triggers: Vec::new(),
    // Resend allows 2 requests a second per team by default.
    rate_limit: Some(RateLimit {
        requests: 2,
        per: Duration::from_secs(1),
    }),
});

pub struct Resend {
    client: reqwest::Client,
    base_url: String,
}

impl Resend {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            client: crate::api_client(Duration::from_secs(30)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Value, StepError> {
        let (status, retry_after, body) = crate::exchange("resend", what, request).await?;
        answered(what, status, retry_after, body)
    }
}

/// What Resend answered, or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let name = body["name"].as_str().unwrap_or_default();
    let message = format!(
        "resend answered HTTP {status} to {what}: {}{}",
        body["message"].as_str().unwrap_or("no reason given"),
        if name.is_empty() {
            String::new()
        } else {
            format!(" ({name})")
        }
    );
    Err(match (status, name) {
        (_, "daily_quota_exceeded" | "monthly_quota_exceeded") => StepError::permanent(format!(
            "{message}: the Resend plan's sending quota is spent; it resets with the day or month, or upgrade the plan"
        )),
        (429, _) | (_, "rate_limit_exceeded") => {
            let error = StepError::transient(message);
            match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        }
        (_, "restricted_api_key") => StepError::permanent(format!(
            "{message}: this key may only send email; give the resend credential a full-access key for this action"
        )),
        (401 | 403, _) | (_, "missing_api_key" | "invalid_api_key") => StepError::unauthorized(
            format!("{message} (check the resend credential: the key may have been revoked)"),
        ),
        (500..=599, _) => StepError::transient(message),
        _ => StepError::permanent(message),
    })
}

fn key(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("api_key"))
        .ok_or_else(|| {
            StepError::permanent("there is no resend credential: store one with `api_key` (re_...)")
        })
}

#[async_trait]
impl Connector for Resend {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let key = key(call.secret.as_ref())?;
        match call.action.as_str() {
            "send_email" => {
                let email: SendEmail = inputs(call)?;
                if email.html.is_none() && email.text.is_none() {
                    return Err(StepError::permanent(
                        "resend send_email inputs: give `html` or `text` (the message itself)",
                    ));
                }
                let sent = self
                    .send(
                        "emails.send",
                        self.client
                            .post(format!("{}/emails", self.base_url))
                            .bearer_auth(key)
                            // Resend keeps the key for 24 hours: a retried step sends once.
                            .header("Idempotency-Key", &call.idempotency_key)
                            .json(&email),
                    )
                    .await?;
                Ok(json!({"id": sent["id"]}))
            }
            "send_batch" => {
                let batch: SendBatch = inputs(call)?;
                if batch.emails.is_empty() || batch.emails.len() > MAX_BATCH {
                    return Err(StepError::permanent(format!(
                        "resend send_batch inputs: `emails` holds {} messages; give 1 to {MAX_BATCH}",
                        batch.emails.len()
                    )));
                }
                if let Some(at) = batch
                    .emails
                    .iter()
                    .position(|email| !email.attachments.is_empty())
                {
                    return Err(StepError::permanent(format!(
                        "resend send_batch inputs: emails[{at}] has attachments, which Resend's batches do not take; send it with send_email"
                    )));
                }
                let sent = self
                    .send(
                        "emails.send_batch",
                        self.client
                            .post(format!("{}/emails/batch", self.base_url))
                            .bearer_auth(key)
                            .header("Idempotency-Key", &call.idempotency_key)
                            .json(&batch.emails),
                    )
                    .await?;
                let ids: Vec<Value> = sent["data"]
                    .as_array()
                    .map(|items| items.iter().map(|item| item["id"].clone()).collect())
                    .unwrap_or_default();
                Ok(json!({"ids": ids}))
            }
            "get_email" => {
                let input: GetEmail = inputs(call)?;
                let email = self
                    .send(
                        "emails.get",
                        self.client
                            .get(format!(
                                "{}/emails/{}",
                                self.base_url,
                                url::form_urlencoded::byte_serialize(input.email_id.as_bytes())
                                    .collect::<String>()
                            ))
                            .bearer_auth(key),
                    )
                    .await?;
                Ok(json!({
                    "id": email["id"],
                    "from": email["from"],
                    "to": email["to"].as_array().cloned().unwrap_or_default(),
                    "subject": email["subject"],
                    "created_at": email["created_at"],
                    "last_event": email["last_event"],
                }))
            }
            other => Err(StepError::permanent(format!(
                "resend has no action {other:?}"
            ))),
        }
    }

    /// Svix's signature: `svix-id`, `svix-timestamp` (within five minutes) and `svix-signature`
    /// (`v1,BASE64` entries over `ID.TIMESTAMP.BODY`) with the endpoint's `whsec_` secret.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        let secret = incoming.secret.ok_or(
            "this hook checks Resend's signatures but has no signing secret: copy the webhook's \
             signing secret (whsec_...) from Resend and set it with \
             PUT /api/v1/workflows/{id}/hook/secret {\"secret\": \"...\"}",
        )?;
        let id = incoming.header("svix-id").ok_or("svix-id is missing")?;
        let timestamp = incoming
            .header("svix-timestamp")
            .and_then(|value| value.trim().parse::<i64>().ok())
            .ok_or("svix-timestamp is missing or not a number of seconds")?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > SIGNATURE_WINDOW_SECONDS {
            return Err(
                "svix-timestamp is more than five minutes from now: a late or replayed delivery"
                    .into(),
            );
        }
        if !crate::webhook::standard_signature_matches(
            secret,
            id,
            timestamp,
            incoming.body,
            incoming.header("svix-signature").unwrap_or_default(),
        ) {
            return Err(
                "the request is not signed with this hook's Resend signing secret (svix-signature)"
                    .into(),
            );
        }
        // Svix sends a retried delivery with the same svix-id: it runs once.
        Ok(WebhookOutcome::Run {
            delivery_id: Some(format!("resend:{id}")),
        })
    }

    /// `GET /domains`: a full-access key lists the domains; a sending-only key is refused with
    /// `restricted_api_key`, which still proves it is a live key.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let key = key(Some(secret))?;
        match self
            .send(
                "domains.list",
                self.client
                    .get(format!("{}/domains", self.base_url))
                    .bearer_auth(key),
            )
            .await
        {
            Ok(domains) => Ok(json!({
                "access": "full",
                "domains": domains["data"].as_array().map_or(0, Vec::len),
            })),
            Err(error) if error.message.contains("restricted_api_key") => {
                Ok(json!({"access": "sending only"}))
            }
            Err(error) => Err(error),
        }
    }
}
