//! `hubspot`: contacts, companies and deals (create, change, read, search; a contact made or
//! changed by its email), a deal moved to another stage, notes and tasks on a record, and
//! records associated, through HubSpot's CRM API (v3 objects, v4 associations) with a private
//! app's access token pasted in or a token from connecting with OAuth (both
//! `{"access_token": "..."}`). Properties go and come as HubSpot keeps them: text by internal
//! name (`firstname`, `dealstage`, `amount`). HubSpot's webhooks are checked with
//! `X-HubSpot-Signature-v3`.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use hmac::{Hmac, KeyInit, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, PasteToken,
    RateLimit, inputs, output_schema,
};

pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// How far a delivery's `X-HubSpot-Request-Timestamp` may be from now.
const SIGNATURE_WINDOW_MS: i64 = 5 * 60 * 1000;

/// A kind of CRM record.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Contacts,
    Companies,
    Deals,
}

impl Record {
    fn path(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
        }
    }

    /// The properties asked for when none are named.
    fn shown(self) -> &'static str {
        match self {
            Self::Contacts => {
                "email,firstname,lastname,phone,company,jobtitle,lifecyclestage,hs_lead_status"
            }
            Self::Companies => "name,domain,phone,city,country,industry,numberofemployees",
            Self::Deals => "dealname,amount,dealstage,pipeline,closedate,hubspot_owner_id",
        }
    }
}

/// Properties by internal name; values are sent as text.
type Properties = BTreeMap<String, Value>;

/// `create_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    pub object: Record,
    /// By internal name, e.g. `{"email": "ann@customer.com", "firstname": "Ann"}`.
    pub properties: Properties,
}

/// `update_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecord {
    pub object: Record,
    /// The record's id; or, for a contact, its email with `by_email`.
    pub id: String,
    #[serde(default)]
    pub by_email: bool,
    pub properties: Properties,
}

/// `get_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRecord {
    pub object: Record,
    pub id: String,
    /// `id` is a contact's email.
    #[serde(default)]
    pub by_email: bool,
    /// Properties to read (the usual ones when not given).
    #[serde(default)]
    pub properties: Vec<String>,
}

/// One condition of a search.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A property's internal name.
    pub property: String,
    /// `EQ`, `NEQ`, `LT`, `LTE`, `GT`, `GTE`, `CONTAINS_TOKEN`, `HAS_PROPERTY`, ...
    #[serde(default = "equals")]
    pub operator: String,
    #[serde(default)]
    pub value: Option<Value>,
}

fn equals() -> String {
    "EQ".into()
}

/// `search_records`: records meeting every condition, or matching a text.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRecords {
    pub object: Record,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Text looked for in the usual properties (name, email, domain, ...).
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub properties: Vec<String>,
    /// At most this many (1 to 200; 20 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// `upsert_contact`: made if no contact has the email, changed if one has.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertContact {
    pub email: String,
    #[serde(default)]
    pub properties: Properties,
}

/// `move_deal`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDeal {
    pub deal_id: String,
    /// The stage's internal id, e.g. `qualifiedtobuy`, `closedwon`.
    pub stage: String,
}

/// The record a note or task goes on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct On {
    pub object: Record,
    pub id: String,
}

/// `add_note`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    pub on: On,
    /// The note (HTML allowed).
    pub body: String,
}

/// `add_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTask {
    pub on: On,
    pub subject: String,
    #[serde(default)]
    pub body: Option<String>,
    /// When it is due (RFC 3339); now when not given.
    #[serde(default)]
    pub due: Option<String>,
    /// `LOW`, `MEDIUM` or `HIGH`.
    #[serde(default)]
    pub priority: Option<String>,
}

/// `associate`: link two records (a contact to its company, a deal to its contact).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Associate {
    pub from: On,
    pub to: On,
}

