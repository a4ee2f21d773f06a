//! `calendly`: scheduled events (listed, read with their invitees, canceled), event types, and
//! single-use booking links, through Calendly's API with a personal access token pasted in or
//! a token from connecting with OAuth (both `{"access_token": "..."}`). Calendly names its
//! records by URI (`https://api.calendly.com/scheduled_events/UUID`); steps may give the URI or
//! the UUID. Its webhooks (`invitee.created`, `invitee.canceled`) are checked with
//! `Calendly-Webhook-Signature` (`t=`, `v1=`, as Stripe's).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, PasteToken,
    RateLimit, inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://api.calendly.com";

/// How far a delivery's signed timestamp may be from now.
const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// `list_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEvents {
    /// From this time (RFC 3339); now when not given.
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this time (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// `active` (booked) or `canceled`; both when not given.
    #[serde(default)]
    pub status: Option<String>,
    /// Only events this person booked.
    #[serde(default)]
    pub invitee_email: Option<String>,
    /// At most this many (1 to 100; 20 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// An event, by its URI or UUID.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    pub event: String,
}

/// `cancel_event`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelEvent {
    pub event: String,
    /// Told to the invitees.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `create_booking_link`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingLink {
    /// The event type's URI (from `list_event_types`).
    pub event_type: String,
}

/// `list_event_types`: takes nothing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEventTypes {}

fn event_schema() -> Value {
    output_schema(&[
        ("uri", json!({"type": "string"})),
        ("id", json!({"type": "string"})),
        ("name", text_or_null()),
        ("status", text_or_null()),
        ("start", text_or_null()),
        ("end", text_or_null()),
        ("location", text_or_null()),
        ("event_type", text_or_null()),
    ])
}

