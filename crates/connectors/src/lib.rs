//! Baton's connectors: one module per external service. Each connector declares itself (a
//! stable snake_case id, its name, category, auth kind and actions with JSON Schemas for their
//! inputs) and implements its calls; the [`Registry`] lists them, in one sorted place, and is
//! what the engine calls through.

pub mod address;
pub mod asana;
pub mod calendly;
pub mod catch_hook;
pub mod email;
pub mod gmail;
pub mod google;
pub mod google_calendar;
pub mod http;
pub mod hubspot;
pub mod llm;
pub mod notion;
pub mod oauth;
pub mod resend;
pub mod slack;
pub mod stripe;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{
    ActionCall, Connectors, IncomingWebhook, PollCall, Polled, Secret, WebhookOutcome,
};
use serde::Serialize;
use serde_json::Value;

pub use address::{AddressPolicy, PolicyError};
pub use baton_engine::throttle::RateLimit;
pub use oauth::{OAuthClientSettings, OAuthEndpoints, PasteToken};

/// What kind of service a connector talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Ai,
    Business,
    Utility,
}

/// How a connector authenticates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthKind {
    None,
    ApiKey,
    #[serde(rename = "oauth2")]
    OAuth2(OAuthEndpoints),
    /// A form of fields (a server, a user name, a password...), stored together as the secret.
    Fields {
        fields: Vec<CredentialField>,
    },
}

/// One field of a connection form ([`AuthKind::Fields`]), as the web app shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialField {
    /// The key it is stored under in the secret.
    pub id: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// What the form starts with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    pub hint: &'static str,
    /// The choices of a `choice` field: the value stored and its label.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOption>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// Never shown again once saved.
    Password,
    Number,
    Choice,
    Checkbox,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FieldOption {
    pub value: &'static str,
    pub label: &'static str,
}

impl CredentialField {
    fn new(id: &'static str, label: &'static str, kind: FieldKind, hint: &'static str) -> Self {
        Self {
            id,
            label,
            kind,
            required: false,
            default: None,
            hint,
            options: Vec::new(),
        }
    }

    pub(crate) fn text(
        id: &'static str,
        label: &'static str,
        hint: &'static str,
        required: bool,
    ) -> Self {
        Self {
            required,
            ..Self::new(id, label, FieldKind::Text, hint)
        }
    }

    pub(crate) fn password(id: &'static str, label: &'static str, hint: &'static str) -> Self {
        Self {
            required: true,
            ..Self::new(id, label, FieldKind::Password, hint)
        }
    }

    pub(crate) fn number(
        id: &'static str,
        label: &'static str,
        hint: &'static str,
        default: &'static str,
    ) -> Self {
        Self {
            default: Some(default),
            ..Self::new(id, label, FieldKind::Number, hint)
        }
    }

    pub(crate) fn choice(
        id: &'static str,
        label: &'static str,
        options: Vec<(&'static str, &'static str)>,
        default: &'static str,
    ) -> Self {
        Self {
            required: true,
            default: Some(default),
            options: options
                .into_iter()
                .map(|(value, label)| FieldOption { value, label })
                .collect(),
            ..Self::new(id, label, FieldKind::Choice, "")
        }
    }

    pub(crate) fn checkbox(id: &'static str, label: &'static str, hint: &'static str) -> Self {
        Self::new(id, label, FieldKind::Checkbox, hint)
    }
}

/// One action of a connector.
#[derive(Clone, Debug, Serialize)]
pub struct ActionDeclaration {
    pub id: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    /// What the step's output holds, for the editor to offer `{{step.field}}`; the tests
    /// check the connector's real outputs against it.
    pub output_schema: Value,
    /// A valid input, shown in the editor and checked against the schema by the tests.
    pub example: Value,
    /// Whether it changes something outside Baton (sends, posts, writes): a "safe test"
    /// previews such a call instead of making it.
    pub writes: bool,
}

/// The schema of an output object with these fields (all present, some maybe null).
pub(crate) fn output_schema(fields: &[(&str, Value)]) -> Value {
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    serde_json::json!({"type": "object", "properties": properties, "required": required})
}

/// Text, or null when the service gave none.
pub(crate) fn text_or_null() -> Value {
    serde_json::json!({"type": ["string", "null"]})
}

/// Something a connector can watch for, for a poll trigger.
#[derive(Clone, Debug, Serialize)]
pub struct TriggerDeclaration {
    pub id: &'static str,
    pub description: &'static str,
    /// The schema of the trigger's `inputs`.
    pub input_schema: Value,
    /// What one item looks like, as `{{trigger.*}}` reads it.
    pub example: Value,
}

