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
        writes: true,
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
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            // Redirects are followed by `request`, which decides what each hop may carry.
            .redirect(reqwest::redirect::Policy::none())
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
        let body = match (input.json, input.form, input.body) {
            (Some(json), _, _) => Body::Json(json),
            (_, Some(form), _) => Body::Form(form),
            (_, _, Some(text)) => Body::Text(text),
            _ => Body::None,
        };
        let credential = call
            .secret
            .as_ref()
            .map(|secret| BoundCredential::open(&secret.0))
            .transpose()?;
        if let Some(credential) = &credential
            && !credential.may_go_to(&url)
        {
            return Err(StepError::permanent(format!(
                "the credential {:?} may be sent only to {}; this step calls {}",
                call.credential.as_deref().unwrap_or_default(),
                credential.hosts.join(", "),
                url.host_str().unwrap_or_default()
            )));
        }
        let response = self
            .follow(Hop {
                method,
                url,
                headers,
                body,
                credential,
            })
            .await?;
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

    fn secret_problem(&self, secret: &Value) -> Option<(String, String)> {
        BoundCredential::open(secret)
            .err()
            .map(|problem| problem.into_path_and_message())
    }

    /// A GET, HEAD or OPTIONS reads; any other method (or one not given as text) may write.
    fn writes(&self, _action: &str, inputs: &Value) -> bool {
        let method = match inputs.get("method") {
            None | Some(Value::Null) => "GET",
            Some(Value::String(method)) => method.as_str(),
            Some(_) => return true,
        };
        !["GET", "HEAD", "OPTIONS"]
            .iter()
            .any(|read| method.eq_ignore_ascii_case(read))
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

/// A request's body, kept to be sent again on a redirect that keeps the method.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Form(BTreeMap<String, String>),
    Text(String),
}

/// One request of a chain of redirects.
struct Hop {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
    credential: Option<BoundCredential>,
}

/// Request headers that say nothing secret, kept when a redirect leaves the origin; every
/// other header (the credential, `Cookie`, an API key the step set itself) is dropped.
const CROSS_ORIGIN_HEADERS: [&str; 6] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "user-agent",
    "idempotency-key",
];

