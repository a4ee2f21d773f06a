//! The Notion connector against a local fake of Notion's API. The fake checks what it is sent
//! against the request bodies Notion publishes (the subset kept in `tests/contracts/notion.json`):
//! a page's parent and properties, a query's filter, sorts and page size, and each block
//! appended. That description gives the paragraph and bulleted blocks only; the other kinds
//! are checked with the paragraph's shape under their own name, as Notion documents them.
//! Its answers are Notion's page and list objects as its reference shows them (the
//! description gives answers only as objects). It keeps a database with one data source and
//! its rows, and answers errors as `{object: "error", status, code, message}`.

mod common;

use std::sync::{Arc, LazyLock, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, OAuthClientSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, PollCall, Secret};
use baton_engine::error::AuthProblem;
use serde_json::{Map, Value, json};

static CONTRACT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("contracts/notion.json")).expect("contract JSON")
});

const DATABASE: &str = "8e2c2f3b9d4a4e0f8a1b2c3d4e5f6a7b";
const SOURCE: &str = "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b";

fn problems(schema: &Value, value: &Value) -> Vec<String> {
    let mut rooted = schema.clone();
    rooted["components"] = CONTRACT["components"].clone();
    let validator = jsonschema::validator_for(&rooted).expect("the contract compiles");
    validator
        .iter_errors(value)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

/// The documented request body of `operation`.
fn body_schema(operation: &str) -> Value {
    CONTRACT["operations"][operation]["requestBody"]["content"]["application/json"]["schema"]
        .clone()
}

/// What is wrong with one block: checked with the published schema when it describes the
/// kind, else with the paragraph's shape under the block's own name.
fn block_problems(block: &Value) -> Vec<String> {
    let kind = block["type"].as_str().unwrap_or_default();
    if matches!(kind, "paragraph" | "bulleted_list_item") {
        return problems(
            &json!({"$ref": "#/components/schemas/blockObjectRequest"}),
            block,
        );
    }
    let mut shape = CONTRACT["components"]["schemas"]["paragraphBlockRequest"].clone();
    let inner = shape["properties"]["paragraph"].take();
    let mut inner = inner;
    if kind == "to_do" {
        inner["properties"]["checked"] = json!({"type": "boolean"});
    }
    shape["properties"] = json!({"type": {"const": kind}, kind: inner});
    problems(&shape, block)
}

fn notion_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(
            json!({"object": "error", "status": status.as_u16(), "code": code, "message": message}),
        ),
    )
        .into_response()
}

fn stamp(minutes_ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The data source's properties, as Notion describes them.
fn schema() -> Value {
    json!({
        "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
        "Status": {"id": "s%3B1", "name": "Status", "type": "status", "status": {"options": [{"name": "To do"}, {"name": "Done"}]}},
        "Due": {"id": "d%3B2", "name": "Due", "type": "date", "date": {}},
        "Tags": {"id": "t%3B3", "name": "Tags", "type": "multi_select", "multi_select": {"options": [{"name": "sales"}]}},
        "Qty": {"id": "q%3B4", "name": "Qty", "type": "number", "number": {"format": "number"}},
        "Total": {"id": "f%3B5", "name": "Total", "type": "formula", "formula": {"expression": "prop(\"Qty\") * 10"}}
    })
}

#[derive(Default)]
struct Fake {
    pages: Vec<Value>,
    /// Each request: operation, body.
    seen: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

/// A stored page's property objects from the ones sent, as Notion answers them: every
/// property of the data source, empty where nothing was given.
fn stored(properties: &Value) -> Value {
    let mut out: Map<String, Value> = schema()
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, described)| {
            let kind = described["type"].as_str().unwrap();
            let empty = match kind {
                "title" | "multi_select" => json!([]),
                _ => Value::Null,
            };
            (name.clone(), json!({"type": kind, kind: empty}))
        })
        .collect();
    for (name, given) in properties.as_object().unwrap() {
        let kind = schema()[name]["type"].as_str().unwrap().to_owned();
        let mut property = given.clone();
        if let Some(pieces) = property[&kind].as_array_mut() {
            for piece in pieces {
                if let Some(text) = piece["text"]["content"].as_str() {
                    piece["plain_text"] = json!(text);
                }
            }
        }
        property["type"] = json!(kind);
        out.insert(name.clone(), property);
    }
    out.insert(
        "Total".into(),
        json!({"type": "formula", "formula": {"type": "number", "number": 30}}),
    );
    Value::Object(out)
}

