//! `google_calendar`: list, create and update events (attendees, a Google Meet link) and ask
//! when people are busy, through the Calendar API with an OAuth access token
//! (`{"access_token": "..."}`); connecting uses the Google app registered for Gmail unless one
//! of its own is set. Its `new_event` trigger looks for events created since the last look.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, PollCall, Polled, Secret};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, RateLimit,
    TriggerDeclaration, inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://www.googleapis.com/calendar/v3";

/// The scope a credential needs, as errors name it.
const SCOPE: &str = "calendar.events";

/// The most event pages one look reads (250 events each).
const MAX_PAGES: usize = 8;

/// How far back a look reaches before the last one ended, for clocks that disagree a little
/// (an event seen twice is still delivered once).
const OVERLAP_SECONDS: i64 = 60;

/// Who is asked whether they come.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Every guest gets Google's invitation or update by email.
    #[default]
    All,
    /// Only guests outside the organization's Google Workspace.
    ExternalOnly,
    /// Nobody is emailed.
    None,
}

impl Notify {
    fn as_param(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::ExternalOnly => "externalOnly",
            Self::None => "none",
        }
    }
}

/// `list_events`: events in a time range, the earliest first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEvents {
    /// `primary` (the connected person's calendar) when not given, or a calendar's id.
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// From this time (RFC 3339, e.g. `2026-12-07T00:00:00Z`); now when not given.
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this time (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// Only events with this text in their title, description, location or guests.
    #[serde(default)]
    pub query: Option<String>,
    /// At most this many (1 to 250; 25 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 250))]
    pub limit: Option<u32>,
}

/// `create_event`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// The event's title.
    pub summary: String,
    /// When it starts: a time (RFC 3339, `2026-12-07T10:00:00+01:00`) or, all day, a date
    /// (`2026-12-07`).
    pub start: String,
    /// When it ends, in the same form as `start` (an all-day event ends the day after).
    pub end: String,
    /// The time zone of `start` and `end` when they have no offset, e.g. `Europe/Berlin`.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// Guests' email addresses.
    #[serde(default)]
    pub attendees: Vec<String>,
    /// Add a Google Meet link.
    #[serde(default)]
    pub meet: bool,
    /// Who Google emails the invitation to.
    #[serde(default)]
    pub notify: Notify,
}

/// `update_event`: the fields given change; the rest stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    #[serde(default)]
    pub calendar_id: Option<String>,
    pub event_id: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// The guests, all of them (replaces the list).
    #[serde(default)]
    pub attendees: Option<Vec<String>>,
    /// Add a Google Meet link if it has none.
    #[serde(default)]
    pub meet: bool,
    #[serde(default)]
    pub notify: Notify,
}

/// `free_busy`: when each calendar is taken in a time range.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeBusy {
    /// Calendars (or people's email addresses in the same Google Workspace); `primary` when
    /// not given.
    #[serde(default)]
    pub calendars: Vec<String>,
    /// RFC 3339.
    pub from: String,
    /// RFC 3339.
    pub to: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// The `new_event` trigger's settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// `primary` when not given.
    #[serde(default)]
    pub calendar_id: Option<String>,
}

