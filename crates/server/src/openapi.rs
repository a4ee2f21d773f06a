//! `GET /api/v1/openapi.json`: the API as an OpenAPI 3.1 document, and `GET /api/v1/docs`, a
//! reference page built into the binary (nothing is loaded from elsewhere).
//!
//! Request bodies are described by the handlers' own body types (their JSON Schema is derived
//! from the same structs that parse the requests), the workflow document by the DSL's schema;
//! responses by the schemas below. [`ENDPOINTS`] lists every route of the router; a test checks
//! that each is served and that the document names them all.

use std::sync::OnceLock;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(document))
        .route("/api/v1/docs", get(page))
        .route(
            "/api/v1/docs/reference.js",
            get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/javascript; charset=utf-8",
                    )],
                    include_str!("openapi.js"),
                )
            }),
        )
        .route(
            "/api/v1/docs/reference.css",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("openapi.css"),
                )
            }),
        )
}

async fn document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(build).clone())
}

async fn page() -> impl IntoResponse {
    Html(include_str!("openapi.html"))
}

/// What a request carries.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    None,
    /// A JSON body of this schema (a component name).
    Json(&'static str),
    /// Any body (webhooks: JSON, form or raw).
    Any,
}

/// One operation.
pub(crate) struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Needs a session cookie, a bearer access token or an API key.
    pub signed_in: bool,
    pub body: Body,
    /// The success status and the component name of its body (`None`: no body).
    pub success: (u16, Option<&'static str>),
    /// Error statuses beyond 400/401/422/429/500 common to all.
    pub errors: &'static [u16],
}

macro_rules! endpoint {
    ($method:literal $path:literal, $tag:literal, $summary:literal, signed_in = $signed:literal,
     body = $body:expr, ok = ($status:literal, $ok:expr), errors = [$($error:literal),*]) => {
        Endpoint {
            method: $method,
            path: $path,
            tag: $tag,
            summary: $summary,
            signed_in: $signed,
            body: $body,
            success: ($status, $ok),
            errors: &[$($error),*],
        }
    };
}

use Body::{Any, Json as J, None as NoBody};

