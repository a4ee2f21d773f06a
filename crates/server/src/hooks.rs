//! Webhook triggers. `POST /hooks/{token}` starts the workflow whose unguessable token it is,
//! when the workflow is active and its current version has a `webhook` trigger. The answer is
//! 202 with the execution id once the execution and its job are stored; in respond mode
//! (`"trigger": {"type": "webhook", "respond": true}`) the caller waits and gets the workflow's
//! output, as n8n's Respond to Webhook does.
//!
//! The workflow sees `trigger.body` (JSON, form fields, or text), `trigger.query`,
//! `trigger.headers` (lower-case; never credentials: `authorization`, `cookie`, `x-api-key`,
//! tokens, signatures) and `trigger.method`.
//! With a secret, each call must be signed the Standard Webhooks way: `webhook-id`,
//! `webhook-timestamp` (within five minutes) and `webhook-signature: v1,BASE64(HMAC-SHA256(key,
//! "ID.TIMESTAMP.BODY"))`, the key being the secret's bytes after `whsec_`; the signed id is the
//! delivery's, so a replay within the window runs nothing new. The older `X-Baton-Signature:
//! sha256=HEX(HMAC-SHA256(secret, body))` is still accepted, deprecated (it signs no time).
//! Without a signed id, a repeated `Idempotency-Key` or `X-Delivery-Id` returns the first
//! execution.
//!
//! The workflow's side: `GET /api/v1/workflows/{id}/hook` (the URL), `POST .../hook/secret`
//! (a new secret, shown once), `DELETE .../hook/secret`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine;
use baton_connectors::webhook::signature_matches;
use baton_core::dsl::{HookScheme, Trigger};
use baton_core::execution::TriggerKind;
use baton_core::policy::Action;
use baton_engine::connector::{IncomingWebhook, WebhookOutcome};
use baton_runtime::NewRun;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::ApiError;
use crate::request::Client;
use crate::workflows::find;

/// The most a hook body may weigh.
pub const MAX_HOOK_BODY: usize = 1 << 20;
/// How long a respond-mode call waits for the workflow before answering 202.
pub const RESPOND_WAIT: Duration = Duration::from_secs(30);
pub const SIGNATURE_HEADER: &str = "x-baton-signature";

/// `/hooks/{token}`: called by other systems, outside the API's session and CSRF rules.
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new().route(
        "/hooks/{token}",
        any(deliver).layer(DefaultBodyLimit::max(MAX_HOOK_BODY)),
    )
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/workflows/{id}/hook", get(show).post(make))
        .route(
            "/api/v1/workflows/{id}/hook/secret",
            post(new_secret).put(set_secret).delete(drop_secret),
        )
}

/// A hook URL token or a signing secret: random, URL-safe, stored as it is (the server shows
/// the URL again and needs the secret to check signatures).
fn new_token() -> String {
    crate::auth::session::new_token().0
}

/// A signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64.
fn new_signing_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A workflow's hook as the API shows it: its URL, whether it has a secret, and how a call
/// proves it knows the secret under the workflow's `verify` scheme.
async fn hook_json(
    state: &AppState,
    hook: &baton_core::hook::Hook,
    workflow: &baton_core::workflow::Workflow,
) -> Result<Value, ApiError> {
    let verify = state
        .store
        .workflow_version(workflow.org_id, workflow.id, workflow.current_version)
        .await?
        .and_then(|version| {
            serde_json::from_value::<HookScheme>(version.definition["trigger"]["verify"].clone())
                .ok()
        })
        .unwrap_or(HookScheme::Baton);
    let (scheme, header) = match verify {
        HookScheme::Baton => ("standard_webhooks", "webhook-signature"),
        HookScheme::Slack => ("slack", "x-slack-signature"),
        HookScheme::Resend => ("svix", "svix-signature"),
        HookScheme::Stripe => ("stripe", "stripe-signature"),
        HookScheme::Asana => ("asana", "x-hook-signature"),
        HookScheme::Hubspot => ("hubspot", "x-hubspot-signature-v3"),
        HookScheme::Calendly => ("calendly", "calendly-webhook-signature"),
        HookScheme::Header => ("header_secret", "x-baton-secret"),
    };
    Ok(json!({
        "url": format!("{}/hooks/{}", state.config.public_url, hook.token),
        "signed": hook.secret.is_some(),
        "signature_scheme": scheme,
        "signature_header": header,
    }))
}

