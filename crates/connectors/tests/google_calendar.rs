//! The Google Calendar connector against a local fake of the Calendar API whose rules come
//! from Google's discovery document (six methods kept in `tests/contracts/google-calendar-v3.json`):
//! query parameters must be ones the method declares, request bodies must match the method's
//! request schema with no field it does not list, and every answer matches its response
//! schema. The fake keeps the events it is given, refuses an id it already has (409) as
//! Calendar does, and pages its lists.

mod common;
#[path = "common/discovery.rs"]
mod discovery;

use std::sync::{Arc, LazyLock, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, OAuthClientSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, PollCall, Secret};
use baton_engine::error::AuthProblem;
use discovery::Discovery;
use serde_json::{Map, Value, json};

static CONTRACT: LazyLock<Discovery> =
    LazyLock::new(|| Discovery::new(include_str!("contracts/google-calendar-v3.json")));

#[derive(Default)]
struct Fake {
    events: Vec<Value>,
    /// Each request: method name, query, body.
    seen: Vec<(String, Map<String, Value>, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "errors": [{"domain": "global", "reason": reason, "message": message}]}});
    (status, Json(body)).into_response()
}

/// An answer checked against its documented schema first.
fn documented(schema: &str, answer: Value) -> Response {
    let problems = CONTRACT.problems(schema, &answer);
    assert!(
        problems.is_empty(),
        "the fake answers as documented: {problems:?}"
    );
    Json(answer).into_response()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn at(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap()
}

/// Where an event starts or ends, as a time (a date is its midnight, UTC).
fn moment_of(side: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    side["dateTime"]
        .as_str()
        .map(at)
        .unwrap_or_else(|| at(&format!("{}T00:00:00Z", side["date"].as_str().unwrap())))
}

impl Fake {
    fn handle(
        &mut self,
        method: &Method,
        path: &str,
        query: &Map<String, Value>,
        body: &Value,
    ) -> Response {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let name = match (method.as_str(), segments.as_slice()) {
            ("GET", ["calendars", _]) => "calendars.get",
            ("GET", ["calendars", _, "events"]) => "events.list",
            ("POST", ["calendars", _, "events"]) => "events.insert",
            ("GET", ["calendars", _, "events", _]) => "events.get",
            ("PATCH", ["calendars", _, "events", _]) => "events.patch",
            ("POST", ["freeBusy"]) => "freebusy.query",
            _ => return google_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
        };
        let wrong = CONTRACT.undeclared(name, query);
        if !wrong.is_empty() {
            return google_error(
                StatusCode::BAD_REQUEST,
                "invalidParameter",
                &wrong.join("; "),
            );
        }
        if let Some(request) = CONTRACT.0["methods"][name]["request"]["$ref"].as_str() {
            let wrong = CONTRACT.request_problems(request, body);
            if !wrong.is_empty() {
                return google_error(StatusCode::BAD_REQUEST, "invalid", &wrong.join("; "));
            }
        }
        self.seen
            .push((name.to_owned(), query.clone(), body.clone()));
        match (name, segments.as_slice()) {
            ("calendars.get", _) => documented(
                "Calendar",
                json!({"kind": "calendar#calendar", "etag": "\"1\"", "id": "owner@acme.test", "summary": "owner@acme.test", "timeZone": "Europe/Berlin"}),
            ),
            ("events.list", _) => {
                let updated_min = query.get("updatedMin").and_then(Value::as_str).map(at);
                let time_min = query.get("timeMin").and_then(Value::as_str).map(at);
                let time_max = query.get("timeMax").and_then(Value::as_str).map(at);
                let mut found: Vec<Value> = self
                    .events
                    .iter()
                    .filter(|event| {
                        updated_min.is_none_or(|min| at(event["updated"].as_str().unwrap()) >= min)
                            && time_min.is_none_or(|min| moment_of(&event["end"]) > min)
                            && time_max.is_none_or(|max| moment_of(&event["start"]) < max)
                            && (query.get("showDeleted") == Some(&json!("true"))
                                || event["status"] != "cancelled"
                                || updated_min.is_some())
                    })
                    .cloned()
                    .collect();
                if query.get("orderBy") == Some(&json!("startTime")) {
                    found.sort_by_key(|event| moment_of(&event["start"]));
                }
                // Two a page, so paging is exercised.
                let start: usize = query
                    .get("pageToken")
                    .and_then(Value::as_str)
                    .map_or(0, |token| token.parse().unwrap());
                let page: Vec<Value> = found.iter().skip(start).take(2).cloned().collect();
                let mut answer = json!({"kind": "calendar#events", "etag": "\"p\"", "summary": "owner@acme.test", "updated": now(), "timeZone": "Europe/Berlin", "accessRole": "owner", "items": page});
                if start + 2 < found.len() {
                    answer["nextPageToken"] = json!((start + 2).to_string());
                }
                documented("Events", answer)
            }
            ("events.insert", _) => {
                if body["summary"] == "too fast" {
                    return google_error(
                        StatusCode::FORBIDDEN,
                        "rateLimitExceeded",
                        "Rate Limit Exceeded",
                    );
                }
                let id = body["id"].as_str().unwrap_or("generated1").to_owned();
                if self.events.iter().any(|event| event["id"] == id) {
                    return google_error(
                        StatusCode::CONFLICT,
                        "duplicate",
                        "The requested identifier already exists.",
                    );
                }
                let mut event = body.clone();
                let stamp = now();
                event["kind"] = json!("calendar#event");
                event["status"] = json!("confirmed");
                event["created"] = json!(stamp);
                event["updated"] = json!(stamp);
                event["htmlLink"] =
                    json!(format!("https://www.google.com/calendar/event?eid={id}"));
                event["organizer"] = json!({"email": "owner@acme.test", "self": true});
                if let Some(guests) = event["attendees"].as_array_mut() {
                    for guest in guests {
                        guest["responseStatus"] = json!("needsAction");
                    }
                }
                if body["conferenceData"]["createRequest"].is_object() {
                    assert_eq!(
                        query.get("conferenceDataVersion"),
                        Some(&json!("1")),
                        "a Meet link is made only with conferenceDataVersion=1"
                    );
                    event["hangoutLink"] = json!("https://meet.google.com/abc-defg-hij");
                    event["conferenceData"] = json!({"conferenceId": "abc-defg-hij", "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"}, "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij", "label": "meet.google.com/abc-defg-hij"}]});
                }
                self.events.push(event.clone());
                documented("Event", event)
            }
            ("events.get", [_, _, _, id]) => {
                match self.events.iter().find(|event| event["id"] == *id) {
                    Some(event) => documented("Event", event.clone()),
                    None => google_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
                }
            }
            ("events.patch", [_, _, _, id]) => {
                let Some(event) = self.events.iter_mut().find(|event| event["id"] == *id) else {
                    return google_error(StatusCode::NOT_FOUND, "notFound", "Not Found");
                };
                for (field, value) in body.as_object().unwrap() {
                    event[field] = value.clone();
                }
                event["updated"] = json!(now());
                documented("Event", event.clone())
            }
            ("freebusy.query", _) => {
                let (from, to) = (
                    at(body["timeMin"].as_str().unwrap()),
                    at(body["timeMax"].as_str().unwrap()),
                );
                let mut calendars = Map::new();
                for item in body["items"].as_array().unwrap() {
                    let id = item["id"].as_str().unwrap();
                    let answer = if id == "primary" || id == "owner@acme.test" {
                        let busy: Vec<Value> = self
                            .events
                            .iter()
                            .filter(|event| moment_of(&event["start"]) < to && moment_of(&event["end"]) > from)
                            .map(|event| json!({"start": event["start"]["dateTime"], "end": event["end"]["dateTime"]}))
                            .collect();
                        json!({"busy": busy})
                    } else {
                        json!({"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]})
                    };
                    calendars.insert(id.to_owned(), answer);
                }
                documented(
                    "FreeBusyResponse",
                    json!({"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"], "calendars": calendars}),
                )
            }
            _ => google_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
        }
    }
}