/// Every operation of the API.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    endpoint!("get" "/healthz", "health", "Liveness: answers while the process lives", signed_in = false, body = NoBody, ok = (200, Some("Status")), errors = []),
    endpoint!("get" "/readyz", "health", "Readiness: 200 while the database answers, else 503", signed_in = false, body = NoBody, ok = (200, Some("Status")), errors = [503]),
    endpoint!("post" "/api/v1/auth/signup", "auth", "Create an account and its organization, signed in", signed_in = false, body = J("Signup"), ok = (201, Some("SignedIn")), errors = [409]),
    endpoint!("post" "/api/v1/auth/login", "auth", "Sign in (with totp_code when two-factor is on)", signed_in = false, body = J("Login"), ok = (200, Some("SignedIn")), errors = [403]),
    endpoint!("post" "/api/v1/auth/refresh", "auth", "Exchange the refresh cookie for new tokens", signed_in = false, body = NoBody, ok = (204, None), errors = []),
    endpoint!("post" "/api/v1/auth/logout", "auth", "End the session", signed_in = false, body = NoBody, ok = (204, None), errors = []),
    endpoint!("get" "/api/v1/me", "auth", "The user, their organizations and the active one", signed_in = true, body = NoBody, ok = (200, Some("Me")), errors = []),
    endpoint!("patch" "/api/v1/me", "auth", "Change one's own name, or how soon one is told of failed runs and approvals", signed_in = true, body = J("Rename"), ok = (200, Some("Object")), errors = [403]),
    endpoint!("delete" "/api/v1/me", "auth", "Delete one's own account (confirm with the password); organizations where one is alone go with it", signed_in = true, body = J("AccountDeletion"), ok = (204, None), errors = [403, 409]),
    endpoint!("get" "/api/v1/me/export", "auth", "Download what Baton holds about oneself, as JSON", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403]),
    endpoint!("post" "/api/v1/me/password", "auth", "Change one's own password (ends every other session)", signed_in = true, body = J("PasswordChange"), ok = (204, None), errors = [403, 409]),
    endpoint!("post" "/api/v1/auth/switch", "organizations", "Act in another of one's organizations", signed_in = true, body = J("Switch"), ok = (200, Some("Object")), errors = [404]),
    endpoint!("post" "/api/v1/auth/password/forgot", "auth", "Mail a password reset link", signed_in = false, body = J("Forgot"), ok = (202, Some("Message")), errors = []),
    endpoint!("post" "/api/v1/auth/password/reset", "auth", "Set a new password with a reset link", signed_in = false, body = J("Reset"), ok = (204, None), errors = [403]),
    endpoint!("post" "/api/v1/auth/email/verify", "auth", "Confirm the email address with the mailed link's token", signed_in = false, body = J("Verification"), ok = (200, Some("Object")), errors = [403]),
    endpoint!("post" "/api/v1/auth/email/resend", "auth", "Mail a new confirmation link", signed_in = true, body = NoBody, ok = (202, Some("Object")), errors = [403]),
    endpoint!("post" "/api/v1/auth/mfa/enroll", "auth", "Start two-factor enrolment (secret, otpauth URI, QR code)", signed_in = true, body = NoBody, ok = (201, Some("Object")), errors = [403, 409]),
    endpoint!("post" "/api/v1/auth/mfa/verify", "auth", "Confirm enrolment with a code; returns recovery codes once", signed_in = true, body = J("Code"), ok = (200, Some("Object")), errors = [409]),
    endpoint!("post" "/api/v1/auth/mfa/disable", "auth", "Turn two-factor off with a fresh code", signed_in = true, body = J("Code"), ok = (204, None), errors = [409]),
    endpoint!("post" "/api/v1/auth/mfa/complete", "auth", "Finish a Google sign-in with the two-factor code", signed_in = false, body = J("Code"), ok = (200, Some("SignedIn")), errors = []),
    endpoint!("get" "/api/v1/auth/google/start", "auth", "Redirect to Google to sign in", signed_in = false, body = NoBody, ok = (302, None), errors = [403, 503]),
    endpoint!("get" "/api/v1/auth/google/callback", "auth", "Google sends the browser back here", signed_in = false, body = NoBody, ok = (302, None), errors = [403]),
    endpoint!("get" "/api/v1/auth/providers", "auth", "Which sign-in providers are set up", signed_in = false, body = NoBody, ok = (200, Some("Object")), errors = []),
    endpoint!("post" "/api/v1/organizations", "organizations", "Create another organization", signed_in = true, body = J("NewOrganization"), ok = (201, Some("Object")), errors = [403]),
    endpoint!("get" "/api/v1/organization", "organizations", "The active organization", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = []),
    endpoint!("patch" "/api/v1/organization", "organizations", "Change settings (name, require two-factor, AI budget)", signed_in = true, body = J("Settings"), ok = (200, Some("Object")), errors = [403, 409]),
    endpoint!("post" "/api/v1/feedback", "organizations", "Send feedback: a 0-10 score, a problem (with the page and last error) or an idea", signed_in = true, body = J("NewFeedback"), ok = (201, Some("Object")), errors = []),
    endpoint!("get" "/api/v1/feedback", "organizations", "The feedback people sent, newest first, and the Net Promoter Score (Owners and Admins)", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403]),
    endpoint!("get" "/api/v1/insights", "organizations", "How the organization used Baton, day by day (?days=30): workflows made, runs and their success rate, active people, templates, services (Owners and Admins)", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403]),
    endpoint!("get" "/api/v1/organization/export", "organizations", "Download the whole organization as a zip of JSON files, no secret in it (Owner)", signed_in = true, body = NoBody, ok = (200, None), errors = [403]),
    endpoint!("delete" "/api/v1/organization", "organizations", "Delete the organization (Owner; confirm its name)", signed_in = true, body = J("Deletion"), ok = (204, None), errors = [403]),
    endpoint!("post" "/api/v1/organization/transfer", "organizations", "Hand ownership to another member", signed_in = true, body = J("Transfer"), ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("get" "/api/v1/members", "members", "The organization's members", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("patch" "/api/v1/members/{user_id}", "members", "Change a member's role", signed_in = true, body = J("RoleChange"), ok = (200, Some("Object")), errors = [403, 404, 409]),
    endpoint!("delete" "/api/v1/members/{user_id}", "members", "Remove a member, or leave", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404, 409]),
    endpoint!("get" "/api/v1/invites", "members", "Open invitations", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = [403]),
    endpoint!("post" "/api/v1/invites", "members", "Invite someone by email with a role", signed_in = true, body = J("NewInvitation"), ok = (201, Some("Object")), errors = [403, 409]),
    endpoint!("post" "/api/v1/invites/{id}/resend", "members", "Mail an invitation again with fresh links (the old ones stop working)", signed_in = true, body = NoBody, ok = (201, Some("Object")), errors = [403, 404]),
    endpoint!("delete" "/api/v1/invites/{id}", "members", "Withdraw an invitation", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("post" "/api/v1/invites/accept", "members", "Accept an invitation (making the account if needed)", signed_in = false, body = J("Acceptance"), ok = (200, Some("SignedIn")), errors = [403]),
    endpoint!("get" "/api/v1/api-keys", "api keys", "The organization's API keys", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = [403]),
    endpoint!("post" "/api/v1/api-keys", "api keys", "Make an API key (shown once)", signed_in = true, body = J("NewKey"), ok = (201, Some("Object")), errors = [403]),
    endpoint!("delete" "/api/v1/api-keys/{id}", "api keys", "Revoke an API key", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("get" "/api/v1/connectors", "connectors", "The services Baton calls, their auth and their actions' input schemas", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("get" "/api/v1/connectors/{service}/quota", "connectors", "The organization's use of the service's rate limit in the current window", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404]),
    endpoint!("get" "/api/v1/ai/usage", "ai", "What each API key's gateway calls used in the last `days` days (30 by default)", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = []),
    endpoint!("post" "/v1/chat/completions", "gateway", "OpenAI-compatible chat completions with a Baton API key: `provider/model` routed to the organization's providers, with its prices, budget, circuits and `fallback`; `stream: true` answers in OpenAI's SSE chunks", signed_in = true, body = J("ChatRequest"), ok = (200, Some("Object")), errors = [403, 502]),
    endpoint!("get" "/v1/models", "gateway", "The models the organization reaches through the gateway (OpenAI's list format)", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403]),
    endpoint!("get" "/api/v1/ai/prices", "ai", "The model prices in force: the organization's own and the shipped list", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = []),
    endpoint!("put" "/api/v1/ai/prices/{provider}/{model}", "ai", "Set the organization's price for a model (prefix)", signed_in = true, body = J("PriceBody"), ok = (200, Some("Object")), errors = [403]),
    endpoint!("delete" "/api/v1/ai/prices/{provider}/{model}", "ai", "Go back to the list price", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("get" "/api/v1/credentials", "credentials", "The organization's credentials (never their secrets)", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("post" "/api/v1/credentials", "credentials", "Store a credential, sealed; its secret is never shown again", signed_in = true, body = J("NewCredentialBody"), ok = (201, Some("Object")), errors = [403, 409]),
    endpoint!("get" "/api/v1/credentials/{id}", "credentials", "A credential's service and name", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404]),
    endpoint!("patch" "/api/v1/credentials/{id}", "credentials", "Rename a credential (workflows name it by its name)", signed_in = true, body = J("RenameBody"), ok = (200, Some("Object")), errors = [403, 404, 409]),
    endpoint!("put" "/api/v1/credentials/{id}/secret", "credentials", "Replace a credential's secret", signed_in = true, body = J("SecretBody"), ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("delete" "/api/v1/credentials/{id}", "credentials", "Remove a credential", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("post" "/api/v1/credentials/{id}/test", "credentials", "Check that a credential works, with the service's cheapest call", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/api/v1/credentials/oauth/{service}/start", "credentials", "The provider's consent page for connecting a service with OAuth2 (PKCE, signed state)", signed_in = true, body = J("StartBody"), ok = (200, Some("Object")), errors = [403, 422]),
    endpoint!("get" "/api/v1/credentials/oauth/callback", "credentials", "Where the provider sends the browser back: stores the tokens and shows a page", signed_in = false, body = NoBody, ok = (200, None), errors = [400]),
    endpoint!("get" "/api/v1/audit", "audit", "The audit log, newest first", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = [403]),
    endpoint!("get" "/api/v1/workflows", "workflows", "The organization's workflows", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("post" "/api/v1/workflows", "workflows", "Save a new workflow (its document's id kept when free)", signed_in = true, body = J("Workflow"), ok = (201, Some("StoredWorkflow")), errors = [403]),
    endpoint!("post" "/api/v1/workflows/draft", "workflows", "Describe a workflow in words and get a valid draft (not saved) and what is still to connect, written by the organization's AI model", signed_in = true, body = J("DraftRequest"), ok = (200, Some("Object")), errors = [403, 502]),
    endpoint!("post" "/api/v1/workflows/validate", "workflows", "Check a workflow without saving it", signed_in = true, body = J("Workflow"), ok = (200, Some("Object")), errors = []),
    endpoint!("get" "/api/v1/workflows/{id}", "workflows", "A workflow and its current definition", signed_in = true, body = NoBody, ok = (200, Some("StoredWorkflow")), errors = [404]),
    endpoint!("put" "/api/v1/workflows/{id}", "workflows", "Save the next version (?base_version=N: only if N is still the current one, else 409; ?note=: what changed)", signed_in = true, body = J("Workflow"), ok = (200, Some("StoredWorkflow")), errors = [403, 404]),
    endpoint!("delete" "/api/v1/workflows/{id}", "workflows", "Delete a workflow", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("get" "/api/v1/workflows/{id}/versions", "workflows", "The versions, newest first", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = [404]),
    endpoint!("get" "/api/v1/workflows/{id}/versions/{version}", "workflows", "One version's definition", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404]),
    endpoint!("post" "/api/v1/workflows/{id}/versions/{version}/restore", "workflows", "Save an old version as the newest", signed_in = true, body = NoBody, ok = (200, Some("StoredWorkflow")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/activate", "workflows", "Turn its schedule and webhook on", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/deactivate", "workflows", "Turn its schedule and webhook off", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/runs", "executions", "Run the current version (?wait=SECONDS waits for the end)", signed_in = true, body = J("RunRequest"), ok = (202, Some("Execution")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/test-step", "workflows", "Test one step alone with a run's data or values typed in (safe: preview calls that send or write)", signed_in = true, body = J("StepTestRequest"), ok = (200, Some("StepTest")), errors = [400, 403, 404]),
    endpoint!("get" "/api/v1/workflows/{id}/schedule", "workflows", "The schedule and its next runs", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404, 409]),
    endpoint!("get" "/api/v1/workflows/{id}/poll", "workflows", "The poll trigger: when it looked, when it looks next, why its last look failed", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404, 409]),
    endpoint!("post" "/api/v1/workflows/{id}/poll", "workflows", "Make the poll trigger look now", signed_in = true, body = NoBody, ok = (202, Some("Object")), errors = [403, 404, 409]),
    endpoint!("get" "/api/v1/templates", "templates", "The template library (?q, ?category, ?tag, ?difficulty, ?connected_only), the most used first, each with its rating and the apps the organization has not connected", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = [400]),
    endpoint!("post" "/api/v1/templates", "templates", "Offer one of the organization's workflows to its members as a template (its connections left out)", signed_in = true, body = J("TemplateShare"), ok = (201, Some("Object")), errors = [403]),
    endpoint!("delete" "/api/v1/templates/{id}", "templates", "Remove one of the organization's own templates", signed_in = true, body = NoBody, ok = (204, None), errors = [403, 404]),
    endpoint!("get" "/api/v1/templates/{id}", "templates", "A template whole: its configuration schema, steps in words, examples, workflow, what is missing, one's own rating", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [404]),
    endpoint!("post" "/api/v1/templates/{id}/instantiate", "templates", "Make a workflow from the template with these choices and connections (saved switched off)", signed_in = true, body = J("TemplateUse"), ok = (201, Some("StoredWorkflow")), errors = [403, 404]),
    endpoint!("put" "/api/v1/templates/{id}/rating", "templates", "Rate the template (one rating per person; a new one replaces it)", signed_in = true, body = J("TemplateRating"), ok = (200, Some("Object")), errors = [404]),
    endpoint!("get" "/api/v1/workflows/{id}/hook", "webhooks", "The workflow's webhook URL", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/hook", "webhooks", "Make the webhook URL of a workflow saved before URLs were made at save", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/api/v1/workflows/{id}/hook/secret", "webhooks", "Make a signing secret (shown once)", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("put" "/api/v1/workflows/{id}/hook/secret", "webhooks", "Set a secret made elsewhere (a Slack signing secret)", signed_in = true, body = J("GivenSecret"), ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("delete" "/api/v1/workflows/{id}/hook/secret", "webhooks", "Accept unsigned calls again", signed_in = true, body = NoBody, ok = (200, Some("Object")), errors = [403, 404]),
    endpoint!("post" "/hooks/{token}", "webhooks", "Start the workflow (202), or its output in respond mode", signed_in = false, body = Any, ok = (202, Some("Object")), errors = [404, 413, 502]),
    endpoint!("get" "/api/v1/executions", "executions", "Executions, newest first (?workflow, ?state, ?since, ?until)", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("get" "/api/v1/executions/{id}", "executions", "An execution with its steps", signed_in = true, body = NoBody, ok = (200, Some("Execution")), errors = [404]),
    endpoint!("get" "/api/v1/executions/{id}/events", "executions", "Live progress as Server-Sent Events", signed_in = true, body = NoBody, ok = (200, None), errors = [404]),
    endpoint!("post" "/api/v1/executions/{id}/cancel", "executions", "Cancel an execution (a running one at its next safe point)", signed_in = true, body = NoBody, ok = (200, Some("Execution")), errors = [403, 404, 409]),
    endpoint!("post" "/api/v1/executions/{id}/retry", "executions", "Run a failed execution again: from its failed step, or {from_step, version} to resume on a fixed version", signed_in = true, body = J("RetryRequest"), ok = (202, Some("Execution")), errors = [403, 404, 409]),
    endpoint!("post" "/api/v1/executions/{id}/steps/{step}/answer", "executions", "Answer a waiting approval step", signed_in = true, body = J("Answer"), ok = (202, Some("Execution")), errors = [403, 404, 409]),
    endpoint!("get" "/api/v1/approvals", "executions", "The approval steps waiting for an answer the caller may give, oldest first", signed_in = true, body = NoBody, ok = (200, Some("List")), errors = []),
    endpoint!("get" "/api/v1/openapi.json", "reference", "This document", signed_in = false, body = NoBody, ok = (200, Some("Object")), errors = []),
    endpoint!("get" "/api/v1/docs", "reference", "The API reference page", signed_in = false, body = NoBody, ok = (200, None), errors = []),
    endpoint!("get" "/api/v1/docs/reference.js", "reference", "The reference page's script", signed_in = false, body = NoBody, ok = (200, None), errors = []),
    endpoint!("get" "/api/v1/docs/reference.css", "reference", "The reference page's style", signed_in = false, body = NoBody, ok = (200, None), errors = []),
];

fn schema_of<T: JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Value::Object(fields) = &mut schema {
        fields.remove("$schema");
    }
    schema
}

fn components() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_owned(), schema);
    };
    add("Signup", schema_of::<crate::auth::routes::Signup>());
    add("Login", schema_of::<crate::auth::routes::Login>());
    add("Forgot", schema_of::<crate::auth::reset::Forgot>());
    add("Reset", schema_of::<crate::auth::reset::Reset>());
    add(
        "Verification",
        schema_of::<crate::auth::verify::Verification>(),
    );
    add("Code", schema_of::<crate::auth::mfa::Code>());
    add("Switch", schema_of::<crate::organizations::Switch>());
    add("Rename", schema_of::<crate::auth::account::Rename>());
    add(
        "PasswordChange",
        schema_of::<crate::auth::account::PasswordChange>(),
    );
    add(
        "NewOrganization",
        schema_of::<crate::organizations::NewOrganization>(),
    );
    add("Settings", schema_of::<crate::members::Settings>());
    add("Deletion", schema_of::<crate::members::Deletion>());
    add(
        "AccountDeletion",
        schema_of::<crate::export::AccountDeletion>(),
    );
    add("NewFeedback", schema_of::<crate::insights::NewFeedback>());
    add("Transfer", schema_of::<crate::members::Transfer>());
    add("RoleChange", schema_of::<crate::members::RoleChange>());
    add(
        "NewInvitation",
        schema_of::<crate::members::NewInvitation>(),
    );
    add("Acceptance", schema_of::<crate::members::Acceptance>());
    add("NewKey", schema_of::<crate::api_keys::NewKey>());
    add(
        "NewCredentialBody",
        schema_of::<crate::credentials::NewCredentialBody>(),
    );
    add("SecretBody", schema_of::<crate::credentials::SecretBody>());
    add("RenameBody", schema_of::<crate::credentials::RenameBody>());
    add("StartBody", schema_of::<crate::oauth::StartBody>());
    add("PriceBody", schema_of::<crate::prices::PriceBody>());
    add("DraftRequest", schema_of::<crate::drafts::DraftRequest>());
    add("ChatRequest", schema_of::<crate::gateway::ChatRequest>());
    add("GivenSecret", schema_of::<crate::hooks::GivenSecret>());
    add("TemplateUse", schema_of::<crate::templates::Instantiate>());
    add("TemplateRating", schema_of::<crate::templates::Rate>());
    add("TemplateShare", schema_of::<crate::templates::Share>());
    add("RunRequest", schema_of::<crate::workflows::RunRequest>());
    add("Answer", schema_of::<crate::executions::Answer>());
    add(
        "StepTestRequest",
        schema_of::<crate::workflows::StepTestRequest>(),
    );
    add(
        "RetryRequest",
        schema_of::<crate::executions::RetryRequest>(),
    );
    let mut workflow =
        serde_json::to_value(baton_core::dsl::schema::workflow_schema()).unwrap_or_default();
    if let Value::Object(fields) = &mut workflow {
        fields.remove("$schema");
    }
    add("Workflow", workflow);
    add("Object", json!({"type": "object"}));
    add(
        "Status",
        json!({"type": "object", "properties": {"status": {"type": "string"}, "database": {"type": "string"}}}),
    );
    add(
        "Message",
        json!({"type": "object", "properties": {"message": {"type": "string"}}}),
    );
    add(
        "List",
        json!({"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"type": "object"}},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as ?cursor= for the next page"}
        }}),
    );
    add(
        "SignedIn",
        json!({"type": "object", "description": "Also sets the baton_access and baton_refresh cookies", "properties": {
            "user": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "email": {"type": "string"}, "name": {"type": "string"}}},
            "organization_id": {"type": "string", "format": "uuid"},
            "role": {"enum": ["owner", "admin", "member", "viewer"]}
        }}),
    );
    add(
        "Me",
        json!({"type": "object", "properties": {
            "user": {"type": "object"},
            "organizations": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string"}}}},
            "active_organization": {"type": "object", "properties": {"id": {"type": "string"}, "role": {"type": "string"}}}
        }}),
    );
    add(
        "StoredWorkflow",
        json!({"type": "object", "required": ["id", "name", "version", "active"], "properties": {
            "id": {"type": "string", "description": "The document's own id, e.g. wf_email_draft"},
            "name": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "active": {"type": "boolean"},
            "created_by": {"type": ["string", "null"], "format": "uuid"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "note": {"type": ["string", "null"], "description": "What the saver said changed in this version"},
            "definition": {"$ref": "#/components/schemas/Workflow"}
        }}),
    );
    let state =
        json!({"enum": ["PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "CANCELLED"]});
    let usage = json!({"type": "object", "properties": {"input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"}}});
    add(
        "Step",
        json!({"type": "object", "required": ["id", "state", "attempts"], "properties": {
            "id": {"type": "string", "description": "The step's id, or loop_id[i].step_id inside a loop"},
            "state": {"enum": ["PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "SKIPPED"]},
            "output": {}, "error": {},
            "attempts": {"type": "integer"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_ms": {"type": ["integer", "null"]},
            "usage": usage,
            "cost_usd": {"type": "number"}
        }}),
    );
    add(
        "StepTest",
        json!({"type": "object", "required": ["id", "state", "source"], "properties": {
            "id": {"type": "string"},
            "state": {"enum": ["COMPLETED", "FAILED", "WAITING", "PREVIEW"], "description": "PREVIEW: a safe test's call not made; `input` is what it would send"},
            "input": {}, "output": {}, "error": {},
            "source": {"type": "object", "description": "Where the step's data came from: {kind: run, execution, started_at} or {kind: sample}"},
            "execution": {"type": ["string", "null"], "format": "uuid", "description": "The step_test execution kept (none for a preview)"},
            "stopped": {"type": "string"},
            "attempts": {"type": "integer"},
            "duration_ms": {"type": ["integer", "null"]},
            "usage": usage,
            "cost_usd": {"type": "number"}
        }}),
    );
    add(
        "Execution",
        json!({"type": "object", "required": ["id", "workflow_id", "state", "steps", "cost_usd"], "properties": {
            "id": {"type": "string", "format": "uuid"},
            "workflow_id": {"type": "string"},
            "workflow_version": {"type": "integer"},
            "state": state,
            "trigger": {"enum": baton_core::execution::TriggerKind::ALL.map(|kind| kind.as_str())},
            "input": {"type": "object"},
            "output": {}, "error": {},
            "usage": usage,
            "cost_usd": {"type": "number"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}}
        }}),
    );
    add(
        "Error",
        json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"], "properties": {
                "code": {"enum": ["bad_request", "invalid", "unauthorized", "totp_required", "forbidden", "mfa_required",
                                   "not_found", "conflict", "too_large", "rate_limited", "workflow_failed", "unavailable", "internal"]},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {
                    "path": {"type": "string", "description": "Where: a JSON path ($.steps[1].id) or a query parameter"},
                    "message": {"type": "string"}
                }}}
            }
        }}}),
    );
    hoist_definitions(schemas)
}

