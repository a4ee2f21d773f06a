//! `gmail`: read a message (decoded `from`, `to`, `subject`, `body` text, thread), search,
//! save a draft (a reply is threaded under the message it answers), send, and label, through
//! the Gmail API with an OAuth access token (`{"access_token": "..."}`). The seed's
//! `read_email` and `save_draft` are these actions.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, PollCall, Polled, Secret};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, RateLimit,
    TriggerDeclaration, inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://gmail.googleapis.com";

/// `read_email`: one message, decoded.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadEmail {
    /// The message id.
    pub email_id: String,
}

/// `search`: message ids and threads matching a Gmail query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Gmail's search syntax, e.g. `is:unread label:support newer_than:1d`.
    #[serde(default)]
    pub query: Option<String>,
    /// At most this many (default 20, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub page_token: Option<String>,
}

/// `save_draft` and `send`: a plain-text message; a reply when `reply_to` names the message
/// it answers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub cc: Option<String>,
    /// The id of the message this answers: the draft goes into its thread, with
    /// `In-Reply-To` and `References` set.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// `label`: add and remove labels (ids such as `STARRED`, `UNREAD`, `Label_12`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub email_id: String,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The `new_email` trigger's settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmail {
    /// Only messages that arrive with this label id (`INBOX` when absent; e.g. `Label_12`).
    #[serde(default)]
    pub label: Option<String>,
}

/// The most `messages.get` one batch request carries (Gmail's advice: at most 50).
const MAX_BATCH: usize = 50;

/// The most history pages one look reads (500 changes each).
const MAX_HISTORY_PAGES: usize = 10;

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "gmail",
    name: "Gmail",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        scopes: vec![
            "https://www.googleapis.com/auth/gmail.modify".into(),
            "https://www.googleapis.com/auth/gmail.compose".into(),
        ],
        scope_separator: " ",
        // A refresh token, and again on reconnecting.
        consent_params: &[("access_type", "offline"), ("prompt", "consent")],
        app_of: None,
        paste: None,
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "read_email",
            description: "Read a message: from, to, subject, the body as text, its thread.",
            input_schema: schemars::schema_for!(ReadEmail).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("thread_id", json!({"type": "string"})),
                ("from", text_or_null()),
                ("to", text_or_null()),
                ("cc", text_or_null()),
                ("subject", text_or_null()),
                ("date", text_or_null()),
                ("message_id", text_or_null()),
                ("body", text_or_null()),
                ("snippet", text_or_null()),
                (
                    "labels",
                    json!({"type": ["array", "null"], "items": {"type": "string"}}),
                ),
            ]),
            example: json!({"email_id": "{{trigger.email_id}}"}),
            writes: false,
        },
        ActionDeclaration {
            id: "search",
            description: "Find messages with Gmail's search syntax.",
            input_schema: schemars::schema_for!(Search).to_value(),
            output_schema: output_schema(&[
                (
                    "messages",
                    json!({"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "threadId": {"type": "string"}}}}),
                ),
                ("next_page_token", text_or_null()),
            ]),
            example: json!({"query": "is:unread label:support", "limit": 10}),
            writes: false,
        },
        ActionDeclaration {
            id: "save_draft",
            description: "Save a draft; with reply_to, a reply in the message's thread.",
            input_schema: schemars::schema_for!(Compose).to_value(),
            output_schema: output_schema(&[
                ("draft_id", json!({"type": "string"})),
                ("message_id", json!({"type": "string"})),
                ("thread_id", json!({"type": "string"})),
            ]),
            example: json!({"to": "ann@customer.com", "subject": "Re: Invoice 42", "body": "Dear Ann, ...", "reply_to": "18c2f0a1b2c3d4e5"}),
            writes: true,
        },
        ActionDeclaration {
            id: "send",
            description: "Send a message; with reply_to, a reply in the message's thread.",
            input_schema: schemars::schema_for!(Compose).to_value(),
            output_schema: output_schema(&[
                ("message_id", json!({"type": "string"})),
                ("thread_id", json!({"type": "string"})),
            ]),
            example: json!({"to": "ann@customer.com", "subject": "Your order", "body": "It ships today."}),
            writes: true,
        },
        ActionDeclaration {
            id: "label",
            description: "Add and remove a message's labels.",
            input_schema: schemars::schema_for!(Label).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                (
                    "labels",
                    json!({"type": "array", "items": {"type": "string"}}),
                ),
            ]),
            example: json!({"email_id": "18c2f0a1b2c3d4e5", "add": ["STARRED"], "remove": ["UNREAD"]}),
            writes: true,
        },
    ],
    triggers: vec![TriggerDeclaration {
        id: "new_email",
        description: "A message arrives with the label (the inbox by default).",
        input_schema: schemars::schema_for!(NewEmail).to_value(),
        example: json!({"email_id": "18c2f0a1b2c3d4e5", "thread_id": "18c2f0a1b2c3d4e5", "labels": ["INBOX", "UNREAD"]}),
    }],
    // Gmail allows 250 quota units a second per mailbox; reading a message costs 5.
    rate_limit: Some(RateLimit {
        requests: 50,
        per: Duration::from_secs(1),
    }),
});