/// Shows the hook of a workflow whose trigger is a webhook; nothing changes (the hook is made
/// when such a workflow is saved, or by `POST .../hook` for one saved before hooks were made
/// at save).
async fn show(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let hook =
        state
            .store
            .hook(signed_in.org, workflow.id)
            .await?
            .ok_or(ApiError::NotFoundBecause(
                "this workflow has no hook URL: give it a webhook trigger and save it",
            ))?;
    Ok(Json(hook_of(&state, &hook, &workflow).await?))
}

/// A workflow's hook as the API shows it, with whether the workflow is on.
async fn hook_of(
    state: &AppState,
    hook: &baton_core::hook::Hook,
    workflow: &baton_core::workflow::Workflow,
) -> Result<Value, ApiError> {
    let mut shown = hook_json(state, hook, workflow).await?;
    shown["active"] = Value::Bool(workflow.active);
    Ok(shown)
}

/// Makes the workflow's hook URL if it has none yet (idempotent).
async fn make(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let hook = state
        .store
        .ensure_hook(signed_in.org, workflow.id, &new_token())
        .await?;
    Ok(Json(hook_of(&state, &hook, &workflow).await?))
}

/// Gives a workflow whose trigger is a webhook its hook URL, when it is saved.
pub(crate) async fn ensure_for(
    state: &AppState,
    org: baton_core::OrgId,
    workflow: baton_core::WorkflowId,
    trigger: Option<&Trigger>,
) -> Result<(), ApiError> {
    if matches!(trigger, Some(Trigger::Webhook { .. })) {
        state.store.ensure_hook(org, workflow, &new_token()).await?;
    }
    Ok(())
}

async fn new_secret(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    state
        .store
        .ensure_hook(signed_in.org, workflow.id, &new_token())
        .await?;
    let secret = new_signing_secret();
    let hook = state
        .store
        .set_hook_secret(
            signed_in.org,
            workflow.id,
            Some(&sealed(&state, signed_in.org, &secret).await?),
        )
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "workflow.hook_secret_set").target(format!("workflow:{id}")),
    )
    .await;
    let mut shown = hook_json(&state, &hook, &workflow).await?;
    shown["secret"] = Value::from(secret);
    Ok(Json(shown))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GivenSecret {
    /// A secret made elsewhere, e.g. a Slack app's signing secret.
    secret: String,
}

/// Sets a secret given by the caller (another system's signing secret), unlike `POST`, which
/// makes one.
async fn set_secret(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
    crate::request::JsonBody(body): crate::request::JsonBody<GivenSecret>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let secret = body.secret.trim();
    if secret.len() < 8 || secret.len() > 200 {
        return Err(ApiError::Invalid {
            message: "the secret is invalid".into(),
            details: vec![crate::error::Detail {
                path: "$.secret".into(),
                message: "must have 8 to 200 characters".into(),
            }],
        });
    }
    state
        .store
        .ensure_hook(signed_in.org, workflow.id, &new_token())
        .await?;
    let hook = state
        .store
        .set_hook_secret(
            signed_in.org,
            workflow.id,
            Some(&sealed(&state, signed_in.org, secret).await?),
        )
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "workflow.hook_secret_set").target(format!("workflow:{id}")),
    )
    .await;
    Ok(Json(hook_json(&state, &hook, &workflow).await?))
}