/// schemars puts a schema's sub-schemas under its own `$defs` and points at them with
/// `#/$defs/Name`, which inside an OpenAPI document points at nothing: every such definition
/// becomes a component of its own and every such pointer points there. Two different
/// definitions of one name keep apart as `Owner_Name`.
fn hoist_definitions(schemas: Map<String, Value>) -> Map<String, Value> {
    fn repoint(value: &mut Value, renamed: &std::collections::HashMap<String, String>) {
        match value {
            Value::Object(fields) => {
                for (key, inner) in fields.iter_mut() {
                    if key == "$ref"
                        && let Some(name) = inner.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
                    {
                        let target = renamed
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| name.to_owned());
                        *inner = Value::String(format!("#/components/schemas/{target}"));
                    } else {
                        repoint(inner, renamed);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| repoint(item, renamed)),
            _ => {}
        }
    }
    let mut hoisted = Map::new();
    let mut owned = Vec::new();
    for (name, mut schema) in schemas {
        let definitions = match &mut schema {
            Value::Object(fields) => match fields.remove("$defs") {
                Some(Value::Object(definitions)) => definitions,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        let mut renamed = std::collections::HashMap::new();
        let mut placed = Vec::new();
        for (definition, body) in definitions {
            let taken = hoisted
                .get(&definition)
                .is_some_and(|existing| existing != &body)
                || owned
                    .iter()
                    .any(|(other, _): &(String, Value)| other == &definition);
            let target = if taken {
                format!("{name}_{definition}")
            } else {
                definition.clone()
            };
            renamed.insert(definition, target.clone());
            placed.push((target, body));
        }
        repoint(&mut schema, &renamed);
        for (target, mut body) in placed {
            repoint(&mut body, &renamed);
            hoisted.insert(target, body);
        }
        owned.push((name, schema));
    }
    for (name, schema) in owned {
        hoisted.insert(name, schema);
    }
    hoisted
}

fn describe(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No content",
        302 => "Redirect",
        400 => "Unreadable request (bad JSON, bad query)",
        401 => "Not signed in, or the credentials are wrong",
        403 => "Not allowed for this role",
        404 => "Not found (also: an object of another organization)",
        409 => "Conflicts with the object's state",
        413 => "The body is too large",
        422 => "Invalid content; details name each place",
        429 => "Rate limited; see Retry-After",
        500 => "Internal error (the cause is logged)",
        502 => "The workflow or the AI model behind the call failed",
        503 => "Unavailable",
        _ => "",
    }
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn build() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let mut responses = Map::new();
        let (status, body) = endpoint.success;
        let mut success = json!({"description": describe(status)});
        if let Some(body) = body {
            success["content"] = json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}});
        }
        if endpoint.path.ends_with("/organization/export") {
            success["content"] =
                json!({"application/zip": {"schema": {"type": "string", "format": "binary"}}});
        }
        if endpoint.path.ends_with("/events") {
            success["content"] = json!({"text/event-stream": {"schema": {"type": "string"}}});
        }
        responses.insert(status.to_string(), success);
        let mut errors: Vec<u16> = vec![400, 422, 429, 500];
        if endpoint.signed_in {
            errors.push(401);
        }
        errors.extend_from_slice(endpoint.errors);
        errors.sort_unstable();
        errors.dedup();
        for error in errors {
            responses.insert(
                error.to_string(),
                json!({"description": describe(error), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let mut operation = json!({
            "tags": [endpoint.tag],
            "summary": endpoint.summary,
            "operationId": format!("{} {}", endpoint.method, endpoint.path),
            "parameters": path_parameters(endpoint.path),
            "responses": responses,
        });
        if endpoint.signed_in {
            operation["security"] = json!([{"cookie": []}, {"bearer": []}]);
        } else {
            operation["security"] = json!([]);
        }
        match endpoint.body {
            Body::None => {}
            Body::Json(schema) => {
                operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
            }
            Body::Any => {
                operation["requestBody"] = json!({"content": {"application/json": {}, "application/x-www-form-urlencoded": {}, "text/plain": {}, "application/octet-stream": {}}});
            }
        }
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        item[endpoint.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Baton API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything under /api/v1 acts in the caller's active organization. Errors answer {\"error\": {\"code\", \"message\", \"details\": [{\"path\", \"message\"}]}}."
        },
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "baton_access"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "An access token, or an API key (baton_...)"}
            }
        }
    })
}
