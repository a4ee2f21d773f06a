//! The Calendly connector against a local fake of Calendly's API. Calendly publishes its API
//! description only on its developer site, which this repository could not keep; the fake's
//! rules are written from Calendly's API reference: records are named by URI, single records
//! come as `{"resource": ...}` and lists as `{"collection": [...], "pagination": {...}}`, a
//! scheduled-events list must name a `user` or `organization`, and errors are
//! `{"title", "message", "details": [{parameter, message}]}`. A request naming a parameter an
//! endpoint does not take is refused, as Calendly does.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, IncomingWebhook, Secret, WebhookOutcome};
use baton_engine::error::AuthProblem;
use serde_json::{Map, Value, json};

const SERVICE: &str = "calendly";
const API: &str = "https://api.calendly.com";
const ME: &str = "https://api.calendly.com/users/AAAAAAAAAAAAAAAA";

fn calendly_error(status: StatusCode, title: &str, message: &str, details: Value) -> Response {
    (
        status,
        Json(json!({"title": title, "message": message, "details": details})),
    )
        .into_response()
}

/// The query parameters each endpoint takes, from Calendly's reference.
fn takes(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "GET /scheduled_events" => &[
            "user",
            "organization",
            "invitee_email",
            "status",
            "sort",
            "min_start_time",
            "max_start_time",
            "page_token",
            "count",
            "group",
        ],
        "GET /scheduled_events/{uuid}/invitees" => {
            &["status", "sort", "email", "page_token", "count"]
        }
        "GET /event_types" => &[
            "user",
            "organization",
            "active",
            "sort",
            "page_token",
            "count",
            "admin_managed",
        ],
        _ => &[],
    }
}