async fn serve(
    axum::extract::State(fake): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        != Some("Bearer ya29.calendar")
    {
        return google_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    let query: Map<String, Value> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
            .collect();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    let path = uri.path().trim_start_matches("/calendar/v3");
    fake.lock().unwrap().handle(&method, path, &query, &body)
}

async fn calendar() -> (Registry, Shared) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new().fallback(serve).with_state(fake.clone());
    let addr = common::serve_fake(app).await;
    let registry = Registry::new(&ConnectorSettings {
        google_calendar_base_url: Some(format!("http://{addr}/calendar/v3")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value, key: &str) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "google_calendar".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: key.into(),
        secret: Some(Secret(json!({"access_token": "ya29.calendar"}))),
    }
}

const SERVICE: &str = "google_calendar";

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(
        registry,
        call(action, inputs.clone(), &format!("exec-1:{action}")),
    )
    .await
}

#[tokio::test]
async fn an_event_with_guests_and_a_meet_link_is_made_once_however_often_the_step_runs() {
    let (registry, fake) = calendar().await;
    let made = run(
        &registry,
        "google_calendar",
        "create_event",
        &common::example(&registry, "google_calendar", "create_event"),
    )
    .await;
    assert_eq!(made["summary"], "Kick-off with Ann");
    assert_eq!(made["meet_link"], "https://meet.google.com/abc-defg-hij");
    assert_eq!(
        made["attendees"],
        json!([{"email": "ann@customer.com", "name": null, "response": "needsAction"}])
    );
    assert_eq!(made["start"], "2026-12-07T10:00:00+01:00");
    assert_eq!(made["all_day"], false);
    // The step runs again after a crash: Calendar refuses the id it already has, and the
    // event it made is the answer.
    let again = run(
        &registry,
        "google_calendar",
        "create_event",
        &common::example(&registry, "google_calendar", "create_event"),
    )
    .await;
    assert_eq!(again["id"], made["id"]);
    let (events, first_query) = {
        let fake = fake.lock().unwrap();
        (fake.events.len(), fake.seen[0].1.clone())
    };
    assert_eq!(events, 1, "one event however often the step ran");
    assert_eq!(
        first_query["sendUpdates"], "all",
        "guests are invited by email"
    );

    let all_day = registry
        .call(call("create_event", json!({"summary": "Office closed", "start": "2026-12-24", "end": "2026-12-25", "notify": "none"}), "exec-2:close"))
        .await
        .unwrap();
    assert_eq!(all_day["all_day"], true);
    assert_eq!(all_day["start"], "2026-12-24");
    let vague = registry
        .call(call(
            "create_event",
            json!({"summary": "x", "start": "next tuesday", "end": "2026-12-25"}),
            "exec-3:x",
        ))
        .await
        .unwrap_err();
    assert_eq!(vague.class, ErrorClass::Permanent);
    assert!(
        vague.message.contains("`start` is \"next tuesday\""),
        "{}",
        vague.message
    );
}

