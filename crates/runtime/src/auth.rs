//! Bearer-token auth for a scope of routes.

use crate::config::Secret;
use crate::error::{ApiError, ErrorCode};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use subtle::ConstantTimeEq;

/// The token a scope accepts, stored as app data of that scope.
#[derive(Debug, Clone)]
pub struct RequiredToken(pub Secret);

/// Middleware: answers 401 unless `Authorization: Bearer <token>` carries the scope's token.
/// The comparison takes the same time whatever the token, so it leaks nothing about it.
pub async fn require_bearer(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(expected) = request.app_data::<web::Data<RequiredToken>>().map(|token| token.0.clone()) else {
        return Err(ApiError::internal("bearer auth used without a RequiredToken").into());
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        None => Err(unauthorized("missing bearer token: send `Authorization: Bearer <token>`").into()),
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) => next.call(request).await,
        Some(_) => Err(unauthorized("the bearer token is not valid").into()),
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}