fn invitee_schema() -> Value {
    output_schema(&[
        ("name", text_or_null()),
        ("email", text_or_null()),
        ("status", text_or_null()),
        ("timezone", text_or_null()),
        ("answers", json!({"type": "object"})),
        ("cancel_url", text_or_null()),
        ("reschedule_url", text_or_null()),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "calendly",
    name: "Calendly",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://auth.calendly.com/oauth/authorize",
        token_url: "https://auth.calendly.com/oauth/token",
        scopes: Vec::new(),
        scope_separator: " ",
        consent_params: &[],
        app_of: None,
        paste: Some(PasteToken {
            label: "Personal access token",
            hint: "In Calendly: Integrations & apps, API and webhooks, Personal access tokens, Generate new token.",
        }),
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "list_events",
            description: "Booked (or canceled) meetings in a time range, the earliest first.",
            input_schema: schemars::schema_for!(ListEvents).to_value(),
            output_schema: output_schema(&[
                ("events", json!({"type": "array", "items": event_schema()})),
                ("count", json!({"type": "integer"})),
            ]),
            example: json!({"from": "2026-12-07T00:00:00Z", "to": "2026-12-14T00:00:00Z", "status": "active"}),
            writes: false,
        },
        ActionDeclaration {
            id: "get_event",
            description: "A meeting with who booked it and their answers to your questions.",
            input_schema: schemars::schema_for!(EventRef).to_value(),
            output_schema: output_schema(&[
                ("event", event_schema()),
                (
                    "invitees",
                    json!({"type": "array", "items": invitee_schema()}),
                ),
            ]),
            example: json!({"event": "{{trigger.body.payload.scheduled_event.uri}}"}),
            writes: false,
        },
        ActionDeclaration {
            id: "cancel_event",
            description: "Cancel a meeting; the invitees are told why.",
            input_schema: schemars::schema_for!(CancelEvent).to_value(),
            output_schema: output_schema(&[
                ("canceled", json!({"type": "boolean"})),
                ("reason", text_or_null()),
            ]),
            example: json!({"event": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2", "reason": "The shop is closed that day; please book another time."}),
            writes: true,
        },
        ActionDeclaration {
            id: "list_event_types",
            description: "Your kinds of meetings (30-minute call, consultation, ...) and their links.",
            input_schema: schemars::schema_for!(ListEventTypes).to_value(),
            output_schema: output_schema(&[(
                "event_types",
                json!({"type": "array", "items": output_schema(&[
                    ("uri", json!({"type": "string"})),
                    ("name", text_or_null()),
                    ("duration", json!({"type": ["integer", "null"]})),
                    ("scheduling_url", text_or_null()),
                    ("active", json!({"type": "boolean"})),
                ])}),
            )]),
            example: json!({}),
            writes: false,
        },
        ActionDeclaration {
            id: "create_booking_link",
            description: "A link someone can book one meeting with, once.",
            input_schema: schemars::schema_for!(CreateBookingLink).to_value(),
            output_schema: output_schema(&[("booking_url", json!({"type": "string"}))]),
            example: json!({"event_type": "https://api.calendly.com/event_types/AAAAAAAAAAAAAAAA"}),
            writes: true,
        },
    ],
    triggers: Vec::new(),
    // Calendly allows 50 requests a minute on its free plan (500 on paid ones): the lower.
    rate_limit: Some(RateLimit {
        requests: 50,
        per: Duration::from_secs(60),
    }),
});

/// The UUID of a record given by URI or UUID.
fn uuid_of(given: &str) -> String {
    crate::segment(
        given
            .trim()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default(),
    )
}

fn event_out(event: &Value) -> Value {
    let uri = event["uri"].as_str().unwrap_or_default();
    let location = &event["location"];
    json!({
        "uri": uri,
        "id": uuid_of(uri),
        "name": event["name"],
        "status": event["status"],
        "start": event["start_time"],
        "end": event["end_time"],
        "location": location["join_url"].as_str().or(location["location"].as_str()).map_or(Value::Null, |place| json!(place)),
        "event_type": event["event_type"],
    })
}

fn invitee_out(invitee: &Value) -> Value {
    let answers: serde_json::Map<String, Value> = invitee["questions_and_answers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| {
                    Some((
                        pair["question"].as_str()?.to_owned(),
                        pair["answer"].clone(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": invitee["name"],
        "email": invitee["email"],
        "status": invitee["status"],
        "timezone": invitee["timezone"],
        "answers": answers,
        "cancel_url": invitee["cancel_url"],
        "reschedule_url": invitee["reschedule_url"],
    })
}

/// What Calendly answered, or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let details: Vec<String> = body["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|detail| {
                    format!(
                        "{}: {}",
                        detail["parameter"].as_str().unwrap_or("?"),
                        detail["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let message = format!(
        "calendly answered HTTP {status} to {what}: {}{}",
        body["message"]
            .as_str()
            .or(body["title"].as_str())
            .unwrap_or("no reason given"),
        if details.is_empty() {
            String::new()
        } else {
            format!(" ({})", details.join("; "))
        }
    );
    Err(match status {
        429 => StepError::transient(message)
            .with_retry_after(retry_after.unwrap_or(Duration::from_secs(60))),
        401 => StepError::unauthorized(format!(
            "{message} (check the calendly credential: the token may have been revoked)"
        )),
        403 => StepError::permanent(format!(
            "{message}: this needs a paid Calendly plan or more access"
        )),
        500.. => StepError::transient(message),
        _ => StepError::permanent(message),
    })
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("access_token"))
        .ok_or_else(|| {
            StepError::permanent(
                "there is no calendly credential: connect Calendly, or store a personal access token as `access_token`",
            )
        })
}

pub struct Calendly {
    client: reqwest::Client,
    base_url: String,
}

impl Calendly {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            client: crate::api_client(Duration::from_secs(30)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    async fn send(
        &self,
        what: &str,
        token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, StepError> {
        let request = crate::bearer_request(
            &self.client,
            method,
            format!("{}{path}", self.base_url),
            token,
            query,
            body.as_ref(),
        );
        let response = request.send().await.map_err(|error| {
            StepError::transient(format!("calendly could not be reached ({what}): {error}"))
        })?;
        let status = response.status().as_u16();
        // Calendly says when its window starts again in X-RateLimit-Reset (seconds).
        let wait = crate::retry_after(response.headers()).or_else(|| {
            response
                .headers()
                .get("x-ratelimit-reset")
                .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        });
        let body: Value = response.json().await.unwrap_or(Value::Null);
        answered(what, status, wait, body)
    }

    /// The connected person's user URI.
    async fn me(&self, token: &str) -> Result<Value, StepError> {
        let me = self
            .send(
                "users.me",
                token,
                reqwest::Method::GET,
                "/users/me",
                &[],
                None,
            )
            .await?;
        Ok(me["resource"].clone())
    }
}

#[async_trait]
impl Connector for Calendly {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        match call.action.as_str() {
            "list_events" => {
                let input: ListEvents = inputs(call)?;
                let me = self.me(token).await?;
                let mut query = vec![
                    ("user", me["uri"].as_str().unwrap_or_default().to_owned()),
                    ("sort", "start_time:asc".to_owned()),
                    ("count", input.limit.unwrap_or(20).clamp(1, 100).to_string()),
                    (
                        "min_start_time",
                        input.from.unwrap_or_else(|| {
                            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        }),
                    ),
                ];
                for (name, value) in [
                    ("max_start_time", input.to),
                    ("status", input.status),
                    ("invitee_email", input.invitee_email),
                ] {
                    if let Some(value) = value {
                        query.push((name, value));
                    }
                }
                let listed = self
                    .send(
                        "scheduled_events.list",
                        token,
                        reqwest::Method::GET,
                        "/scheduled_events",
                        &query,
                        None,
                    )
                    .await?;
                let events: Vec<Value> = listed["collection"]
                    .as_array()
                    .map(|events| events.iter().map(event_out).collect())
                    .unwrap_or_default();
                Ok(json!({"count": events.len(), "events": events}))
            }
            "get_event" => {
                let input: EventRef = inputs(call)?;
                let path = format!("/scheduled_events/{}", uuid_of(&input.event));
                let event = self
                    .send(
                        "scheduled_events.get",
                        token,
                        reqwest::Method::GET,
                        &path,
                        &[],
                        None,
                    )
                    .await?;
                let invitees = self
                    .send(
                        "scheduled_events.invitees",
                        token,
                        reqwest::Method::GET,
                        &format!("{path}/invitees"),
                        &[("count", "100".to_owned())],
                        None,
                    )
                    .await?;
                let invitees: Vec<Value> = invitees["collection"]
                    .as_array()
                    .map(|invitees| invitees.iter().map(invitee_out).collect())
                    .unwrap_or_default();
                Ok(json!({"event": event_out(&event["resource"]), "invitees": invitees}))
            }
            "cancel_event" => {
                let input: CancelEvent = inputs(call)?;
                let mut body = json!({});
                if let Some(reason) = &input.reason {
                    body["reason"] = json!(reason);
                }
                let canceled = self
                    .send(
                        "scheduled_events.cancel",
                        token,
                        reqwest::Method::POST,
                        &format!("/scheduled_events/{}/cancellation", uuid_of(&input.event)),
                        &[],
                        Some(body),
                    )
                    .await?;
                Ok(json!({"canceled": true, "reason": canceled["resource"]["reason"]}))
            }
            "list_event_types" => {
                let me = self.me(token).await?;
                let listed = self
                    .send(
                        "event_types.list",
                        token,
                        reqwest::Method::GET,
                        "/event_types",
                        &[
                            ("user", me["uri"].as_str().unwrap_or_default().to_owned()),
                            ("count", "100".to_owned()),
                        ],
                        None,
                    )
                    .await?;
                let types: Vec<Value> = listed["collection"]
                    .as_array()
                    .map(|types| {
                        types
                            .iter()
                            .map(|kind| {
                                json!({
                                    "uri": kind["uri"],
                                    "name": kind["name"],
                                    "duration": kind["duration"],
                                    "scheduling_url": kind["scheduling_url"],
                                    "active": kind["active"].as_bool().unwrap_or(false),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(json!({"event_types": types}))
            }
            "create_booking_link" => {
                let input: CreateBookingLink = inputs(call)?;
                let link = self
                    .send(
                        "scheduling_links.create",
                        token,
                        reqwest::Method::POST,
                        "/scheduling_links",
                        &[],
                        Some(json!({"max_event_count": 1, "owner": input.event_type, "owner_type": "EventType"})),
                    )
                    .await?;
                Ok(json!({"booking_url": link["resource"]["booking_url"]}))
            }
            other => Err(StepError::permanent(format!(
                "calendly has no action {other:?}"
            ))),
        }
    }

    /// `Calendly-Webhook-Signature`: `t=` and `v1=` (HMAC-SHA256 of `t.BODY` under the
    /// webhook's signing key) within five minutes; an event delivered again (the same kind for
    /// the same invitee) runs once.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        let secret = incoming.secret.ok_or(
            "this hook checks Calendly's signatures but has no signing key: give it the signing key you made the Calendly webhook subscription with",
        )?;
        crate::webhook::check_timestamped_signature(
            "Calendly-Webhook-Signature",
            incoming.header("calendly-webhook-signature"),
            secret,
            incoming.body,
            SIGNATURE_TOLERANCE_SECONDS,
        )?;
        let event: Value = serde_json::from_slice(incoming.body).unwrap_or_default();
        let delivery = match (event["event"].as_str(), event["payload"]["uri"].as_str()) {
            (Some(kind), Some(invitee)) => format!("calendly:{kind}:{invitee}"),
            _ => crate::webhook::body_delivery("calendly", incoming.body),
        };
        Ok(WebhookOutcome::Run {
            delivery_id: Some(delivery),
        })
    }

    /// `GET /users/me`: whose token it is.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let me = self.me(token(Some(secret))?).await?;
        Ok(
            json!({"account": me["email"], "name": me["name"], "scheduling_url": me["scheduling_url"]}),
        )
    }
}
