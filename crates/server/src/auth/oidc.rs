//! Sign in with Google, or any OpenID Connect provider: the authorization code flow with PKCE,
//! a `state` against cross-site forgery and a `nonce` against replayed ID tokens, both kept in
//! a short-lived httpOnly cookie. The ID token's signature is checked against the provider's
//! published keys (JWKS), and its issuer, audience, expiry and nonce.
//!
//! The person is found by the provider's subject id; failing that, by a verified email of an
//! existing account whose own email was proven too (by a mailed link), which is then linked;
//! an account whose email was never proven gives the address up instead; failing that, an account and an organization are
//! made for them, as sign-up does.

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::json;

use super::session;
use crate::AppState;
use crate::audit::{self, Event};
use crate::error::ApiError;
use crate::request::Client;

/// The cookie that carries the flow's state, nonce and PKCE verifier to the callback.
const FLOW_COOKIE: &str = "baton_oidc";
const FLOW_PATH: &str = "/api/v1/auth/google";
/// How long the person has to sign in at the provider.
const FLOW_SECONDS: u64 = 600;
/// How long discovered metadata and keys are kept before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The name identities from this provider are stored under.
pub const PROVIDER: &str = "google";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/google/start", get(start))
        .route("/api/v1/auth/google/callback", get(callback))
        .route("/api/v1/auth/providers", get(available))
}

/// An OpenID provider the operator configured.
pub struct Provider {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    http: Http,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{0} is not a valid URL")]
    Url(String),
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

/// The library's requests, sent with our reqwest client.
type Http = baton_connectors::oauth::OAuthHttp;

impl Provider {
    /// `public_url` is where this server is reached; the provider sends people back to
    /// `{public_url}/api/v1/auth/google/callback`, which must be registered with it.
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        public_url: &str,
    ) -> Result<Self, OidcError> {
        let issuer =
            IssuerUrl::new(issuer.to_owned()).map_err(|_| OidcError::Url(issuer.to_owned()))?;
        let callback = format!("{}{FLOW_PATH}/callback", public_url.trim_end_matches('/'));
        let redirect = RedirectUrl::new(callback.clone()).map_err(|_| OidcError::Url(callback))?;
        let http = Http::new(Duration::from_secs(10)).map_err(OidcError::Client)?;
        Ok(Self {
            issuer,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: ClientSecret::new(client_secret.to_owned()),
            redirect,
            http,
            metadata: tokio::sync::Mutex::new(None),
        })
    }

    /// The provider's metadata and keys, discovered once an hour (or again when `fresh`).
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, ApiError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && !fresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|error| {
                tracing::error!(%error, issuer = %self.issuer.as_str(), "the OpenID provider could not be discovered");
                ApiError::Unavailable
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone())
    }
}

fn provider(state: &AppState) -> Result<&Provider, ApiError> {
    state
        .config
        .google
        .as_ref()
        .ok_or(ApiError::ForbiddenBecause(
            "sign-in with Google is not set up on this server (BATON_GOOGLE_CLIENT_ID)",
        ))
}

