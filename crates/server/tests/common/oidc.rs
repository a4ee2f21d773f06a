//! A local OpenID provider for the sign-in tests: discovery, a JWKS with its own RSA key, an
//! authorize endpoint that consents at once for the person it is told to be, and a token
//! endpoint that checks the client secret and the PKCE verifier and signs real RS256 ID tokens.
//! Faults to inject: sign with a key the JWKS does not hold, send the wrong nonce or audience,
//! leave the email unverified.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "baton-test-client";
pub const CLIENT_SECRET: &str = "baton-test-secret";
const KID: &str = "test-key-1";

/// Who signs in, and what goes wrong.
#[derive(Clone, Debug)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    ForeignKey,
    WrongNonce,
    WrongAudience,
}

struct Grant {
    nonce: String,
    challenge: String,
}

#[derive(Default)]
struct Inner {
    person: Option<Person>,
    fault: Fault,
    grants: HashMap<String, Grant>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeProvider {
            issuer,
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn sign_in_as(&self, person: Person) {
        self.inner.lock().unwrap().person = Some(person);
    }

    pub fn fail_with(&self, fault: Fault) {
        self.inner.lock().unwrap().fault = fault;
    }
}

async fn discovery(State(fake): State<FakeProvider>) -> Json<Value> {
    let issuer = &fake.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid", "email", "profile"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    let n = include_str!("../fixtures/oidc-test-key.n").trim();
    Json(
        json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": n, "e": "AQAB"}]}),
    )
}

/// Consents at once and sends the browser back with a code.
async fn authorize(
    State(fake): State<FakeProvider>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID
        || field("response_type") != "code"
        || field("code_challenge_method") != "S256"
        || !field("scope").split(' ').any(|scope| scope == "openid")
    {
        return (
            StatusCode::BAD_REQUEST,
            format!("bad authorize request {query:?}"),
        )
            .into_response();
    }
    let code = format!("code-{}", uuid::Uuid::now_v7().simple());
    fake.inner.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            nonce: field("nonce"),
            challenge: field("code_challenge"),
        },
    );
    let location = format!(
        "{}?code={code}&state={}",
        field("redirect_uri"),
        field("state")
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn token(
    State(fake): State<FakeProvider>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let mut inner = fake.inner.lock().unwrap();
    let grant = form.get("code").and_then(|code| inner.grants.remove(code));
    let Some(grant) = grant else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "PKCE"})),
        )
            .into_response();
    }
    let person = inner.person.clone().expect("a person to sign in as");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": fake.issuer,
        "sub": person.subject,
        "aud": if inner.fault == Fault::WrongAudience { "someone-else" } else { CLIENT_ID },
        "exp": now + 300,
        "iat": now,
        "nonce": if inner.fault == Fault::WrongNonce { "not-the-nonce".to_owned() } else { grant.nonce },
        "email": person.email,
        "email_verified": person.email_verified,
        "name": person.name,
    });
    let der: &[u8] = if inner.fault == Fault::ForeignKey {
        include_bytes!("../fixtures/oidc-other-key.der")
    } else {
        include_bytes!("../fixtures/oidc-test-key.der")
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let id_token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der)).unwrap();
    Json(json!({
        "access_token": format!("at-{}", uuid::Uuid::now_v7().simple()),
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}
