//! `notion`: query a database, add a row with typed properties, change a row, append content
//! and read a page, through Notion's API (version 2025-09-03) with an internal integration's
//! secret pasted in or a token from connecting with OAuth (both `{"access_token": "..."}`).
//! Steps give and get plain values: `{"Status": "Done", "Due": "2026-12-07", "Tags": ["vip"]}`
//! is turned into Notion's property objects by each property's type in the database, and
//! rows come back the same way. Its triggers look for rows added, or changed, since the last
//! look.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, PollCall, Polled, Secret};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, PasteToken,
    RateLimit, TriggerDeclaration, inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://api.notion.com";

/// The API version every request names (`Notion-Version`).
pub const API_VERSION: &str = "2025-09-03";

/// Notion's limit on one rich text object's content, and on the blocks one request appends.
const MAX_TEXT: usize = 2000;
const MAX_BLOCKS: usize = 100;

/// The most result pages one look reads (100 rows each).
const MAX_PAGES: usize = 10;

/// How far back a look reaches before the last one ended: Notion keeps edit times to the
/// minute (a row seen twice is still delivered once).
const OVERLAP_SECONDS: i64 = 120;

/// `query_database`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryDatabase {
    /// The database's id: the 32 characters in its URL.
    pub database_id: String,
    /// Notion's filter, e.g. `{"property": "Status", "status": {"equals": "To do"}}`.
    #[serde(default)]
    pub filter: Option<Value>,
    /// Notion's sorts, e.g. `[{"property": "Due", "direction": "ascending"}]`.
    #[serde(default)]
    pub sorts: Option<Vec<Value>>,
    /// At most this many rows (1 to 100; 100 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// Where the last page of rows ended (`next_cursor`).
    #[serde(default)]
    pub start_cursor: Option<String>,
}

/// A block of content, by its kind.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Paragraph,
    #[serde(rename = "heading_1")]
    Heading1,
    #[serde(rename = "heading_2")]
    Heading2,
    #[serde(rename = "heading_3")]
    Heading3,
    BulletedListItem,
    NumberedListItem,
    ToDo,
    Quote,
}

impl BlockKind {
    fn name(self) -> &'static str {
        match self {
            Self::Paragraph => "paragraph",
            Self::Heading1 => "heading_1",
            Self::Heading2 => "heading_2",
            Self::Heading3 => "heading_3",
            Self::BulletedListItem => "bulleted_list_item",
            Self::NumberedListItem => "numbered_list_item",
            Self::ToDo => "to_do",
            Self::Quote => "quote",
        }
    }
}

/// One block of content: a paragraph, a heading, a list item or a to-do.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// `paragraph` when not given.
    #[serde(default, rename = "type")]
    pub kind: Option<BlockKind>,
    pub text: String,
    /// A to-do's tick.
    #[serde(default)]
    pub checked: Option<bool>,
}

/// `create_page`: a row in a database.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePage {
    pub database_id: String,
    /// The row's values by property name: text, a number, an option's name, a list of
    /// names, a date (`2026-12-07` or `{"start": ..., "end": ...}`), true or false.
    pub properties: Map<String, Value>,
    /// Content for the page itself.
    #[serde(default)]
    pub content: Vec<Block>,
}

/// `update_page`: the properties given change; the rest stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePage {
    pub page_id: String,
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// Move the page to the trash (`true`) or back (`false`).
    #[serde(default)]
    pub trash: Option<bool>,
}

/// `append_blocks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendBlocks {
    pub page_id: String,
    #[schemars(length(min = 1))]
    pub blocks: Vec<Block>,
}

/// `get_page`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPage {
    pub page_id: String,
}

/// The triggers' settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchDatabase {
    pub database_id: String,
}