fn record_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("properties", json!({"type": "object"})),
        ("created_at", json!({"type": ["string", "null"]})),
        ("updated_at", json!({"type": ["string", "null"]})),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "hubspot",
    name: "HubSpot",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://app.hubspot.com/oauth/authorize",
        token_url: "https://api.hubapi.com/oauth/v1/token",
        scopes: [
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.companies.read",
            "crm.objects.companies.write",
            "crm.objects.deals.read",
            "crm.objects.deals.write",
        ]
        .map(String::from)
        .to_vec(),
        scope_separator: " ",
        consent_params: &[],
        app_of: None,
        paste: Some(PasteToken {
            label: "Private app access token",
            hint: "In HubSpot: Settings, Integrations, Private Apps, your app (with CRM read and write scopes), Auth, Access token (pat-…).",
        }),
        secret_in_body: true,
    }),
    actions: vec![
        ActionDeclaration {
            id: "create_record",
            description: "Add a contact, company or deal with its properties.",
            input_schema: schemars::schema_for!(CreateRecord).to_value(),
            output_schema: record_schema(),
            example: json!({"object": "contacts", "properties": {"email": "ann@customer.com", "firstname": "Ann", "lastname": "Lee", "company": "Lee & Co"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "update_record",
            description: "Change a contact's, company's or deal's properties (a contact by email too).",
            input_schema: schemars::schema_for!(UpdateRecord).to_value(),
            output_schema: record_schema(),
            example: json!({"object": "contacts", "id": "ann@customer.com", "by_email": true, "properties": {"lifecyclestage": "opportunity"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "get_record",
            description: "Read a contact, company or deal (a contact by email too).",
            input_schema: schemars::schema_for!(GetRecord).to_value(),
            output_schema: record_schema(),
            example: json!({"object": "contacts", "id": "ann@customer.com", "by_email": true}),
            writes: false,
        },
        ActionDeclaration {
            id: "search_records",
            description: "Find contacts, companies or deals by their properties or a text.",
            input_schema: schemars::schema_for!(SearchRecords).to_value(),
            output_schema: output_schema(&[
                (
                    "records",
                    json!({"type": "array", "items": record_schema()}),
                ),
                ("count", json!({"type": "integer"})),
                ("total", json!({"type": "integer"})),
            ]),
            example: json!({"object": "deals", "conditions": [{"property": "dealstage", "value": "closedwon"}, {"property": "closedate", "operator": "GTE", "value": "2026-11-27"}], "properties": ["dealname", "amount"]}),
            writes: false,
        },
        ActionDeclaration {
            id: "upsert_contact",
            description: "Add a contact, or change the one with this email.",
            input_schema: schemars::schema_for!(UpsertContact).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("new", json!({"type": "boolean"})),
                ("properties", json!({"type": "object"})),
            ]),
            example: json!({"email": "ann@customer.com", "properties": {"firstname": "Ann", "hs_lead_status": "NEW"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "move_deal",
            description: "Move a deal to another stage of its pipeline.",
            input_schema: schemars::schema_for!(MoveDeal).to_value(),
            output_schema: record_schema(),
            example: json!({"deal_id": "18412049220", "stage": "closedwon"}),
            writes: true,
        },
        ActionDeclaration {
            id: "add_note",
            description: "Add a note to a contact, company or deal.",
            input_schema: schemars::schema_for!(AddNote).to_value(),
            output_schema: record_schema(),
            example: json!({"on": {"object": "contacts", "id": "101"}, "body": "Called: wants a quote for 50 units."}),
            writes: true,
        },
        ActionDeclaration {
            id: "add_task",
            description: "Add a to-do about a contact, company or deal.",
            input_schema: schemars::schema_for!(AddTask).to_value(),
            output_schema: record_schema(),
            example: json!({"on": {"object": "deals", "id": "18412049220"}, "subject": "Send the revised quote", "due": "2026-12-07T09:00:00Z", "priority": "HIGH"}),
            writes: true,
        },
        ActionDeclaration {
            id: "associate",
            description: "Link two records, e.g. a contact to its company.",
            input_schema: schemars::schema_for!(Associate).to_value(),
            output_schema: output_schema(&[("associated", json!({"type": "boolean"}))]),
            example: json!({"from": {"object": "contacts", "id": "101"}, "to": {"object": "companies", "id": "2001"}}),
            writes: true,
        },
    ],
    triggers: Vec::new(),
    // Private apps may make 100 requests every ten seconds.
    rate_limit: Some(RateLimit {
        requests: 100,
        per: Duration::from_secs(10),
    }),
});

/// HubSpot's own association type ids: a note or task to a contact, company or deal.
fn engagement_type(engagement: &str, to: Record) -> u32 {
    match (engagement, to) {
        ("notes", Record::Contacts) => 202,
        ("notes", Record::Companies) => 190,
        ("notes", Record::Deals) => 214,
        ("tasks", Record::Contacts) => 204,
        ("tasks", Record::Companies) => 192,
        // A task on a deal.
        _ => 216,
    }
}

/// Properties as HubSpot takes them: every value as text (a number `12` as `"12"`).
fn as_text(properties: &Properties) -> Value {
    Value::Object(
        properties
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(text) => Value::String(text.clone()),
                    Value::Null => Value::String(String::new()),
                    other => Value::String(other.to_string()),
                };
                (name.clone(), text)
            })
            .collect(),
    )
}

fn record_out(record: &Value) -> Value {
    json!({
        "id": record["id"],
        "properties": record["properties"].as_object().cloned().unwrap_or_default(),
        "created_at": record["createdAt"],
        "updated_at": record["updatedAt"],
    })
}

/// What HubSpot answered, or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let category = body["category"].as_str().unwrap_or_default();
    let message = format!(
        "hubspot answered HTTP {status} to {what}: {}{}",
        body["message"].as_str().unwrap_or("no reason given"),
        if category.is_empty() {
            String::new()
        } else {
            format!(" ({category})")
        }
    );
    Err(match (status, category) {
        (429, _) | (_, "RATE_LIMITS") => {
            let error = StepError::transient(message);
            error.with_retry_after(retry_after.unwrap_or(Duration::from_secs(10)))
        }
        (401, _) => StepError::unauthorized(format!(
            "{message} (check the hubspot credential: the token may have been rotated)"
        )),
        (403, _) => StepError::permanent(format!(
            "{message}: give the private app or connection the scopes this needs"
        )),
        (500..=599, _) => StepError::transient(message),
        _ => StepError::permanent(message),
    })
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("access_token"))
        .ok_or_else(|| {
            StepError::permanent(
                "there is no hubspot credential: connect HubSpot, or store a private app's access token as `access_token`",
            )
        })
}