async fn drop_secret(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = find(&state, &signed_in, &id).await?;
    signed_in.require(Action::EditWorkflow {
        creator: workflow.created_by,
    })?;
    let hook = state
        .store
        .set_hook_secret(signed_in.org, workflow.id, None)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "workflow.hook_secret_removed").target(format!("workflow:{id}")),
    )
    .await;
    Ok(Json(hook_json(&state, &hook, &workflow).await?))
}

/// Keeps the secret a service offered in its handshake (the connector has checked the hook
/// had none) and answers with it in `echo_header`, as the service expects.
async fn adopt_secret(
    state: &AppState,
    client: &crate::request::Client,
    hook: &baton_core::hook::Hook,
    offered: &str,
    echo_header: &'static str,
) -> Result<Response, ApiError> {
    let offered = offered.trim();
    let echoed = axum::http::HeaderValue::from_str(offered)
        .ok()
        .filter(|_| (8..=200).contains(&offered.len()))
        .ok_or_else(|| {
            ApiError::Refused(format!(
                "the {echo_header} offered is not a secret Baton can keep (8 to 200 visible characters)"
            ))
        })?;
    state
        .store
        .set_hook_secret(
            hook.org_id,
            hook.workflow_id,
            Some(&sealed(state, hook.org_id, offered).await?),
        )
        .await?;
    audit::record(
        state,
        client,
        Event::new(Some(hook.org_id), None, "workflow.hook_secret_set")
            .target(format!("workflow:{}", hook.workflow_id)),
    )
    .await;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(echo_header, echoed);
    Ok(response)
}

/// A signing secret as the store keeps it: sealed under the organization's data key.
async fn sealed(
    state: &AppState,
    org: baton_core::OrgId,
    secret: &str,
) -> Result<String, ApiError> {
    state
        .runtime
        .vault
        .seal_text(org, secret)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))
}

/// The body as the workflow sees it: JSON, form fields, or text (base64 when not UTF-8).
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if kind.starts_with("application/json") || kind.ends_with("+json") {
        return serde_json::from_slice(body).map_err(|error| ApiError::BadRequest {
            message: "the body is not valid JSON".into(),
            details: vec![crate::error::Detail {
                path: "$".into(),
                message: error.to_string(),
            }],
        });
    }
    if kind.starts_with("application/x-www-form-urlencoded") {
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|error| ApiError::BadRequest {
                message: "the body is not a valid form".into(),
                details: vec![crate::error::Detail {
                    path: "$".into(),
                    message: error.to_string(),
                }],
            })?;
        return Ok(Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect(),
        ));
    }
    Ok(match std::str::from_utf8(body) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(body)}),
    })
}

fn query_fields(query: Option<&str>) -> Value {
    let fields: Vec<(String, String)> = query
        .and_then(|query| serde_urlencoded::from_str(query).ok())
        .unwrap_or_default();
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect::<Map<_, _>>(),
    )
}

/// Headers that carry a caller's credentials or signatures, kept out of `trigger.headers`
/// (and so out of the stored execution): `Authorization`, `Cookie`, `X-Api-Key`, tokens,
/// secrets, signatures, sessions.
fn is_secret_header(name: &str) -> bool {
    const PARTS: [&str; 10] = [
        "authorization",
        "cookie",
        "token",
        "secret",
        "signature",
        "password",
        "api-key",
        "apikey",
        "session",
        "credential",
    ];
    // Header names come lower-case from the HTTP layer.
    PARTS.iter().any(|part| name.contains(part))
}

fn visible_headers(headers: &HeaderMap) -> Value {
    let mut shown = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if is_secret_header(name) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            shown.insert(name.to_owned(), Value::from(value));
        }
    }
    Value::Object(shown.into_iter().collect())
}

