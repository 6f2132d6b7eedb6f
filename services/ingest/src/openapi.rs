//! The OpenAPI document of the webhook, generated from the handler's annotations and served at
//! `GET /openapi.json`, as query serves its own.

use crate::webhook;
use actix_web::HttpResponse;
use tocsin_runtime::openapi::SharedRoutes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tocsin ingest API",
        description = "Alertmanager's webhook (payload version 4): one stream entry per alert, answered 202 once all are in Redis."
    ),
    paths(webhook::receive),
    modifiers(&BearerAuth, &SharedRoutes)
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("INGEST_TOKEN, or a named token with the `ingest` scope"))
                    .build(),
            ),
        );
    }
}
