//! Two-factor sign-in with time-based one-time passwords (RFC 6238: six digits, 30-second
//! steps, SHA-1, as every authenticator app expects). Enrolment shows the secret as an
//! `otpauth://` URI and a QR code; a first code confirms it and returns ten single-use recovery
//! codes, once. Turning it off takes a fresh code. A code is accepted once: the step it was
//! made for is recorded.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use baton_core::UserId;
use serde::Deserialize;
use serde_json::json;
use totp_rs::{Algorithm, Secret, Totp};

use super::guard::{Actor, Authenticated, SignedIn};
use super::session::hash;
use crate::AppState;
use crate::audit::{self, Event};
use crate::error::ApiError;
use crate::request::{Client, JsonBody};

pub const RECOVERY_CODES: usize = 10;
/// Proof of a passed first factor (a sign-in with Google), waiting for the code.
pub const PENDING_COOKIE: &str = "baton_mfa_pending";
const ISSUER: &str = "Baton";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/mfa/enroll", post(enroll))
        .route("/api/v1/auth/mfa/verify", post(verify))
        .route("/api/v1/auth/mfa/disable", post(disable))
        .route("/api/v1/auth/mfa/complete", post(complete))
}

/// What a person's two-factor secret is sealed to: it opens for them only.
pub fn sealing_context(user: UserId) -> Vec<u8> {
    let mut context = b"totp:".to_vec();
    context.extend_from_slice(user.as_uuid().as_bytes());
    context
}

/// A stored two-factor secret, opened (the master key seals it at rest).
fn opened(state: &AppState, user: UserId, stored: &str) -> Result<String, ApiError> {
    state
        .runtime
        .vault
        .open_for(&sealing_context(user), stored)
        .map_err(|error| ApiError::Internal(format!("a stored TOTP secret does not open: {error}")))
}

/// The generator for a base32 secret.
fn generator(secret: &str, account: &str) -> Result<Totp, ApiError> {
    let bytes = Secret::try_from_base32(secret).map_err(|error| {
        ApiError::Internal(format!("a stored TOTP secret is unreadable: {error}"))
    })?;
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(bytes)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|error| ApiError::Internal(error.to_string()))
}

fn now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// Whether the user has confirmed two-factor sign-in.
pub async fn is_enabled(state: &AppState, user: UserId) -> Result<bool, ApiError> {
    Ok(state
        .store
        .totp(user)
        .await?
        .is_some_and(|totp| totp.enabled_at.is_some()))
}

/// How a second factor was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Code,
    RecoveryCode,
}

/// Checks a code from the app, or a recovery code (`xxxxx-xxxxx`), each usable once.
/// `None` when it is wrong, reused or the user has no two-factor set-up.
pub async fn check(
    state: &AppState,
    user: UserId,
    email: &str,
    code: &str,
) -> Result<Option<Factor>, ApiError> {
    let Some(totp) = state.store.totp(user).await? else {
        return Ok(None);
    };
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let secret = opened(state, user, &totp.secret)?;
        let Some(step) = generator(&secret, email)?.check(code, now()) else {
            return Ok(None);
        };
        let fresh = state
            .store
            .use_totp_step(user, i64::try_from(step).unwrap_or(i64::MAX))
            .await?;
        return Ok(fresh.then_some(Factor::Code));
    }
    if totp.enabled_at.is_some()
        && state
            .store
            .use_recovery_code(user, &hash(&normalize_recovery_code(code)))
            .await?
    {
        return Ok(Some(Factor::RecoveryCode));
    }
    Ok(None)
}

fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Ten codes of ten characters from an alphabet without look-alikes (about 50 bits each).
fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A person, not an API key.
fn person(signed_in: &Authenticated) -> Result<UserId, ApiError> {
    match signed_in.actor {
        Actor::User { id, .. } => Ok(id),
        Actor::ApiKey { .. } => Err(ApiError::ForbiddenBecause(
            "two-factor sign-in belongs to a person, not an API key",
        )),
    }
}

async fn enroll(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
) -> Result<impl IntoResponse, ApiError> {
    let user_id = person(&signed_in)?;
    if is_enabled(&state, user_id).await? {
        return Err(ApiError::Conflict(
            "two-factor sign-in is already on; turn it off first to enrol a new device".into(),
        ));
    }
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let secret = Secret::generate().to_base32();
    let totp = generator(&secret, &user.email)?;
    let uri = totp
        .to_url()
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let qr = totp
        .to_qr_base64()
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let sealed = state
        .runtime
        .vault
        .seal_for(&sealing_context(user_id), &secret);
    state.store.begin_totp(user_id, &sealed).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "secret": secret,
            "otpauth_uri": uri,
            "qr_code_png_base64": qr,
            "next": "POST /api/v1/auth/mfa/verify with a code from the app",
        })),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Code {
    code: String,
}

