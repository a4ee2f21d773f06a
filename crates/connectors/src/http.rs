//! `http`: any HTTP request, guarded against reaching internal addresses (see [`address`]).
//! The guard sits in the DNS resolver the client connects through, and is applied again to
//! every redirect, so neither a name that resolves inward nor a redirect gets past it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::ActionCall;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::address::AddressPolicy;
use crate::{ActionDeclaration, AuthKind, Category, Connector, Declaration, output_schema};

/// The most of a response body that is read.
const MAX_RESPONSE_BYTES: usize = 10 << 20;
const MAX_REDIRECTS: usize = 5;

/// The `request` action's inputs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// GET (default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    #[serde(default)]
    pub method: Option<String>,
    /// An http or https URL.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to the URL.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// A JSON body.
    #[serde(default)]
    pub json: Option<Value>,
    /// A form body (application/x-www-form-urlencoded).
    #[serde(default)]
    pub form: Option<BTreeMap<String, String>>,
    /// A raw text body.
    #[serde(default)]
    pub body: Option<String>,
    /// Fail the step on a 4xx or 5xx status (default true); when false the status is output.
    #[serde(default)]
    pub fail_on_status: Option<bool>,
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "http",
    name: "HTTP request",
    category: Category::Utility,
    auth: AuthKind::None,
    actions: vec![ActionDeclaration {
        id: "request",
        description: "Send an HTTP request; the response body is parsed as JSON when it says it is JSON.",
        input_schema: schemars::schema_for!(RequestInput).to_value(),
        output_schema: output_schema(&[
            ("status", json!({"type": "integer"})),
            (
                "headers",
                json!({"type": "object", "additionalProperties": {"type": "string"}}),
            ),
            ("body", json!({})),
        ]),
        example: json!({"method": "POST", "url": "https://api.example.com/orders", "json": {"sku": "A-1", "qty": 2}}),
    }],
    triggers: Vec::new(),
    rate_limit: None,
});

pub struct Http {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl Http {
    pub fn new(policy: AddressPolicy) -> Self {
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
                }
                match check_url(attempt.url(), &redirect_policy) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .build()
            .expect("the HTTP client's settings are valid");
        Self { client, policy }
    }

    async fn request(&self, call: &ActionCall) -> Result<Value, StepError> {
        let input: RequestInput = crate::inputs(call)?;
        let method = input
            .method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let method = Method::from_bytes(method.as_bytes())
            .ok()
            .filter(|method| {
                ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
                    .contains(&method.as_str())
            })
            .ok_or_else(|| StepError::permanent(format!("unknown HTTP method {method:?}")))?;
        let mut url = Url::parse(&input.url).map_err(|error| {
            StepError::permanent(format!("invalid URL {:?}: {error}", input.url))
        })?;
        if !input.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &input.query {
                pairs.append_pair(key, &text_of(value));
            }
        }
        check_url(&url, &self.policy).map_err(|refusal| StepError::permanent(refusal.0))?;

        let mut headers = HeaderMap::new();
        for (name, value) in &input.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| StepError::permanent(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| StepError::permanent(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        let bodies = [
            input.json.is_some(),
            input.form.is_some(),
            input.body.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if bodies > 1 {
            return Err(StepError::permanent(
                "give at most one of `json`, `form` and `body`",
            ));
        }
        let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state
            && !headers.contains_key("idempotency-key")
            && let Ok(key) = HeaderValue::from_str(&call.idempotency_key)
        {
            headers.insert("idempotency-key", key);
        }
        let mut request = self.client.request(method, url).headers(headers);
        if let Some(secret) = &call.secret {
            request = authenticate(request, &secret.0)?;
        }
        if let Some(json) = &input.json {
            request = request.json(json);
        } else if let Some(form) = &input.form {
            request = request.form(form);
        } else if let Some(body) = input.body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let mut response_headers = Map::new();
        for (name, value) in response.headers() {
            if let Ok(value) = value.to_str() {
                response_headers.insert(name.as_str().to_owned(), Value::String(value.to_owned()));
            }
        }
        let is_json = response_headers
            .get("content-type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.contains("json"));
        let bytes = read_capped(response).await?;
        let body = if is_json {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        if input.fail_on_status.unwrap_or(true)
            && (status.is_client_error() || status.is_server_error())
        {
            let detail = match &body {
                Value::String(text) => text.chars().take(200).collect::<String>(),
                other => other.to_string().chars().take(200).collect(),
            };
            let message = format!("HTTP {status}: {detail}");
            let transient = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
            let error = if transient {
                StepError::transient(message)
            } else {
                StepError::permanent(message)
            };
            return Err(match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            });
        }
        Ok(json!({"status": status.as_u16(), "headers": response_headers, "body": body}))
    }
}

#[async_trait]
impl Connector for Http {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        match call.action.as_str() {
            "request" => self.request(call).await,
            other => Err(StepError::permanent(format!(
                "http has no action {other:?}"
            ))),
        }
    }
}

/// Applies a credential: `{"bearer": TOKEN}`, `{"basic": {"username", "password"}}` or
/// `{"header": {"name", "value"}}`.
fn authenticate(
    request: reqwest::RequestBuilder,
    secret: &Value,
) -> Result<reqwest::RequestBuilder, StepError> {
    if let Some(token) = secret.get("bearer").and_then(Value::as_str) {
        return Ok(request.bearer_auth(token));
    }
    if let Some(basic) = secret.get("basic") {
        let username = basic
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(request.basic_auth(username, basic.get("password").and_then(Value::as_str)));
    }
    if let Some(header) = secret.get("header") {
        let name = header
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = header
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StepError::permanent("the credential's header name is invalid"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| StepError::permanent("the credential's header value is invalid"))?;
        return Ok(request.header(name, value));
    }
    Err(StepError::permanent(
        "an http credential needs `bearer`, `basic` or `header`",
    ))
}

/// A request refused by the address policy.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

fn check_url(url: &Url, policy: &AddressPolicy) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused(format!(
            "only http and https URLs are allowed, not {}:",
            url.scheme()
        )));
    }
    let address = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        // Names are checked where they resolve, in the resolver.
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(Refused("the URL has no host".into())),
    };
    if policy.allows(address) {
        Ok(())
    } else {
        Err(Refused(internal_message(&address.to_string(), address)))
    }
}

fn internal_message(host: &str, address: IpAddr) -> String {
    format!(
        "{host} is an internal address ({address}); requests to internal networks are refused unless BATON_HTTP_ALLOW lists them"
    )
}

/// Resolves names and keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_host(&host) {
                return Ok(Box::new(resolved.into_iter()) as Addrs);
            }
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|socket| policy.allows(socket.ip()))
                .collect();
            match (allowed.is_empty(), resolved.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(Refused(internal_message(&host, first.ip())))
                    as Box<dyn std::error::Error + Send + Sync>),
                (true, None) => Err(format!("{host} does not resolve").into()),
            }
        })
    }
}

/// Network failures are worth retrying; a refusal by the address policy is not.
fn classify(error: reqwest::Error) -> StepError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return StepError::permanent(refused.0.clone());
        }
        source = current.source();
    }
    if error.is_builder() {
        return StepError::permanent(format!("the request cannot be built: {error}"));
    }
    let detail = std::iter::successors(std::error::Error::source(&error), |inner| inner.source())
        .last()
        .map(|root| format!(": {root}"))
        .unwrap_or_default();
    if error.is_timeout() {
        StepError::transient(format!("the request timed out{detail}"))
    } else {
        StepError::transient(format!("the request failed{detail}"))
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, StepError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(StepError::permanent(format!(
                "the response is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