pub struct Gmail {
    client: reqwest::Client,
    /// Where the API is reached, as set.
    root: String,
    /// The mailbox's methods, under `root`.
    base_url: String,
}

impl Gmail {
    pub fn new(base_url: Option<&str>) -> Self {
        let root = crate::base_url(base_url, DEFAULT_BASE_URL);
        Self {
            client: crate::api_client(Duration::from_secs(30)),
            base_url: format!("{root}/gmail/v1/users/me"),
            root,
        }
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Value, StepError> {
        let (status, retry_after, body) = crate::exchange("gmail", what, request).await?;
        crate::google::answered("gmail", what, status, retry_after, body)
    }

    /// `read_email` for many messages in one request: Gmail's batch endpoint takes up to 50
    /// `messages.get` as the parts of a `multipart/mixed` body, and answers each in a part.
    async fn read_many(&self, token: &str, calls: &[ActionCall]) -> Vec<Result<Value, StepError>> {
        let boundary = format!("batch_{}", uuid_like());
        let root_path = url::Url::parse(&self.root)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let mut parsed = Vec::with_capacity(calls.len());
        let mut body = String::new();
        for (index, call) in calls.iter().enumerate() {
            match inputs::<ReadEmail>(call) {
                Ok(input) => {
                    body.push_str(&format!(
                        "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-{index}>\r\n\r\n\
                         GET {root_path}/gmail/v1/users/me/messages/{}?format=full\r\n\r\n",
                        encode(&input.email_id)
                    ));
                    parsed.push(Ok(()));
                }
                Err(error) => parsed.push(Err(error)),
            }
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let response = self
            .client
            .post(format!("{}/batch", self.root))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/mixed; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await;
        let everyone = |error: StepError| -> Vec<Result<Value, StepError>> {
            parsed
                .iter()
                .map(|input| match input {
                    Ok(()) => Err(error.clone()),
                    Err(refused) => Err(refused.clone()),
                })
                .collect()
        };
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                return everyone(StepError::transient(format!(
                    "gmail could not be reached (batch): {error}"
                )));
            }
        };
        let status = response.status().as_u16();
        let retry_after = crate::retry_after(response.headers());
        let answer_boundary = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split("boundary=").nth(1))
            .map(|value| value.trim_matches('"').to_owned());
        let text = response.text().await.unwrap_or_default();
        if matches!(status, 404 | 405 | 501) {
            // A proxy in front of Gmail that has no batch endpoint: one call each.
            return crate::one_by_one(self, calls).await;
        }
        let (true, Some(answer_boundary)) = ((200..300).contains(&status), answer_boundary) else {
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            let error = crate::google::answered("gmail", "batch", status, retry_after, body)
                .err()
                .unwrap_or_else(|| StepError::transient("gmail's batch answer is not multipart"));
            return everyone(error);
        };
        let mut answers: HashMap<usize, Result<Value, StepError>> =
            batch_parts(&text, &answer_boundary)
                .into_iter()
                .map(|(index, status, body)| {
                    (
                        index,
                        crate::google::answered("gmail", "messages.get", status, None, body)
                            .map(|message| decoded(&message)),
                    )
                })
                .collect();
        parsed
            .into_iter()
            .enumerate()
            .map(|(index, input)| match input {
                Ok(()) => answers.remove(&index).unwrap_or_else(|| {
                    Err(StepError::transient(
                        "gmail's batch answer left this message out",
                    ))
                }),
                Err(refused) => Err(refused),
            })
            .collect()
    }

    async fn message(&self, token: &str, id: &str) -> Result<Value, StepError> {
        self.send(
            "messages.get",
            self.client
                .get(format!("{}/messages/{}", self.base_url, encode(id)))
                .bearer_auth(token)
                .query(&[("format", "full")]),
        )
        .await
    }

    /// Nothing new yet: the cursor at the mailbox's current history id.
    async fn watch_from_now(&self, token: &str) -> Result<Polled, StepError> {
        let profile = self.profile(token).await?;
        let history_id = profile["historyId"]
            .as_str()
            .ok_or_else(|| StepError::transient("gmail's profile has no historyId"))?;
        Ok(Polled {
            items: Vec::new(),
            cursor: json!({"history_id": history_id}),
        })
    }

    async fn profile(&self, token: &str) -> Result<Value, StepError> {
        self.send(
            "users.getProfile",
            self.client
                .get(format!("{}/profile", self.base_url))
                .bearer_auth(token),
        )
        .await
    }

    /// The raw message and thread of a draft or a sent message.
    async fn compose(&self, token: &str, input: Compose) -> Result<Value, StepError> {
        let (thread, replying_to) = match &input.reply_to {
            Some(id) => {
                let original = self.message(token, id).await?;
                let message_id = header(&original["payload"], "Message-ID")
                    .or_else(|| header(&original["payload"], "Message-Id"));
                (original["threadId"].as_str().map(str::to_owned), message_id)
            }
            None => (None, None),
        };
        let raw = mime(&input, replying_to.as_deref())?;
        let mut message = json!({"raw": raw});
        if let Some(thread) = thread {
            message["threadId"] = Value::String(thread);
        }
        Ok(message)
    }
}

