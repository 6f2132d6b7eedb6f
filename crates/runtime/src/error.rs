//! The one error type of every tocsin HTTP API: a closed set of codes, each with its status, and a
//! JSON body `{"error": {"code": "...", "message": "..."}}`. A 5xx message never carries internal
//! detail; the detail is logged once, here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not the JSON this endpoint takes.
    InvalidPayload,
    /// A query parameter or path segment is malformed.
    InvalidParameter,
    /// No bearer token, or one that is not valid.
    Unauthorized,
    /// A valid token without the scope the route needs, or a source address not allowed.
    Forbidden,
    NotFound,
    /// The move is impossible from the resource's current state.
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// A dependency (PostgreSQL, Redis) is unreachable: try again.
    Unavailable,
    /// The work was accepted but did not finish in time.
    Timeout,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidPayload | ErrorCode::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, for 503 and 429, so clients (Alertmanager included) back off sensibly.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: BodyInner<'a>,
}

#[derive(Serialize)]
struct BodyInner<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), retry_after: None }
    }

    pub fn invalid_payload(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidPayload, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameter, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Conflict, message)
    }

    /// Too many requests: `retry_after` seconds until the next one can pass.
    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError { code: ErrorCode::RateLimited, message: message.into(), retry_after: Some(retry_after) }
    }

    /// A dependency is down. `dependency` names it for the client; `detail` is only logged.
    pub fn unavailable(dependency: &str, detail: impl fmt::Display) -> ApiError {
        tracing::warn!(dependency, error = %detail, "dependency unavailable");
        ApiError {
            code: ErrorCode::Unavailable,
            message: format!("{dependency} is unavailable, try again shortly"),
            retry_after: Some(5),
        }
    }

    /// Something that should not happen. `detail` is logged, never sent.
    pub fn internal(detail: impl fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        // RFC 9110 wants the scheme a 401 asks for; Bearer never makes a browser prompt.
        if self.code == ErrorCode::Unauthorized {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(Body { error: BodyInner { code: self.code, message: &self.message } })
    }
}