impl Fake {
    fn handle(&mut self, method: &Method, path: &str, body: &Value) -> Response {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let operation = match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "pages"]) => "post /v1/pages",
            ("GET", ["v1", "pages", _]) => "get /v1/pages/{page_id}",
            ("PATCH", ["v1", "pages", _]) => "patch /v1/pages/{page_id}",
            ("PATCH", ["v1", "blocks", _, "children"]) => "patch /v1/blocks/{block_id}/children",
            ("POST", ["v1", "data_sources", _, "query"]) => {
                "post /v1/data_sources/{data_source_id}/query"
            }
            ("GET", ["v1", "data_sources", _]) => "get /v1/data_sources/{data_source_id}",
            ("GET", ["v1", "databases", _]) => "get /v1/databases/{database_id}",
            ("GET", ["v1", "users", "me"]) => "get /v1/users/me",
            _ => {
                return notion_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_url",
                    "Invalid request URL.",
                );
            }
        };
        let mut checked = body.clone();
        let mut wrong = Vec::new();
        if let Some(children) = checked.get_mut("children") {
            // The published description types a page's children as strings: blocks are
            // checked one by one.
            for block in children.as_array().unwrap() {
                wrong.extend(block_problems(block));
            }
            *children = json!([]);
        }
        let schema_of = body_schema(operation);
        if !schema_of.is_null() {
            wrong.extend(problems(&schema_of, &checked));
        }
        if !wrong.is_empty() {
            return notion_error(
                StatusCode::BAD_REQUEST,
                "validation_error",
                &wrong.join("; "),
            );
        }
        self.seen.push((operation.to_owned(), body.clone()));
        match (operation, segments.as_slice()) {
            ("get /v1/users/me", _) => Json(json!({"object": "user", "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905", "name": "Baton", "avatar_url": null, "type": "bot", "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": "Acme"}})).into_response(),
            ("get /v1/databases/{database_id}", [_, _, id]) if *id == DATABASE => Json(json!({"object": "database", "id": DATABASE, "title": [{"plain_text": "Tasks"}], "data_sources": [{"id": SOURCE, "name": "Tasks"}]})).into_response(),
            ("get /v1/data_sources/{data_source_id}", [_, _, id]) if *id == SOURCE => Json(json!({"object": "data_source", "id": SOURCE, "properties": schema()})).into_response(),
            ("post /v1/data_sources/{data_source_id}/query", [_, _, id, _]) if *id == SOURCE => {
                let filter = &body["filter"];
                let mut rows: Vec<Value> = self
                    .pages
                    .iter()
                    .filter(|page| match filter["timestamp"].as_str() {
                        Some(stamp) => page[stamp].as_str().unwrap() >= filter[stamp]["on_or_after"].as_str().unwrap(),
                        None => filter["status"]["equals"].as_str().is_none_or(|wanted| page["properties"]["Status"]["status"]["name"] == wanted),
                    })
                    .cloned()
                    .collect();
                if let Some(stamp) = body["sorts"][0]["timestamp"].as_str() {
                    rows.sort_by(|a, b| a[stamp].as_str().cmp(&b[stamp].as_str()));
                }
                // Two a page, so paging is exercised.
                let start: usize = body["start_cursor"].as_str().map_or(0, |cursor| cursor.parse().unwrap());
                let page: Vec<Value> = rows.iter().skip(start).take(2).cloned().collect();
                let more = start + 2 < rows.len();
                Json(json!({"object": "list", "results": page, "has_more": more, "next_cursor": if more { json!((start + 2).to_string()) } else { Value::Null }, "type": "page_or_data_source"})).into_response()
            }
            ("post /v1/pages", _) => {
                if body["parent"]["database_id"] != DATABASE {
                    return notion_error(StatusCode::NOT_FOUND, "object_not_found", "Could not find database. Make sure the relevant pages and databases are shared with your integration.");
                }
                let id = format!("59833787-2cf9-4fdf-8782-{:012}", self.pages.len());
                let page = json!({"object": "page", "id": id, "created_time": stamp(0), "last_edited_time": stamp(0), "in_trash": false,
                    "url": format!("https://www.notion.so/{}", id.replace('-', "")), "parent": {"type": "data_source_id", "data_source_id": SOURCE},
                    "properties": stored(&body["properties"])});
                self.pages.push(page.clone());
                Json(page).into_response()
            }
            ("get /v1/pages/{page_id}", [_, _, id]) => match self.pages.iter().find(|page| page["id"] == *id) {
                Some(page) => Json(page.clone()).into_response(),
                None => notion_error(StatusCode::NOT_FOUND, "object_not_found", "Could not find page. Make sure the relevant pages and databases are shared with your integration."),
            },
            ("patch /v1/pages/{page_id}", [_, _, id]) => {
                let Some(page) = self.pages.iter_mut().find(|page| page["id"] == *id) else {
                    return notion_error(StatusCode::NOT_FOUND, "object_not_found", "Could not find page.");
                };
                if let Some(changed) = body["properties"].as_object() {
                    let fresh = stored(&Value::Object(changed.clone()));
                    for (name, property) in changed.keys().map(|name| (name, fresh[name].clone())) {
                        page["properties"][name] = property;
                    }
                }
                if let Some(trash) = body.get("in_trash") {
                    page["in_trash"] = trash.clone();
                }
                page["last_edited_time"] = json!(stamp(0));
                Json(page.clone()).into_response()
            }
            ("patch /v1/blocks/{block_id}/children", _) => Json(json!({"object": "list", "results": body["children"], "has_more": false, "next_cursor": null})).into_response(),
            _ => notion_error(StatusCode::NOT_FOUND, "object_not_found", "Could not find the object. Make sure it is shared with your integration."),
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
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match header("authorization") {
        Some("Bearer ntn_good") => {}
        Some("Bearer ntn_busy") => {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3")], Json(json!({"object": "error", "status": 429, "code": "rate_limited", "message": "You have been rate limited. Please try again in a few minutes."}))).into_response();
        }
        _ => {
            return notion_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "API token is invalid.",
            );
        }
    }
    let documented =
        CONTRACT["components"]["parameters"]["notionVersion"]["schema"]["default"].as_str();
    if header("notion-version") != documented {
        return notion_error(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation.",
        );
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    fake.lock().unwrap().handle(&method, uri.path(), &body)
}

