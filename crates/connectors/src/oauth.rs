//! OAuth2's authorization code flow with PKCE, for the connectors that act for a person (Gmail,
//! Slack): the consent page, the code exchanged for tokens, and tokens refreshed. Each connector
//! declares its provider's endpoints and scopes ([`OAuthEndpoints`]); the operator registers an
//! app with the provider and gives Baton its client id and secret
//! (`BATON_<SERVICE>_CLIENT_ID`, `BATON_<SERVICE>_CLIENT_SECRET`).
//!
//! A token becomes the credential's secret as `{"access_token", "refresh_token", "expires_at"
//! (unix seconds), "token_type", "scope"}`. A refresh the provider refuses with `invalid_grant`
//! (the person revoked access, or the refresh token expired) is [`StepError::revoked`]: only
//! connecting again helps.

use std::time::Duration;

use baton_engine::StepError;
use baton_engine::connector::Secret;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde::Serialize;
use serde_json::{Value, json};

/// What a connector declares of its provider's OAuth2.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuthEndpoints {
    /// The consent page.
    pub authorize_url: &'static str,
    /// Where codes and refresh tokens are exchanged.
    pub token_url: &'static str,
    pub scopes: Vec<String>,
    /// How the provider wants scopes joined (Slack: `,`; the standard: ` `).
    #[serde(skip)]
    pub scope_separator: &'static str,
    /// More parameters of the consent page (Google gives a refresh token only with
    /// `access_type=offline`).
    #[serde(skip)]
    pub consent_params: &'static [(&'static str, &'static str)],
    /// Another service whose registered app this one uses when it has none of its own
    /// (Google Calendar uses Gmail's Google app).
    #[serde(skip)]
    pub app_of: Option<&'static str>,
    /// A token a person may paste instead of connecting (Notion's internal integration
    /// secret), stored as the connection's `access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paste: Option<PasteToken>,
    /// The app's id and secret go in the token request's form (HubSpot) rather than in HTTP
    /// Basic authentication.
    #[serde(skip)]
    pub secret_in_body: bool,
}

/// What the credential form says of a token pasted instead of connecting with OAuth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PasteToken {
    /// The field's label, e.g. "Internal integration secret".
    pub label: &'static str,
    /// Where the person finds it.
    pub hint: &'static str,
}

/// The app the operator registered with a provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthClientSettings {
    pub client_id: String,
    pub client_secret: String,
    /// Replaces the declared consent page (`BATON_<SERVICE>_AUTHORIZE_URL`).
    pub authorize_url: Option<String>,
    /// Replaces the declared token endpoint (`BATON_<SERVICE>_TOKEN_URL`).
    pub token_url: Option<String>,
}

/// A new PKCE code verifier: 32 random bytes, base64url.
pub fn new_verifier() -> String {
    PkceCodeChallenge::new_random_sha256().1.secret().clone()
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One service's OAuth2 app, ready to send people to the consent page and to exchange tokens.
pub struct OAuthApp {
    service: &'static str,
    client: Client,
    endpoints: OAuthEndpoints,
    http: OAuthHttp,
}

/// The provider's HTTP failures, as the OAuth library wants them. `transient` when trying
/// again later may help (the provider could not be reached, or answered 429 or 5xx).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    pub message: String,
    pub transient: bool,
}

/// The OAuth and OpenID libraries' requests, sent with our reqwest client (theirs would pull a
/// second reqwest). Redirects are not followed: they would let a provider's answer point us
/// anywhere.
pub struct OAuthHttp(reqwest::Client);

impl OAuthHttp {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map(Self)
            .map_err(|error| error.to_string())
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let failed = |message: String| HttpError {
                message,
                transient: true,
            };
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|error| failed(error.to_string()))?;
            let status = response.status();
            if status.as_u16() == 429 || status.is_server_error() {
                return Err(failed(format!("it answered HTTP {}", status.as_u16())));
            }
            let mut answer = oauth2::http::Response::builder().status(status);
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = response
                .bytes()
                .await
                .map_err(|error| failed(error.to_string()))?;
            answer.body(body.to_vec()).map_err(|error| HttpError {
                message: error.to_string(),
                transient: false,
            })
        })
    }
}

