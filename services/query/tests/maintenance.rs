//! Maintenance windows through query's API against a real PostgreSQL: one created, listed, read
//! back with its author and ended now; hostile or oversized input refused naming the field and
//! the limit; who may create one (a manager of the team its `team=` matcher names, an admin, an
//! `admin` token; nobody else); the preview of what the matchers catch; and an incident opened in
//! the window showing its maintenance state.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::AsyncConnection;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tocsin_domain::AlertReceived;
use tocsin_domain::roles::Role;
use tocsin_domain::webhook::WebhookPayload;
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_storage::people::{self, SignedInIdentity};
use tocsin_storage::teams;

mod support;

use support::{ADMIN, Query, READER};

fn in_minutes(minutes: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::minutes(minutes)).format(&Rfc3339).expect("a time")
}

/// Opens an incident of `service` (of `team`) as incident-core does; returns its id.
async fn open_incident(query: &Query, service: &str, team: &str) -> String {
    let mut conn = query.db.connection().await;
    let mut payload: Value =
        serde_json::from_str(&tocsin_testkit::fixture("firing-single.json")).expect("the fixture is JSON");
    payload["alerts"][0]["labels"]["service"] = json!(service);
    payload["alerts"][0]["labels"]["team"] = json!(team);
    payload["alerts"][0]["fingerprint"] = json!(format!("{service}-fingerprint"));
    let payload: WebhookPayload = serde_json::from_value(payload).expect("the fixture is a webhook");
    let now = OffsetDateTime::now_utc();
    let report = AlertReceived::from_webhook(payload, now).into_iter().next().expect("an alert");
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&report], &[], &IntakeSettings::default(), now).await)
        .await
        .expect("apply_alerts");
    batch.outcomes[0].incident_id.expect("an incident").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_created_listed_read_back_ended_now_and_shown_on_the_incidents_it_holds() {
    let query = Query::start().await;
    let body = json!({
        "matchers": ["team=\"payments\"", "alertname=~\"High.*\""],
        "ends_at": in_minutes(60),
        "reason": "database upgrade",
    });
    let (status, window) = query.send("POST", "/maintenance-windows", ADMIN, Some(body)).await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(window["matchers"], json!(["team=\"payments\"", "alertname=~\"High.*\""]));
    assert_eq!(
        (&window["author"], &window["state"], &window["reason"]),
        (&json!("admin"), &json!("active"), &json!("database upgrade"))
    );
    let id = window["id"].as_str().expect("the window's id").to_owned();

    let held = open_incident(&query, "checkout-api", "payments").await;
    let free = open_incident(&query, "search-api", "search").await;
    let (status, incident) = query.send("GET", &format!("/incidents/{held}"), READER, None).await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["maintenance"]["window_id"], json!(id));
    assert_eq!(incident["maintenance"]["reason"], "database upgrade");
    assert_eq!(incident["maintenance"]["until"], window["ends_at"]);
    let (_, incident) = query.send("GET", &format!("/incidents/{free}"), READER, None).await;
    assert_eq!(incident["maintenance"], Value::Null);
    let (status, list) = query.send("GET", "/incidents", READER, None).await;
    assert_eq!(status, 200, "{list}");
    let shown: Vec<(Value, Value)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| (item["id"].clone(), item["maintenance"]["window_id"].clone()))
        .collect();
    assert!(shown.contains(&(json!(held), json!(id))) && shown.contains(&(json!(free), Value::Null)), "{shown:?}");

    let (status, list) = query.send("GET", "/maintenance-windows?current=true", READER, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["id"], json!(id));
    let (status, read) = query.send("GET", &format!("/maintenance-windows/{id}"), READER, None).await;
    assert_eq!((status, &read["reason"]), (200, &json!("database upgrade")));

    let (status, ended) = query.send("POST", &format!("/maintenance-windows/{id}/end"), ADMIN, None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!((&ended["state"], &ended["ended_by"]), (&json!("over"), &json!("admin")));
    let (_, list) = query.send("GET", "/maintenance-windows?current=true", READER, None).await;
    assert_eq!(list["items"], json!([]));
    let (_, incident) = query.send("GET", &format!("/incidents/{held}"), READER, None).await;
    assert!(
        incident["maintenance"]["until"].as_str() <= ended["ended_at"].as_str(),
        "the hold ends when the window did"
    );

    let (status, log) = query.send("GET", "/audit-log?limit=2", ADMIN, None).await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<(&str, &str)> = log["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| Some((entry["action"].as_str()?, entry["subject"].as_str()?)))
        .collect();
    assert_eq!(actions, [("maintenance_window.end", id.as_str()), ("maintenance_window.create", id.as_str())]);

    let (status, _) = query.send("GET", "/maintenance-windows/not-a-uuid", READER, None).await;
    assert_eq!(status, 400);
    let missing = format!("/maintenance-windows/{}", uuid::Uuid::now_v7());
    assert_eq!(query.send("GET", &missing, READER, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_over_a_limit_or_malformed_is_refused_naming_the_field() {
    let query = Query::start().await;
    let refused = |body: Value| {
        let query = &query;
        async move { query.refused(400, "POST", "/maintenance-windows", ADMIN, Some(body)).await }
    };
    let valid = || json!({"matchers": ["service=\"checkout-api\""], "ends_at": in_minutes(60), "reason": "upgrade"});
    let with = |field: &str, value: Value| {
        let mut body = valid();
        body[field] = value;
        body
    };
    assert!(refused(with("matchers", json!([]))).await.starts_with("matchers: a window needs at least one matcher"));
    let many: Vec<String> = (0..33).map(|n| format!("l{n}=\"v\"")).collect();
    assert_eq!(refused(with("matchers", json!(many))).await, "matchers: at most 32 matchers");
    let message = refused(with("matchers", json!(["service=\"a\"", "instance=~\"(\""]))).await;
    assert!(message.starts_with("matchers[1]: `instance=~\"(\"`: invalid regular expression"), "{message}");
    let long = format!("service=\"{}\"", "x".repeat(5_000));
    assert_eq!(refused(with("matchers", json!([long]))).await, "matchers[0]: at most 4352 bytes");
    assert!(
        refused(with("ends_at", json!("tomorrow"))).await.starts_with("ends_at: `tomorrow` is not an RFC 3339 time")
    );
    assert_eq!(refused(with("ends_at", json!(in_minutes(-1)))).await, "ends_at: must be in the future");
    assert_eq!(
        refused(with("ends_at", json!(in_minutes(32 * 24 * 60)))).await,
        "ends_at: at most 31 days after starts_at"
    );
    let mut late_start = with("starts_at", json!(in_minutes(120)));
    late_start["ends_at"] = json!(in_minutes(60));
    assert_eq!(refused(late_start).await, "ends_at: must be after starts_at");
    assert_eq!(refused(with("reason", json!(" "))).await, "reason: must not be blank");
    assert_eq!(refused(with("reason", json!("x".repeat(501)))).await, "reason: at most 500 characters");
    let (status, listed) = query.send("GET", "/maintenance-windows", READER, None).await;
    assert_eq!((status, &listed["items"]), (200, &json!([])), "nothing refused was stored");
    assert_eq!(query.send("GET", "/maintenance-windows?limit=0", READER, None).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_of_the_team_named_may_manage_its_windows_and_only_admins_the_others() {
    let query = Query::start_with(true).await;
    let mut conn = query.db.connection().await;
    for (login, role) in [("mia", Role::Manager), ("rob", Role::Responder)] {
        let email = format!("{login}@example.com");
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: &email, name: login, email: Some(&email) };
        let user = people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user");
        let team = teams::team(&mut conn, "payments").await.expect("team").expect("payments");
        teams::set_member(&mut conn, &team, &user, role, "test", false).await.expect("set_member");
    }
    let (mia, rob) = (query.sign_in("mia").await, query.sign_in("rob").await);
    let window = |matchers: Value| json!({"matchers": matchers, "ends_at": in_minutes(30), "reason": "deploy"});

    let (status, message) =
        query.send_as("POST", "/maintenance-windows", &mia, window(json!(["team=\"payments\""]))).await;
    assert_eq!(status, 201, "{message}");
    let (status, message) =
        query.send_as("POST", "/maintenance-windows", &rob, window(json!(["team=\"payments\""]))).await;
    assert_eq!(status, 403, "a responder may not: {message}");
    let (status, message) =
        query.send_as("POST", "/maintenance-windows", &mia, window(json!(["team=\"search\""]))).await;
    assert_eq!(status, 403, "not her team: {message}");
    let (status, body) =
        query.send_as("POST", "/maintenance-windows", &mia, window(json!(["service=\"checkout-api\""]))).await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("only admins may manage one"), "{message}");
    let message =
        query.refused(403, "POST", "/maintenance-windows", READER, Some(window(json!(["team=\"payments\""])))).await;
    assert!(message.contains("admin"), "{message}");
    let (status, created) =
        query.send("POST", "/maintenance-windows", ADMIN, Some(window(json!(["env=\"prod\""])))).await;
    assert_eq!(status, 201, "{created}");

    // Ending follows the same rule; the author is whoever created it. (The people are made as
    // their first sign-in makes them, as `Query::sign_in` finds them.)
    let (status, list) = query.send("GET", "/maintenance-windows", READER, None).await;
    assert_eq!(status, 200);
    let authors: Vec<&str> =
        list["items"].as_array().into_iter().flatten().filter_map(|w| w["author"].as_str()).collect();
    assert!(authors.contains(&"mia@example.com") && authors.contains(&"admin"), "{authors:?}");
    let everyone = created["id"].as_str().expect("an id");
    let (status, _) = query.send_as("POST", &format!("/maintenance-windows/{everyone}/end"), &mia, json!({})).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_shows_the_active_incidents_and_recent_alerts_the_matchers_catch() {
    let query = Query::start().await;
    let payments = open_incident(&query, "checkout-api", "payments").await;
    open_incident(&query, "search-api", "search").await;
    let preview = |matchers: Value| {
        let query = &query;
        async move {
            let (status, answer) =
                query.send("POST", "/maintenance-windows/preview", READER, Some(json!({"matchers": matchers}))).await;
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };
    let answer = preview(json!(["team=\"payments\""])).await;
    let ids: Vec<&str> =
        answer["incidents"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, [payments.as_str()]);
    assert_eq!(answer["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(answer["alerts"][0]["incident_id"], json!(payments));
    assert_eq!(answer["truncated"], false);
    let answer = preview(json!(["service!~\".*-api\""])).await;
    assert_eq!(
        (answer["incidents"].as_array().map(Vec::len), answer["alerts"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    let message =
        query.refused(400, "POST", "/maintenance-windows/preview", READER, Some(json!({"matchers": ["team"]}))).await;
    assert!(message.starts_with("matchers[0]: "), "{message}");
}