/// A boundary for a batch request (its parts hold only request lines, never message text).
fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}{:x}", std::process::id())
}

/// The parts of a batch answer: which item each answers (`Content-ID: <response-item-N>`), its
/// HTTP status and its JSON body.
fn batch_parts(text: &str, boundary: &str) -> Vec<(usize, u16, Value)> {
    let delimiter = format!("--{boundary}");
    text.split(delimiter.as_str())
        .skip(1)
        .filter(|part| !part.starts_with("--"))
        .enumerate()
        .filter_map(|(position, part)| {
            let part = part.replace("\r\n", "\n");
            let (outer, inner) = part.trim_start_matches('\n').split_once("\n\n")?;
            let index = outer
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.trim()
                        .eq_ignore_ascii_case("content-id")
                        .then(|| {
                            value
                                .trim()
                                .trim_matches(['<', '>'])
                                .rsplit('-')
                                .next()?
                                .parse()
                                .ok()
                        })
                        .flatten()
                })
                .unwrap_or(position);
            let (head, body) = inner.split_once("\n\n").unwrap_or((inner, ""));
            let status = head
                .lines()
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((
                index,
                status,
                serde_json::from_str(body.trim()).unwrap_or(Value::Null),
            ))
        })
        .collect()
}

/// A message as `read_email` gives it: the headers people read, the text body decoded.
fn decoded(message: &Value) -> Value {
    let payload = &message["payload"];
    json!({
        "id": message["id"],
        "thread_id": message["threadId"],
        "from": header(payload, "From"),
        "to": header(payload, "To"),
        "cc": header(payload, "Cc"),
        "subject": header(payload, "Subject"),
        "date": header(payload, "Date"),
        "message_id": header(payload, "Message-ID"),
        "body": body_of(payload, "text/plain").or_else(|| body_of(payload, "text/html")),
        "snippet": message["snippet"],
        "labels": message["labelIds"],
    })
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn header(part: &Value, name: &str) -> Option<String> {
    part["headers"].as_array()?.iter().find(|header| {
        header["name"]
            .as_str()
            .is_some_and(|found| found.eq_ignore_ascii_case(name))
    })?["value"]
        .as_str()
        .map(str::to_owned)
}

/// The first part of `mime` in the message's tree, decoded.
fn body_of(part: &Value, mime: &str) -> Option<String> {
    if part["mimeType"] == mime
        && let Some(data) = part.pointer("/body/data").and_then(Value::as_str)
    {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data.trim_end_matches('='))
            .ok()?;
        return Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    part["parts"]
        .as_array()?
        .iter()
        .find_map(|inner| body_of(inner, mime))
}

/// A header value with no line break in it (else a header could be injected).
fn one_line<'a>(field: &str, value: &'a str) -> Result<&'a str, StepError> {
    if value.contains(['\r', '\n']) {
        return Err(StepError::permanent(format!(
            "gmail: `{field}` must be one line"
        )));
    }
    Ok(value.trim())
}