async fn deliver(
    State(state): State<AppState>,
    client: crate::request::Client,
    Path(token): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                limit_bytes: MAX_HOOK_BODY,
            }
        } else {
            ApiError::BadRequest {
                message: "the body could not be read".into(),
                details: Vec::new(),
            }
        }
    })?;
    // Guessing hook URLs from one address is slowed down like guessing passwords.
    let now = std::time::Instant::now();
    let address = client.ip.as_deref();
    if let Some(wait) = state.sign_in_failures.probe_wait("hook", address, now) {
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: wait.as_secs().max(1),
        });
    }
    let Some((hook, workflow)) = state.store.hook_by_token(&token).await? else {
        state.sign_in_failures.probe_failed("hook", address, now);
        return Err(ApiError::NotFound);
    };
    crate::rate_limit::check(
        &state,
        &format!("hook:{token}"),
        state.config.limits.per_hook,
    )
    .await?;
    if !workflow.active {
        return Err(ApiError::NotFound);
    }
    let compiled = state
        .runtime
        .compiled(workflow.org_id, workflow.id, workflow.current_version)
        .await
        .map_err(crate::executions::runtime_error)?;
    let Some(Trigger::Webhook { respond, verify }) = &compiled.header.trigger else {
        return Err(ApiError::NotFound);
    };
    let respond = respond.unwrap_or(false);
    let secret = match &hook.secret {
        Some(stored) => Some(
            state
                .runtime
                .vault
                .open_text(hook.org_id, stored)
                .await
                .map_err(|error| ApiError::Internal(format!("the hook's secret: {error}")))?,
        ),
        None => None,
    };
    // A service's own scheme is its connector's to check; Baton's own is checked here.
    let mut service_delivery = None;
    // `Some(id)` when Baton's signature covered a delivery id (Standard Webhooks' webhook-id);
    // `Some(None)` for the deprecated body-only signature.
    let mut signed_delivery: Option<Option<String>> = None;
    if let Some(service) = verify.and_then(HookScheme::service) {
        let header_list: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let called = match query.as_deref() {
            Some(query) if !query.is_empty() => {
                format!("{}/hooks/{token}?{query}", state.config.public_url)
            }
            _ => format!("{}/hooks/{token}", state.config.public_url),
        };
        let incoming = IncomingWebhook {
            method: method.as_str(),
            url: &called,
            headers: &header_list,
            body: &body,
            secret: secret.as_deref(),
        };
        match state.runtime.connectors.webhook(service, &incoming) {
            Ok(WebhookOutcome::Answer(answer)) => return Ok(Json(answer).into_response()),
            Ok(WebhookOutcome::Adopt {
                secret: offered,
                echo_header,
            }) => {
                return adopt_secret(&state, &client, &hook, &offered, echo_header).await;
            }
            Ok(WebhookOutcome::Run { delivery_id }) => service_delivery = delivery_id,
            Err(refusal) => return Err(ApiError::Refused(refusal)),
        }
    } else if *verify == Some(HookScheme::Header) {
        let secret = secret.as_deref().ok_or_else(|| {
            ApiError::Refused(
                "this hook checks an X-Baton-Secret header but has no secret: make one with \
                 POST /api/v1/workflows/{id}/hook/secret"
                    .into(),
            )
        })?;
        let given = headers
            .get("x-baton-secret")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // Compared as digests, so the time taken says nothing about the secret.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(secret.as_bytes()) {
            return Err(ApiError::Refused(
                "the X-Baton-Secret header is missing or is not this hook's secret".into(),
            ));
        }
    } else if let Some(secret) = &secret {
        signed_delivery = Some(verify_baton_signature(secret, &headers, &body)?);
        if signed_delivery.as_ref().is_some_and(Option::is_none) {
            tracing::warn!(workflow = %workflow.id, "a hook call was signed with the deprecated X-Baton-Signature; sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)");
        }
    }
    let input = json!({
        "body": parse_body(&headers, &body)?,
        "query": query_fields(query.as_deref()),
        "headers": visible_headers(&headers),
        "method": method.as_str(),
    });
    let run = NewRun {
        org_id: workflow.org_id,
        workflow_id: workflow.id,
        version: workflow.current_version,
        trigger: TriggerKind::Webhook,
        run_as: workflow.created_by,
        input,
    };
    // A signed id (Standard Webhooks' webhook-id, Slack's event_id) is the delivery's; a
    // caller's unsigned key counts only when nothing signed one.
    let delivery = match signed_delivery.flatten().or(service_delivery) {
        Some(signed) => Some(signed),
        None => crate::request::idempotency_key(&headers, &["idempotency-key", "x-delivery-id"])?,
    };
    let delivery = delivery.as_deref();
    if respond && delivery.is_none() {
        // The caller waits anyway: run it here, without a trip through the queue.
        let finished = state
            .runtime
            .run_here(run)
            .await
            .map_err(crate::executions::runtime_error)?;
        return respond_with(finished);
    }
    let (execution, fresh) = match delivery {
        Some(delivery) => {
            let fingerprint = crate::request::fingerprint(&body);
            state
                .runtime
                .deliver(
                    run,
                    baton_store::Delivery {
                        id: delivery,
                        fingerprint: Some(&fingerprint),
                    },
                )
                .await
        }
        None => state
            .runtime
            .start(run)
            .await
            .map(|execution| (execution, true)),
    }
    .map_err(crate::executions::runtime_error)?;
    if !respond {
        let status = if fresh {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        return Ok((
            status,
            Json(json!({"execution_id": execution.id, "repeated": !fresh})),
        )
            .into_response());
    }
    let finished = state
        .runtime
        .wait(workflow.org_id, execution.id, RESPOND_WAIT)
        .await
        .map_err(crate::executions::runtime_error)?;
    respond_with(finished)
}

