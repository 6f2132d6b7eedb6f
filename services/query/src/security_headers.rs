//! The headers that tell a browser how little the dashboard needs, on every answer query gives
//! (the page, its files, the API, errors included):
//!
//! - `Content-Security-Policy`: scripts, styles, fonts and API calls from this origin only,
//!   images also as `data:` URLs (the icon), no plugins, no `<base>`, forms posting only here,
//!   and no framing. No inline script or style is allowed: the page has none (its theme script is
//!   the file `/theme.js`), and React sets style attributes through the DOM, which CSP permits.
//! - `X-Frame-Options: DENY` for browsers older than `frame-ancestors`,
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (incident URLs stay here),
//!   `Permissions-Policy` turning off the device APIs the page never uses, and
//!   `Cross-Origin-Opener-Policy`/`Cross-Origin-Resource-Policy: same-origin`.
//! - `Strict-Transport-Security` only when `HSTS_MAX_AGE` is set: TLS ends at the ingress, so
//!   query cannot know whether every client comes over HTTPS; the operator does.
//!
//! A header a handler set itself is left as it is.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Duration;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), \
     microphone=(), payment=(), usb=()";

/// The headers, built once from the configuration and shared by the workers.
#[derive(Debug, Clone)]
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

impl SecurityHeaders {
    pub fn new(hsts_max_age: Option<Duration>) -> SecurityHeaders {
        let mut headers = vec![
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (HeaderName::from_static("permissions-policy"), HeaderValue::from_static(PERMISSIONS_POLICY)),
            (header::CROSS_ORIGIN_OPENER_POLICY, HeaderValue::from_static("same-origin")),
            (header::CROSS_ORIGIN_RESOURCE_POLICY, HeaderValue::from_static("same-origin")),
        ];
        let hsts = hsts_max_age.and_then(|age| HeaderValue::try_from(format!("max-age={}", age.as_secs())).ok());
        if let Some(hsts) = hsts {
            headers.push((header::STRICT_TRANSPORT_SECURITY, hsts));
        }
        SecurityHeaders(headers)
    }
}

/// Middleware adding [`SecurityHeaders`] (app data) to every answer, refusals and errors
/// included (the token check and the handlers answer with their errors rather than fail).
pub async fn add(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let headers = request.app_data::<web::Data<SecurityHeaders>>().cloned();
    let mut response = next.call(request).await?;
    if let Some(headers) = headers {
        let response_headers = response.headers_mut();
        for (name, value) in &headers.0 {
            if !response_headers.contains_key(name) {
                response_headers.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(response)
}