fn page_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("url", text_or_null()),
        ("created_time", text_or_null()),
        ("last_edited_time", text_or_null()),
        ("in_trash", json!({"type": "boolean"})),
        ("properties", json!({"type": "object"})),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "notion",
    name: "Notion",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://api.notion.com/v1/oauth/authorize",
        token_url: "https://api.notion.com/v1/oauth/token",
        // What a connection may reach is chosen on Notion's consent page, page by page.
        scopes: Vec::new(),
        scope_separator: " ",
        consent_params: &[("owner", "user")],
        app_of: None,
        paste: Some(PasteToken {
            label: "Internal integration secret",
            hint: "In Notion: Settings, Connections, Develop or manage integrations, your integration, Internal Integration Secret (ntn_…). Then share each database with the integration (its ••• menu, Connections).",
        }),
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "query_database",
            description: "Rows of a database, filtered and sorted, with plain values.",
            input_schema: schemars::schema_for!(QueryDatabase).to_value(),
            output_schema: output_schema(&[
                ("rows", json!({"type": "array", "items": page_schema()})),
                ("count", json!({"type": "integer"})),
                ("has_more", json!({"type": "boolean"})),
                ("next_cursor", text_or_null()),
            ]),
            example: json!({"database_id": "8e2c2f3b9d4a4e0f8a1b2c3d4e5f6a7b", "filter": {"property": "Status", "status": {"equals": "To do"}}, "sorts": [{"property": "Due", "direction": "ascending"}], "limit": 20}),
            writes: false,
        },
        ActionDeclaration {
            id: "create_page",
            description: "Add a row to a database, values by property name, with content.",
            input_schema: schemars::schema_for!(CreatePage).to_value(),
            output_schema: page_schema(),
            example: json!({"database_id": "8e2c2f3b9d4a4e0f8a1b2c3d4e5f6a7b", "properties": {"Name": "Call Ann about the quote", "Status": "To do", "Due": "2026-12-07", "Tags": ["sales"]}, "content": [{"type": "heading_2", "text": "Notes"}, {"text": "She asked for a discount on 50 units."}, {"type": "to_do", "text": "Send the revised quote"}]}),
            writes: true,
        },
        ActionDeclaration {
            id: "update_page",
            description: "Change a row's values, or move it to the trash.",
            input_schema: schemars::schema_for!(UpdatePage).to_value(),
            output_schema: page_schema(),
            example: json!({"page_id": "{{trigger.id}}", "properties": {"Status": "Done"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "append_blocks",
            description: "Add paragraphs, headings, list items or to-dos to a page.",
            input_schema: schemars::schema_for!(AppendBlocks).to_value(),
            output_schema: output_schema(&[("appended", json!({"type": "integer"}))]),
            example: json!({"page_id": "{{trigger.id}}", "blocks": [{"type": "bulleted_list_item", "text": "Booked for Tuesday"}]}),
            writes: true,
        },
        ActionDeclaration {
            id: "get_page",
            description: "Read a page's values.",
            input_schema: schemars::schema_for!(GetPage).to_value(),
            output_schema: page_schema(),
            example: json!({"page_id": "{{trigger.id}}"}),
            writes: false,
        },
    ],
    triggers: vec![
        TriggerDeclaration {
            id: "new_row",
            description: "A row is added to a database.",
            input_schema: schemars::schema_for!(WatchDatabase).to_value(),
            example: json!({"id": "59833787-2cf9-4fdf-8782-e53db20768a5", "url": "https://www.notion.so/Call-Ann-598337872cf94fdf8782e53db20768a5", "created_time": "2026-12-04T09:15:00.000Z", "last_edited_time": "2026-12-04T09:15:00.000Z", "in_trash": false, "properties": {"Name": "Call Ann about the quote", "Status": "To do", "Due": "2026-12-07", "Tags": ["sales"]}}),
        },
        TriggerDeclaration {
            id: "updated_row",
            description: "A row of a database is added or changed (each change runs once).",
            input_schema: schemars::schema_for!(WatchDatabase).to_value(),
            example: json!({"id": "59833787-2cf9-4fdf-8782-e53db20768a5", "url": "https://www.notion.so/Call-Ann-598337872cf94fdf8782e53db20768a5", "created_time": "2026-12-04T09:15:00.000Z", "last_edited_time": "2026-12-04T11:02:00.000Z", "in_trash": false, "properties": {"Name": "Call Ann about the quote", "Status": "Done"}}),
        },
    ],
    // Notion allows an average of three requests a second per connection.
    rate_limit: Some(RateLimit {
        requests: 3,
        per: Duration::from_secs(1),
    }),
});

/// Text as Notion's rich text: pieces of at most 2000 characters.
fn rich_text(text: &str) -> Value {
    let chars: Vec<char> = text.chars().collect();
    let pieces: Vec<Value> = chars
        .chunks(MAX_TEXT)
        .map(|piece| json!({"type": "text", "text": {"content": piece.iter().collect::<String>()}}))
        .collect();
    Value::Array(pieces)
}

