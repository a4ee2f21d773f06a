//! `slack`: post a message, reply in a thread, list channels, look up a user, through Slack's
//! Web API with a bot token (`{"bot_token": "xoxb-..."}`, from installing a Slack app in the
//! workspace). Slack answers HTTP 200 with `{"ok": false, "error": CODE}` for most failures;
//! those codes are sorted here into worth-retrying and not, and a revoked or invalid token
//! says that the connection needs to be made again.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, RateLimit,
    inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// How far a Slack request's timestamp may be from now.
const SIGNATURE_WINDOW_SECONDS: i64 = 300;

/// `post_message`: a message to a channel (by id or `#name`), or to a person (by user id).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// A channel id (`C0123...`), `#name`, or a user id for a direct message.
    pub channel: String,
    /// The message, in Slack's mrkdwn.
    pub text: String,
    /// Block Kit blocks, shown instead of `text` (which stays the notification's text).
    #[serde(default)]
    pub blocks: Option<Vec<Value>>,
}

/// `reply_in_thread`: a reply under a message.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInThread {
    pub channel: String,
    /// The `ts` of the message replied to.
    pub thread_ts: String,
    pub text: String,
    /// Also show the reply in the channel.
    #[serde(default)]
    pub broadcast: bool,
}

/// `list_channels`: the channels the app can see.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListChannels {
    /// Comma-separated: `public_channel` (default), `private_channel`, `mpim`, `im`.
    #[serde(default)]
    pub types: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of a previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub include_archived: bool,
}

/// `lookup_user`: a person by user id or by email.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupUser {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "slack",
    name: "Slack",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://slack.com/oauth/v2/authorize",
        token_url: "https://slack.com/api/oauth.v2.access",
        scopes: [
            "chat:write",
            "channels:read",
            "groups:read",
            "users:read",
            "users:read.email",
        ]
        .map(str::to_owned)
        .to_vec(),
        scope_separator: ",",
        consent_params: &[],
        app_of: None,
        paste: None,
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "post_message",
            description: "Post a message to a channel or a person.",
            input_schema: schemars::schema_for!(PostMessage).to_value(),
            output_schema: output_schema(&[
                ("channel", json!({"type": "string"})),
                ("ts", json!({"type": "string"})),
                ("message", json!({"type": "object"})),
            ]),
            example: json!({"channel": "#sales", "text": "New hot lead: *Ann Example* (score 92)"}),
            writes: true,
        },
        ActionDeclaration {
            id: "reply_in_thread",
            description: "Reply under a message, optionally also in the channel.",
            input_schema: schemars::schema_for!(ReplyInThread).to_value(),
            output_schema: output_schema(&[
                ("channel", json!({"type": "string"})),
                ("ts", json!({"type": "string"})),
                ("message", json!({"type": "object"})),
            ]),
            example: json!({"channel": "C0123456789", "thread_ts": "1764590000.000100", "text": "Done."}),
            writes: true,
        },
        ActionDeclaration {
            id: "list_channels",
            description: "List the channels the app can see, a page at a time.",
            input_schema: schemars::schema_for!(ListChannels).to_value(),
            output_schema: output_schema(&[
                (
                    "channels",
                    json!({"type": "array", "items": {"type": "object", "required": ["id", "name"]}}),
                ),
                ("next_cursor", text_or_null()),
            ]),
            example: json!({"types": "public_channel,private_channel", "limit": 200}),
            writes: false,
        },
        ActionDeclaration {
            id: "lookup_user",
            description: "Find a person by user id or by email.",
            input_schema: schemars::schema_for!(LookupUser).to_value(),
            output_schema: output_schema(&[(
                "user",
                json!({"type": "object", "required": ["id"]}),
            )]),
            example: json!({"email": "ann@example.com"}),
            writes: false,
        },
    ],
    triggers: Vec::new(),
    // Slack's Tier 3, which most of these methods are in, allows about 50 a minute per
    // workspace.
    rate_limit: Some(RateLimit {
        requests: 50,
        per: Duration::from_secs(60),
    }),
});

pub struct Slack {
    client: reqwest::Client,
    base_url: String,
}

impl Slack {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            client: crate::api_client(Duration::from_secs(30)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    async fn send(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, StepError> {
        let response = request.send().await.map_err(|error| {
            StepError::transient(format!("slack could not be reached ({method}): {error}"))
        })?;
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.as_u16() == 429 || body["error"] == "ratelimited" {
            let error = StepError::transient(format!("slack is rate limiting {method}"));
            return Err(match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            });
        }
        if status.is_server_error() {
            return Err(StepError::transient(format!(
                "slack answered HTTP {status} to {method}"
            )));
        }
        if body["ok"] == true {
            return Ok(body);
        }
        let code = body["error"].as_str().unwrap_or("an unreadable answer");
        let message = format!("slack refused {method}: {code}");
        Err(match code {
            // A rotated token may have expired: a refreshed one may be taken.
            "invalid_auth" | "not_authed" | "token_expired" => StepError::unauthorized(format!(
                "{message} (reconnect needed: the Slack credential no longer works)"
            )),
            "token_revoked" | "account_inactive" => StepError::revoked(format!(
                "{message} (reconnect needed: the app was removed from the workspace)"
            )),
            "missing_scope" | "no_permission" => StepError::permanent(format!(
                "{message} (reconnect Slack to grant the scope this needs)"
            )),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                StepError::transient(message)
            }
            _ => StepError::permanent(message),
        })
    }

