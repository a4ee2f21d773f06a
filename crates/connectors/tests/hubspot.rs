//! The HubSpot connector against a local fake of HubSpot's CRM API. HubSpot's OpenAPI
//! description is proprietary: it is not kept in this repository, and the fake's rules below
//! were written from reading it (objects are `{id, properties, createdAt, updatedAt,
//! archived}`, property values are text, a search names `filterGroups`, `properties`, `sorts`,
//! `limit` and `after`, errors are `{status, message, correlationId, category}`). Where the
//! description sits beside the repository (`../shared/specs/hubspot/v3/objects.json`, as on
//! the machine it was written on), the fake also checks every request body and answer against
//! it; a clone without it runs the same tests on the written rules alone.

mod common;

use std::sync::{Arc, LazyLock, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, IncomingWebhook, Secret, WebhookOutcome};
use baton_engine::error::AuthProblem;
use serde_json::{Map, Value, json};

const SERVICE: &str = "hubspot";

/// HubSpot's description when it is beside the repository, with OpenAPI 3.0's `nullable`
/// read as JSON Schema's null type.
static DESCRIPTION: LazyLock<Option<Value>> = LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/specs/hubspot/v3/objects.json");
    let text = std::fs::read_to_string(path).ok()?;
    fn nullable(value: Value) -> Value {
        match value {
            Value::Object(fields) => {
                let mut out: Map<String, Value> = fields
                    .into_iter()
                    .map(|(key, inner)| (key, nullable(inner)))
                    .collect();
                if out.remove("nullable") == Some(json!(true))
                    && let Some(Value::String(kind)) = out.get("type").cloned()
                {
                    out.insert("type".into(), json!([kind, "null"]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(nullable).collect()),
            other => other,
        }
    }
    Some(nullable(serde_json::from_str(&text).ok()?))
});

/// What breaks HubSpot's schema `name`, when the description is here to say.
fn described(name: &str, value: &Value) -> Vec<String> {
    let Some(description) = DESCRIPTION.as_ref() else {
        return Vec::new();
    };
    let validator = jsonschema::validator_for(&json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": description["components"],
    }))
    .expect("HubSpot's description compiles");
    validator
        .iter_errors(value)
        .map(|error| format!("{name}: {error} at {}", error.instance_path()))
        .collect()
}

fn hubspot_error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({"status": "error", "message": message, "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf", "category": category});
    assert_eq!(described("Error", &body), Vec::<String>::new());
    (status, Json(body)).into_response()
}

/// A request body that breaks a written rule or the description: 400, as HubSpot answers.
fn refuse(problems: Vec<String>) -> Option<Response> {
    (!problems.is_empty()).then(|| {
        hubspot_error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &problems.join("; "),
        )
    })
}

/// Property values must be text (the written rule).
fn text_values(properties: &Value) -> Vec<String> {
    match properties.as_object() {
        Some(fields) => fields
            .iter()
            .filter(|(_, value)| !value.is_string())
            .map(|(name, value)| format!("property {name} is {value}, not text"))
            .collect(),
        None => vec!["`properties` is not an object".into()],
    }
}

fn answer(status: StatusCode, schema: &str, body: Value) -> Response {
    assert_eq!(
        described(schema, &body),
        Vec::<String>::new(),
        "the fake answers as HubSpot documents"
    );
    (status, Json(body)).into_response()
}

