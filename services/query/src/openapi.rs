//! The OpenAPI document of the query API, generated from the handlers' annotations and served at
//! `GET /openapi.json`.

use crate::{
    actions, catalogue, contacts, escalation_policies, incidents, live, maintenance, schedules, sign_in, teams, tokens,
};
use tocsin_runtime::openapi::{BearerAuth, SharedRoutes};
use utoipa::OpenApi;

/// The tokens this service takes.
const BEARER_AUTH: BearerAuth = BearerAuth(
    "API_TOKEN, or a token of TOKENS_FILE: GET routes need the read scope, actions the act scope, changes to the \
     catalogue, to schedules, to escalation policies, to maintenance windows, to teams' members and to admins, and people's contact methods, the admin scope",
);

#[derive(OpenApi)]
#[openapi(
    info(title = "tocsin query API", description = "Incidents: list, read, declare, acknowledge, resolve, reopen, assign, note, edit. The service catalogue, teams with their members and roles, admins, and the audit log. On-call schedules: their layers, overrides and shifts, and who is on call now. Escalation policies, in versions, and which one a team and a service escalate on. Maintenance windows: list, create, end now, and a preview of what their matchers catch. Sign-in with the organisation's identity provider (OpenID Connect), in a session cookie, people's personal API tokens, their contact methods and notification rules, and test pages."),
    paths(
        incidents::list,
        incidents::get,
        incidents::alerts,
        incidents::timeline,
        actions::resolve,
        actions::acknowledge,
        actions::resolve_one,
        actions::reopen,
        actions::assign,
        actions::note,
        actions::edit,
        actions::declare,
        live::events,
        catalogue::list,
        catalogue::set_owner,
        catalogue::remove,
        catalogue::import,
        catalogue::audit_log,
        schedules::list,
        schedules::create,
        schedules::get,
        schedules::rename,
        schedules::delete,
        schedules::add_layer,
        schedules::replace_layer,
        schedules::remove_layer,
        schedules::add_override,
        schedules::remove_override,
        schedules::shifts_in_range,
        schedules::on_call,
        escalation_policies::list,
        escalation_policies::create,
        escalation_policies::get,
        escalation_policies::get_version,
        escalation_policies::put_version,
        escalation_policies::set_team_policy,
        escalation_policies::set_service_policy,
        maintenance::list,
        maintenance::create,
        maintenance::get,
        maintenance::end,
        maintenance::preview,
        teams::list,
        teams::get,
        teams::set_member,
        teams::remove_member,
        teams::set_admin,
        tokens::list,
        tokens::create,
        tokens::revoke,
        sign_in::login,
        sign_in::callback,
        sign_in::logout,
        sign_in::me,
        sign_in::status,
        contacts::list_methods,
        contacts::add_method,
        contacts::update_method,
        contacts::remove_method,
        contacts::test_method,
        contacts::list_rules,
        contacts::add_rule,
        contacts::remove_rule,
    ),
    modifiers(&BEARER_AUTH, &SharedRoutes)
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The dashboard's TypeScript types are generated from its copy of this document
    /// (`services/web/src/shared/api/openapi.json`, `npm run gen:api`), so the copy must be what
    /// query serves. `UPDATE_OPENAPI=1 cargo test -p tocsin-query openapi` rewrites it; then run
    /// `npm run gen:api` in services/web.
    #[test]
    fn the_dashboards_copy_of_the_openapi_document_is_what_query_serves() {
        let served = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let copy_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/src/shared/api/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            let text = serde_json::to_string_pretty(&served).unwrap_or_default() + "\n";
            std::fs::write(&copy_path, text).unwrap_or_else(|e| panic!("writing {}: {e}", copy_path.display()));
        }
        let copy: serde_json::Value = std::fs::read_to_string(&copy_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| panic!("{} is missing or not JSON", copy_path.display()));
        assert!(
            copy == served,
            "{} differs from query's document: run `UPDATE_OPENAPI=1 cargo test -p tocsin-query openapi`, \
             then `npm run gen:api` in services/web",
            copy_path.display()
        );
    }
}
