//! What every service's OpenAPI document shares: the JSON error body that [`crate::ApiError`]
//! sends ([`ErrorBody`]), and the routes [`crate::http::serve`] adds to every server (`/health`,
//! `/ready`, `/metrics`), which a document gets from the [`SharedRoutes`] modifier, and the
//! bearer-token scheme ([`BearerAuth`]).

use crate::error::ErrorCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, ResponseBuilder, ResponsesBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people: what was wrong. A 5xx names the dependency at most, nothing internal.
    pub message: String,
}

/// `GET /health`: the process answers. (Describes the body `crate::http` writes.)
#[derive(ToSchema)]
#[allow(dead_code)]
struct Health {
    #[schema(pattern = "^ok$")]
    status: String,
    /// `ingest`, `incident-core`, `query` or `notifier`.
    service: String,
}

/// `GET /ready`: whether every dependency the service needs answers. (Describes the body
/// `crate::http` writes.)
#[derive(ToSchema)]
#[allow(dead_code)]
struct Ready {
    #[schema(pattern = "^(ready|unavailable)$")]
    status: String,
    /// Each dependency's check: `ok`, or why it failed. Only for a caller with a token.
    checks: Option<BTreeMap<String, String>>,
}

#[derive(OpenApi)]
#[openapi(components(schemas(ErrorBody, Health, Ready)))]
struct SharedSchemas;

/// Adds the `bearer` security scheme, described by which tokens the service takes.
pub struct BearerAuth(pub &'static str);

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(self.0)).build()),
        );
    }
}

/// Adds `/health`, `/ready`, `/metrics` and the shared schemas to a service's document.
pub struct SharedRoutes;

impl Modify for SharedRoutes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(SharedSchemas::openapi());
        let json = |schema: &str| ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
        let text = || ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
        let probe = |id: &str, summary: &str, responses: ResponsesBuilder| {
            OperationBuilder::new()
                .tag("probes")
                .operation_id(Some(id))
                .summary(Some(summary))
                .responses(responses.build())
                .build()
        };
        let paths = &mut openapi.paths;
        paths.add_path_operation(
            "/health",
            vec![HttpMethod::Get],
            probe(
                "health",
                "Liveness: the process answers (no dependency is checked)",
                ResponsesBuilder::new().response(
                    "200",
                    ResponseBuilder::new().description("Alive").content("application/json", json("Health")),
                ),
            ),
        );
        paths.add_path_operation(
            "/ready",
            vec![HttpMethod::Get],
            probe(
                "ready",
                "Readiness: every dependency the service needs answers",
                ResponsesBuilder::new()
                    .response(
                        "200",
                        ResponseBuilder::new().description("Ready").content("application/json", json("Ready")),
                    )
                    .response(
                        "503",
                        ResponseBuilder::new()
                            .description("A dependency does not answer; `checks` says which")
                            .content("application/json", json("Ready")),
                    ),
            ),
        );
        paths.add_path_operation(
            "/metrics",
            vec![HttpMethod::Get],
            probe(
                "metrics",
                "Prometheus metrics: OpenMetrics when the Accept header asks for it, else the classic text format",
                ResponsesBuilder::new().response(
                    "200",
                    ResponseBuilder::new()
                        .description("The metrics")
                        .content("text/plain", text())
                        .content("application/openmetrics-text", text()),
                ),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;
    use actix_web::ResponseError;
    use actix_web::body::MessageBody;

    #[test]
    fn the_documented_error_body_is_the_one_sent() {
        let response = ApiError::new(ErrorCode::NotFound, "no incident 42").error_response();
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let documented =
            ErrorBody { error: ErrorDetail { code: ErrorCode::NotFound, message: "no incident 42".into() } };
        assert_eq!(sent, serde_json::to_value(&documented).unwrap_or_default());
    }

    #[test]
    fn every_shared_route_is_documented_with_its_schemas() {
        let mut openapi = utoipa::openapi::OpenApi::default();
        SharedRoutes.modify(&mut openapi);
        let paths: Vec<_> = openapi.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(paths, ["/health", "/metrics", "/ready"]);
        let schemas = openapi.components.map(|components| components.schemas).unwrap_or_default();
        for name in ["ErrorBody", "ErrorDetail", "ErrorCode", "Health", "Ready"] {
            assert!(schemas.contains_key(name), "{name} is missing from the components");
        }
    }
}