fn event_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("status", text_or_null()),
        ("summary", text_or_null()),
        ("description", text_or_null()),
        ("location", text_or_null()),
        ("start", text_or_null()),
        ("end", text_or_null()),
        ("all_day", json!({"type": "boolean"})),
        ("timezone", text_or_null()),
        (
            "attendees",
            json!({"type": "array", "items": output_schema(&[
                ("email", text_or_null()),
                ("name", text_or_null()),
                ("response", text_or_null()),
            ])}),
        ),
        ("organizer", text_or_null()),
        ("meet_link", text_or_null()),
        ("html_link", text_or_null()),
        ("created", text_or_null()),
        ("updated", text_or_null()),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "google_calendar",
    name: "Google Calendar",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        scopes: vec![
            "https://www.googleapis.com/auth/calendar.events".into(),
            "https://www.googleapis.com/auth/calendar.readonly".into(),
        ],
        scope_separator: " ",
        consent_params: &[("access_type", "offline"), ("prompt", "consent")],
        app_of: Some("gmail"),
        paste: None,
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "list_events",
            description: "Events in a time range, the earliest first (repeating ones one by one).",
            input_schema: schemars::schema_for!(ListEvents).to_value(),
            output_schema: output_schema(&[
                ("events", json!({"type": "array", "items": event_schema()})),
                ("count", json!({"type": "integer"})),
            ]),
            example: json!({"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00Z"}),
            writes: false,
        },
        ActionDeclaration {
            id: "create_event",
            description: "Add an event with guests and, if asked, a Google Meet link.",
            input_schema: schemars::schema_for!(CreateEvent).to_value(),
            output_schema: event_schema(),
            example: json!({"summary": "Kick-off with Ann", "start": "2026-12-07T10:00:00+01:00", "end": "2026-12-07T10:30:00+01:00", "attendees": ["ann@customer.com"], "meet": true}),
            writes: true,
        },
        ActionDeclaration {
            id: "update_event",
            description: "Change an event's time, title, place, notes or guests.",
            input_schema: schemars::schema_for!(UpdateEvent).to_value(),
            output_schema: event_schema(),
            example: json!({"event_id": "{{trigger.event_id}}", "start": "2026-12-07T11:00:00+01:00", "end": "2026-12-07T11:30:00+01:00"}),
            writes: true,
        },
        ActionDeclaration {
            id: "free_busy",
            description: "When calendars are taken between two times, and whether all are free.",
            input_schema: schemars::schema_for!(FreeBusy).to_value(),
            output_schema: output_schema(&[
                (
                    "calendars",
                    json!({"type": "array", "items": output_schema(&[
                        ("id", json!({"type": "string"})),
                        ("busy", json!({"type": "array", "items": output_schema(&[
                            ("start", json!({"type": "string"})),
                            ("end", json!({"type": "string"})),
                        ])})),
                        ("error", text_or_null()),
                    ])}),
                ),
                ("free", json!({"type": "boolean"})),
            ]),
            example: json!({"calendars": ["primary"], "from": "2026-12-07T09:00:00+01:00", "to": "2026-12-07T17:00:00+01:00"}),
            writes: false,
        },
    ],
    triggers: vec![TriggerDeclaration {
        id: "new_event",
        description: "An event is added to a calendar (by anyone: a booking, an invitation).",
        input_schema: schemars::schema_for!(NewEvent).to_value(),
        example: json!({"event_id": "7cbh8rpc10lrc0ckih9tafss99", "summary": "Call with Bob", "start": "2026-12-08T15:00:00+01:00", "end": "2026-12-08T15:30:00+01:00", "attendees": [{"email": "bob@customer.com", "name": null, "response": "needsAction"}], "organizer": "bob@customer.com", "meet_link": null, "html_link": "https://www.google.com/calendar/event?eid=N2NiaDhycGMxMGxyYzBja2loOXRhZnNzOTk"}),
    }],
    // Google's default is 600 queries a minute per user for the Calendar API.
    rate_limit: Some(RateLimit {
        requests: 10,
        per: Duration::from_secs(1),
    }),
});