/// Rich text as plain text.
fn plain(rich: &Value) -> String {
    rich.as_array()
        .map(|pieces| {
            pieces
                .iter()
                .filter_map(|piece| {
                    piece["plain_text"]
                        .as_str()
                        .or(piece["text"]["content"].as_str())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn block(given: &Block) -> Value {
    let kind = given.kind.unwrap_or(BlockKind::Paragraph).name();
    let mut body = json!({"rich_text": rich_text(&given.text)});
    if kind == "to_do" {
        body["checked"] = json!(given.checked.unwrap_or(false));
    }
    json!({"type": kind, kind: body})
}

/// A plain value as the property object of a property of type `kind`.
fn encode(name: &str, kind: &str, value: &Value) -> Result<Value, String> {
    let text = || match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(yes) => Ok(yes.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("`{name}` is a {kind} property: give text")),
    };
    let names = || -> Result<Vec<String>, String> {
        match value {
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        format!("`{name}` is a {kind} property: give a list of names")
                    })
                })
                .collect(),
            Value::String(text) => Ok(text
                .split(',')
                .map(|part| part.trim().to_owned())
                .filter(|part| !part.is_empty())
                .collect()),
            Value::Null => Ok(Vec::new()),
            _ => Err(format!(
                "`{name}` is a {kind} property: give a list of names"
            )),
        }
    };
    Ok(match kind {
        "title" | "rich_text" => json!({kind: rich_text(&text()?)}),
        "number" => match value {
            Value::Number(_) | Value::Null => json!({"number": value}),
            Value::String(text) => json!({"number": text.trim().parse::<f64>().map_err(|_| {
                format!("`{name}` is a number property and {text:?} is not a number")
            })?}),
            _ => return Err(format!("`{name}` is a number property: give a number")),
        },
        "select" | "status" => match value {
            Value::Null => json!({kind: null}),
            _ => json!({kind: {"name": text()?}}),
        },
        "multi_select" => {
            json!({"multi_select": names()?.into_iter().map(|name| json!({"name": name})).collect::<Vec<_>>()})
        }
        "date" => match value {
            Value::Null => json!({"date": null}),
            Value::String(start) => json!({"date": {"start": start}}),
            Value::Object(range) if range.contains_key("start") => json!({"date": range}),
            _ => {
                return Err(format!(
                    "`{name}` is a date property: give a date such as 2026-12-07, or {{\"start\": ..., \"end\": ...}}"
                ));
            }
        },
        "checkbox" => match value {
            Value::Bool(yes) => json!({"checkbox": yes}),
            Value::String(text) => {
                json!({"checkbox": matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1")})
            }
            _ => {
                return Err(format!(
                    "`{name}` is a checkbox property: give true or false"
                ));
            }
        },
        "url" | "email" | "phone_number" => match value {
            Value::Null => json!({kind: null}),
            _ => json!({kind: text()?}),
        },
        "people" | "relation" => {
            json!({kind: names()?.into_iter().map(|id| json!({"id": id})).collect::<Vec<_>>()})
        }
        other => {
            return Err(format!(
                "`{name}` is a {other} property, which Notion works out itself: it cannot be set"
            ));
        }
    })
}

/// A property object as a plain value.
fn decode(property: &Value) -> Value {
    let kind = property["type"].as_str().unwrap_or_default();
    let inner = &property[kind];
    match kind {
        "title" | "rich_text" => json!(plain(inner)),
        "select" | "status" => inner["name"].clone(),
        "multi_select" => json!(
            inner
                .as_array()
                .map(|options| options
                    .iter()
                    .map(|option| option["name"].clone())
                    .collect::<Vec<_>>())
                .unwrap_or_default()
        ),
        "date" => {
            if inner.is_null() {
                Value::Null
            } else if inner["end"].is_null() {
                inner["start"].clone()
            } else {
                json!({"start": inner["start"], "end": inner["end"]})
            }
        }
        "people" => json!(
            inner
                .as_array()
                .map(|people| people
                    .iter()
                    .map(|person| person["person"]["email"]
                        .as_str()
                        .or(person["name"].as_str())
                        .map_or(person["id"].clone(), |known| json!(known)))
                    .collect::<Vec<_>>())
                .unwrap_or_default()
        ),
        "relation" => json!(
            inner
                .as_array()
                .map(|links| links
                    .iter()
                    .map(|link| link["id"].clone())
                    .collect::<Vec<_>>())
                .unwrap_or_default()
        ),
        "files" => json!(
            inner
                .as_array()
                .map(|files| files
                    .iter()
                    .map(|file| file["external"]["url"]
                        .as_str()
                        .or(file["file"]["url"].as_str())
                        .map_or(Value::Null, |url| json!(url)))
                    .collect::<Vec<_>>())
                .unwrap_or_default()
        ),
        "formula" => {
            let shown = inner["type"].as_str().unwrap_or_default();
            inner[shown].clone()
        }
        "unique_id" => match inner["prefix"].as_str() {
            Some(prefix) => json!(format!("{prefix}-{}", inner["number"])),
            None => inner["number"].clone(),
        },
        "created_by" | "last_edited_by" => inner["name"].clone(),
        _ => inner.clone(),
    }
}

/// A page as a step reads it: its values by property name.
fn page_out(page: &Value) -> Value {
    let properties: Map<String, Value> = page["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| (name.clone(), decode(property)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": page["id"],
        "url": page["url"],
        "created_time": page["created_time"],
        "last_edited_time": page["last_edited_time"],
        "in_trash": page["in_trash"].as_bool().or(page["archived"].as_bool()).unwrap_or(false),
        "properties": properties,
    })
}

/// `values` as Notion's property objects, by the types in `schema` (property name → object
/// with `type`); every problem named.
fn encode_all(
    schema: &Value,
    values: &Map<String, Value>,
    action: &str,
) -> Result<Value, StepError> {
    let mut encoded = Map::new();
    let mut problems = Vec::new();
    for (name, value) in values {
        match schema[name]["type"].as_str() {
            Some(kind) => match encode(name, kind, value) {
                Ok(property) => {
                    encoded.insert(name.clone(), property);
                }
                Err(problem) => problems.push(problem),
            },
            None => {
                let known: Vec<&str> = schema
                    .as_object()
                    .map(|all| all.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                problems.push(format!(
                    "there is no property `{name}` (it has: {})",
                    known.join(", ")
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(encoded))
    } else {
        Err(StepError::permanent(format!(
            "notion {action} inputs: {}",
            problems.join("; ")
        )))
    }
}

/// What Notion answered, or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let code = body["code"].as_str().unwrap_or_default();
    let message = format!(
        "notion answered HTTP {status} to {what}: {} ({code})",
        body["message"].as_str().unwrap_or("no reason given")
    );
    Err(match (status, code) {
        (429, _) | (_, "rate_limited") => {
            let error = StepError::transient(message);
            match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        }
        (401, _) | (_, "unauthorized") => StepError::unauthorized(format!(
            "{message} (check the notion credential: the integration may have been removed)"
        )),
        (403 | 404, "restricted_resource" | "object_not_found") => StepError::permanent(format!(
            "{message}: share the page or database with the integration in Notion (its ••• menu, Connections)"
        )),
        (409, _) | (500..=599, _) => StepError::transient(message),
        _ => StepError::permanent(message),
    })
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("access_token"))
        .ok_or_else(|| {
            StepError::permanent(
                "there is no notion credential: connect Notion, or store an internal integration secret as `access_token`",
            )
        })
}

pub struct Notion {
    client: reqwest::Client,
    base_url: String,
}

impl Notion {
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
        body: Option<&Value>,
    ) -> Result<Value, StepError> {
        let request = crate::bearer_request(
            &self.client,
            method,
            format!("{}{path}", self.base_url),
            token,
            &[],
            body,
        )
        .header("Notion-Version", API_VERSION);
        let (status, retry_after, body) = crate::exchange("notion", what, request).await?;
        answered(what, status, retry_after, body)
    }

    /// A database's (first) data source: its id and its properties by name.
    async fn data_source(
        &self,
        token: &str,
        database_id: &str,
    ) -> Result<(String, Value), StepError> {
        let database = self
            .send(
                "databases.retrieve",
                token,
                reqwest::Method::GET,
                &format!("/v1/databases/{}", crate::segment(database_id)),
                None,
            )
            .await?;
        let source = database["data_sources"][0]["id"]
            .as_str()
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "notion database {database_id} has no data source to read"
                ))
            })?
            .to_owned();
        let described = self
            .send(
                "data_sources.retrieve",
                token,
                reqwest::Method::GET,
                &format!("/v1/data_sources/{}", crate::segment(&source)),
                None,
            )
            .await?;
        Ok((source, described["properties"].clone()))
    }

    /// One page of a data source's rows.
    async fn query(&self, token: &str, source: &str, body: &Value) -> Result<Value, StepError> {
        self.send(
            "data_sources.query",
            token,
            reqwest::Method::POST,
            &format!("/v1/data_sources/{}/query", crate::segment(source)),
            Some(body),
        )
        .await
    }

    /// Appends blocks to a page, 100 a request.
    async fn append(
        &self,
        token: &str,
        page_id: &str,
        blocks: &[Block],
    ) -> Result<usize, StepError> {
        for chunk in blocks.chunks(MAX_BLOCKS) {
            let children: Vec<Value> = chunk.iter().map(block).collect();
            self.send(
                "blocks.children.append",
                token,
                reqwest::Method::PATCH,
                &format!("/v1/blocks/{}/children", crate::segment(page_id)),
                Some(&json!({"children": children})),
            )
            .await?;
        }
        Ok(blocks.len())
    }
}