#[derive(Default)]
struct Fake {
    records: Vec<(String, Value)>,
    associations: Vec<String>,
    seen: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Fake {
    fn make(&mut self, kind: &str, properties: &Value) -> Value {
        let id = format!("{}", 101 + self.records.len());
        let record = json!({"id": id, "properties": properties, "createdAt": stamp(), "updatedAt": stamp(), "archived": false});
        self.records.push((kind.to_owned(), record.clone()));
        record
    }

    fn find(&mut self, kind: &str, id: &str, by_email: bool) -> Option<&mut Value> {
        self.records
            .iter_mut()
            .filter(|(found, _)| found == kind)
            .map(|(_, record)| record)
            .find(|record| {
                if by_email {
                    record["properties"]["email"] == id
                } else {
                    record["id"] == id
                }
            })
    }

    fn handle(
        &mut self,
        method: &Method,
        path: &str,
        query: &Map<String, Value>,
        body: &Value,
    ) -> Response {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.seen.push((format!("{method} {path}"), body.clone()));
        let by_email = query.get("idProperty") == Some(&json!("email"));
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["crm", "v3", "objects", "contacts"]) => answer(
                StatusCode::OK,
                "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
                json!({"results": []}),
            ),
            ("POST", ["crm", "v3", "objects", kind]) => {
                let mut problems = described("SimplePublicObjectInputForCreate", body);
                problems.extend(text_values(&body["properties"]));
                if !body["associations"].is_array() {
                    problems.push("`associations` is required".into());
                }
                if let Some(refused) = refuse(problems) {
                    return refused;
                }
                if *kind == "contacts" && body["properties"]["firstname"] == "Slow" {
                    return hubspot_error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "RATE_LIMITS",
                        "You have reached your ten_secondly_rolling limit.",
                    );
                }
                if let Some(email) = body["properties"]["email"].as_str()
                    && let Some(existing) = self.find(kind, email, true)
                {
                    let id = existing["id"].as_str().unwrap().to_owned();
                    return hubspot_error(
                        StatusCode::CONFLICT,
                        "CONFLICT",
                        &format!("Contact already exists. Existing ID: {id}"),
                    );
                }
                for association in body["associations"].as_array().unwrap() {
                    self.associations.push(format!(
                        "{kind}->{}:{}",
                        association["to"]["id"].as_str().unwrap(),
                        association["types"][0]["associationTypeId"]
                    ));
                }
                let made = self.make(kind, &body["properties"]);
                answer(StatusCode::CREATED, "SimplePublicObject", made)
            }
            ("PATCH", ["crm", "v3", "objects", kind, id]) => {
                let mut problems = described("SimplePublicObjectInput", body);
                problems.extend(text_values(&body["properties"]));
                if let Some(refused) = refuse(problems) {
                    return refused;
                }
                let Some(record) = self.find(kind, id, by_email) else {
                    return hubspot_error(
                        StatusCode::NOT_FOUND,
                        "OBJECT_NOT_FOUND",
                        "resource not found",
                    );
                };
                for (name, value) in body["properties"].as_object().unwrap() {
                    record["properties"][name] = value.clone();
                }
                record["updatedAt"] = json!(stamp());
                let record = record.clone();
                answer(StatusCode::OK, "SimplePublicObject", record)
            }
            ("GET", ["crm", "v3", "objects", kind, id]) => match self.find(kind, id, by_email) {
                Some(record) => {
                    let record = record.clone();
                    answer(StatusCode::OK, "SimplePublicObjectWithAssociations", record)
                }
                None => hubspot_error(
                    StatusCode::NOT_FOUND,
                    "OBJECT_NOT_FOUND",
                    "resource not found",
                ),
            },
            ("POST", ["crm", "v3", "objects", kind, "search"]) => {
                let mut problems = described("PublicObjectSearchRequest", body);
                for required in ["filterGroups", "properties", "sorts", "limit", "after"] {
                    if body.get(required).is_none() {
                        problems.push(format!("`{required}` is required"));
                    }
                }
                if let Some(refused) = refuse(problems) {
                    return refused;
                }
                let filters = body["filterGroups"][0]["filters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let text = body["query"].as_str();
                let results: Vec<Value> = self
                    .records
                    .iter()
                    .filter(|(found, _)| found == kind)
                    .map(|(_, record)| record.clone())
                    .filter(|record| {
                        filters.iter().all(|filter| {
                            let value =
                                &record["properties"][filter["propertyName"].as_str().unwrap()];
                            match filter["operator"].as_str().unwrap() {
                                "EQ" => *value == filter["value"],
                                "GTE" => value.as_str() >= filter["value"].as_str(),
                                other => panic!("the fake knows no operator {other}"),
                            }
                        }) && text.is_none_or(|text| record.to_string().contains(text))
                    })
                    .collect();
                answer(
                    StatusCode::OK,
                    "CollectionResponseWithTotalSimplePublicObject",
                    json!({"total": results.len(), "results": results}),
                )
            }
            ("POST", ["crm", "v3", "objects", "contacts", "batch", "upsert"]) => {
                if let Some(refused) = refuse(described(
                    "BatchInputSimplePublicObjectBatchInputUpsert",
                    body,
                )) {
                    return refused;
                }
                let input = &body["inputs"][0];
                assert_eq!(input["idProperty"], "email");
                let email = input["id"].as_str().unwrap().to_owned();
                let (record, new) = match self.find("contacts", &email, true) {
                    Some(record) => {
                        for (name, value) in input["properties"].as_object().unwrap() {
                            record["properties"][name] = value.clone();
                        }
                        (record.clone(), false)
                    }
                    None => (self.make("contacts", &input["properties"]), true),
                };
                let mut result = record;
                result["new"] = json!(new);
                answer(
                    StatusCode::OK,
                    "BatchResponseSimplePublicUpsertObject",
                    json!({"status": "COMPLETE", "results": [result], "startedAt": stamp(), "completedAt": stamp()}),
                )
            }
            (
                "PUT",
                [
                    "crm",
                    "v4",
                    "objects",
                    from,
                    from_id,
                    "associations",
                    "default",
                    to,
                    to_id,
                ],
            ) => {
                self.associations
                    .push(format!("{from}:{from_id}->{to}:{to_id}"));
                Json(json!({"status": "COMPLETE", "results": [{"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}}], "startedAt": stamp(), "completedAt": stamp()})).into_response()
            }
            _ => hubspot_error(
                StatusCode::NOT_FOUND,
                "OBJECT_NOT_FOUND",
                "resource not found",
            ),
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
        != Some("Bearer pat-na1-good")
    {
        return hubspot_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found.",
        );
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
    let path = uri.path().replace("%40", "@");
    fake.lock().unwrap().handle(&method, &path, &query, &body)
}

async fn hubspot() -> (Registry, Shared) {
    let fake: Shared = Arc::default();
    let addr =
        common::serve_fake(axum::Router::new().fallback(serve).with_state(fake.clone())).await;
    let registry = Registry::new(&ConnectorSettings {
        hubspot_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "hubspot".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: format!("exec-1:{action}"),
        secret: Some(Secret(json!({"access_token": "pat-na1-good"}))),
    }
}

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(registry, call(action, inputs.clone())).await
}

#[tokio::test]
async fn contacts_are_made_found_changed_by_email_and_upserted() {
    let (registry, fake) = hubspot().await;
    let ann = run(
        &registry,
        "hubspot",
        "create_record",
        &common::example(&registry, "hubspot", "create_record"),
    )
    .await;
    assert_eq!(ann["properties"]["email"], "ann@customer.com");
    let read = run(
        &registry,
        "hubspot",
        "get_record",
        &common::example(&registry, "hubspot", "get_record"),
    )
    .await;
    assert_eq!(read["id"], ann["id"]);
    let changed = run(
        &registry,
        "hubspot",
        "update_record",
        &common::example(&registry, "hubspot", "update_record"),
    )
    .await;
    assert_eq!(changed["properties"]["lifecyclestage"], "opportunity");
    let upserted = run(
        &registry,
        "hubspot",
        "upsert_contact",
        &common::example(&registry, "hubspot", "upsert_contact"),
    )
    .await;
    assert_eq!(upserted["id"], ann["id"]);
    assert_eq!(
        upserted["new"], false,
        "the contact with that email was changed"
    );
    let fresh = run(
        &registry,
        "hubspot",
        "upsert_contact",
        &json!({"email": "bob@customer.com", "properties": {"firstname": "Bob", "employees": 12}}),
    )
    .await;
    assert_eq!(fresh["new"], true);
    assert_eq!(
        fresh["properties"]["employees"], "12",
        "numbers go as HubSpot's text"
    );
    let twice = registry
        .call(call(
            "create_record",
            json!({"object": "contacts", "properties": {"email": "ann@customer.com"}}),
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.class, ErrorClass::Permanent);
    assert!(
        twice
            .message
            .contains("Contact already exists. Existing ID"),
        "{}",
        twice.message
    );
    let (target, _) = fake.lock().unwrap().seen[1].clone();
    assert!(
        target.starts_with("GET /crm/v3/objects/contacts/ann@customer.com"),
        "{target}"
    );
}

#[tokio::test]
async fn deals_are_searched_moved_and_given_notes_tasks_and_contacts() {
    let (registry, fake) = hubspot().await;
    let deal = run(&registry, "hubspot", "create_record", &json!({"object": "deals", "properties": {"dealname": "Lee & Co, 50 units", "amount": 4500, "dealstage": "qualifiedtobuy", "closedate": "2026-12-01"}})).await;
    let id = deal["id"].as_str().unwrap().to_owned();
    let moved = run(
        &registry,
        "hubspot",
        "move_deal",
        &json!({"deal_id": id, "stage": "closedwon"}),
    )
    .await;
    assert_eq!(moved["properties"]["dealstage"], "closedwon");
    let won = run(
        &registry,
        "hubspot",
        "search_records",
        &common::example(&registry, "hubspot", "search_records"),
    )
    .await;
    assert_eq!(won["count"], 1, "{won}");
    assert_eq!(
        won["records"][0]["properties"]["dealname"],
        "Lee & Co, 50 units"
    );
    let note = run(
        &registry,
        "hubspot",
        "add_note",
        &json!({"on": {"object": "deals", "id": id}, "body": "Signed today."}),
    )
    .await;
    assert!(note["id"].is_string());
    let task = run(&registry, "hubspot", "add_task", &json!({"on": {"object": "deals", "id": id}, "subject": "Send the invoice", "priority": "high"})).await;
    assert_eq!(task["properties"]["hs_task_priority"], "HIGH");
    let linked = run(
        &registry,
        "hubspot",
        "associate",
        &json!({"from": {"object": "deals", "id": id}, "to": {"object": "contacts", "id": "101"}}),
    )
    .await;
    assert_eq!(linked["associated"], true);
    let associations = fake.lock().unwrap().associations.clone();
    assert_eq!(
        associations,
        [
            format!("notes->{id}:214"),
            format!("tasks->{id}:216"),
            format!("deals:{id}->contacts:101")
        ]
    );
}

#[tokio::test]
async fn hubspots_errors_are_sorted_for_retries_and_a_token_is_checked() {
    let (registry, _) = hubspot().await;
    let limited = registry
        .call(call(
            "create_record",
            json!({"object": "contacts", "properties": {"firstname": "Slow"}}),
        ))
        .await
        .unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    assert!(
        limited.retry_after.is_some(),
        "HubSpot's window is waited for"
    );
    let missing = registry
        .call(call(
            "get_record",
            json!({"object": "companies", "id": "999"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.class, ErrorClass::Permanent);
    let mut rotated = call("get_record", json!({"object": "contacts", "id": "1"}));
    rotated.secret = Some(Secret(json!({"access_token": "pat-na1-rotated"})));
    assert_eq!(
        registry.call(rotated).await.unwrap_err().auth,
        Some(AuthProblem::Refused)
    );
    let checked = registry
        .authenticate("hubspot", &Secret(json!({"access_token": "pat-na1-good"})))
        .await
        .unwrap();
    assert_eq!(checked, json!({"reads_contacts": true}));
}

#[test]
fn webhooks_are_checked_with_the_v3_signature_over_method_url_body_and_time() {
    let registry = Registry::new(&ConnectorSettings::default());
    let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    let url = "https://baton.example/hooks/abc?source=hubspot";
    let body = br#"[{"eventId": 1, "subscriptionId": 2, "portalId": 3, "occurredAt": 1764840000000, "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 101, "changeSource": "CRM", "changeFlag": "NEW"}]"#;
    let sign = |method: &str, url: &str, timestamp: i64| {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{method}{url}").as_bytes());
        mac.update(body);
        mac.update(timestamp.to_string().as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let check = |method: &str, url: &str, signature: &str, timestamp: i64| {
        let headers = vec![
            ("x-hubspot-signature-v3".to_owned(), signature.to_owned()),
            (
                "x-hubspot-request-timestamp".to_owned(),
                timestamp.to_string(),
            ),
        ];
        registry.webhook(
            "hubspot",
            &IncomingWebhook {
                method,
                url,
                headers: &headers,
                body,
                secret: Some(secret),
            },
        )
    };
    let now = chrono::Utc::now().timestamp_millis();
    let signature = sign("POST", url, now);
    let WebhookOutcome::Run {
        delivery_id: Some(first),
    } = check("POST", url, &signature, now).unwrap()
    else {
        panic!()
    };
    let WebhookOutcome::Run {
        delivery_id: Some(again),
    } = check("POST", url, &signature, now).unwrap()
    else {
        panic!()
    };
    assert_eq!(first, again, "a delivery sent again runs once");
    assert!(
        check("POST", "https://baton.example/hooks/other", &signature, now)
            .unwrap_err()
            .contains("not signed"),
        "the URL is signed"
    );
    let old = now - 6 * 60 * 1000;
    assert!(
        check("POST", url, &sign("POST", url, old), old)
            .unwrap_err()
            .contains("five minutes")
    );
}
