//! The API's one error type. Each variant maps to a status code here and nowhere else; the body
//! is always `{"error": {"code", "message", "details": [{"path", "message"}]}}`. Internal causes
//! are logged and never sent to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_store::StoreError;
use serde::Serialize;
use serde_json::json;

/// One problem with a request, at a JSON path or a field name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (unreadable JSON, a bad parameter).
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Vec<Detail>,
    },
    /// The request is well-formed but its content is invalid.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Vec<Detail>,
    },
    #[error("authentication is required")]
    Unauthorized,
    /// An authentication failure with its own words (e.g. a failed sign-in).
    #[error("{0}")]
    UnauthorizedBecause(&'static str),
    /// A refusal worded by someone else (a connector checking a webhook's signature).
    #[error("{0}")]
    Refused(String),
    /// The password was right; the account also needs its two-factor code.
    #[error("a two-factor code is needed: send totp_code (or a recovery code)")]
    TotpRequired,
    #[error("you are not allowed to do this")]
    Forbidden,
    /// A refusal with its reason.
    #[error("{0}")]
    ForbiddenBecause(&'static str),
    /// The organization requires two-factor sign-in and the user has not turned it on.
    #[error("this organization requires two-factor sign-in; turn it on at /api/v1/auth/mfa/enroll")]
    MfaRequired,
    /// Also what an object of another organization looks like.
    #[error("not found")]
    NotFound,
    /// Not found, with why (of the caller's own objects only).
    #[error("{0}")]
    NotFoundBecause(&'static str),
    /// A path the API does not have.
    #[error("there is no such endpoint; the API is described at /api/v1/openapi.json")]
    NoSuchEndpoint,
    #[error("{0}")]
    Conflict(String),
    /// A body over the limit.
    #[error("the body is larger than the limit of {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// A workflow answering an HTTP call (a webhook in respond mode) failed.
    #[error("the workflow failed: {message}")]
    WorkflowFailed { message: String },
    /// A model asked on the caller's behalf (a drafted workflow) failed; its words.
    #[error("{message}")]
    ModelFailed { message: String },
    #[error("too many requests; try again in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error("the service is unavailable")]
    Unavailable,
    /// Logged with its cause; the client sees only that something went wrong.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized
            | Self::UnauthorizedBecause(_)
            | Self::Refused(_)
            | Self::TotpRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ForbiddenBecause(_) | Self::MfaRequired => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound | Self::NotFoundBecause(_) | Self::NoSuchEndpoint => {
                StatusCode::NOT_FOUND
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::WorkflowFailed { .. } | Self::ModelFailed { .. } => StatusCode::BAD_GATEWAY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, documented code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Invalid { .. } => "invalid",
            Self::Unauthorized | Self::UnauthorizedBecause(_) | Self::Refused(_) => "unauthorized",
            Self::TotpRequired => "totp_required",
            Self::Forbidden | Self::ForbiddenBecause(_) => "forbidden",
            Self::MfaRequired => "mfa_required",
            Self::NotFound | Self::NotFoundBecause(_) | Self::NoSuchEndpoint => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge { .. } => "too_large",
            Self::WorkflowFailed { .. } => "workflow_failed",
            Self::ModelFailed { .. } => "model_failed",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    /// A 422 about one field: `message` sums up, `detail` says what is wrong at `path`.
    pub fn invalid(message: impl Into<String>, path: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            details: vec![Detail {
                path: path.to_owned(),
                message: detail.into(),
            }],
        }
    }

    /// The same error with other words, for a 401.
    pub fn with_message(self, message: &'static str) -> Self {
        match self {
            Self::Unauthorized => Self::UnauthorizedBecause(message),
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let details = match &self {
            Self::BadRequest { details, .. } | Self::Invalid { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        let body = json!({"error": {"code": self.code(), "message": self.to_string(), "details": details}});
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match self {
            Self::TooManyRequests {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            // The database comes back within seconds when it restarts.
            Self::Unavailable => Some(5),
            _ => None,
        };
        if let Some(seconds) = retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is out of reach");
            return Self::Unavailable;
        }
        match error {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::DeliveryMismatch(first) => Self::Invalid {
                message: "the Idempotency-Key was used before with a different request".into(),
                details: vec![Detail {
                    path: "idempotency-key".into(),
                    message: format!(
                        "was first sent with another body (execution {first}); use a new key for a new request"
                    ),
                }],
            },
            StoreError::Transition(transition) => Self::Conflict(transition.to_string()),
            StoreError::InvalidCursor(cursor) => Self::BadRequest {
                message: "invalid page cursor".into(),
                details: vec![Detail {
                    path: "cursor".into(),
                    message: format!("{cursor:?} is not a cursor this list gave out"),
                }],
            },
            other => Self::Internal(other.to_string()),
        }
    }
}
#[cfg(test)]
mod tests {

    #[test]
    fn a_database_out_of_reach_answers_503_with_retry_after() {
        let error = ApiError::from(StoreError::Database(sqlx::Error::PoolTimedOut));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let refused = ApiError::from(StoreError::Connect("connection refused".into()));
        assert_eq!(refused.code(), "unavailable");
        assert_eq!(
            ApiError::from(StoreError::Conflict("taken".into())).status(),
            StatusCode::CONFLICT
        );
    }

    use super::*;

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = error.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn errors_have_one_shape_and_keep_internals_to_the_log() {
        let (status, json, _) = body(ApiError::Invalid {
            message: "the workflow is invalid".into(),
            details: vec![Detail {
                path: "$.steps[1].id".into(),
                message: "duplicate step id \"step_1\"".into(),
            }],
        })
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            json,
            json!({"error": {"code": "invalid", "message": "the workflow is invalid",
            "details": [{"path": "$.steps[1].id", "message": "duplicate step id \"step_1\""}]}})
        );

        let (status, json, _) = body(ApiError::Internal(
            "connection to 10.0.0.5:5432 refused, password=hunter2".into(),
        ))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"]["message"], "internal error");
        assert!(!json.to_string().contains("hunter2"));

        let (status, json, retry) = body(ApiError::TooManyRequests {
            retry_after_seconds: 12,
        })
        .await;
        assert_eq!(
            (status, json["error"]["code"].as_str(), retry.as_deref()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("rate_limited"),
                Some("12")
            )
        );
    }

    #[test]
    fn store_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(StoreError::NotFound("workflow")).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(StoreError::Conflict("taken".into())).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(StoreError::InvalidCursor("x".into())).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(StoreError::Corrupt("?".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