#[async_trait]
impl Connector for Notion {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        match call.action.as_str() {
            "query_database" => {
                let input: QueryDatabase = inputs(call)?;
                let (source, _) = self.data_source(token, &input.database_id).await?;
                let mut body = json!({"page_size": input.limit.unwrap_or(100).clamp(1, 100)});
                if let Some(filter) = input.filter {
                    body["filter"] = filter;
                }
                if let Some(sorts) = input.sorts {
                    body["sorts"] = json!(sorts);
                }
                if let Some(cursor) = input.start_cursor {
                    body["start_cursor"] = json!(cursor);
                }
                let found = self.query(token, &source, &body).await?;
                let rows: Vec<Value> = found["results"]
                    .as_array()
                    .map(|rows| rows.iter().map(page_out).collect())
                    .unwrap_or_default();
                Ok(json!({
                    "count": rows.len(),
                    "rows": rows,
                    "has_more": found["has_more"].as_bool().unwrap_or(false),
                    "next_cursor": found["next_cursor"],
                }))
            }
            "create_page" => {
                let input: CreatePage = inputs(call)?;
                let (_, schema) = self.data_source(token, &input.database_id).await?;
                let properties = encode_all(&schema, &input.properties, "create_page")?;
                let (first, rest) = input.content.split_at(input.content.len().min(MAX_BLOCKS));
                let page = self
                    .send(
                        "pages.create",
                        token,
                        reqwest::Method::POST,
                        "/v1/pages",
                        Some(&json!({
                            "parent": {"database_id": input.database_id.trim()},
                            "properties": properties,
                            "children": first.iter().map(block).collect::<Vec<_>>(),
                        })),
                    )
                    .await?;
                if !rest.is_empty() {
                    let id = page["id"].as_str().unwrap_or_default();
                    self.append(token, id, rest).await?;
                }
                Ok(page_out(&page))
            }
            "update_page" => {
                let input: UpdatePage = inputs(call)?;
                if input.properties.is_empty() && input.trash.is_none() {
                    return Err(StepError::permanent(
                        "notion update_page inputs: nothing to change; give `properties` or `trash`",
                    ));
                }
                let path = format!("/v1/pages/{}", crate::segment(&input.page_id));
                let mut body = json!({});
                if !input.properties.is_empty() {
                    // The page's own properties carry their types.
                    let page = self
                        .send("pages.retrieve", token, reqwest::Method::GET, &path, None)
                        .await?;
                    body["properties"] =
                        encode_all(&page["properties"], &input.properties, "update_page")?;
                }
                if let Some(trash) = input.trash {
                    body["in_trash"] = json!(trash);
                }
                let page = self
                    .send(
                        "pages.update",
                        token,
                        reqwest::Method::PATCH,
                        &path,
                        Some(&body),
                    )
                    .await?;
                Ok(page_out(&page))
            }
            "append_blocks" => {
                let input: AppendBlocks = inputs(call)?;
                let appended = self.append(token, &input.page_id, &input.blocks).await?;
                Ok(json!({"appended": appended}))
            }
            "get_page" => {
                let input: GetPage = inputs(call)?;
                let page = self
                    .send(
                        "pages.retrieve",
                        token,
                        reqwest::Method::GET,
                        &format!("/v1/pages/{}", crate::segment(&input.page_id)),
                        None,
                    )
                    .await?;
                Ok(page_out(&page))
            }
            other => Err(StepError::permanent(format!(
                "notion has no action {other:?}"
            ))),
        }
    }

    /// Rows created (`new_row`) or edited (`updated_row`) since the last look, the oldest
    /// first; a row runs once, or once per edit for `updated_row`. The first look only marks
    /// the time.
    async fn poll(&self, call: &PollCall) -> Result<Polled, StepError> {
        let stamp = match call.event.as_str() {
            "new_row" => "created_time",
            "updated_row" => "last_edited_time",
            other => {
                return Err(StepError::permanent(format!(
                    "notion has no event {other:?}"
                )));
            }
        };
        let token = token(call.secret.as_ref())?;
        let input: WatchDatabase =
            serde_json::from_value(call.inputs.clone()).map_err(|error| {
                StepError::permanent(format!("notion {} inputs: {error}", call.event))
            })?;
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
        let from = (since - chrono::Duration::seconds(OVERLAP_SECONDS))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (source, _) = self.data_source(token, &input.database_id).await?;
        let mut body = json!({
            "filter": {"timestamp": stamp, stamp: {"on_or_after": from}},
            "page_size": 100,
        });
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let found = self.query(token, &source, &body).await?;
            for row in found["results"].as_array().into_iter().flatten() {
                let Some(id) = row["id"].as_str() else {
                    continue;
                };
                let delivery = if stamp == "created_time" {
                    format!("notion:{id}")
                } else {
                    format!(
                        "notion:{id}:{}",
                        row["last_edited_time"].as_str().unwrap_or_default()
                    )
                };
                items.push((delivery, page_out(row)));
            }
            match found["next_cursor"].as_str() {
                Some(next) if found["has_more"] == true => body["start_cursor"] = json!(next),
                _ => break,
            }
        }
        // The oldest first (RFC 3339 in UTC sorts as text).
        items.sort_by(|(_, a), (_, b)| a[stamp].as_str().cmp(&b[stamp].as_str()));
        Ok(Polled {
            items,
            cursor: next_cursor,
        })
    }

    /// `GET /v1/users/me`: the integration and its workspace.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = token(Some(secret))?;
        let me = self
            .send(
                "users.me",
                token,
                reqwest::Method::GET,
                "/v1/users/me",
                None,
            )
            .await?;
        Ok(json!({"account": me["name"], "workspace": me["bot"]["workspace_name"]}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_become_notions_properties_by_type() {
        assert_eq!(
            encode("Name", "title", &json!("Call Ann")).unwrap(),
            json!({"title": [{"type": "text", "text": {"content": "Call Ann"}}]})
        );
        assert_eq!(
            encode("Qty", "number", &json!("12")).unwrap(),
            json!({"number": 12.0})
        );
        assert!(
            encode("Qty", "number", &json!("a dozen"))
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(
            encode("Tags", "multi_select", &json!("vip, sales")).unwrap(),
            json!({"multi_select": [{"name": "vip"}, {"name": "sales"}]})
        );
        assert_eq!(
            encode("Done", "checkbox", &json!("yes")).unwrap(),
            json!({"checkbox": true})
        );
        assert!(
            encode("Total", "formula", &json!(1))
                .unwrap_err()
                .contains("cannot be set")
        );
        let long = "x".repeat(4500);
        assert_eq!(
            rich_text(&long).as_array().unwrap().len(),
            3,
            "2000 characters a piece"
        );
    }

    #[test]
    fn notions_properties_read_as_plain_values() {
        let page = json!({"id": "p1", "properties": {
            "Name": {"type": "title", "title": [{"plain_text": "Call ", "text": {"content": "Call "}}, {"plain_text": "Ann"}]},
            "Status": {"type": "status", "status": {"name": "Done"}},
            "Tags": {"type": "multi_select", "multi_select": [{"name": "vip"}]},
            "Due": {"type": "date", "date": {"start": "2026-12-07", "end": null}},
            "Total": {"type": "formula", "formula": {"type": "number", "number": 42}},
            "Ref": {"type": "unique_id", "unique_id": {"prefix": "TASK", "number": 7}}
        }});
        assert_eq!(
            page_out(&page)["properties"],
            json!({"Name": "Call Ann", "Status": "Done", "Tags": ["vip"], "Due": "2026-12-07", "Total": 42, "Ref": "TASK-7"})
        );
    }
}