#[tokio::test]
async fn events_are_listed_in_a_range_changed_and_free_time_is_found() {
    let (registry, _) = calendar().await;
    for (key, start, end) in [
        (
            "a",
            "2026-12-07T10:00:00+01:00",
            "2026-12-07T10:30:00+01:00",
        ),
        (
            "b",
            "2026-12-07T14:00:00+01:00",
            "2026-12-07T15:00:00+01:00",
        ),
        (
            "c",
            "2026-12-09T09:00:00+01:00",
            "2026-12-09T10:00:00+01:00",
        ),
    ] {
        registry
            .call(call(
                "create_event",
                json!({"summary": format!("Meeting {key}"), "start": start, "end": end}),
                &format!("exec:{key}"),
            ))
            .await
            .unwrap();
    }
    let listed = run(
        &registry,
        "google_calendar",
        "list_events",
        &common::example(&registry, "google_calendar", "list_events"),
    )
    .await;
    assert_eq!(listed["count"], 2, "{listed}");
    assert_eq!(listed["events"][0]["summary"], "Meeting a");
    assert_eq!(listed["events"][1]["summary"], "Meeting b");

    let id = listed["events"][1]["id"].as_str().unwrap().to_owned();
    let moved = run(
        &registry,
        "google_calendar",
        "update_event",
        &json!({"event_id": id, "start": "2026-12-07T16:00:00+01:00", "end": "2026-12-07T17:00:00+01:00", "location": "Room 2"}),
    )
    .await;
    assert_eq!(moved["start"], "2026-12-07T16:00:00+01:00");
    assert_eq!(moved["location"], "Room 2");
    assert_eq!(moved["summary"], "Meeting b", "what was not given stays");
    let nothing = registry
        .call(call(
            "update_event",
            json!({"event_id": id}),
            "exec-9:update",
        ))
        .await
        .unwrap_err();
    assert!(
        nothing.message.contains("nothing to change"),
        "{}",
        nothing.message
    );

    let busy = run(
        &registry,
        "google_calendar",
        "free_busy",
        &common::example(&registry, "google_calendar", "free_busy"),
    )
    .await;
    assert_eq!(busy["free"], false);
    assert_eq!(busy["calendars"][0]["busy"].as_array().unwrap().len(), 2);
    let evening = registry
        .call(call(
            "free_busy",
            json!({"from": "2026-12-07T18:00:00+01:00", "to": "2026-12-07T20:00:00+01:00"}),
            "exec-10:fb",
        ))
        .await
        .unwrap();
    assert_eq!(evening["free"], true);
    let unknown = registry
        .call(call("free_busy", json!({"calendars": ["nobody@elsewhere.test"], "from": "2026-12-07T18:00:00+01:00", "to": "2026-12-07T20:00:00+01:00"}), "exec-11:fb"))
        .await
        .unwrap();
    assert_eq!(unknown["calendars"][0]["error"], "notFound");
    assert_eq!(
        unknown["free"], false,
        "a calendar that could not be read is not known to be free"
    );
}

