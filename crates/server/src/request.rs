//! What handlers read from a request besides its route: a JSON body whose errors say where they
//! are, and who is asking from where (for the audit log).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Detail};

/// The most a JSON body may weigh.
const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON body: unreadable JSON is a 400, a body of the wrong shape a 422, each naming the
/// place (`$.password`) that is wrong.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|kind| kind.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::BadRequest {
                message: "the body must be JSON (Content-Type: application/json)".into(),
                details: Vec::new(),
            });
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|_| ApiError::BadRequest {
                    message: "the body could not be read".into(),
                    details: Vec::new(),
                })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::BadRequest {
                message: "the body is too large".into(),
                details: Vec::new(),
            });
        }
        // A key given twice would silently lose one of its values.
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Some((path, key)) = baton_core::dsl::text::duplicate_key(text)
        {
            return Err(ApiError::Invalid {
                message: "the body gives a key twice".into(),
                details: vec![Detail {
                    path,
                    message: format!("the key {key:?} is given twice; give it once"),
                }],
            });
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut deserializer)
            .map(JsonBody)
            .map_err(|error| {
                let inner = error.path().to_string();
                let path = if inner == "." {
                    "$".to_owned()
                } else {
                    format!("$.{inner}")
                };
                let message = error.inner().to_string();
                let detail = vec![Detail {
                    path,
                    message: message.clone(),
                }];
                if error.inner().is_syntax() || error.inner().is_eof() {
                    ApiError::BadRequest {
                        message: "the body is not valid JSON".into(),
                        details: detail,
                    }
                } else {
                    ApiError::Invalid {
                        message: "the body does not have the expected fields".into(),
                        details: detail,
                    }
                }
            })
    }
}

/// An optional JSON body: `None` when the request has no body at all.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|length| length.trim() == "0")
            || (!request.headers().contains_key(header::CONTENT_TYPE)
                && !request.headers().contains_key(header::CONTENT_LENGTH)
                && !request.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

/// The client's address and user agent, when known.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Client {
    /// The client of a request, as far as the server can tell.
    pub fn of(parts: &Parts, state: &crate::AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let ip = peer
            .map(|peer| client_address(peer, &parts.headers, &state.config.trusted_proxies))
            .map(|address| address.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(256).collect());
        Self { ip, user_agent }
    }
}

impl FromRequestParts<crate::AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, state))
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the nearest address
/// in `X-Forwarded-For` (read from the right) that is not a trusted proxy itself. A list a
/// client wrote for itself is never believed past the first untrusted hop.
pub fn client_address(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let canonical = |address: std::net::IpAddr| match address {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, std::net::IpAddr::V4),
        v4 => v4,
    };
    let is_trusted =
        |address: std::net::IpAddr| trusted.iter().any(|range| range.contains(&address));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.into_iter().rev() {
        let Ok(address) = hop.parse::<std::net::IpAddr>() else {
            break;
        };
        client = canonical(address);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// A plausible email address (see [`baton_core::dsl::text::is_mail_address`]), or what is wrong.
pub fn email_problem(email: &str) -> Option<&'static str> {
    (!baton_core::dsl::text::is_mail_address(email)).then_some("is not an email address")
}

/// A 400 about one query parameter (`field`; `query` for the query as a whole).
pub fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        message: "invalid query".into(),
        details: vec![Detail {
            path: field.into(),
            message: message.into(),
        }],
    }
}

/// A query string of the expected shape, or a 400 saying what is wrong with it.
pub fn query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query
        .map(|axum::extract::Query(query)| query)
        .map_err(|rejection| bad_query("query", rejection.body_text()))
}

/// A page of `limit` items (50 unless given), after `cursor` when given.
pub fn page(cursor: Option<String>, limit: Option<u32>) -> baton_core::PageRequest {
    let limit = limit.unwrap_or(50);
    match cursor {
        Some(cursor) => baton_core::PageRequest::after(limit, baton_core::Cursor::new(cursor)),
        None => baton_core::PageRequest::first(limit),
    }
}

/// The longest delivery key (`Idempotency-Key`) kept.
pub const MAX_DELIVERY_KEY: usize = 200;

/// A caller's own delivery key, from the first of `names` it sent; refused when it is empty or
/// too long to keep, rather than silently ignored.
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
    names: &[&str],
) -> Result<Option<String>, ApiError> {
    let Some((name, value)) = names
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_DELIVERY_KEY {
        return Err(ApiError::BadRequest {
            message: format!(
                "the {name} header must have 1 to {MAX_DELIVERY_KEY} visible characters"
            ),
            details: vec![Detail {
                path: name.to_owned(),
                message: format!("is {} characters long", key.len()),
            }],
        });
    }
    Ok(Some(key.to_owned()))
}

/// What a request is, for telling a repeat of it from another request under the same key:
/// SHA-256 of its bytes, in hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