impl Http {
    /// Sends the request and follows up to [`MAX_REDIRECTS`] redirects, each target checked
    /// against the address policy. A redirect to another origin (scheme, host or port) carries
    /// neither the credential nor any header but [`CROSS_ORIGIN_HEADERS`]; a 303, or a 301/302
    /// after a POST, goes on as a GET without the body, as browsers do.
    async fn follow(&self, mut hop: Hop) -> Result<reqwest::Response, StepError> {
        for redirects in 0.. {
            let mut request = self
                .client
                .request(hop.method.clone(), hop.url.clone())
                .headers(hop.headers.clone());
            if let Some(credential) = &hop.credential {
                request = credential.apply(request)?;
            }
            request = match &hop.body {
                Body::None => request,
                Body::Json(json) => request.json(json),
                Body::Form(form) => request.form(form),
                Body::Text(text) => request.body(text.clone()),
            };
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok());
            let (true, Some(location)) = (status.is_redirection(), location) else {
                return Ok(response);
            };
            if redirects >= MAX_REDIRECTS {
                return Err(StepError::permanent(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            let next = hop.url.join(location).map_err(|error| {
                StepError::permanent(format!("the redirect to {location:?} is invalid: {error}"))
            })?;
            check_url(&next, &self.policy).map_err(|refusal| StepError::permanent(refusal.0))?;
            if next.origin() != hop.url.origin() {
                hop.credential = None;
                hop.headers = hop
                    .headers
                    .iter()
                    .filter(|(name, _)| CROSS_ORIGIN_HEADERS.contains(&name.as_str()))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
            }
            let to_get = status == reqwest::StatusCode::SEE_OTHER
                || (matches!(status.as_u16(), 301 | 302) && hop.method == Method::POST);
            if to_get && hop.method != Method::HEAD {
                hop.method = Method::GET;
                hop.body = Body::None;
                hop.headers.remove(reqwest::header::CONTENT_TYPE);
            }
            hop.url = next;
        }
        unreachable!("the loop returns")
    }
}

/// An `http` credential: how it authenticates, and the hosts it may be sent to, e.g.
/// `{"bearer": "...", "hosts": ["api.example.com", "*.example.org"]}`. Also
/// `{"basic": {"username", "password"}}` or `{"header": {"name", "value"}}`.
#[derive(Clone)]
struct BoundCredential {
    kind: CredentialKind,
    /// Lower-case host names; `*.example.org` stands for any name under example.org.
    hosts: Vec<String>,
}

#[derive(Clone)]
enum CredentialKind {
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    Header {
        name: HeaderName,
        value: HeaderValue,
    },
}

/// What is wrong with an `http` credential, at a path under the secret.
struct SecretProblem(&'static str, String);

impl SecretProblem {
    fn into_path_and_message(self) -> (String, String) {
        (self.0.to_owned(), self.1)
    }
}

impl From<SecretProblem> for StepError {
    fn from(problem: SecretProblem) -> Self {
        StepError::permanent(format!(
            "the http credential's {}: {}",
            &problem.0[1..],
            problem.1
        ))
    }
}

impl BoundCredential {
    fn open(secret: &Value) -> Result<Self, SecretProblem> {
        let text = |value: Option<&Value>, path: &'static str| {
            value
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| SecretProblem(path, "must be text".into()))
        };
        let kind = if let Some(token) = secret.get("bearer") {
            CredentialKind::Bearer(text(Some(token), ".bearer")?)
        } else if let Some(basic) = secret.get("basic") {
            CredentialKind::Basic {
                username: text(basic.get("username"), ".basic.username")?,
                password: text(basic.get("password"), ".basic.password")?,
            }
        } else if let Some(header) = secret.get("header") {
            let name = text(header.get("name"), ".header.name")?;
            let value = text(header.get("value"), ".header.value")?;
            CredentialKind::Header {
                name: HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    SecretProblem(".header.name", format!("{name:?} is not a header name"))
                })?,
                value: HeaderValue::from_str(&value).map_err(|_| {
                    SecretProblem(".header.value", "is not a valid header value".into())
                })?,
            }
        } else {
            return Err(SecretProblem(
                "",
                "an http credential needs `bearer`, `basic` or `header`".into(),
            ));
        };
        let hosts = match secret.get("hosts") {
            Some(Value::Array(hosts)) if !hosts.is_empty() => hosts
                .iter()
                .map(|host| host.as_str().and_then(host_pattern))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    SecretProblem(
                        ".hosts",
                        "each host must be a host name such as api.example.com or *.example.com (no scheme, port or path)".into(),
                    )
                })?,
            _ => {
                return Err(SecretProblem(
                    ".hosts",
                    "is required: the hosts this credential may be sent to, e.g. [\"api.example.com\"]".into(),
                ));
            }
        };
        Ok(Self { kind, hosts })
    }

    fn may_go_to(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => *allowed == host,
            })
    }

    fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, StepError> {
        Ok(match &self.kind {
            CredentialKind::Bearer(token) => request.bearer_auth(token),
            CredentialKind::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            CredentialKind::Header { name, value } => request.header(name.clone(), value.clone()),
        })
    }
}

/// A host a credential may go to, lower-cased: a name or address, or `*.` and a name.
fn host_pattern(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let (wildcard, name) = match text.strip_prefix("*.") {
        Some(name) => (true, name),
        None => (false, text.as_str()),
    };
    let parsed = Url::parse(&format!("http://{name}/")).ok()?;
    let host = parsed.host_str()?;
    let plain = parsed.port().is_none() && parsed.path() == "/" && host == name;
    let wildcard_has_parent = !wildcard || name.contains('.');
    (plain && !name.is_empty() && wildcard_has_parent).then_some(text)
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
            let allowed = policy.keep_allowed(&host, &resolved);
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