#[tokio::test]
async fn new_events_are_found_once_each_from_where_the_last_look_ended() {
    let (registry, fake) = calendar().await;
    let look = |cursor: Option<Value>| PollCall {
        org_id: OrgId::new(),
        service: "google_calendar".into(),
        event: "new_event".into(),
        inputs: Value::Null,
        cursor,
        secret: Some(Secret(json!({"access_token": "ya29.calendar"}))),
    };
    // Made before the first look, and changed since: not new.
    let old_stamp = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    fake.lock().unwrap().events.push(json!({"id": "old1", "status": "confirmed", "summary": "Long planned", "created": old_stamp, "updated": now(), "start": {"dateTime": "2026-12-10T10:00:00Z"}, "end": {"dateTime": "2026-12-10T11:00:00Z"}}));
    let first = registry.poll(look(None)).await.unwrap();
    assert!(first.items.is_empty(), "the first look only marks the time");
    for n in 0..3 {
        registry
            .call(call("create_event", json!({"summary": format!("Booking {n}"), "start": "2026-12-11T10:00:00Z", "end": "2026-12-11T11:00:00Z", "attendees": ["bob@customer.com"]}), &format!("exec:book{n}")))
            .await
            .unwrap();
    }
    let second = registry
        .poll(look(Some(first.cursor.clone())))
        .await
        .unwrap();
    let summaries: Vec<&str> = second
        .items
        .iter()
        .map(|(_, item)| item["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        ["Booking 0", "Booking 1", "Booking 2"],
        "over two pages, the old event left out"
    );
    let (id, item) = &second.items[0];
    assert_eq!(
        id,
        &format!("google_calendar:{}", item["event_id"].as_str().unwrap())
    );
    assert_eq!(item["attendees"][0]["email"], "bob@customer.com");
    let polls: Vec<Map<String, Value>> = fake
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|(name, _, _)| name == "events.list")
        .map(|(_, query, _)| query.clone())
        .collect();
    assert!(polls.iter().all(|query| query.contains_key("updatedMin")));
    assert!(
        polls.iter().any(|query| query.contains_key("pageToken")),
        "the second page was asked for"
    );
}

#[tokio::test]
async fn errors_are_sorted_for_the_retry_policy_and_a_token_is_checked() {
    let (registry, _) = calendar().await;
    let limited = registry
        .call(call("create_event", json!({"summary": "too fast", "start": "2026-12-07T10:00:00Z", "end": "2026-12-07T11:00:00Z"}), "exec:limit"))
        .await
        .unwrap_err();
    assert_eq!(
        limited.class,
        ErrorClass::Transient,
        "Google's 403 rateLimitExceeded is worth waiting for"
    );
    let mut expired = call("list_events", json!({}), "exec:list");
    expired.secret = Some(Secret(json!({"access_token": "ya29.expired"})));
    let refused = registry.call(expired).await.unwrap_err();
    assert_eq!(refused.auth, Some(AuthProblem::Refused));
    let account = registry
        .authenticate(
            "google_calendar",
            &Secret(json!({"access_token": "ya29.calendar"})),
        )
        .await
        .unwrap();
    assert_eq!(
        account,
        json!({"account": "owner@acme.test", "timezone": "Europe/Berlin"})
    );
}

#[test]
fn connecting_uses_gmails_google_app_unless_calendar_has_its_own() {
    let mut settings = ConnectorSettings {
        oauth_redirect_url: Some("https://baton.example/api/v1/credentials/oauth/callback".into()),
        ..Default::default()
    };
    let without = Registry::new(&settings)
        .authorization(
            "google_calendar",
            "state",
            "verifier-verifier-verifier-verifier-verifier-1234",
        )
        .unwrap_err();
    assert!(without.contains("BATON_GMAIL_CLIENT_ID"), "{without}");
    settings.oauth.insert(
        "gmail".into(),
        OAuthClientSettings {
            client_id: "1234.apps.googleusercontent.com".into(),
            client_secret: "s".into(),
            ..Default::default()
        },
    );
    let url = Registry::new(&settings)
        .authorization(
            "google_calendar",
            "state",
            "verifier-verifier-verifier-verifier-verifier-1234",
        )
        .unwrap();
    assert!(
        url.contains("client_id=1234.apps.googleusercontent.com"),
        "{url}"
    );
    assert!(
        url.contains("calendar.events"),
        "the calendar's own scopes: {url}"
    );
    assert!(url.contains("access_type=offline"), "{url}");
}
