//! The OpenAPI document of the query API, generated from the handlers' annotations and served at
//! `GET /openapi.json`.

use crate::{actions, incidents, live};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "tocsin query API", description = "Incidents: list, read, acknowledge, resolve, reopen, assign."),
    paths(
        incidents::list,
        incidents::get,
        actions::resolve,
        actions::acknowledge,
        actions::resolve_one,
        actions::reopen,
        actions::assign,
        live::events,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("API_TOKEN")).build(),
            ),
        );
    }
}
