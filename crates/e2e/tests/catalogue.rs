//! The service catalogue through the whole stack: seeded from incident-core's `SERVICE_TEAMS`,
//! edited through query's API (admin only, every change in the audit log), and giving new
//! incidents their team, on the replica's next read of the catalogue.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::TeamMapping;
use tocsin_e2e::{ADMIN_TOKEN, API_TOKEN, Stack, StackOptions, webhook};
use tocsin_incident_core::incidents::IntakeSettings;

async fn call(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<(&str, String)>,
) -> (u16, Value) {
    let mut request = stack.http.request(method.clone(), format!("{}{path}", stack.query_url)).bearer_auth(token);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn put_owner(stack: &Stack, service: &str, team: &str, token: &str) -> (u16, Value) {
    let path = format!("/services/{service}");
    call(stack, reqwest::Method::PUT, &path, token, Some(("application/json", json!({ "team": team }).to_string())))
        .await
}

/// The catalogue as `service -> (team, updated_by)`.
async fn catalogue(stack: &Stack) -> Vec<(String, String, String)> {
    let (status, body) = stack.get("/services").await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
            (field("service"), field("team"), field("updated_by"))
        })
        .collect()
}

/// Waits until incident-core has read the catalogue after `since`.
async fn catalogue_read_after(stack: &Stack, since: OffsetDateTime) {
    let since = since.unix_timestamp_nanos() as f64 / 1e9;
    for _ in 0..200 {
        let metrics = stack.text_at(&format!("{}/metrics", stack.core_urls[0])).await;
        let read_at = metrics
            .lines()
            .find_map(|line| line.strip_prefix("tocsin_core_catalogue_read_timestamp_seconds "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or_default();
        if read_at > since {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("incident-core did not read the catalogue again within 10 s");
}

/// firing-single.json (service web-server, no team label) in an environment of its own, so that
/// it opens an incident of its own.
fn web_server_alert_in(environment: &str) -> Value {
    let mut payload = webhook("firing-single.json", OffsetDateTime::now_utc());
    payload["alerts"][0]["labels"]["environment"] = json!(environment);
    payload["alerts"][0]["fingerprint"] = json!(format!("web-server-{environment}"));
    payload
}

async fn team_of_incident_in(stack: &Stack, environment: &str) -> String {
    let query = format!("?environment={environment}");
    let incidents = stack.incidents_when(&query, |items| items.len() == 1).await;
    incidents[0]["team"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_seeded_edited_by_admins_and_gives_new_incidents_their_team() {
    let seed = TeamMapping::parse("web-server=web,checkout-api=payments").expect("parse");
    let stack = Stack::start_with(StackOptions {
        intake: IntakeSettings { teams: seed, ..IntakeSettings::default() },
        ..StackOptions::default()
    })
    .await;

    // Seeded from SERVICE_TEAMS.
    catalogue_read_after(&stack, OffsetDateTime::now_utc()).await;
    assert_eq!(
        catalogue(&stack).await,
        vec![
            ("checkout-api".to_owned(), "payments".to_owned(), "SERVICE_TEAMS".to_owned()),
            ("web-server".to_owned(), "web".to_owned(), "SERVICE_TEAMS".to_owned()),
        ]
    );
    stack.send(&web_server_alert_in("production")).await;
    assert_eq!(team_of_incident_in(&stack, "production").await, "web");

    // Only admins change it.
    let (status, body) = put_owner(&stack, "web-server", "platform", API_TOKEN).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = put_owner(&stack, "web-server", "platform", ADMIN_TOKEN).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"added": 0, "moved": 1, "unchanged": 0}));
    let (status, _) = put_owner(&stack, "web-server", "platform", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "setting the same owner again changes nothing");

    // New incidents take the new owner; the one already open keeps its team.
    catalogue_read_after(&stack, OffsetDateTime::now_utc()).await;
    stack.send(&web_server_alert_in("staging")).await;
    assert_eq!(team_of_incident_in(&stack, "staging").await, "platform");
    assert_eq!(team_of_incident_in(&stack, "production").await, "web");

    // A `team` label still wins over the catalogue.
    let mut labelled = web_server_alert_in("qa");
    labelled["alerts"][0]["labels"]["team"] = json!("sre");
    stack.send(&labelled).await;
    assert_eq!(team_of_incident_in(&stack, "qa").await, "sre");

    // Removed: its next incidents are unowned.
    let (status, _) = call(&stack, reqwest::Method::DELETE, "/services/web-server", ADMIN_TOKEN, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&stack, reqwest::Method::DELETE, "/services/web-server", ADMIN_TOKEN, None).await;
    assert_eq!(status, 404, "{body}");
    catalogue_read_after(&stack, OffsetDateTime::now_utc()).await;
    stack.send(&web_server_alert_in("canary")).await;
    assert_eq!(team_of_incident_in(&stack, "canary").await, "unowned");

    // Seeding again (a restart) does not bring back what an admin removed or moved.
    let mut conn = stack.db.connection().await;
    let seed = TeamMapping::parse("web-server=web,checkout-api=payments").expect("parse");
    let added = tocsin_storage::catalogue::seed(&mut conn, &seed).await.expect("seed");
    assert_eq!(added, 0);

    // Everything changed is in the audit log, newest first, and only admins read it.
    let (status, _) = call(&stack, reqwest::Method::GET, "/audit-log", API_TOKEN, None).await;
    assert_eq!(status, 403);
    let (status, log) = call(&stack, reqwest::Method::GET, "/audit-log?limit=3", ADMIN_TOKEN, None).await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(String, String, String, Value)> = log["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
            (field("actor"), field("action"), field("subject"), entry["details"].clone())
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("admin".into(), "catalogue.remove".into(), "web-server".into(), json!({"previous_team": "platform"})),
            (
                "admin".into(),
                "catalogue.set".into(),
                "web-server".into(),
                json!({"team": "platform", "previous_team": "web"})
            ),
            (
                "SERVICE_TEAMS".into(),
                "catalogue.set".into(),
                "web-server".into(),
                json!({"team": "web", "previous_team": null})
            ),
        ]
    );
    let before = log["next_before"].as_i64().unwrap_or_else(|| panic!("a next page: {log}"));
    let (_, rest) = call(&stack, reqwest::Method::GET, &format!("/audit-log?before={before}"), ADMIN_TOKEN, None).await;
    let subjects: Vec<&str> =
        rest["items"].as_array().into_iter().flatten().filter_map(|e| e["subject"].as_str()).collect();
    assert_eq!(subjects, vec!["checkout-api"]);
    assert_eq!(rest["next_before"], Value::Null);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_file_is_imported_whole_or_refused_naming_the_problem() {
    let stack = Stack::start().await;
    let yaml = "services:\n  checkout-api: payments\n  cart: payments\n  web-server: web\n";
    let (status, body) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("application/yaml", yaml.into())))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"added": 3, "moved": 0, "unchanged": 0}));

    let again = json!({"services": {"checkout-api": "payments", "cart": "storefront"}}).to_string();
    let (status, body) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("application/json", again))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"added": 0, "moved": 1, "unchanged": 1}));

    // One bad entry refuses the whole file, naming it and the limit.
    let long = "s".repeat(1_001);
    let bad = json!({"services": {"fine": "payments", long.clone(): "payments"}}).to_string();
    let (status, body) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("application/json", bad))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "service is 1001 bytes; the limit is 1000");
    let control = json!({"services": {"fine": "pay\u{7}ments"}}).to_string();
    let (status, body) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("application/json", control))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "the team of \"fine\" holds a control character");
    let unknown = json!({"services": {}, "teams": {}}).to_string();
    let (status, body) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("application/json", unknown))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) =
        call(&stack, reqwest::Method::POST, "/services/import", ADMIN_TOKEN, Some(("text/plain", yaml.into()))).await;
    assert_eq!(status, 415);
    let (status, _) =
        call(&stack, reqwest::Method::POST, "/services/import", API_TOKEN, Some(("application/yaml", yaml.into())))
            .await;
    assert_eq!(status, 403);

    let services: Vec<String> =
        catalogue(&stack).await.into_iter().map(|(service, team, _)| format!("{service}={team}")).collect();
    assert_eq!(services, vec!["cart=storefront", "checkout-api=payments", "web-server=web"]);
    stack.stop().await;
}