pub struct HubSpot {
    client: reqwest::Client,
    base_url: String,
}

impl HubSpot {
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
        let (status, retry_after, body) = crate::exchange("hubspot", what, request).await?;
        answered(what, status, retry_after, body)
    }

    /// A note or task made on a record.
    async fn engagement(
        &self,
        token: &str,
        kind: &'static str,
        on: &On,
        properties: Value,
    ) -> Result<Value, StepError> {
        let made = self
            .send(
                &format!("{kind}.create"),
                token,
                reqwest::Method::POST,
                &format!("/crm/v3/objects/{kind}"),
                &[],
                Some(json!({
                    "properties": properties,
                    "associations": [{
                        "to": {"id": on.id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": engagement_type(kind, on.object)}],
                    }],
                })),
            )
            .await?;
        Ok(record_out(&made))
    }
}

#[async_trait]
impl Connector for HubSpot {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        let objects = |record: Record| format!("/crm/v3/objects/{}", record.path());
        let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match call.action.as_str() {
            "create_record" => {
                let input: CreateRecord = inputs(call)?;
                let made = self
                    .send(
                        "objects.create",
                        token,
                        reqwest::Method::POST,
                        &objects(input.object),
                        &[],
                        Some(json!({"properties": as_text(&input.properties), "associations": []})),
                    )
                    .await?;
                Ok(record_out(&made))
            }
            "update_record" => {
                let input: UpdateRecord = inputs(call)?;
                let mut query = Vec::new();
                if input.by_email {
                    query.push(("idProperty", "email".to_owned()));
                }
                let changed = self
                    .send(
                        "objects.update",
                        token,
                        reqwest::Method::PATCH,
                        &format!("{}/{}", objects(input.object), crate::segment(&input.id)),
                        &query,
                        Some(json!({"properties": as_text(&input.properties)})),
                    )
                    .await?;
                Ok(record_out(&changed))
            }
            "get_record" => {
                let input: GetRecord = inputs(call)?;
                let shown = if input.properties.is_empty() {
                    input.object.shown().to_owned()
                } else {
                    input.properties.join(",")
                };
                let mut query = vec![("properties", shown)];
                if input.by_email {
                    query.push(("idProperty", "email".to_owned()));
                }
                let record = self
                    .send(
                        "objects.get",
                        token,
                        reqwest::Method::GET,
                        &format!("{}/{}", objects(input.object), crate::segment(&input.id)),
                        &query,
                        None,
                    )
                    .await?;
                Ok(record_out(&record))
            }
            "search_records" => {
                let input: SearchRecords = inputs(call)?;
                let filters: Vec<Value> = input
                    .conditions
                    .iter()
                    .map(|condition| {
                        let mut filter = json!({"propertyName": condition.property, "operator": condition.operator.to_ascii_uppercase()});
                        if let Some(value) = &condition.value {
                            filter["value"] = match value {
                                Value::String(text) => json!(text),
                                other => json!(other.to_string()),
                            };
                        }
                        filter
                    })
                    .collect();
                let properties: Vec<String> = if input.properties.is_empty() {
                    input.object.shown().split(',').map(str::to_owned).collect()
                } else {
                    input.properties
                };
                let mut body = json!({
                    "filterGroups": if filters.is_empty() { json!([]) } else { json!([{"filters": filters}]) },
                    "properties": properties,
                    "sorts": [],
                    "limit": input.limit.unwrap_or(20).clamp(1, 200),
                    "after": "0",
                });
                if let Some(query) = input.query {
                    body["query"] = json!(query);
                }
                let found = self
                    .send(
                        "objects.search",
                        token,
                        reqwest::Method::POST,
                        &format!("{}/search", objects(input.object)),
                        &[],
                        Some(body),
                    )
                    .await?;
                let records: Vec<Value> = found["results"]
                    .as_array()
                    .map(|records| records.iter().map(record_out).collect())
                    .unwrap_or_default();
                Ok(
                    json!({"count": records.len(), "total": found["total"].as_i64().unwrap_or(records.len() as i64), "records": records}),
                )
            }
            "upsert_contact" => {
                let input: UpsertContact = inputs(call)?;
                let mut properties = as_text(&input.properties);
                properties["email"] = json!(input.email.trim());
                let answer = self
                    .send(
                        "contacts.upsert",
                        token,
                        reqwest::Method::POST,
                        "/crm/v3/objects/contacts/batch/upsert",
                        &[],
                        Some(json!({"inputs": [{"id": input.email.trim(), "idProperty": "email", "properties": properties}]})),
                    )
                    .await?;
                let result = &answer["results"][0];
                Ok(json!({
                    "id": result["id"],
                    "new": result["new"].as_bool().unwrap_or(false),
                    "properties": result["properties"].as_object().cloned().unwrap_or_default(),
                }))
            }
            "move_deal" => {
                let input: MoveDeal = inputs(call)?;
                let moved = self
                    .send(
                        "deals.update",
                        token,
                        reqwest::Method::PATCH,
                        &format!("/crm/v3/objects/deals/{}", crate::segment(&input.deal_id)),
                        &[],
                        Some(json!({"properties": {"dealstage": input.stage}})),
                    )
                    .await?;
                Ok(record_out(&moved))
            }
            "add_note" => {
                let input: AddNote = inputs(call)?;
                self.engagement(
                    token,
                    "notes",
                    &input.on,
                    json!({"hs_note_body": input.body, "hs_timestamp": now()}),
                )
                .await
            }
            "add_task" => {
                let input: AddTask = inputs(call)?;
                let mut properties = json!({
                    "hs_task_subject": input.subject,
                    "hs_task_status": "NOT_STARTED",
                    "hs_timestamp": input.due.unwrap_or_else(now),
                });
                if let Some(body) = input.body {
                    properties["hs_task_body"] = json!(body);
                }
                if let Some(priority) = input.priority {
                    properties["hs_task_priority"] = json!(priority.to_ascii_uppercase());
                }
                self.engagement(token, "tasks", &input.on, properties).await
            }
            "associate" => {
                let input: Associate = inputs(call)?;
                self.send(
                    "associations.create_default",
                    token,
                    reqwest::Method::PUT,
                    &format!(
                        "/crm/v4/objects/{}/{}/associations/default/{}/{}",
                        input.from.object.path(),
                        crate::segment(&input.from.id),
                        input.to.object.path(),
                        crate::segment(&input.to.id)
                    ),
                    &[],
                    None,
                )
                .await?;
                Ok(json!({"associated": true}))
            }
            other => Err(StepError::permanent(format!(
                "hubspot has no action {other:?}"
            ))),
        }
    }

    /// `X-HubSpot-Signature-v3`: base64 of HMAC-SHA256, under the app's client secret, of the
    /// method, the URL HubSpot called, the body and `X-HubSpot-Request-Timestamp` (milliseconds,
    /// within five minutes). A delivery HubSpot sends again runs once.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        let secret = incoming.secret.ok_or(
            "this hook checks HubSpot's signatures but has no secret: give it your HubSpot app's client secret (the app's Auth tab)",
        )?;
        let timestamp = incoming
            .header("x-hubspot-request-timestamp")
            .and_then(|value| value.trim().parse::<i64>().ok())
            .ok_or("X-HubSpot-Request-Timestamp is missing or not a number of milliseconds")?;
        if (chrono::Utc::now().timestamp_millis() - timestamp).abs() > SIGNATURE_WINDOW_MS {
            return Err(
                "X-HubSpot-Request-Timestamp is more than five minutes from now: a late or replayed delivery"
                    .into(),
            );
        }
        let given = incoming
            .header("x-hubspot-signature-v3")
            .and_then(|value| {
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()
            })
            .ok_or("X-HubSpot-Signature-v3 is missing")?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| "the hook's secret cannot key a signature".to_owned())?;
        mac.update(incoming.method.as_bytes());
        mac.update(incoming.url.as_bytes());
        mac.update(incoming.body);
        mac.update(timestamp.to_string().as_bytes());
        if mac.verify_slice(&given).is_err() {
            return Err(
                "the request is not signed with this hook's HubSpot client secret (X-HubSpot-Signature-v3)"
                    .into(),
            );
        }
        Ok(WebhookOutcome::Run {
            delivery_id: Some(crate::webhook::body_delivery("hubspot", incoming.body)),
        })
    }

    /// `GET /crm/v3/objects/contacts?limit=1`: the cheapest call a CRM token can make.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = token(Some(secret))?;
        let contacts = self
            .send(
                "contacts.list",
                token,
                reqwest::Method::GET,
                "/crm/v3/objects/contacts",
                &[("limit", "1".to_owned())],
                None,
            )
            .await?;
        Ok(json!({"reads_contacts": contacts["results"].is_array()}))
    }
}