/// What a connector says about itself.
#[derive(Clone, Debug, Serialize)]
pub struct Declaration {
    /// Stable, snake_case, never renamed (workflows name it).
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub auth: AuthKind,
    pub actions: Vec<ActionDeclaration>,
    /// What a poll trigger can watch for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDeclaration>,
    /// The most calls one organization makes to it per window; Baton keeps under it.
    pub rate_limit: Option<RateLimit>,
}

#[async_trait]
pub trait Connector: Send + Sync {
    fn declaration(&self) -> &Declaration;
    /// Where its API is reached: the provider's, or what the operator set
    /// (`BATON_<SERVICE>_BASE_URL`); `None` when it calls URLs the workflow gives (`http`).
    fn base_url(&self) -> Option<&str> {
        None
    }
    async fn call(&self, call: &ActionCall) -> Result<Value, StepError>;
    /// What is wrong with a secret stored for this service (see [`Connectors::secret_problem`]).
    fn secret_problem(&self, _secret: &Value) -> Option<(String, String)> {
        None
    }
    /// How many calls of `action` one request carries (see [`Connectors::batch_size`]).
    fn batch_size(&self, _action: &str) -> usize {
        1
    }

    /// Whether this call of `action` changes something outside Baton (see
    /// [`Connectors::writes`]): what the action declares, unless the connector knows better
    /// from the inputs.
    fn writes(&self, action: &str, _inputs: &Value) -> bool {
        self.declaration()
            .actions
            .iter()
            .find(|declared| declared.id == action)
            .is_none_or(|declared| declared.writes)
    }

    /// Several calls of one action with one credential, each with its result, in order.
    async fn batch(&self, calls: &[ActionCall]) -> Vec<Result<Value, StepError>> {
        one_by_one(self, calls).await
    }

    /// Checks a call the service made to a hook (see [`Connectors::webhook`]).
    fn webhook(&self, _incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        Err(format!(
            "{} sends no webhooks Baton can check",
            self.declaration().id
        ))
    }

    /// Looks for what is new since the call's cursor (one of the declared triggers).
    async fn poll(&self, call: &PollCall) -> Result<Polled, StepError> {
        Err(StepError::permanent(format!(
            "{} has no event {:?} to watch",
            call.service, call.event
        )))
    }

    /// Checks a credential with the service's cheapest call; what the service says of whose
    /// it is (an account, a workspace).
    async fn authenticate(&self, _secret: &Secret) -> Result<Value, StepError> {
        Err(StepError::permanent(format!(
            "{} has no way to check a credential",
            self.declaration().id
        )))
    }
}

/// The calls made one after the other: a batch for a service that takes none.
pub(crate) async fn one_by_one<C: Connector + ?Sized>(
    connector: &C,
    calls: &[ActionCall],
) -> Vec<Result<Value, StepError>> {
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        results.push(connector.call(call).await);
    }
    results
}

/// The HTTP client of a connector that calls one service's API: it gives up on connecting
/// after 10 s and on the whole call after `timeout`.
pub(crate) fn api_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("a client with timeouts builds")
}

/// Where a service's API is reached: what the operator set, or its own; no trailing `/`.
pub(crate) fn base_url(given: Option<&str>, default: &str) -> String {
    given.unwrap_or(default).trim_end_matches('/').to_owned()
}

/// A request to `base_url` + `path` with a bearer token, query fields and, when given, a JSON
/// body: how the token-authenticated REST services (Asana, Calendly, HubSpot, Notion) are called.
pub(crate) fn bearer_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    query: &[(&str, String)],
    body: Option<&Value>,
) -> reqwest::RequestBuilder {
    let request = client.request(method, url).bearer_auth(token).query(query);
    match body {
        Some(body) => request.json(body),
        None => request,
    }
}

/// Sends a request to `service`'s API: its status, how long it asked to wait, and its JSON
/// body (null when it gave none); a request that got no answer is worth retrying.
pub(crate) async fn exchange(
    service: &str,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Option<std::time::Duration>, Value), StepError> {
    let response = request.send().await.map_err(|error| {
        StepError::transient(format!("{service} could not be reached ({what}): {error}"))
    })?;
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Ok((status, wait, body))
}

/// An id a workflow gave, as one segment of a URL path (escaped, so it cannot reach another
/// path).
pub(crate) fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.trim().as_bytes()).collect()
}

/// How long a service asked to wait: `retry-after-ms`, or `Retry-After` in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    read("retry-after-ms")
        .map(|ms| std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0))
        .or_else(|| {
            read("retry-after").map(|seconds| std::time::Duration::from_secs_f64(seconds.max(0.0)))
        })
}