#[derive(Default)]
struct Fake {
    canceled: Vec<(String, Value)>,
    seen: Vec<(String, Map<String, Value>, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

fn event(uuid: &str, start: &str, status: &str) -> Value {
    json!({
        "uri": format!("{API}/scheduled_events/{uuid}"), "name": "30 Minute Meeting", "status": status,
        "start_time": start, "end_time": start.replace("10:00", "10:30"),
        "event_type": format!("{API}/event_types/AAAAAAAAAAAAAAAA"),
        "location": {"type": "google_conference", "status": "pushed", "join_url": "https://meet.google.com/abc-defg-hij"},
        "invitees_counter": {"total": 1, "active": 1, "limit": 1},
        "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z",
        "event_memberships": [{"user": ME}], "event_guests": []
    })
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
        let endpoint = match (method.as_str(), segments.as_slice()) {
            ("GET", ["users", "me"]) => "GET /users/me",
            ("GET", ["scheduled_events"]) => "GET /scheduled_events",
            ("GET", ["scheduled_events", _]) => "GET /scheduled_events/{uuid}",
            ("GET", ["scheduled_events", _, "invitees"]) => "GET /scheduled_events/{uuid}/invitees",
            ("POST", ["scheduled_events", _, "cancellation"]) => {
                "POST /scheduled_events/{uuid}/cancellation"
            }
            ("GET", ["event_types"]) => "GET /event_types",
            ("POST", ["scheduling_links"]) => "POST /scheduling_links",
            _ => {
                return calendly_error(
                    StatusCode::NOT_FOUND,
                    "Resource Not Found",
                    "The server could not find the requested resource.",
                    json!([]),
                );
            }
        };
        let unknown: Vec<Value> = query
            .keys()
            .filter(|name| !takes(endpoint).contains(&name.as_str()))
            .map(|name| json!({"parameter": name, "message": "is not a valid parameter"}))
            .collect();
        if !unknown.is_empty() {
            return calendly_error(
                StatusCode::BAD_REQUEST,
                "Invalid Argument",
                "The supplied parameters are invalid.",
                json!(unknown),
            );
        }
        self.seen
            .push((endpoint.to_owned(), query.clone(), body.clone()));
        match (endpoint, segments.as_slice()) {
            ("GET /users/me", _) => Json(json!({"resource": {"uri": ME, "name": "Ann Owner", "email": "ann@acme.com", "scheduling_url": "https://calendly.com/acme", "timezone": "Europe/Berlin", "current_organization": format!("{API}/organizations/BBBBBBBBBBBBBBBB")}})).into_response(),
            ("GET /scheduled_events", _) => {
                if query.get("user").is_none() && query.get("organization").is_none() {
                    return calendly_error(StatusCode::BAD_REQUEST, "Invalid Argument", "The supplied parameters are invalid.", json!([{"parameter": "user", "message": "one of user, organization, or group must be provided"}]));
                }
                let from = query["min_start_time"].as_str().unwrap_or_default();
                let events: Vec<Value> = [event("GBGBDCAADAEDCRZ2", "2026-12-08T10:00:00.000000Z", "active"), event("CCCCCCCCCCCCCCCC", "2026-12-09T10:00:00.000000Z", "canceled")]
                    .into_iter()
                    .filter(|event| event["start_time"].as_str().unwrap() >= from)
                    .filter(|event| query.get("status").is_none_or(|status| event["status"] == *status))
                    .collect();
                Json(json!({"collection": events, "pagination": {"count": events.len(), "next_page": null, "previous_page": null, "next_page_token": null, "previous_page_token": null}})).into_response()
            }
            ("GET /scheduled_events/{uuid}", [_, "GBGBDCAADAEDCRZ2"]) => Json(json!({"resource": event("GBGBDCAADAEDCRZ2", "2026-12-08T10:00:00.000000Z", "active")})).into_response(),
            ("GET /scheduled_events/{uuid}/invitees", [_, "GBGBDCAADAEDCRZ2", _]) => Json(json!({"collection": [{
                "uri": format!("{API}/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DDDDDDDDDDDDDDDD"), "email": "bob@customer.com", "name": "Bob Baker", "status": "active",
                "timezone": "Europe/London", "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z",
                "cancel_url": "https://calendly.com/cancellations/DDDDDDDDDDDDDDDD", "reschedule_url": "https://calendly.com/reschedulings/DDDDDDDDDDDDDDDD",
                "questions_and_answers": [{"question": "What would you like to discuss?", "answer": "A quote for 50 units", "position": 0}],
                "event": format!("{API}/scheduled_events/GBGBDCAADAEDCRZ2")
            }], "pagination": {"count": 1, "next_page": null}})).into_response(),
            ("POST /scheduled_events/{uuid}/cancellation", [_, uuid, _]) => {
                if self.canceled.iter().any(|(done, _)| done == uuid) {
                    return calendly_error(StatusCode::FORBIDDEN, "Permission Denied", "Event in past or already canceled", json!([]));
                }
                self.canceled.push((uuid.to_string(), body.clone()));
                (StatusCode::CREATED, Json(json!({"resource": {"canceled_by": "Ann Owner", "reason": body["reason"], "canceler_type": "host", "created_at": "2026-12-04T10:00:00.000000Z"}}))).into_response()
            }
            ("GET /event_types", _) => Json(json!({"collection": [{"uri": format!("{API}/event_types/AAAAAAAAAAAAAAAA"), "name": "30 Minute Meeting", "slug": "30min", "duration": 30, "active": true, "scheduling_url": "https://calendly.com/acme/30min", "kind": "solo"}], "pagination": {"count": 1, "next_page": null}})).into_response(),
            ("POST /scheduling_links", _) => {
                if body["max_event_count"] != 1 || body["owner_type"] != "EventType" || !body["owner"].as_str().is_some_and(|owner| owner.starts_with(&format!("{API}/event_types/"))) {
                    return calendly_error(StatusCode::BAD_REQUEST, "Invalid Argument", "The supplied parameters are invalid.", json!([{"parameter": "owner", "message": "must be an event type URI"}]));
                }
                (StatusCode::CREATED, Json(json!({"resource": {"booking_url": "https://calendly.com/d/abcd-brv8/30-minute-meeting", "owner": body["owner"], "owner_type": "EventType"}}))).into_response()
            }
            _ => calendly_error(StatusCode::NOT_FOUND, "Resource Not Found", "The server could not find the requested resource.", json!([])),
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
    match headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
    {
        Some("Bearer calendly-good") => {}
        Some("Bearer calendly-busy") => {
            return (StatusCode::TOO_MANY_REQUESTS, [("x-ratelimit-limit", "50"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "42")], Json(json!({"title": "Too Many Requests", "message": "You have exceeded the rate limit."}))).into_response();
        }
        _ => {
            return calendly_error(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "The access token is invalid",
                json!([]),
            );
        }
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
    fake.lock()
        .unwrap()
        .handle(&method, uri.path(), &query, &body)
}

async fn calendly() -> (Registry, Shared) {
    let fake: Shared = Arc::default();
    let addr =
        common::serve_fake(axum::Router::new().fallback(serve).with_state(fake.clone())).await;
    let registry = Registry::new(&ConnectorSettings {
        calendly_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "calendly".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: format!("exec-1:{action}"),
        secret: Some(Secret(json!({"access_token": "calendly-good"}))),
    }
}

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(registry, call(action, inputs.clone())).await
}

#[tokio::test]
async fn meetings_are_listed_read_with_their_invitees_and_canceled() {
    let (registry, fake) = calendly().await;
    let booked = run(
        &registry,
        "calendly",
        "list_events",
        &common::example(&registry, "calendly", "list_events"),
    )
    .await;
    assert_eq!(booked["count"], 1, "the canceled one left out: {booked}");
    assert_eq!(booked["events"][0]["id"], "GBGBDCAADAEDCRZ2");
    assert_eq!(
        booked["events"][0]["location"],
        "https://meet.google.com/abc-defg-hij"
    );
    let (_, query, _) = fake.lock().unwrap().seen[1].clone();
    assert_eq!(query["user"], ME, "the list names whose events");
    let uri = booked["events"][0]["uri"].clone();
    let read = run(&registry, "calendly", "get_event", &json!({"event": uri})).await;
    assert_eq!(read["invitees"][0]["email"], "bob@customer.com");
    assert_eq!(
        read["invitees"][0]["answers"]["What would you like to discuss?"],
        "A quote for 50 units"
    );
    let by_uuid = run(
        &registry,
        "calendly",
        "get_event",
        &json!({"event": "GBGBDCAADAEDCRZ2"}),
    )
    .await;
    assert_eq!(by_uuid["event"]["start"], "2026-12-08T10:00:00.000000Z");
    let canceled = run(
        &registry,
        "calendly",
        "cancel_event",
        &common::example(&registry, "calendly", "cancel_event"),
    )
    .await;
    assert_eq!(
        canceled,
        json!({"canceled": true, "reason": "The shop is closed that day; please book another time."})
    );
    let twice = registry
        .call(call("cancel_event", json!({"event": "GBGBDCAADAEDCRZ2"})))
        .await
        .unwrap_err();
    assert_eq!(twice.class, ErrorClass::Permanent);
    assert!(
        twice.message.contains("already canceled"),
        "{}",
        twice.message
    );
}

#[tokio::test]
async fn a_single_use_booking_link_is_made_for_an_event_type() {
    let (registry, _) = calendly().await;
    let types = run(&registry, "calendly", "list_event_types", &json!({})).await;
    assert_eq!(types["event_types"][0]["duration"], 30);
    let link = run(
        &registry,
        "calendly",
        "create_booking_link",
        &json!({"event_type": types["event_types"][0]["uri"]}),
    )
    .await;
    assert!(
        link["booking_url"]
            .as_str()
            .unwrap()
            .starts_with("https://calendly.com/d/")
    );
    let wrong = registry
        .call(call("create_booking_link", json!({"event_type": "30min"})))
        .await
        .unwrap_err();
    assert!(
        wrong.message.contains("owner: must be an event type URI"),
        "{}",
        wrong.message
    );
}

#[tokio::test]
async fn calendlys_errors_are_sorted_for_retries_and_a_token_is_checked() {
    let (registry, _) = calendly().await;
    let mut busy = call("list_event_types", json!({}));
    busy.secret = Some(Secret(json!({"access_token": "calendly-busy"})));
    let limited = registry.call(busy).await.unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    assert_eq!(
        limited.retry_after,
        Some(std::time::Duration::from_secs(42)),
        "X-RateLimit-Reset is waited for"
    );
    let mut revoked = call("list_event_types", json!({}));
    revoked.secret = Some(Secret(json!({"access_token": "calendly-revoked"})));
    assert_eq!(
        registry.call(revoked).await.unwrap_err().auth,
        Some(AuthProblem::Refused)
    );
    let me = registry
        .authenticate(
            "calendly",
            &Secret(json!({"access_token": "calendly-good"})),
        )
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"account": "ann@acme.com", "name": "Ann Owner", "scheduling_url": "https://calendly.com/acme"})
    );
}

#[test]
fn invitee_events_are_checked_by_signature_and_time_and_run_once_each() {
    let registry = Registry::new(&ConnectorSettings::default());
    let key = "calendly-signing-key-123";
    let body = br#"{"event": "invitee.created", "created_at": "2026-12-04T10:00:00.000000Z", "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA", "payload": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DDDDDDDDDDDDDDDD", "email": "bob@customer.com", "name": "Bob Baker", "status": "active", "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2", "start_time": "2026-12-08T10:00:00.000000Z"}}}"#;
    let sign = |timestamp: i64| {
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        format!(
            "t={timestamp},v1={}",
            baton_connectors::webhook::hex_signature(key, &signed)
        )
    };
    let check = |header: &str| {
        let headers = vec![("calendly-webhook-signature".to_owned(), header.to_owned())];
        registry.webhook(
            "calendly",
            &IncomingWebhook {
                method: "POST",
                url: "https://baton.example/hooks/abc",
                headers: &headers,
                body,
                secret: Some(key),
            },
        )
    };
    let now = chrono::Utc::now().timestamp();
    match check(&sign(now)).unwrap() {
        WebhookOutcome::Run { delivery_id } => assert_eq!(
            delivery_id.as_deref(),
            Some(
                "calendly:invitee.created:https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DDDDDDDDDDDDDDDD"
            )
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        check(&sign(now - 900))
            .unwrap_err()
            .contains("minutes from now")
    );
    assert!(
        check(&format!("t={now},v1=00ff"))
            .unwrap_err()
            .contains("not signed")
    );
}