async fn verify(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
    client: Client,
    JsonBody(body): JsonBody<Code>,
) -> Result<impl IntoResponse, ApiError> {
    let user_id = person(&signed_in)?;
    let Some(pending) = state.store.totp(user_id).await? else {
        return Err(ApiError::Conflict(
            "start with POST /api/v1/auth/mfa/enroll".into(),
        ));
    };
    if pending.enabled_at.is_some() {
        return Err(ApiError::Conflict(
            "two-factor sign-in is already on".into(),
        ));
    }
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if check(&state, user_id, &user.email, &body.code).await? != Some(Factor::Code) {
        return Err(ApiError::invalid(
            "the code is not right",
            "$.code",
            "is not the current code of the authenticator app",
        ));
    }
    let codes = new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|code| hash(&normalize_recovery_code(code)))
        .collect();
    state.store.enable_totp(user_id, &hashes).await?;
    audit::record(&state, &client, Event::by(&signed_in, "mfa.enabled")).await;
    Ok(Json(json!({
        "enabled": true,
        "recovery_codes": codes,
        "note": "each recovery code works once; keep them somewhere safe, they are not shown again",
    })))
}

async fn disable(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
    client: Client,
    JsonBody(body): JsonBody<Code>,
) -> Result<StatusCode, ApiError> {
    let user_id = person(&signed_in)?;
    if !is_enabled(&state, user_id).await? {
        return Err(ApiError::Conflict("two-factor sign-in is not on".into()));
    }
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if check(&state, user_id, &user.email, &body.code)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid(
            "the code is not right",
            "$.code",
            "must be a fresh code of the authenticator app, or an unused recovery code",
        ));
    }
    state.store.disable_totp(user_id).await?;
    audit::record(&state, &client, Event::by(&signed_in, "mfa.disabled")).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Finishes a sign-in that passed its first factor elsewhere (Google) with the second.
async fn complete(
    State(state): State<AppState>,
    client: Client,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<Code>,
) -> Result<impl IntoResponse, ApiError> {
    crate::rate_limit::per_address(&state, &client, "login").await?;
    let claims = super::session::cookie(&headers, PENDING_COOKIE)
        .and_then(|token| state.keys.verify_pending(token, chrono::Utc::now()).ok())
        .ok_or(ApiError::UnauthorizedBecause(
            "no sign-in is waiting for a code, or it took longer than five minutes; sign in again",
        ))?;
    let user = state
        .store
        .user(claims.sub)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let now = std::time::Instant::now();
    let address = client.ip.as_deref();
    if let Some(wait) = state
        .sign_in_failures
        .sign_in_wait(&user.email, address, now)
    {
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: wait.as_secs().max(1),
        });
    }
    if check(&state, user.id, &user.email, &body.code)
        .await?
        .is_none()
    {
        state
            .sign_in_failures
            .sign_in_failed(&user.email, address, std::time::Instant::now());
        audit::record(
            &state,
            &client,
            Event::new(Some(claims.org), Some(user.id), "auth.login_failed")
                .details(json!({"reason": "two-factor code", "method": "google"})),
        )
        .await;
        return Err(ApiError::UnauthorizedBecause(
            "the two-factor code is not right, or was already used",
        ));
    }
    state
        .store
        .membership(claims.org, user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    audit::record(
        &state,
        &client,
        Event::new(Some(claims.org), Some(user.id), "auth.login")
            .details(json!({"method": "google", "second_factor": true})),
    )
    .await;
    let mut issued = super::session::start(&state, user.id, claims.org).await?;
    super::session::append(
        &mut issued.cookies,
        &format!("{PENDING_COOKIE}=; Path=/api/v1/auth/mfa; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok((
        issued.cookies,
        Json(
            json!({"user": {"id": user.id, "email": user.email, "name": user.name}, "organization_id": claims.org}),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_codes_that_normalize_the_same_typed_any_way() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|code| code.len() == 11 && &code[5..6] == "-")
        );
        let code = &codes[0];
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            normalize_recovery_code(code)
        );
    }

    #[test]
    fn the_generator_makes_codes_it_accepts_and_the_uri_names_the_account() {
        let secret = Secret::generate().to_base32();
        let totp = generator(&secret, "ann@example.com").unwrap();
        let code = totp.generate(1_000_000).to_string();
        assert_eq!(code.len(), 6);
        assert_eq!(totp.check(&code, 1_000_000), Some(1_000_000 / 30));
        assert!(totp.check(&code, 1_000_000 + 120).is_none(), "codes expire");
        let uri = totp.to_url().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Baton:ann%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={secret}")));
    }
}