/// How far a Standard Webhooks timestamp may be from now.
pub const SIGNATURE_TOLERANCE: i64 = 5 * 60;

/// Checks Baton's own signature: Standard Webhooks (`webhook-id`, `webhook-timestamp` within
/// five minutes, `webhook-signature`), answering the signed id; or the deprecated
/// `X-Baton-Signature` over the body alone, answering none.
fn verify_baton_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if let Some(id) = text("webhook-id") {
        let timestamp = text("webhook-timestamp")
            .and_then(|value| value.parse::<i64>().ok())
            .ok_or(ApiError::UnauthorizedBecause(
                "webhook-timestamp is missing or not a number of seconds",
            ))?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE {
            return Err(ApiError::UnauthorizedBecause(
                "webhook-timestamp is more than five minutes from now: a late or replayed delivery",
            ));
        }
        let signature = text("webhook-signature").unwrap_or_default();
        if id.is_empty()
            || id.len() > crate::request::MAX_DELIVERY_KEY
            || !baton_connectors::webhook::standard_signature_matches(
                secret, id, timestamp, body, signature,
            )
        {
            return Err(ApiError::UnauthorizedBecause(
                "webhook-signature does not sign this webhook-id, webhook-timestamp and body with this hook's secret",
            ));
        }
        return Ok(Some(id.to_owned()));
    }
    if signature_matches(secret, body, text(SIGNATURE_HEADER), "sha256=") {
        return Ok(None);
    }
    Err(ApiError::UnauthorizedBecause(
        "the call is not signed with this hook's secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)",
    ))
}

/// The answer of a respond-mode hook: the output, the failure, or (still running) the id.
fn respond_with(finished: baton_core::execution::Execution) -> Result<Response, ApiError> {
    match finished.state {
        baton_core::ExecutionState::Completed => {
            Ok((StatusCode::OK, Json(finished.output.unwrap_or(Value::Null))).into_response())
        }
        baton_core::ExecutionState::Failed | baton_core::ExecutionState::Cancelled => {
            let message = finished
                .error
                .as_ref()
                .and_then(|error| error["message"].as_str())
                .unwrap_or("the execution did not complete")
                .to_owned();
            Err(ApiError::WorkflowFailed { message })
        }
        _ => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"execution_id": finished.id, "state": finished.state})),
        )
            .into_response()),
    }
}