async fn notion() -> (Registry, Shared) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new().fallback(serve).with_state(fake.clone());
    let addr = common::serve_fake(app).await;
    let registry = Registry::new(&ConnectorSettings {
        notion_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "notion".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: format!("exec-1:{action}"),
        secret: Some(Secret(json!({"access_token": "ntn_good"}))),
    }
}

const SERVICE: &str = "notion";

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(registry, call(action, inputs.clone())).await
}

#[tokio::test]
async fn a_row_is_added_with_plain_values_typed_by_the_database_and_read_back() {
    let (registry, fake) = notion().await;
    let made = run(
        &registry,
        "notion",
        "create_page",
        &common::example(&registry, "notion", "create_page"),
    )
    .await;
    assert_eq!(
        made["properties"],
        json!({"Name": "Call Ann about the quote", "Status": "To do", "Due": "2026-12-07", "Tags": ["sales"], "Qty": null, "Total": 30})
    );
    let sent = fake.lock().unwrap().seen.last().unwrap().1.clone();
    assert_eq!(sent["parent"], json!({"database_id": DATABASE}));
    assert_eq!(
        sent["properties"]["Status"],
        json!({"status": {"name": "To do"}})
    );
    assert_eq!(
        sent["properties"]["Due"],
        json!({"date": {"start": "2026-12-07"}})
    );
    assert_eq!(
        sent["children"][2],
        json!({"type": "to_do", "to_do": {"rich_text": [{"type": "text", "text": {"content": "Send the revised quote"}}], "checked": false}})
    );

    let read = run(
        &registry,
        "notion",
        "get_page",
        &json!({"page_id": made["id"]}),
    )
    .await;
    assert_eq!(read["properties"]["Name"], "Call Ann about the quote");
    let changed = run(
        &registry,
        "notion",
        "update_page",
        &json!({"page_id": made["id"], "properties": {"Status": "Done", "Qty": "3"}}),
    )
    .await;
    assert_eq!(changed["properties"]["Status"], "Done");
    assert_eq!(changed["properties"]["Qty"], 3.0);
    assert_eq!(
        changed["properties"]["Name"], "Call Ann about the quote",
        "what was not given stays"
    );

    let before = fake.lock().unwrap().seen.len();
    let wrong = registry
        .call(call("create_page", json!({"database_id": DATABASE, "properties": {"Nmae": "x", "Total": 5, "Qty": "many"}})))
        .await
        .unwrap_err();
    assert_eq!(wrong.class, ErrorClass::Permanent);
    for expected in [
        "no property `Nmae` (it has: Due, Name, Qty, Status, Tags, Total)",
        "`Total` is a formula property",
        "\"many\" is not a number",
    ] {
        assert!(
            wrong.message.contains(expected),
            "{expected} in {}",
            wrong.message
        );
    }
    let after = fake
        .lock()
        .unwrap()
        .seen
        .iter()
        .skip(before)
        .filter(|(operation, _)| operation == "post /v1/pages")
        .count();
    assert_eq!(after, 0, "nothing was created");
}