impl OAuthApp {
    /// `redirect_url` is Baton's callback, which must be registered with the provider (a
    /// worker, which only refreshes tokens, has none).
    pub fn new(
        service: &'static str,
        endpoints: &OAuthEndpoints,
        settings: &OAuthClientSettings,
        redirect_url: Option<&str>,
    ) -> Result<Self, String> {
        let authorize = settings
            .authorize_url
            .as_deref()
            .unwrap_or(endpoints.authorize_url);
        let token = settings.token_url.as_deref().unwrap_or(endpoints.token_url);
        let url_error = |url: &str| format!("{service}: {url:?} is not a valid URL");
        let mut client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(settings.client_secret.clone()))
            .set_auth_uri(AuthUrl::new(authorize.to_owned()).map_err(|_| url_error(authorize))?)
            .set_token_uri(TokenUrl::new(token.to_owned()).map_err(|_| url_error(token))?);
        if endpoints.secret_in_body {
            client = client.set_auth_type(oauth2::AuthType::RequestBody);
        }
        if let Some(redirect) = redirect_url {
            client = client.set_redirect_uri(
                RedirectUrl::new(redirect.to_owned()).map_err(|_| url_error(redirect))?,
            );
        }
        Ok(Self {
            service,
            client,
            endpoints: endpoints.clone(),
            http: OAuthHttp::new(Duration::from_secs(20))?,
        })
    }

    /// The consent page with `state` and the PKCE challenge of `verifier`.
    pub fn authorization(&self, state: &str, verifier: &str) -> String {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.to_owned(),
        ));
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new(state))
            .add_scope(Scope::new(
                self.endpoints.scopes.join(self.endpoints.scope_separator),
            ))
            .set_pkce_challenge(challenge);
        for (name, value) in self.endpoints.consent_params {
            request = request.add_extra_param(*name, *value);
        }
        request.url().0.to_string()
    }

    /// The tokens for the callback's `code`, as a credential's secret.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Secret, StepError> {
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|error| self.failure("exchanging the code", error))?;
        Ok(Secret(secret_of(&tokens, None)))
    }

    /// The secret with a fresh access token (and the provider's new refresh token, if it
    /// rotates them).
    pub async fn refresh(&self, secret: &Secret) -> Result<Secret, StepError> {
        let refresh_token = secret.text("refresh_token").ok_or_else(|| {
            StepError::revoked(format!(
                "the {} token expired and there is no refresh token to renew it: connect {} again",
                self.service, self.service
            ))
        })?;
        let tokens = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|error| self.failure("refreshing the token", error))?;
        Ok(Secret(secret_of(&tokens, Some(&secret.0))))
    }

    fn failure(
        &self,
        what: &str,
        error: RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>,
    ) -> StepError {
        let service = self.service;
        match error {
            RequestTokenError::ServerResponse(answer) => {
                let reason = match answer.error_description() {
                    Some(description) => format!("{}: {description}", answer.error()),
                    None => answer.error().to_string(),
                };
                match answer.error() {
                    BasicErrorResponseType::InvalidGrant => StepError::revoked(format!(
                        "{service} refused {what} ({reason}); the grant was revoked or expired: connect {service} again"
                    )),
                    BasicErrorResponseType::InvalidClient
                    | BasicErrorResponseType::UnauthorizedClient => StepError::permanent(format!(
                        "{service} refused Baton's OAuth app while {what} ({reason}): check its client id and secret"
                    )),
                    _ => StepError::permanent(format!("{service} refused {what} ({reason})")),
                }
            }
            RequestTokenError::Request(failed) if failed.transient => StepError::transient(
                format!("{service} could not be reached for {what}: {failed}"),
            ),
            RequestTokenError::Request(failed) => {
                StepError::permanent(format!("{service}: {what} failed: {failed}"))
            }
            RequestTokenError::Parse(_, body) => {
                // Slack answers 200 with `{"ok": false, "error": CODE}`.
                let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
                match answer["error"].as_str() {
                    Some(
                        code @ ("invalid_grant"
                        | "invalid_refresh_token"
                        | "token_revoked"
                        | "token_expired"
                        | "invalid_code"
                        | "code_already_used"),
                    ) => StepError::revoked(format!(
                        "{service} refused {what} ({code}): connect {service} again"
                    )),
                    Some(code) => {
                        StepError::permanent(format!("{service} refused {what} ({code})"))
                    }
                    None => StepError::transient(format!(
                        "{service} answered {what} with something that is not a token"
                    )),
                }
            }
            RequestTokenError::Other(message) => {
                StepError::transient(format!("{service}: {what} failed: {message}"))
            }
        }
    }
}

/// The secret a token response makes: over `previous` (a refresh keeps the fields the provider
/// does not send again, the refresh token above all).
fn secret_of(tokens: &oauth2::basic::BasicTokenResponse, previous: Option<&Value>) -> Value {
    let mut secret = match previous {
        Some(Value::Object(fields)) => Value::Object(fields.clone()),
        _ => json!({}),
    };
    secret["access_token"] = json!(tokens.access_token().secret());
    secret["token_type"] = json!(tokens.token_type().as_ref());
    if let Some(refresh) = tokens.refresh_token() {
        secret["refresh_token"] = json!(refresh.secret());
    }
    match tokens.expires_in() {
        Some(lifetime) => {
            let expires_at = chrono::Utc::now().timestamp()
                + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
            secret["expires_at"] = json!(expires_at);
        }
        None => {
            if let Some(fields) = secret.as_object_mut() {
                fields.remove("expires_at");
            }
        }
    }
    if let Some(scopes) = tokens.scopes() {
        let scopes: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
        secret["scope"] = json!(scopes.join(" "));
    }
    secret
}