/// An action's inputs as its type, or a permanent error naming the service, action and field.
pub(crate) fn inputs<T: serde::de::DeserializeOwned>(call: &ActionCall) -> Result<T, StepError> {
    serde_json::from_value(call.inputs.clone()).map_err(|error| {
        StepError::permanent(format!("{} {} inputs: {error}", call.service, call.action))
    })
}

/// Settings the operator gives connectors.
#[derive(Clone, Debug, Default)]
pub struct ConnectorSettings {
    /// Hosts and address ranges the `http` connector may reach although they are private.
    pub http_allow: AddressPolicy,
    /// Where Asana's API is reached (`BATON_ASANA_BASE_URL`); Asana's own when unset.
    pub asana_base_url: Option<String>,
    /// Where Calendly's API is reached (`BATON_CALENDLY_BASE_URL`); Calendly's own when unset.
    pub calendly_base_url: Option<String>,
    /// Where Slack's Web API is reached (`BATON_SLACK_BASE_URL`); Slack's own when unset.
    pub slack_base_url: Option<String>,
    /// Where the Gmail API is reached (`BATON_GMAIL_BASE_URL`); Google's own when unset.
    pub gmail_base_url: Option<String>,
    /// Where the Google Calendar API is reached (`BATON_GOOGLE_CALENDAR_BASE_URL`).
    pub google_calendar_base_url: Option<String>,
    /// Where HubSpot's API is reached (`BATON_HUBSPOT_BASE_URL`); HubSpot's own when unset.
    pub hubspot_base_url: Option<String>,
    /// Where Notion's API is reached (`BATON_NOTION_BASE_URL`); Notion's own when unset.
    pub notion_base_url: Option<String>,
    /// Where Resend's API is reached (`BATON_RESEND_BASE_URL`); Resend's own when unset.
    pub resend_base_url: Option<String>,
    /// Where Stripe's API is reached (`BATON_STRIPE_BASE_URL`); Stripe's own when unset.
    pub stripe_base_url: Option<String>,
    /// Where Zapier's catch hooks are (`BATON_ZAPIER_BASE_URL`); `https://hooks.zapier.com`.
    pub zapier_base_url: Option<String>,
    /// Where Make's custom webhooks are (`BATON_MAKE_BASE_URL`); `https://hook.*.make.com`.
    pub make_base_url: Option<String>,
    /// The OAuth2 apps the operator registered, by service id.
    pub oauth: BTreeMap<String, OAuthClientSettings>,
    /// Baton's OAuth2 callback, `{public_url}/api/v1/credentials/oauth/callback`.
    pub oauth_redirect_url: Option<String>,
}

/// Whether the value at `pointer` in `inputs`, or a value around it, is a template.
fn templated_at(inputs: &Value, pointer: &str) -> bool {
    let mut value = inputs;
    let is_template = |value: &Value| value.as_str().is_some_and(|text| text.contains("{{"));
    if is_template(value) {
        return true;
    }
    for segment in pointer.split('/').skip(1) {
        let next = match value {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index)),
            _ => None,
        };
        match next {
            Some(inner) if is_template(inner) => return true,
            Some(inner) => value = inner,
            None => return false,
        }
    }
    false
}

/// Where a connector's OAuth2 callback lands, under the server's public URL.
pub const OAUTH_CALLBACK_PATH: &str = "/api/v1/credentials/oauth/callback";

/// Every connector, by id.
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    /// Each action's input schema, compiled once.
    input_schemas: BTreeMap<(&'static str, &'static str), jsonschema::Validator>,
    /// The OAuth2 apps configured, or why one could not be made.
    oauth: BTreeMap<&'static str, Result<oauth::OAuthApp, String>>,
}

impl Registry {
    /// Every connector, made with the settings.
    fn all(settings: &ConnectorSettings) -> Vec<Arc<dyn Connector>> {
        // One line per connector, sorted by id.
        vec![
            Arc::new(asana::Asana::new(settings.asana_base_url.as_deref())),
            Arc::new(calendly::Calendly::new(
                settings.calendly_base_url.as_deref(),
            )),
            Arc::new(email::Email::new(settings.http_allow.clone())),
            Arc::new(gmail::Gmail::new(settings.gmail_base_url.as_deref())),
            Arc::new(google_calendar::GoogleCalendar::new(
                settings.google_calendar_base_url.as_deref(),
            )),
            Arc::new(http::Http::new(settings.http_allow.clone())),
            Arc::new(hubspot::HubSpot::new(settings.hubspot_base_url.as_deref())),
            Arc::new(catch_hook::CatchHook::new(
                catch_hook::Tool::Make,
                settings.make_base_url.as_deref(),
            )),
            Arc::new(notion::Notion::new(settings.notion_base_url.as_deref())),
            Arc::new(resend::Resend::new(settings.resend_base_url.as_deref())),
            Arc::new(slack::Slack::new(settings.slack_base_url.as_deref())),
            Arc::new(stripe::Stripe::new(settings.stripe_base_url.as_deref())),
            Arc::new(catch_hook::CatchHook::new(
                catch_hook::Tool::Zapier,
                settings.zapier_base_url.as_deref(),
            )),
        ]
    }