#[tokio::test]
async fn a_database_is_queried_with_notions_filter_and_rows_come_back_plain() {
    let (registry, fake) = notion().await;
    for (name, status) in [("A", "To do"), ("B", "Done"), ("C", "To do")] {
        registry
            .call(call(
                "create_page",
                json!({"database_id": DATABASE, "properties": {"Name": name, "Status": status}}),
            ))
            .await
            .unwrap();
    }
    let found = run(
        &registry,
        "notion",
        "query_database",
        &common::example(&registry, "notion", "query_database"),
    )
    .await;
    let names: Vec<&str> = found["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["properties"]["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "C"]);
    assert_eq!(found["has_more"], false);
    let (operation, query) = fake.lock().unwrap().seen.last().unwrap().clone();
    assert_eq!(operation, "post /v1/data_sources/{data_source_id}/query");
    assert_eq!(query["page_size"], 20);
    assert_eq!(
        query["sorts"],
        json!([{"property": "Due", "direction": "ascending"}])
    );
}

#[tokio::test]
async fn content_is_appended_a_hundred_blocks_a_request() {
    let (registry, fake) = notion().await;
    let page = registry
        .call(call(
            "create_page",
            json!({"database_id": DATABASE, "properties": {"Name": "Minutes"}}),
        ))
        .await
        .unwrap();
    let blocks: Vec<Value> = (0..150)
        .map(|n| json!({"type": "numbered_list_item", "text": format!("Point {n}")}))
        .collect();
    let appended = run(
        &registry,
        "notion",
        "append_blocks",
        &json!({"page_id": page["id"], "blocks": blocks}),
    )
    .await;
    assert_eq!(appended["appended"], 150);
    let sizes: Vec<usize> = fake
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|(operation, _)| operation == "patch /v1/blocks/{block_id}/children")
        .map(|(_, body)| body["children"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 50]);
}

