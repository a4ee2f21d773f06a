//! The Asana connector against a local fake of Asana's API whose rules come from Asana's own
//! OpenAPI description (the parts kept in `tests/contracts/asana.json`): query parameters must
//! be ones the operation declares, what is sent in `data` must fit the operation's request
//! schema with no field it does not list, and every answer is checked against its documented
//! schema. The fake keeps tasks and their comments, and makes a webhook as Asana does: it calls
//! the target with `X-Hook-Secret` and wants it back before it answers.

mod common;

use std::sync::{Arc, LazyLock, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, IncomingWebhook, Secret, WebhookOutcome};
use baton_engine::error::AuthProblem;
use serde_json::{Map, Value, json};

static CONTRACT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("contracts/asana.json")).expect("contract JSON")
});

const SERVICE: &str = "asana";

fn problems(schema: Value, value: &Value) -> Vec<String> {
    let mut rooted = schema;
    rooted["components"] = CONTRACT["components"].clone();
    let validator = jsonschema::validator_for(&rooted).expect("the contract compiles");
    validator
        .iter_errors(value)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

/// An answer's `data` checked against the documented schema `name`.
fn documented(name: &str, data: Value) -> Response {
    let found = problems(
        json!({"$ref": format!("#/components/schemas/{name}")}),
        &data,
    );
    assert!(
        found.is_empty(),
        "the fake answers as Asana documents: {found:?}"
    );
    Json(json!({"data": data})).into_response()
}

fn asana_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "help": "For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors"}]});
    assert!(problems(json!({"$ref": "#/components/schemas/ErrorResponse"}), &body).is_empty());
    (status, Json(body)).into_response()
}

/// The query parameters `operation` declares (its own and the shared ones it names).
fn declared(operation: &str) -> Vec<String> {
    CONTRACT["operations"][operation]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|parameter| match parameter["$ref"].as_str() {
            Some(shared) => CONTRACT["components"]["parameters"]
                [shared.rsplit('/').next().unwrap()]["name"]
                .as_str(),
            None => parameter["name"].as_str(),
        })
        .map(str::to_owned)
        .collect()
}