    /// A Web API method called with a JSON body.
    async fn post(&self, method: &str, token: &str, body: &Value) -> Result<Value, StepError> {
        let request = self
            .client
            .post(format!("{}/{method}", self.base_url))
            .bearer_auth(token)
            .json(body);
        self.send(method, request).await
    }

    /// A Web API method called with query parameters.
    async fn get(
        &self,
        method: &str,
        token: &str,
        query: &[(&str, String)],
    ) -> Result<Value, StepError> {
        let request = self
            .client
            .get(format!("{}/{method}", self.base_url))
            .bearer_auth(token)
            .query(query);
        self.send(method, request).await
    }
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    let secret = secret.map(|secret| &secret.0);
    ["bot_token", "access_token", "token"]
        .into_iter()
        .find_map(|field| secret?.get(field)?.as_str())
        .ok_or_else(|| {
            StepError::permanent(
                "there is no slack credential: store one with `bot_token` (the app's xoxb- token)",
            )
        })
}

fn message_output(answer: &Value) -> Value {
    json!({"channel": answer["channel"], "ts": answer["ts"], "message": answer["message"]})
}

#[async_trait]
impl Connector for Slack {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    /// The Events API: `X-Slack-Signature: v0=HEX(HMAC-SHA256(signing secret,
    /// "v0:TIMESTAMP:BODY"))` with `X-Slack-Request-Timestamp` within five minutes, so that an
    /// old request cannot be replayed. The URL check's challenge is answered and runs nothing;
    /// an event Slack sends again (its answer was slow) keeps its `event_id`, and runs once.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        let secret = incoming.secret.ok_or(
            "this hook checks Slack signatures but has no signing secret: set it with \
             PUT /api/v1/workflows/{id}/hook/secret {\"secret\": \"...\"}",
        )?;
        let timestamp = incoming
            .header("x-slack-request-timestamp")
            .and_then(|value| value.trim().parse::<i64>().ok())
            .ok_or("X-Slack-Request-Timestamp is missing")?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > SIGNATURE_WINDOW_SECONDS {
            return Err("X-Slack-Request-Timestamp is more than five minutes away from now".into());
        }
        let mut signed = format!("v0:{timestamp}:").into_bytes();
        signed.extend_from_slice(incoming.body);
        if !crate::webhook::signature_matches(
            secret,
            &signed,
            incoming.header("x-slack-signature"),
            "v0=",
        ) {
            return Err(
                "the request is not signed with this hook's Slack signing secret (X-Slack-Signature)"
                    .into(),
            );
        }
        let event: Value = serde_json::from_slice(incoming.body).unwrap_or_default();
        if event["type"] == "url_verification" {
            return Ok(WebhookOutcome::Answer(
                json!({"challenge": event["challenge"]}),
            ));
        }
        Ok(WebhookOutcome::Run {
            delivery_id: event["event_id"].as_str().map(|id| format!("slack:{id}")),
        })
    }

    /// `auth.test`: the workspace and the bot the token belongs to.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = token(Some(secret))?;
        let answer = self.post("auth.test", token, &json!({})).await?;
        Ok(json!({
            "account": answer["user"],
            "workspace": answer["team"],
            "workspace_id": answer["team_id"],
            "url": answer["url"],
        }))
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        match call.action.as_str() {
            "post_message" => {
                let input: PostMessage = inputs(call)?;
                let mut body = json!({"channel": input.channel, "text": input.text});
                if let Some(blocks) = input.blocks {
                    body["blocks"] = Value::Array(blocks);
                }
                let answer = self.post("chat.postMessage", token, &body).await?;
                Ok(message_output(&answer))
            }
            "reply_in_thread" => {
                let input: ReplyInThread = inputs(call)?;
                let body = json!({
                    "channel": input.channel, "thread_ts": input.thread_ts, "text": input.text,
                    "reply_broadcast": input.broadcast,
                });
                let answer = self.post("chat.postMessage", token, &body).await?;
                Ok(message_output(&answer))
            }
            "list_channels" => {
                let input: ListChannels = inputs(call)?;
                let mut query = vec![
                    (
                        "types",
                        input.types.unwrap_or_else(|| "public_channel".into()),
                    ),
                    (
                        "limit",
                        input.limit.unwrap_or(100).clamp(1, 1000).to_string(),
                    ),
                    ("exclude_archived", (!input.include_archived).to_string()),
                ];
                if let Some(cursor) = input.cursor {
                    query.push(("cursor", cursor));
                }
                let answer = self.get("conversations.list", token, &query).await?;
                let next = answer
                    .pointer("/response_metadata/next_cursor")
                    .and_then(Value::as_str)
                    .filter(|cursor| !cursor.is_empty());
                Ok(json!({"channels": answer["channels"], "next_cursor": next}))
            }
            "lookup_user" => {
                let input: LookupUser = inputs(call)?;
                let answer = match (input.user, input.email) {
                    (Some(user), None) => self.get("users.info", token, &[("user", user)]).await?,
                    (None, Some(email)) => {
                        self.get("users.lookupByEmail", token, &[("email", email)])
                            .await?
                    }
                    _ => {
                        return Err(StepError::permanent(
                            "slack lookup_user inputs: give exactly one of `user` and `email`",
                        ));
                    }
                };
                Ok(json!({"user": answer["user"]}))
            }
            other => Err(StepError::permanent(format!(
                "slack has no action {other:?}"
            ))),
        }
    }
}