/// Sends the browser to the provider.
async fn start(State(state): State<AppState>) -> Result<Response, ApiError> {
    let provider = provider(&state)?;
    let client = provider.client(provider.metadata(false).await?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = format!("{}.{}.{}", csrf.secret(), nonce.secret(), verifier.secret());
    let mut headers = HeaderMap::new();
    session::append(
        &mut headers,
        &format!(
            "{FLOW_COOKIE}={flow}; Path={FLOW_PATH}; HttpOnly; SameSite=Lax{}; Max-Age={FLOW_SECONDS}",
            session::secure(&state)
        ),
    );
    if let Ok(location) = url.as_str().parse() {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::FOUND, headers).into_response())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn refused(reason: &'static str) -> ApiError {
    ApiError::UnauthorizedBecause(reason)
}

/// The provider sends the browser back here with a code, exchanged for tokens; the ID token
/// says who signed in.
async fn callback(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Result<Response, ApiError> {
    let provider = provider(&state)?;
    if query.error.is_some() {
        return Err(refused("the sign-in with Google was cancelled or refused"));
    }
    let flow = session::cookie(&headers, FLOW_COOKIE).ok_or(refused(
        "the sign-in with Google expired or was started elsewhere; start again",
    ))?;
    let mut parts = flow.splitn(3, '.');
    let (Some(expected_state), Some(nonce), Some(verifier)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("the sign-in with Google was tampered with"));
    };
    if query.state.as_deref() != Some(expected_state) {
        return Err(refused("the sign-in with Google was tampered with (state)"));
    }
    let code = query
        .code
        .ok_or(refused("the provider sent no authorization code"))?;
    let claims = exchange(provider, code, nonce, verifier).await?;
    let email = claims
        .email()
        .map(|email| email.as_str().trim().to_lowercase())
        .filter(|_| claims.email_verified() == Some(true))
        .ok_or(refused(
            "Google did not confirm an email address for this account",
        ))?;
    let subject = claims.subject().as_str().to_owned();
    let name = claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str().to_owned())
        .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());

    let (user, organization, created) = find_or_make(&state, &subject, &email, &name).await?;
    if super::mfa::is_enabled(&state, user).await? {
        // The second factor is still ours to ask: the browser goes to the page that asks it,
        // carrying proof of the first for five minutes.
        let pending = state
            .keys
            .issue_pending(user, organization, chrono::Utc::now())
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        let mut response = StatusCode::FOUND.into_response();
        session::append(
            response.headers_mut(),
            &format!(
                "{}={pending}; Path=/api/v1/auth/mfa; HttpOnly; SameSite=Lax{}; Max-Age={}",
                super::mfa::PENDING_COOKIE,
                session::secure(&state),
                super::token::PENDING_LIFETIME.num_seconds()
            ),
        );
        session::append(
            response.headers_mut(),
            &format!("{FLOW_COOKIE}=; Path={FLOW_PATH}; HttpOnly; SameSite=Lax; Max-Age=0"),
        );
        if let Ok(location) = format!("{}/sign-in/two-factor", state.config.public_url).parse() {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(response);
    }
    audit::record(
        &state,
        &client,
        Event::new(Some(organization), Some(user), "auth.login")
            .details(json!({"method": "google", "new_account": created})),
    )
    .await;
    let issued = session::start(&state, user, organization).await?;
    let mut response = (StatusCode::FOUND, issued.cookies).into_response();
    session::append(
        response.headers_mut(),
        &format!("{FLOW_COOKIE}=; Path={FLOW_PATH}; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    if let Ok(location) = format!("{}/", state.config.public_url).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Exchanges the code for tokens and checks the ID token; on a key the cached JWKS does not
/// hold (the provider rotated its keys), the metadata is fetched again once.
async fn exchange(
    provider: &Provider,
    code: String,
    nonce: &str,
    verifier: &str,
) -> Result<CoreIdTokenClaims, ApiError> {
    let client = provider.client(provider.metadata(false).await?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|error| {
            ApiError::Internal(format!("the provider has no token endpoint: {error}"))
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request_async(&provider.http)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "the provider refused the authorization code");
            refused("the provider refused the sign-in code")
        })?;
    let id_token = tokens
        .id_token()
        .ok_or(refused("the provider sent no ID token"))?;
    let nonce = Nonce::new(nonce.to_owned());
    match id_token.claims(&client.id_token_verifier(), &nonce) {
        Ok(claims) => Ok(claims.clone()),
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            let fresh = provider.client(provider.metadata(true).await?);
            id_token
                .claims(&fresh.id_token_verifier(), &nonce)
                .cloned()
                .map_err(|error| {
                    tracing::warn!(%error, "an ID token was refused");
                    refused("the ID token is not valid")
                })
        }
        Err(error) => {
            tracing::warn!(%error, "an ID token was refused");
            Err(refused("the ID token is not valid"))
        }
    }
}

/// The user for this identity, and the organization to sign them in to.
async fn find_or_make(
    state: &AppState,
    subject: &str,
    email: &str,
    name: &str,
) -> Result<(baton_core::UserId, baton_core::OrgId, bool), ApiError> {
    let known = match state.store.user_by_identity(PROVIDER, subject).await? {
        Some(user) => Some(user),
        None => match state.store.user_by_email(email).await? {
            Some(user) if user.email_verified_at.is_some() => {
                // Both the account and the provider proved the email: the same person.
                state
                    .store
                    .link_identity(PROVIDER, subject, user.id)
                    .await?;
                Some(user)
            }
            Some(unproven) => {
                // Whoever made this account never proved the address, and the provider's user
                // has: the address is theirs. The unproven account keeps its data under an
                // address nobody reads, and its sessions end.
                let placeholder = format!("unverified-{}@accounts.invalid", unproven.id);
                state.store.release_email(unproven.id, &placeholder).await?;
                tracing::warn!(user = %unproven.id, "an unconfirmed account gave up its email to a Google sign-in that proved it");
                None
            }
            None => None,
        },
    };
    if let Some(user) = known {
        let membership = state
            .store
            .memberships_of(user.id)
            .await?
            .into_iter()
            .next()
            .ok_or(ApiError::ForbiddenBecause(
                "this account belongs to no organization",
            ))?;
        return Ok((user.id, membership.org_id, false));
    }
    let user = state
        .store
        .create_user(baton_core::organization::NewUser {
            email: email.to_owned(),
            name: name.chars().take(100).collect(),
            password_hash: None,
        })
        .await?;
    state
        .store
        .link_identity(PROVIDER, subject, user.id)
        .await?;
    state.store.mark_email_verified(user.id).await?;
    let organization = state
        .store
        .create_organization(&format!("{}'s organization", user.name), user.id)
        .await?;
    Ok((user.id, organization.id, true))
}

/// For a client that wants to know whether the button should be shown.
pub(crate) async fn available(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"google": state.config.google.is_some()}))
}