/// An event as a step reads it.
fn event_out(event: &Value) -> Value {
    let when = |side: &str| {
        event[side]["dateTime"]
            .as_str()
            .or_else(|| event[side]["date"].as_str())
            .map_or(Value::Null, |text| Value::String(text.to_owned()))
    };
    let attendees: Vec<Value> = event["attendees"]
        .as_array()
        .map(|guests| {
            guests
                .iter()
                .map(|guest| {
                    json!({
                        "email": guest["email"],
                        "name": guest["displayName"],
                        "response": guest["responseStatus"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let meet = event["hangoutLink"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            event["conferenceData"]["entryPoints"]
                .as_array()?
                .iter()
                .find(|entry| entry["entryPointType"] == "video")?["uri"]
                .as_str()
                .map(str::to_owned)
        });
    json!({
        "id": event["id"],
        "status": event["status"],
        "summary": event["summary"],
        "description": event["description"],
        "location": event["location"],
        "start": when("start"),
        "end": when("end"),
        "all_day": event["start"]["date"].is_string(),
        "timezone": event["start"]["timeZone"],
        "attendees": attendees,
        "organizer": event["organizer"]["email"],
        "meet_link": meet,
        "html_link": event["htmlLink"],
        "created": event["created"],
        "updated": event["updated"],
    })
}

/// A start or end as Calendar takes it: a date alone is all day.
fn moment(value: &str, timezone: Option<&str>) -> Value {
    let value = value.trim();
    let mut moment =
        if value.len() == 10 && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
            json!({"date": value})
        } else {
            json!({"dateTime": value})
        };
    if let Some(zone) = timezone {
        moment["timeZone"] = json!(zone);
    }
    moment
}

/// Whether `value` is a time Calendar reads: RFC 3339, or a date when `date_ok`.
fn time_problem(field: &str, value: &str, date_ok: bool) -> Option<String> {
    let value = value.trim();
    let is_date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
    let is_time = chrono::DateTime::parse_from_rfc3339(value).is_ok()
        || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S").is_ok();
    if is_time || (date_ok && is_date) {
        None
    } else {
        Some(format!(
            "`{field}` is {value:?}: give a time such as 2026-12-07T10:00:00+01:00{}",
            if date_ok {
                " or a date such as 2026-12-07"
            } else {
                ""
            }
        ))
    }
}

/// The event id Calendar is asked to use for a step's new event: the same on every retry,
/// so a step that runs again finds the event it made instead of making a second (lowercase
/// hex, which Calendar's base32hex ids allow).
fn event_id_for(idempotency_key: &str) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    format!("baton{}", hex::encode(&digest[..16]))
}

pub struct GoogleCalendar {
    client: reqwest::Client,
    base_url: String,
}

impl GoogleCalendar {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            client: crate::api_client(Duration::from_secs(30)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Value, StepError> {
        let (status, retry_after, body) = crate::exchange("google calendar", what, request).await?;
        crate::google::answered("google calendar", what, status, retry_after, body)
    }

    fn events_url(&self, calendar: Option<&str>) -> String {
        format!(
            "{}/calendars/{}/events",
            self.base_url,
            crate::segment(calendar.unwrap_or("primary"))
        )
    }

    async fn create(&self, call: &ActionCall, token: &str) -> Result<Value, StepError> {
        let input: CreateEvent = inputs(call)?;
        for (field, value) in [("start", &input.start), ("end", &input.end)] {
            if let Some(problem) = time_problem(field, value, true) {
                return Err(StepError::permanent(format!(
                    "google_calendar create_event inputs: {problem}"
                )));
            }
        }
        let id = event_id_for(&call.idempotency_key);
        let mut event = json!({
            "id": id,
            "summary": input.summary,
            "start": moment(&input.start, input.timezone.as_deref()),
            "end": moment(&input.end, input.timezone.as_deref()),
            "attendees": input.attendees.iter().map(|email| json!({"email": email})).collect::<Vec<_>>(),
        });
        if let Some(description) = &input.description {
            event["description"] = json!(description);
        }
        if let Some(location) = &input.location {
            event["location"] = json!(location);
        }
        if input.meet {
            event["conferenceData"] = json!({"createRequest": {
                "requestId": id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }});
        }
        let url = self.events_url(input.calendar_id.as_deref());
        let made = self
            .send(
                "events.insert",
                self.client
                    .post(&url)
                    .bearer_auth(token)
                    .query(&[
                        ("conferenceDataVersion", "1"),
                        ("sendUpdates", input.notify.as_param()),
                    ])
                    .json(&event),
            )
            .await;
        match made {
            Ok(made) => Ok(event_out(&made)),
            // The step ran before and made it: the same event, not a second one.
            Err(error) if error.message.contains("HTTP 409") => {
                let found = self
                    .send(
                        "events.get",
                        self.client.get(format!("{url}/{id}")).bearer_auth(token),
                    )
                    .await?;
                Ok(event_out(&found))
            }
            Err(error) => Err(error),
        }
    }

    async fn update(&self, call: &ActionCall, token: &str) -> Result<Value, StepError> {
        let input: UpdateEvent = inputs(call)?;
        let zone = input.timezone.as_deref();
        let mut patch = serde_json::Map::new();
        for (field, value) in [("start", &input.start), ("end", &input.end)] {
            if let Some(value) = value {
                if let Some(problem) = time_problem(field, value, true) {
                    return Err(StepError::permanent(format!(
                        "google_calendar update_event inputs: {problem}"
                    )));
                }
                patch.insert(field.into(), moment(value, zone));
            }
        }
        for (field, value) in [
            ("summary", &input.summary),
            ("description", &input.description),
            ("location", &input.location),
        ] {
            if let Some(value) = value {
                patch.insert(field.into(), json!(value));
            }
        }
        if let Some(guests) = &input.attendees {
            patch.insert(
                "attendees".into(),
                guests.iter().map(|email| json!({"email": email})).collect(),
            );
        }
        if input.meet {
            patch.insert(
                "conferenceData".into(),
                json!({"createRequest": {
                    "requestId": event_id_for(&call.idempotency_key),
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }}),
            );
        }
        if patch.is_empty() && !input.meet {
            return Err(StepError::permanent(
                "google_calendar update_event inputs: nothing to change; give at least one of summary, start, end, description, location, attendees, meet",
            ));
        }
        let changed = self
            .send(
                "events.patch",
                self.client
                    .patch(format!(
                        "{}/{}",
                        self.events_url(input.calendar_id.as_deref()),
                        crate::segment(&input.event_id)
                    ))
                    .bearer_auth(token)
                    .query(&[
                        ("conferenceDataVersion", "1"),
                        ("sendUpdates", input.notify.as_param()),
                    ])
                    .json(&patch),
            )
            .await?;
        Ok(event_out(&changed))
    }
}

#[async_trait]
impl Connector for GoogleCalendar {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = crate::google::token("google_calendar", call.secret.as_ref(), SCOPE)?;
        match call.action.as_str() {
            "list_events" => {
                let input: ListEvents = inputs(call)?;
                for (field, value) in [("from", &input.from), ("to", &input.to)] {
                    if let Some(problem) =
                        value.as_deref().and_then(|v| time_problem(field, v, false))
                    {
                        return Err(StepError::permanent(format!(
                            "google_calendar list_events inputs: {problem}"
                        )));
                    }
                }
                let from = input.from.unwrap_or_else(|| {
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                });
                let mut query = vec![
                    ("timeMin", from),
                    ("singleEvents", "true".to_owned()),
                    ("orderBy", "startTime".to_owned()),
                    (
                        "maxResults",
                        input.limit.unwrap_or(25).clamp(1, 250).to_string(),
                    ),
                ];
                if let Some(to) = input.to {
                    query.push(("timeMax", to));
                }
                if let Some(text) = input.query {
                    query.push(("q", text));
                }
                let listed = self
                    .send(
                        "events.list",
                        self.client
                            .get(self.events_url(input.calendar_id.as_deref()))
                            .bearer_auth(token)
                            .query(&query),
                    )
                    .await?;
                let events: Vec<Value> = listed["items"]
                    .as_array()
                    .map(|items| items.iter().map(event_out).collect())
                    .unwrap_or_default();
                Ok(json!({"count": events.len(), "events": events}))
            }
            "create_event" => self.create(call, token).await,
            "update_event" => self.update(call, token).await,
            "free_busy" => {
                let input: FreeBusy = inputs(call)?;
                for (field, value) in [("from", &input.from), ("to", &input.to)] {
                    if let Some(problem) = time_problem(field, value, false) {
                        return Err(StepError::permanent(format!(
                            "google_calendar free_busy inputs: {problem}"
                        )));
                    }
                }
                let calendars = if input.calendars.is_empty() {
                    vec!["primary".to_owned()]
                } else {
                    input.calendars
                };
                let mut request = json!({
                    "timeMin": input.from,
                    "timeMax": input.to,
                    "items": calendars.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
                });
                if let Some(zone) = input.timezone {
                    request["timeZone"] = json!(zone);
                }
                let answer = self
                    .send(
                        "freebusy.query",
                        self.client
                            .post(format!("{}/freeBusy", self.base_url))
                            .bearer_auth(token)
                            .json(&request),
                    )
                    .await?;
                let shown: Vec<Value> = calendars
                    .iter()
                    .map(|id| {
                        let found = &answer["calendars"][id];
                        let busy: Vec<Value> = found["busy"]
                            .as_array()
                            .map(|periods| {
                                periods
                                    .iter()
                                    .map(|period| json!({"start": period["start"], "end": period["end"]}))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let error = found["errors"][0]["reason"].clone();
                        json!({"id": id, "busy": busy, "error": error})
                    })
                    .collect();
                let free = shown.iter().all(|calendar| {
                    calendar["busy"].as_array().is_some_and(Vec::is_empty)
                        && calendar["error"].is_null()
                });
                Ok(json!({"calendars": shown, "free": free}))
            }
            other => Err(StepError::permanent(format!(
                "google_calendar has no action {other:?}"
            ))),
        }
    }

    /// Events created since the last look (`updatedMin`, so a long-planned event added today
    /// counts), each delivered once by its id; the first look only marks the time.
    async fn poll(&self, call: &PollCall) -> Result<Polled, StepError> {
        if call.event != "new_event" {
            return Err(StepError::permanent(format!(
                "google_calendar has no event {:?}",
                call.event
            )));
        }
        let token = crate::google::token("google_calendar", call.secret.as_ref(), SCOPE)?;
        let input: NewEvent = if call.inputs.is_null() {
            NewEvent::default()
        } else {
            serde_json::from_value(call.inputs.clone()).map_err(|error| {
                StepError::permanent(format!("google_calendar new_event inputs: {error}"))
            })?
        };
        let now = chrono::Utc::now();
        let next_cursor = json!({"since": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
        let Some(since) = call
            .cursor
            .as_ref()
            .and_then(|cursor| cursor["since"].as_str())
            .and_then(|since| chrono::DateTime::parse_from_rfc3339(since).ok())
        else {
            return Ok(Polled {
                items: Vec::new(),
                cursor: next_cursor,
            });
        };
        let from = since - chrono::Duration::seconds(OVERLAP_SECONDS);
        let from_text = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("updatedMin", from_text.clone()),
                ("singleEvents", "false".to_owned()),
                ("showDeleted", "false".to_owned()),
                ("maxResults", "250".to_owned()),
            ];
            if let Some(page) = &page {
                query.push(("pageToken", page.clone()));
            }
            let listed = self
                .send(
                    "events.list",
                    self.client
                        .get(self.events_url(input.calendar_id.as_deref()))
                        .bearer_auth(token)
                        .query(&query),
                )
                .await?;
            for event in listed["items"].as_array().into_iter().flatten() {
                let created = event["created"]
                    .as_str()
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
                let new = created.is_some_and(|created| created >= from);
                if !new || event["status"] == "cancelled" {
                    continue;
                }
                let Some(id) = event["id"].as_str() else {
                    continue;
                };
                let mut item = event_out(event);
                item["event_id"] = json!(id);
                items.push((format!("google_calendar:{id}"), item));
            }
            match listed["nextPageToken"].as_str() {
                Some(next) => page = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(Polled {
            items,
            cursor: next_cursor,
        })
    }

    /// `calendars.get primary`: whose calendar the token reads.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = crate::google::token("google_calendar", Some(secret), SCOPE)?;
        let calendar = self
            .send(
                "calendars.get",
                self.client
                    .get(format!("{}/calendars/primary", self.base_url))
                    .bearer_auth(token),
            )
            .await?;
        Ok(json!({"account": calendar["id"], "timezone": calendar["timeZone"]}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_alone_is_all_day_and_a_time_keeps_its_zone() {
        assert_eq!(moment("2026-12-07", None), json!({"date": "2026-12-07"}));
        assert_eq!(
            moment("2026-12-07T10:00:00", Some("Europe/Berlin")),
            json!({"dateTime": "2026-12-07T10:00:00", "timeZone": "Europe/Berlin"})
        );
        assert!(time_problem("start", "next tuesday", true).is_some());
        assert!(time_problem("from", "2026-12-07", false).is_some());
        assert!(time_problem("from", "2026-12-07T10:00:00Z", false).is_none());
    }

    #[test]
    fn a_steps_event_id_is_the_same_on_every_retry_and_one_calendar_takes() {
        let id = event_id_for("exec-1:book");
        assert_eq!(id, event_id_for("exec-1:book"));
        assert_ne!(id, event_id_for("exec-2:book"));
        // base32hex: a-v and 0-9, 5 to 1024 characters.
        assert!(id.len() >= 5 && id.chars().all(|c| matches!(c, 'a'..='v' | '0'..='9')));
    }
}