#[tokio::test]
async fn new_and_changed_rows_are_found_from_where_the_last_look_ended() {
    let (registry, fake) = notion().await;
    let look = |event: &str, cursor: Option<Value>| PollCall {
        org_id: OrgId::new(),
        service: "notion".into(),
        event: event.into(),
        inputs: json!({"database_id": DATABASE}),
        cursor,
        secret: Some(Secret(json!({"access_token": "ntn_good"}))),
    };
    let old = registry
        .call(call(
            "create_page",
            json!({"database_id": DATABASE, "properties": {"Name": "Old"}}),
        ))
        .await
        .unwrap();
    {
        let mut fake = fake.lock().unwrap();
        fake.pages[0]["created_time"] = json!(stamp(60 * 24));
        fake.pages[0]["last_edited_time"] = json!(stamp(60 * 24));
    }
    let first = registry.poll(look("new_row", None)).await.unwrap();
    assert!(first.items.is_empty(), "the first look only marks the time");
    for name in ["One", "Two", "Three"] {
        registry
            .call(call(
                "create_page",
                json!({"database_id": DATABASE, "properties": {"Name": name}}),
            ))
            .await
            .unwrap();
    }
    let second = registry
        .poll(look("new_row", Some(first.cursor.clone())))
        .await
        .unwrap();
    let names: Vec<&str> = second
        .items
        .iter()
        .map(|(_, row)| row["properties"]["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["One", "Two", "Three"],
        "over two pages, the old row left out"
    );
    assert_eq!(
        second.items[0].0,
        format!("notion:{}", second.items[0].1["id"].as_str().unwrap())
    );

    registry
        .call(call(
            "update_page",
            json!({"page_id": old["id"], "properties": {"Status": "Done"}}),
        ))
        .await
        .unwrap();
    let changed = registry
        .poll(look("updated_row", Some(first.cursor)))
        .await
        .unwrap();
    let edited = changed
        .items
        .iter()
        .find(|(_, row)| row["properties"]["Name"] == "Old")
        .expect("the edited old row");
    assert!(
        edited
            .0
            .starts_with(&format!("notion:{}:", old["id"].as_str().unwrap())),
        "each edit its own delivery: {}",
        edited.0
    );
}

#[tokio::test]
async fn notions_errors_say_what_to_do_and_are_sorted_for_retries() {
    let (registry, _) = notion().await;
    let mut busy = call("get_page", json!({"page_id": "x"}));
    busy.secret = Some(Secret(json!({"access_token": "ntn_busy"})));
    let limited = registry.call(busy).await.unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(3)));
    let unshared = registry
        .call(call("get_page", json!({"page_id": "not-shared"})))
        .await
        .unwrap_err();
    assert_eq!(unshared.class, ErrorClass::Permanent);
    assert!(
        unshared
            .message
            .contains("share the page or database with the integration"),
        "{}",
        unshared.message
    );
    let mut revoked = call("get_page", json!({"page_id": "x"}));
    revoked.secret = Some(Secret(json!({"access_token": "ntn_revoked"})));
    assert_eq!(
        registry.call(revoked).await.unwrap_err().auth,
        Some(AuthProblem::Refused)
    );
    let nothing = registry
        .call(call("update_page", json!({"page_id": "x"})))
        .await
        .unwrap_err();
    assert!(
        nothing.message.contains("nothing to change"),
        "{}",
        nothing.message
    );
    let me = registry
        .authenticate("notion", &Secret(json!({"access_token": "ntn_good"})))
        .await
        .unwrap();
    assert_eq!(me, json!({"account": "Baton", "workspace": "Acme"}));
}

#[test]
fn notion_is_connected_with_oauth_or_a_pasted_secret() {
    let mut settings = ConnectorSettings {
        oauth_redirect_url: Some("https://baton.example/api/v1/credentials/oauth/callback".into()),
        ..Default::default()
    };
    settings.oauth.insert(
        "notion".into(),
        OAuthClientSettings {
            client_id: "notion-app".into(),
            client_secret: "s".into(),
            ..Default::default()
        },
    );
    let registry = Registry::new(&settings);
    let url = registry
        .authorization(
            "notion",
            "state",
            "verifier-verifier-verifier-verifier-verifier-1234",
        )
        .unwrap();
    assert!(
        url.starts_with("https://api.notion.com/v1/oauth/authorize?"),
        "{url}"
    );
    assert!(url.contains("owner=user"), "{url}");
    assert!(!url.contains("scope="), "Notion takes no scopes: {url}");
    let catalog = registry.catalog();
    let shown = catalog
        .iter()
        .find(|connector| connector["id"] == "notion")
        .unwrap();
    assert_eq!(shown["auth"]["kind"], "oauth2");
    assert_eq!(
        shown["auth"]["paste"]["label"],
        "Internal integration secret"
    );
}
