//! The OpenAPI document of the webhook, generated from the handler's annotations and served at
//! `GET /openapi.json`, as query serves its own.

use crate::webhook;
use actix_web::HttpResponse;
use tocsin_runtime::openapi::{BearerAuth, SharedRoutes};
use utoipa::OpenApi;

/// The tokens this service takes.
const BEARER_AUTH: BearerAuth = BearerAuth("INGEST_TOKEN, or a named token with the `ingest` scope");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tocsin ingest API",
        description = "Alertmanager's webhook (payload version 4): one stream entry per alert, answered 202 once all are in Redis."
    ),
    paths(webhook::receive),
    modifiers(&BEARER_AUTH, &SharedRoutes)
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