/// A header value, as an RFC 2047 encoded word when it is not plain ASCII.
fn encoded(value: &str) -> String {
    if value.is_ascii() {
        value.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// The message as RFC 5322 text, base64url as the Gmail API takes it.
fn mime(input: &Compose, replying_to: Option<&str>) -> Result<String, StepError> {
    let mut text = format!("To: {}\r\n", one_line("to", &input.to)?);
    if let Some(cc) = &input.cc {
        text.push_str(&format!("Cc: {}\r\n", one_line("cc", cc)?));
    }
    text.push_str(&format!(
        "Subject: {}\r\n",
        encoded(one_line("subject", &input.subject)?)
    ));
    if let Some(original) = replying_to {
        let original = one_line("reply_to", original)?;
        text.push_str(&format!(
            "In-Reply-To: {original}\r\nReferences: {original}\r\n"
        ));
    }
    text.push_str(
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    let body = base64::engine::general_purpose::STANDARD.encode(&input.body);
    for line in body.as_bytes().chunks(76) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push_str("\r\n");
    }
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text))
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    crate::google::token("gmail", secret, "gmail.modify")
}

#[async_trait]
impl Connector for Gmail {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.root)
    }

    /// `new_email`: the messages added to the label since the cursor's history id, read from
    /// `users.history.list`. The first look only notes the mailbox's current history id. A
    /// history id too old for Gmail to keep (404) starts again from now.
    async fn poll(&self, call: &PollCall) -> Result<Polled, StepError> {
        if call.event != "new_email" {
            return Err(StepError::permanent(format!(
                "gmail has no event {:?}",
                call.event
            )));
        }
        let token = token(call.secret.as_ref())?;
        let input: NewEmail = if call.inputs.is_null() {
            NewEmail::default()
        } else {
            serde_json::from_value(call.inputs.clone())
                .map_err(|error| StepError::permanent(format!("gmail new_email inputs: {error}")))?
        };
        let label = input.label.unwrap_or_else(|| "INBOX".to_owned());
        let start = call
            .cursor
            .as_ref()
            .and_then(|cursor| cursor["history_id"].as_str())
            .map(str::to_owned);
        let Some(start) = start else {
            return self.watch_from_now(token).await;
        };
        let mut items = Vec::new();
        let mut latest = start.clone();
        let mut page: Option<String> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let mut query = vec![
                ("startHistoryId", start.clone()),
                ("historyTypes", "messageAdded".to_owned()),
                ("labelId", label.clone()),
                ("maxResults", "500".to_owned()),
            ];
            if let Some(page) = &page {
                query.push(("pageToken", page.clone()));
            }
            let answer = self
                .send(
                    "history.list",
                    self.client
                        .get(format!("{}/history", self.base_url))
                        .bearer_auth(token)
                        .query(&query),
                )
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) if error.message.contains("HTTP 404") => {
                    tracing::warn!("gmail history {start} is gone; watching from now");
                    return self.watch_from_now(token).await;
                }
                Err(error) => return Err(error),
            };
            for record in answer["history"].as_array().into_iter().flatten() {
                for added in record["messagesAdded"].as_array().into_iter().flatten() {
                    let message = &added["message"];
                    let Some(id) = message["id"].as_str() else {
                        continue;
                    };
                    let labels = message["labelIds"].as_array();
                    let has = |wanted: &str| {
                        labels.is_some_and(|labels| labels.iter().any(|found| found == wanted))
                    };
                    if has("DRAFT") || (has("SENT") && label != "SENT") {
                        continue;
                    }
                    items.push((
                        format!("gmail:{id}"),
                        json!({"email_id": id, "thread_id": message["threadId"], "labels": message["labelIds"]}),
                    ));
                }
            }
            if let Some(history_id) = answer["historyId"].as_str() {
                latest = history_id.to_owned();
            }
            match answer["nextPageToken"].as_str() {
                Some(next) => page = Some(next.to_owned()),
                None => break,
            }
        }
        let mut seen = std::collections::HashSet::new();
        items.retain(|(id, _)| seen.insert(id.clone()));
        Ok(Polled {
            items,
            cursor: json!({"history_id": latest}),
        })
    }

    fn batch_size(&self, action: &str) -> usize {
        if action == "read_email" { MAX_BATCH } else { 1 }
    }

    async fn batch(&self, calls: &[ActionCall]) -> Vec<Result<Value, StepError>> {
        let read_only = calls.iter().all(|call| call.action == "read_email");
        match (
            read_only,
            calls.first().map(|call| token(call.secret.as_ref())),
        ) {
            (true, Some(Ok(token))) if calls.len() > 1 => self.read_many(token, calls).await,
            _ => crate::one_by_one(self, calls).await,
        }
    }

    /// `users.getProfile`: the mailbox the token reads.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = token(Some(secret))?;
        let profile = self.profile(token).await?;
        Ok(json!({"account": profile["emailAddress"], "messages": profile["messagesTotal"]}))
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        match call.action.as_str() {
            "read_email" => {
                let input: ReadEmail = inputs(call)?;
                Ok(decoded(&self.message(token, &input.email_id).await?))
            }
            "search" => {
                let input: Search = inputs(call)?;
                let mut query = vec![(
                    "maxResults",
                    input.limit.unwrap_or(20).clamp(1, 500).to_string(),
                )];
                if let Some(q) = input.query {
                    query.push(("q", q));
                }
                if let Some(page) = input.page_token {
                    query.push(("pageToken", page));
                }
                let found = self
                    .send(
                        "messages.list",
                        self.client
                            .get(format!("{}/messages", self.base_url))
                            .bearer_auth(token)
                            .query(&query),
                    )
                    .await?;
                Ok(json!({
                    "messages": found["messages"].as_array().cloned().unwrap_or_default(),
                    "next_page_token": found["nextPageToken"],
                }))
            }
            "save_draft" => {
                let message = self.compose(token, inputs(call)?).await?;
                let draft = self
                    .send(
                        "drafts.create",
                        self.client
                            .post(format!("{}/drafts", self.base_url))
                            .bearer_auth(token)
                            .json(&json!({"message": message})),
                    )
                    .await?;
                Ok(json!({
                    "draft_id": draft["id"],
                    "message_id": draft["message"]["id"],
                    "thread_id": draft["message"]["threadId"],
                }))
            }
            "send" => {
                let message = self.compose(token, inputs(call)?).await?;
                let sent = self
                    .send(
                        "messages.send",
                        self.client
                            .post(format!("{}/messages/send", self.base_url))
                            .bearer_auth(token)
                            .json(&message),
                    )
                    .await?;
                Ok(json!({"message_id": sent["id"], "thread_id": sent["threadId"]}))
            }
            "label" => {
                let input: Label = inputs(call)?;
                let changed = self
                    .send(
                        "messages.modify",
                        self.client
                            .post(format!(
                                "{}/messages/{}/modify",
                                self.base_url,
                                encode(&input.email_id)
                            ))
                            .bearer_auth(token)
                            .json(
                                &json!({"addLabelIds": input.add, "removeLabelIds": input.remove}),
                            ),
                    )
                    .await?;
                Ok(json!({"id": changed["id"], "labels": changed["labelIds"]}))
            }
            other => Err(StepError::permanent(format!(
                "gmail has no action {other:?}"
            ))),
        }
    }
}