    pub fn new(settings: &ConnectorSettings) -> Self {
        let all = Self::all(settings);
        let mut oauth = BTreeMap::new();
        for connector in &all {
            let declaration = connector.declaration();
            let AuthKind::OAuth2(endpoints) = &declaration.auth else {
                continue;
            };
            let app = settings
                .oauth
                .get(declaration.id)
                .or_else(|| endpoints.app_of.and_then(|other| settings.oauth.get(other)));
            if let Some(app) = app {
                oauth.insert(
                    declaration.id,
                    oauth::OAuthApp::new(
                        declaration.id,
                        endpoints,
                        app,
                        settings.oauth_redirect_url.as_deref(),
                    ),
                );
            }
        }
        let mut input_schemas = BTreeMap::new();
        for connector in &all {
            let declaration = connector.declaration();
            for action in &declaration.actions {
                match jsonschema::validator_for(&action.input_schema) {
                    Ok(validator) => {
                        input_schemas.insert((declaration.id, action.id), validator);
                    }
                    Err(error) => {
                        tracing::error!(service = declaration.id, action = action.id, %error, "an action's input schema does not compile");
                    }
                }
            }
        }
        Self {
            connectors: all
                .into_iter()
                .map(|connector| (connector.declaration().id, connector))
                .collect(),
            input_schemas,
            oauth,
        }
    }

    fn oauth_app(&self, service: &str) -> Result<&oauth::OAuthApp, String> {
        match self.oauth.get(service) {
            Some(Ok(app)) => Ok(app),
            Some(Err(problem)) => Err(problem.clone()),
            None => match self.connectors.get(service).map(|c| &c.declaration().auth) {
                Some(AuthKind::OAuth2(endpoints)) => {
                    let upper = endpoints.app_of.unwrap_or(service).to_ascii_uppercase();
                    Err(format!(
                        "{service} has no OAuth app configured: register one with the provider and set BATON_{upper}_CLIENT_ID and BATON_{upper}_CLIENT_SECRET"
                    ))
                }
                Some(_) => Err(format!("{service} is not connected with OAuth")),
                None => Err(format!("there is no connector {service:?}")),
            },
        }
    }

    /// The connectors that are connected with OAuth2, by id.
    pub fn oauth_services() -> Vec<&'static str> {
        Self::all(&ConnectorSettings::default())
            .iter()
            .map(|connector| connector.declaration())
            .filter(|declaration| matches!(declaration.auth, AuthKind::OAuth2(_)))
            .map(|declaration| declaration.id)
            .collect()
    }

    pub fn declarations(&self) -> impl Iterator<Item = &Declaration> {
        self.connectors
            .values()
            .map(|connector| connector.declaration())
    }
}

#[async_trait]
impl Connectors for Registry {
    fn secret_problem(&self, service: &str, secret: &Value) -> Option<(String, String)> {
        self.connectors.get(service)?.secret_problem(secret)
    }

    fn implicit_credential(&self, service: &str) -> bool {
        self.connectors
            .get(service)
            .is_none_or(|connector| connector.declaration().auth != AuthKind::None)
    }

    fn action_problem(&self, service: &str, action: &str) -> Option<String> {
        let declaration = self.connectors.get(service)?.declaration();
        if declaration
            .actions
            .iter()
            .any(|declared| declared.id == action)
        {
            return None;
        }
        let known: Vec<&str> = declaration
            .actions
            .iter()
            .map(|declared| declared.id)
            .collect();
        Some(format!(
            "service {service:?} has no action {action:?} (it has: {})",
            known.join(", ")
        ))
    }