#[derive(Default)]
struct Fake {
    tasks: Vec<Value>,
    comments: Vec<(String, String)>,
    /// Each request: operation, query, data.
    seen: Vec<(String, Map<String, Value>, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

fn user(email: &str) -> Value {
    json!({"gid": "1200000000000007", "resource_type": "user", "name": "Bob Baker", "email": email})
}

impl Fake {
    fn task(&mut self, data: &Value) -> Value {
        let gid = format!("12040000000000{:02}", self.tasks.len() + 40);
        let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let assignee = match data["assignee"].as_str() {
            Some("me") => {
                json!({"gid": "1200000000000001", "resource_type": "user", "name": "Owner", "email": "owner@acme.com"})
            }
            Some(email) => user(email),
            None => Value::Null,
        };
        json!({
            "gid": gid, "resource_type": "task", "resource_subtype": "default_task",
            "name": data["name"], "notes": data.get("notes").cloned().unwrap_or(json!("")),
            "completed": false, "completed_at": null, "due_on": data.get("due_on").cloned().unwrap_or(Value::Null), "due_at": null,
            "assignee": assignee, "permalink_url": format!("https://app.asana.com/0/1204000000000001/{gid}"),
            "projects": [{"gid": "1204000000000001", "resource_type": "project", "name": "Sales"}],
            "created_at": stamp, "modified_at": stamp
        })
    }

    fn handle(
        &mut self,
        method: &Method,
        path: &str,
        query: &Map<String, Value>,
        data: &Value,
    ) -> Response {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (operation, request) = match (method.as_str(), segments.as_slice()) {
            ("POST", ["tasks"]) => ("post /tasks", Some("TaskCreateRequest")),
            ("PUT", ["tasks", _]) => ("put /tasks/{task_gid}", Some("TaskUpdateRequest")),
            ("GET", ["tasks", _]) => ("get /tasks/{task_gid}", None),
            ("POST", ["tasks", _, "stories"]) => {
                ("post /tasks/{task_gid}/stories", Some("StoryRequest"))
            }
            ("GET", ["projects"]) => ("get /projects", None),
            ("GET", ["projects", _, "tasks"]) => ("get /projects/{project_gid}/tasks", None),
            ("GET", ["users", _]) => ("get /users/{user_gid}", None),
            ("POST", ["webhooks"]) => ("post /webhooks", Some("WebhookRequest")),
            _ => return asana_error(StatusCode::NOT_FOUND, "No matching route for request"),
        };
        let known = declared(operation);
        let unknown: Vec<&String> = query.keys().filter(|name| !known.contains(name)).collect();
        if !unknown.is_empty() {
            return asana_error(
                StatusCode::BAD_REQUEST,
                &format!("{operation} has no parameter {unknown:?}"),
            );
        }
        if let Some(request) = request {
            let wrong = problems(
                json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": format!("#/components/schemas/{request}"), "unevaluatedProperties": false}),
                data,
            );
            if !wrong.is_empty() {
                return asana_error(StatusCode::BAD_REQUEST, &wrong.join("; "));
            }
        }
        self.seen
            .push((operation.to_owned(), query.clone(), data.clone()));
        match (operation, segments.as_slice()) {
            ("post /tasks", _) => {
                if data["name"] == "too many" {
                    return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")], Json(json!({"errors": [{"message": "You have made too many requests recently. Please, be chill."}]}))).into_response();
                }
                let task = self.task(data);
                self.tasks.push(task.clone());
                documented("TaskResponse", task)
            }
            ("put /tasks/{task_gid}", [_, id]) => {
                let Some(task) = self.tasks.iter_mut().find(|task| task["gid"] == *id) else {
                    return asana_error(StatusCode::NOT_FOUND, "task: Unknown object: 1");
                };
                for (field, value) in data.as_object().unwrap() {
                    task[field] = match field.as_str() {
                        "assignee" => user(value.as_str().unwrap()),
                        _ => value.clone(),
                    };
                }
                documented("TaskResponse", task.clone())
            }
            ("post /tasks/{task_gid}/stories", [_, id, _]) => {
                self.comments
                    .push((id.to_string(), data["text"].as_str().unwrap().to_owned()));
                documented(
                    "StoryResponse",
                    json!({"gid": "1205000000000001", "resource_type": "story", "text": data["text"], "created_at": "2026-12-04T10:00:00.000Z", "type": "comment", "resource_subtype": "comment_added"}),
                )
            }
            ("get /projects", _) => {
                let projects = vec![
                    json!({"gid": "1204000000000001", "resource_type": "project", "name": "Sales"}),
                    json!({"gid": "1204000000000002", "resource_type": "project", "name": "Onboarding"}),
                ];
                for project in &projects {
                    assert!(
                        problems(
                            json!({"$ref": "#/components/schemas/ProjectCompact"}),
                            project
                        )
                        .is_empty()
                    );
                }
                Json(json!({"data": projects, "next_page": null})).into_response()
            }
            ("get /projects/{project_gid}/tasks", _) => {
                let open_only = query.get("completed_since") == Some(&json!("now"));
                let tasks: Vec<Value> = self
                    .tasks
                    .iter()
                    .filter(|task| !open_only || task["completed"] == false)
                    .cloned()
                    .collect();
                for task in &tasks {
                    assert!(
                        problems(json!({"$ref": "#/components/schemas/TaskCompact"}), task)
                            .is_empty()
                    );
                }
                Json(json!({"data": tasks, "next_page": null})).into_response()
            }
            ("get /users/{user_gid}", [_, "me"]) => documented(
                "UserResponse",
                json!({"gid": "1200000000000001", "resource_type": "user", "name": "Owner", "email": "owner@acme.com", "workspaces": [{"gid": "1100000000000001", "resource_type": "workspace", "name": "Acme"}]}),
            ),
            ("get /users/{user_gid}", [_, who]) if who.contains('@') => {
                documented("UserResponse", user(who))
            }
            ("get /users/{user_gid}", _) => {
                asana_error(StatusCode::NOT_FOUND, "user: Not a recognized ID")
            }
            // Checked: the handshake is `make_webhook`'s.
            ("post /webhooks", _) => StatusCode::ACCEPTED.into_response(),
            _ => asana_error(StatusCode::NOT_FOUND, "Unknown object"),
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
        != Some("Bearer 2/1200000000000001/1209:goodtoken")
    {
        return asana_error(StatusCode::UNAUTHORIZED, "Not Authorized");
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
    // An email in the path arrives with its @ escaped, as Asana's server reads it.
    let path = uri
        .path()
        .trim_start_matches("/api/1.0")
        .replace("%40", "@");
    let path = path.as_str();
    if method == Method::POST && path == "/webhooks" {
        return make_webhook(&fake, &query, &body["data"]).await;
    }
    fake.lock()
        .unwrap()
        .handle(&method, path, &query, &body["data"])
}

/// `POST /webhooks`: the handshake with the target first, as Asana makes it.
async fn make_webhook(fake: &Shared, query: &Map<String, Value>, data: &Value) -> Response {
    {
        let mut fake = fake.lock().unwrap();
        let checked = fake.handle(&Method::POST, "/webhooks", query, data);
        if checked.status() != StatusCode::ACCEPTED {
            return checked;
        }
    }
    let secret = "7f0e2e64d8b14b6ca1f0b9f2d2a7c3e1";
    let answer = reqwest::Client::new()
        .post(data["target"].as_str().unwrap())
        .header("X-Hook-Secret", secret)
        .send()
        .await;
    let agreed = answer.is_ok_and(|answer| {
        answer.status().is_success()
            && answer
                .headers()
                .get("x-hook-secret")
                .and_then(|value| value.to_str().ok())
                == Some(secret)
    });
    if !agreed {
        return asana_error(
            StatusCode::BAD_REQUEST,
            "The remote server did not respond with the handshake secret.",
        );
    }
    documented(
        "WebhookResponse",
        json!({"gid": "1206000000000001", "resource_type": "webhook", "active": true, "target": data["target"], "resource": {"gid": data["resource"], "resource_type": "project", "name": "Sales"}}),
    )
}

async fn asana() -> (Registry, Shared) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new().fallback(serve).with_state(fake.clone());
    let addr = common::serve_fake(app).await;
    let registry = Registry::new(&ConnectorSettings {
        asana_base_url: Some(format!("http://{addr}/api/1.0")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "asana".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: format!("exec-1:{action}"),
        secret: Some(Secret(
            json!({"access_token": "2/1200000000000001/1209:goodtoken"}),
        )),
    }
}

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(registry, call(action, inputs.clone())).await
}

#[tokio::test]
async fn a_task_is_made_changed_commented_on_and_completed() {
    let (registry, fake) = asana().await;
    let task = run(
        &registry,
        "asana",
        "create_task",
        &common::example(&registry, "asana", "create_task"),
    )
    .await;
    assert_eq!(task["name"], "Call Ann about the quote");
    assert_eq!(task["assignee_email"], "owner@acme.com");
    assert_eq!(task["due_on"], "2026-12-07");
    assert_eq!(task["projects"], json!(["Sales"]));
    let (operation, query, sent) = fake.lock().unwrap().seen[0].clone();
    assert_eq!(operation, "post /tasks");
    assert_eq!(sent["projects"], json!(["1204000000000001"]));
    assert!(
        query["opt_fields"]
            .as_str()
            .unwrap()
            .contains("assignee.email")
    );

    let id = task["id"].as_str().unwrap();
    let moved = run(
        &registry,
        "asana",
        "update_task",
        &json!({"task_id": id, "due_on": "2026-12-09", "assignee": "bob@acme.com"}),
    )
    .await;
    assert_eq!(moved["due_on"], "2026-12-09");
    assert_eq!(moved["assignee"], "Bob Baker");
    let comment = run(
        &registry,
        "asana",
        "add_comment",
        &json!({"task_id": id, "text": "The customer confirmed."}),
    )
    .await;
    assert_eq!(comment["text"], "The customer confirmed.");
    let done = run(&registry, "asana", "complete_task", &json!({"task_id": id})).await;
    assert_eq!(done["completed"], true);

    let nothing = registry
        .call(call("update_task", json!({"task_id": id})))
        .await
        .unwrap_err();
    assert!(
        nothing.message.contains("nothing to change"),
        "{}",
        nothing.message
    );
    let nowhere = registry
        .call(call("create_task", json!({"name": "x"})))
        .await
        .unwrap_err();
    assert!(
        nowhere.message.contains("`project_id`"),
        "{}",
        nowhere.message
    );
}

#[tokio::test]
async fn projects_open_tasks_and_people_are_listed_and_found() {
    let (registry, _) = asana().await;
    let projects = run(
        &registry,
        "asana",
        "list_projects",
        &common::example(&registry, "asana", "list_projects"),
    )
    .await;
    assert_eq!(projects["count"], 2);
    assert_eq!(
        projects["projects"][0],
        json!({"id": "1204000000000001", "name": "Sales"})
    );
    for name in ["Open one", "Finished one"] {
        registry
            .call(call(
                "create_task",
                json!({"name": name, "project_id": "1204000000000001"}),
            ))
            .await
            .unwrap();
    }
    let tasks = run(
        &registry,
        "asana",
        "list_tasks",
        &common::example(&registry, "asana", "list_tasks"),
    )
    .await;
    let finished = tasks["tasks"][1]["id"].as_str().unwrap().to_owned();
    registry
        .call(call("complete_task", json!({"task_id": finished})))
        .await
        .unwrap();
    let open = run(
        &registry,
        "asana",
        "list_tasks",
        &json!({"project_id": "1204000000000001"}),
    )
    .await;
    assert_eq!(open["count"], 1, "completed tasks left out: {open}");
    let all = run(
        &registry,
        "asana",
        "list_tasks",
        &json!({"project_id": "1204000000000001", "include_completed": true}),
    )
    .await;
    assert_eq!(all["count"], 2);
    let bob = run(
        &registry,
        "asana",
        "find_user",
        &common::example(&registry, "asana", "find_user"),
    )
    .await;
    assert_eq!(
        bob,
        json!({"id": "1200000000000007", "name": "Bob Baker", "email": "bob@acme.com"})
    );
}

#[tokio::test]
async fn a_project_is_watched_after_the_hook_agrees_on_asanas_secret() {
    let (registry, _) = asana().await;
    // A hook that echoes the secret, as Baton's does.
    let hook = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let offered = headers.get("x-hook-secret").cloned();
        let mut response = StatusCode::OK.into_response();
        if let Some(offered) = offered {
            response.headers_mut().insert("x-hook-secret", offered);
        }
        response
    });
    let hook = common::serve_fake(hook).await;
    let watched = run(
        &registry,
        "asana",
        "watch_project",
        &json!({"project_id": "1204000000000001", "hook_url": format!("http://{hook}/hooks/abc")}),
    )
    .await;
    assert_eq!(watched["active"], true);
    let silent =
        common::serve_fake(axum::Router::new().fallback(|| async { StatusCode::OK })).await;
    let refused = registry
        .call(call("watch_project", json!({"project_id": "1204000000000001", "hook_url": format!("http://{silent}/hooks/abc")})))
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("handshake secret"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn asanas_errors_are_sorted_for_retries_and_a_token_is_checked() {
    let (registry, _) = asana().await;
    let limited = registry
        .call(call(
            "create_task",
            json!({"name": "too many", "project_id": "1"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    assert_eq!(
        limited.retry_after,
        Some(std::time::Duration::from_secs(30))
    );
    let unknown = registry
        .call(call("find_user", json!({"user": "12"})))
        .await
        .unwrap_err();
    assert_eq!(unknown.class, ErrorClass::Permanent);
    let mut revoked = call("list_projects", json!({}));
    revoked.secret = Some(Secret(json!({"access_token": "2/revoked"})));
    assert_eq!(
        registry.call(revoked).await.unwrap_err().auth,
        Some(AuthProblem::Refused)
    );
    let me = registry
        .authenticate(
            "asana",
            &Secret(json!({"access_token": "2/1200000000000001/1209:goodtoken"})),
        )
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"account": "owner@acme.com", "name": "Owner", "workspace": "Acme"})
    );
}

#[test]
fn the_handshake_is_adopted_once_and_events_are_checked_by_signature() {
    let registry = Registry::new(&ConnectorSettings::default());
    let webhook = |headers: &[(&str, &str)], body: &[u8], secret: Option<&str>| {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        registry.webhook(
            "asana",
            &IncomingWebhook {
                method: "POST",
                url: "https://baton.example/hooks/abc",
                headers: &headers,
                body,
                secret,
            },
        )
    };
    match webhook(&[("x-hook-secret", "7f0e2e64d8b14b6c")], b"", None).unwrap() {
        WebhookOutcome::Adopt {
            secret,
            echo_header,
        } => {
            assert_eq!(secret, "7f0e2e64d8b14b6c");
            assert_eq!(echo_header, "X-Hook-Secret");
        }
        other => panic!("{other:?}"),
    }
    let again = webhook(
        &[("x-hook-secret", "another")],
        b"",
        Some("7f0e2e64d8b14b6c"),
    )
    .unwrap_err();
    assert!(again.contains("already has an Asana secret"), "{again}");

    let event = json!({"events": [{"user": {"gid": "1200000000000001", "resource_type": "user"}, "created_at": "2026-12-04T10:00:00.000Z", "action": "added", "resource": {"gid": "1204000000000040", "resource_type": "task", "resource_subtype": "default_task"}, "parent": {"gid": "1204000000000001", "resource_type": "project"}}]});
    assert!(
        problems(
            json!({"$ref": "#/components/schemas/EventResponse"}),
            &event["events"][0]
        )
        .is_empty(),
        "the event is Asana's documented shape"
    );
    let body = serde_json::to_vec(&event).unwrap();
    let signature = baton_connectors::webhook::hex_signature("7f0e2e64d8b14b6c", &body);
    let run = webhook(
        &[("x-hook-signature", &signature)],
        &body,
        Some("7f0e2e64d8b14b6c"),
    )
    .unwrap();
    let WebhookOutcome::Run {
        delivery_id: Some(first),
    } = run
    else {
        panic!("{run:?}")
    };
    let WebhookOutcome::Run {
        delivery_id: Some(second),
    } = webhook(
        &[("x-hook-signature", &signature)],
        &body,
        Some("7f0e2e64d8b14b6c"),
    )
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(first, second, "a delivery sent again runs once");
    assert!(
        webhook(
            &[("x-hook-signature", "00ff")],
            &body,
            Some("7f0e2e64d8b14b6c")
        )
        .unwrap_err()
        .contains("X-Hook-Signature")
    );
    let heartbeat = br#"{"events": []}"#;
    let beat_signature = baton_connectors::webhook::hex_signature("7f0e2e64d8b14b6c", heartbeat);
    assert!(
        matches!(
            webhook(
                &[("x-hook-signature", &beat_signature)],
                heartbeat,
                Some("7f0e2e64d8b14b6c")
            )
            .unwrap(),
            WebhookOutcome::Answer(_)
        ),
        "a heartbeat runs nothing"
    );
}