    fn input_problems(&self, service: &str, action: &str, inputs: &Value) -> Vec<(String, String)> {
        let Some(validator) = self
            .input_schemas
            .iter()
            .find(|((known, name), _)| *known == service && *name == action)
            .map(|(_, validator)| validator)
        else {
            return Vec::new();
        };
        validator
            .iter_errors(inputs)
            .filter_map(|error| {
                let pointer = error.instance_path().to_string();
                // A template's value is only known when the step runs.
                if templated_at(inputs, &pointer) {
                    return None;
                }
                let at: String = pointer
                    .split('/')
                    .skip(1)
                    .map(|segment| match segment.parse::<usize>() {
                        Ok(index) => format!("[{index}]"),
                        Err(_) => format!(".{segment}"),
                    })
                    .collect();
                Some((at, error.to_string()))
            })
            .collect()
    }

    fn trigger_problem(&self, service: &str, event: &str) -> Option<String> {
        let declaration = self.connectors.get(service)?.declaration();
        if declaration
            .triggers
            .iter()
            .any(|declared| declared.id == event)
        {
            return None;
        }
        let known: Vec<&str> = declaration
            .triggers
            .iter()
            .map(|declared| declared.id)
            .collect();
        Some(if known.is_empty() {
            format!("service {service:?} has no events to watch")
        } else {
            format!(
                "service {service:?} has no event {event:?} (it has: {})",
                known.join(", ")
            )
        })
    }

    async fn poll(&self, call: PollCall) -> Result<Polled, StepError> {
        let connector = self.connectors.get(call.service.as_str()).ok_or_else(|| {
            StepError::permanent(format!("there is no connector {:?}", call.service))
        })?;
        connector.poll(&call).await
    }

    async fn call(&self, call: ActionCall) -> Result<Value, StepError> {
        let connector = self.connectors.get(call.service.as_str()).ok_or_else(|| {
            StepError::permanent(format!("there is no connector {:?}", call.service))
        })?;
        connector.call(&call).await
    }

    fn webhook(
        &self,
        service: &str,
        incoming: &IncomingWebhook<'_>,
    ) -> Result<WebhookOutcome, String> {
        match self.connectors.get(service) {
            Some(connector) => connector.webhook(incoming),
            None => Err(format!("there is no connector {service:?}")),
        }
    }

    fn writes(&self, service: &str, action: &str, inputs: &Value) -> bool {
        self.connectors
            .get(service)
            .is_none_or(|connector| connector.writes(action, inputs))
    }

    fn batch_size(&self, service: &str, action: &str) -> usize {
        self.connectors
            .get(service)
            .map_or(1, |connector| connector.batch_size(action))
    }

    async fn batch(&self, calls: Vec<ActionCall>) -> Vec<Result<Value, StepError>> {
        let Some(connector) = calls
            .first()
            .and_then(|call| self.connectors.get(call.service.as_str()))
        else {
            return calls
                .iter()
                .map(|call| {
                    Err(StepError::permanent(format!(
                        "there is no connector {:?}",
                        call.service
                    )))
                })
                .collect();
        };
        connector.batch(&calls).await
    }

    fn rate_limit(&self, service: &str) -> Option<RateLimit> {
        self.connectors.get(service)?.declaration().rate_limit
    }

    fn catalog(&self) -> Vec<Value> {
        self.declarations()
            .chain(llm::DECLARATIONS.iter())
            .map(|declaration| {
                let mut shown = serde_json::to_value(declaration).unwrap_or_default();
                if let Some(base_url) = self
                    .connectors
                    .get(declaration.id)
                    .and_then(|connector| connector.base_url())
                {
                    shown["base_url"] = Value::String(base_url.to_owned());
                }
                if let AuthKind::OAuth2(_) = declaration.auth {
                    shown["auth"]["configured"] =
                        Value::Bool(matches!(self.oauth.get(declaration.id), Some(Ok(_))));
                }
                shown
            })
            .collect()
    }

    fn authorization(&self, service: &str, state: &str, verifier: &str) -> Result<String, String> {
        Ok(self.oauth_app(service)?.authorization(state, verifier))
    }

    async fn authorize(
        &self,
        service: &str,
        code: &str,
        verifier: &str,
    ) -> Result<Secret, StepError> {
        self.oauth_app(service)
            .map_err(StepError::permanent)?
            .exchange(code, verifier)
            .await
    }

    async fn refresh(&self, service: &str, secret: &Secret) -> Result<Secret, StepError> {
        self.oauth_app(service)
            .map_err(StepError::permanent)?
            .refresh(secret)
            .await
    }

    async fn authenticate(&self, service: &str, secret: &Secret) -> Result<Value, StepError> {
        match self.connectors.get(service) {
            Some(connector) => connector.authenticate(secret).await,
            None => Err(StepError::permanent(format!(
                "there is no connector {service:?}"
            ))),
        }
    }
}
