//! Escalation policies through query's API against a real PostgreSQL: one created and read back,
//! a new version that leaves the old one readable as it was, definitions over the domain's limits
//! refused naming the field, a team's and a service's policy that incident-core's `policy_for`
//! then finds, changes refused to a token without `admin` and to a person who does not manage the
//! team but made by one who does, and every change in the audit log.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use serde_json::{Value, json};
use support::{ADMIN, Query, READER};
use time::OffsetDateTime;
use tocsin_storage::escalation;
use uuid::Uuid;

impl Query {
    async fn new_policy(&self, team: &str, name: &str) -> String {
        let body = json!({"team": team, "name": name, "definition": one_step(15)});
        let (status, policy) = self.send("POST", "/escalation-policies", ADMIN, Some(body)).await;
        assert_eq!(status, 201, "creating policy {name}: {policy}");
        policy["id"].as_str().expect("the policy's id").to_owned()
    }

    /// The newest audit entries as (actor, action, subject), newest first.
    async fn audit(&self, limit: usize) -> Vec<(String, String, String)> {
        let (status, log) = self.send("GET", &format!("/audit-log?limit={limit}"), ADMIN, None).await;
        assert_eq!(status, 200, "{log}");
        log["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
                (field("actor"), field("action"), field("subject"))
            })
            .collect()
    }
}

/// Pages the #payments channel, then waits `minutes` before the policy's end.
fn one_step(minutes: u32) -> Value {
    json!({"steps": [{"targets": [{"channel": "payments"}], "escalate_after_minutes": minutes}]})
}

fn by_admin(action: &str, subject: &str) -> (String, String, String) {
    ("admin".to_owned(), action.to_owned(), subject.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_created_read_back_and_edited_in_versions_that_keep_the_old_ones() {
    let query = Query::start().await;
    let schedule = Uuid::now_v7();
    let definition = json!({
        "steps": [
            {"targets": [{"schedule": schedule}], "escalate_after_minutes": 10},
            {"targets": [{"channel": "payments"}, {"user": Uuid::nil()}], "escalate_after_minutes": 30},
        ],
        "repeat": 2,
        "acknowledge_timeout_minutes": 60,
    });
    let body = json!({"team": "payments", "name": "Payments primary", "definition": definition});
    let (status, created) = query.send("POST", "/escalation-policies", ADMIN, Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("the policy's id").to_owned();
    assert_eq!(created["team"], "payments");
    assert_eq!(created["name"], "Payments primary");
    assert_eq!(created["version"], 1);
    assert_eq!(created["definition"]["steps"], definition["steps"]);
    assert_eq!(created["definition"]["repeat"], 2);
    assert_eq!(created["definition"]["urgency"], json!({"high_from": "critical", "low": "notify_only"}));
    assert_eq!(created["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(created["versions"][0]["created_by"], "admin");

    // The same name in the same team is refused; in another team it is a policy of its own.
    let message = query.refused(409, "POST", "/escalation-policies", ADMIN, Some(body)).await;
    assert_eq!(message, "team \"payments\" already has an escalation policy named \"Payments primary\"");
    let other = query.new_policy("search", "Payments primary").await;

    // Read back, alone and in the lists.
    let (status, read) = query.send("GET", &format!("/escalation-policies/{id}"), READER, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, created);
    let (_, all) = query.send("GET", "/escalation-policies", READER, None).await;
    let listed: Vec<(&str, &str)> = all["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| (item["team"].as_str().unwrap_or_default(), item["id"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(listed, vec![("payments", id.as_str()), ("search", other.as_str())]);
    let (_, of_search) = query.send("GET", "/escalation-policies?team=search", READER, None).await;
    assert_eq!(of_search["items"].as_array().map(Vec::len), Some(1), "{of_search}");
    assert_eq!(of_search["items"][0]["id"], other.as_str());
    let message = query.refused(400, "GET", "/escalation-policies?team=nobody", READER, None).await;
    assert!(message.starts_with("team: no team \"nobody\""), "{message}");

    // An edit is a new version; version 1 stays as it was, for the incidents running on it.
    let (status, edited) =
        query.send("PUT", &format!("/escalation-policies/{id}"), ADMIN, Some(json!({"definition": one_step(5)}))).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["definition"]["steps"], one_step(5)["steps"]);
    let numbers: Vec<i64> =
        edited["versions"].as_array().into_iter().flatten().filter_map(|version| version["version"].as_i64()).collect();
    assert_eq!(numbers, vec![2, 1]);
    let (status, first) = query.send("GET", &format!("/escalation-policies/{id}/versions/1"), READER, None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["version"], 1);
    assert_eq!(first["policy_id"], id.as_str());
    assert_eq!(first["definition"]["steps"], definition["steps"]);
    assert_eq!(first["definition"]["acknowledge_timeout_minutes"], 60);
    let (_, second) = query.send("GET", &format!("/escalation-policies/{id}/versions/2"), READER, None).await;
    assert_eq!(second["definition"]["steps"], one_step(5)["steps"]);
    let mut conn = query.db.connection().await;
    let stored = escalation::load_version(&mut conn, id.parse().expect("a UUID"), Some(1))
        .await
        .expect("load_version")
        .expect("version 1");
    assert_eq!(stored.policy.repeat, 2);
    assert_eq!(query.send("GET", &format!("/escalation-policies/{id}/versions/3"), READER, None).await.0, 404);
    assert_eq!(query.send("GET", &format!("/escalation-policies/{}", Uuid::now_v7()), READER, None).await.0, 404);
    assert_eq!(query.send("GET", "/escalation-policies/not-an-id", READER, None).await.0, 400);
    let unknown = format!("/escalation-policies/{}", Uuid::now_v7());
    assert_eq!(query.send("PUT", &unknown, ADMIN, Some(json!({"definition": one_step(5)}))).await.0, 404);

    assert_eq!(
        query.audit(3).await,
        vec![
            by_admin("escalation_policy.version", &id),
            by_admin("escalation_policy.create", &other),
            by_admin("escalation_policy.create", &id),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_over_a_limit_are_refused_naming_the_field() {
    let query = Query::start().await;
    let refused = |definition: Value| {
        let query = &query;
        async move {
            let body = json!({"team": "payments", "name": "primary", "definition": definition});
            query.refused(400, "POST", "/escalation-policies", ADMIN, Some(body)).await
        }
    };

    assert_eq!(refused(json!({"steps": []})).await, "definition.steps: a policy has 1 to 20 steps, this one has 0");
    let many = vec![json!({"targets": [{"channel": "payments"}], "escalate_after_minutes": 5}); 21];
    assert_eq!(refused(json!({"steps": many})).await, "definition.steps: a policy has 1 to 20 steps, this one has 21");
    assert_eq!(
        refused(json!({"steps": [{"targets": [], "escalate_after_minutes": 5}]})).await,
        "definition.steps[0].targets: a step pages 1 to 20 targets, this one 0"
    );
    assert_eq!(refused(one_step(0)).await, "definition.steps[0].escalate_after: from 1 minute to 24 hours");
    assert_eq!(refused(one_step(24 * 60 + 1)).await, "definition.steps[0].escalate_after: from 1 minute to 24 hours");
    let mut repeating = one_step(5);
    repeating["repeat"] = json!(10);
    assert_eq!(refused(repeating).await, "definition.repeat: at most 9");
    let mut waiting = one_step(5);
    waiting["acknowledge_timeout_minutes"] = json!(0);
    assert_eq!(refused(waiting).await, "definition.acknowledge_timeout: from 1 minute to 24 hours");
    let working_hours = |time_zone: &str, hours: Value| {
        let mut definition = one_step(5);
        definition["urgency"] = json!({"low": {"working_hours": {"time_zone": time_zone, "hours": hours}}});
        definition
    };
    let weekdays = json!([{"days": ["monday", "friday"], "start": "09:00", "minutes": 480}]);
    assert_eq!(
        refused(working_hours("Mars/Olympus", weekdays.clone())).await,
        "definition.urgency.low.working_hours.time_zone \"Mars/Olympus\" is not an IANA time zone (such as America/New_York)"
    );
    let funday = json!([{"days": ["funday"], "start": "09:00", "minutes": 480}]);
    let message = refused(working_hours("Europe/Paris", funday)).await;
    assert!(message.starts_with("definition.urgency.low.working_hours.hours: "), "{message}");
    assert!(message.contains("funday"), "{message}");
    let too_long = json!([{"days": ["monday"], "start": "09:00", "minutes": 10_081}]);
    assert_eq!(
        refused(working_hours("Europe/Paris", too_long)).await,
        "definition.urgency.low.working_hours.hours[0].minutes must be between 1 and 10080 (a week)"
    );
    let body =
        json!({"team": "payments", "name": "office hours", "definition": working_hours("Europe/Paris", weekdays)});
    let (status, office) = query.send("POST", "/escalation-policies", ADMIN, Some(body)).await;
    assert_eq!(status, 201, "{office}");
    assert_eq!(office["definition"]["urgency"]["low"]["working_hours"]["time_zone"], "Europe/Paris");
    let long_channel = json!({"steps": [{"targets": [{"channel": "c".repeat(201)}], "escalate_after_minutes": 5}]});
    assert_eq!(refused(long_channel).await, "definition.steps[0].targets[0].channel is 201 bytes; the limit is 200");
    let message = query
        .refused(
            400,
            "POST",
            "/escalation-policies",
            ADMIN,
            Some(json!({"team": "payments", "name": "x".repeat(201), "definition": one_step(5)})),
        )
        .await;
    assert_eq!(message, "name is 201 bytes; the limit is 200");
    let message = query
        .refused(
            400,
            "POST",
            "/escalation-policies",
            ADMIN,
            Some(json!({"team": "nobody", "name": "primary", "definition": one_step(5)})),
        )
        .await;
    assert!(message.starts_with("team: no team \"nobody\""), "{message}");

    // An edit is held to the same limits, and a refused one adds no version.
    let id = query.new_policy("payments", "primary").await;
    let message = query
        .refused(400, "PUT", &format!("/escalation-policies/{id}"), ADMIN, Some(json!({"definition": one_step(0)})))
        .await;
    assert_eq!(message, "definition.steps[0].escalate_after: from 1 minute to 24 hours");
    let (_, policy) = query.send("GET", &format!("/escalation-policies/{id}"), READER, None).await;
    assert_eq!(policy["version"], 1);
    assert_eq!(query.audit(10).await.iter().filter(|entry| entry.1.starts_with("escalation_policy")).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_and_a_service_are_given_policies_that_policy_for_finds() {
    let query = Query::start().await;
    let team_default = query.new_policy("payments", "team default").await;
    let checkout_own = query.new_policy("payments", "checkout").await;
    let search_policy = query.new_policy("search", "search").await;
    let policy_for = || async {
        let mut conn = query.db.connection().await;
        let found = escalation::policy_for(&mut conn, "checkout-api", "payments").await.expect("policy_for");
        found.map(|id| id.to_string())
    };
    assert_eq!(policy_for().await, None);

    // The team's default: what its services without one of their own escalate on.
    let (status, answer) =
        query.send("PUT", "/teams/payments/escalation-policy", ADMIN, Some(json!({"policy_id": team_default}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"team": "payments", "policy_id": team_default}));
    assert_eq!(policy_for().await.as_deref(), Some(team_default.as_str()));

    // A service's own comes first.
    let (status, answer) = query
        .send("PUT", "/services/checkout-api/escalation-policy", ADMIN, Some(json!({"policy_id": checkout_own})))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"service": "checkout-api", "team": "payments", "policy_id": checkout_own}));
    assert_eq!(policy_for().await.as_deref(), Some(checkout_own.as_str()));

    // Only a policy of the same team; a service must be in the catalogue, a team must exist.
    let message = query
        .refused(
            400,
            "PUT",
            "/services/checkout-api/escalation-policy",
            ADMIN,
            Some(json!({"policy_id": search_policy})),
        )
        .await;
    assert!(
        message.starts_with(&format!("policy_id: escalation policy {search_policy} is team \"search\"'s")),
        "{message}"
    );
    let message = query
        .refused(400, "PUT", "/teams/search/escalation-policy", ADMIN, Some(json!({"policy_id": team_default})))
        .await;
    assert!(message.starts_with("policy_id: escalation policy"), "{message}");
    let stranger = Uuid::now_v7();
    let message = query
        .refused(400, "PUT", "/teams/payments/escalation-policy", ADMIN, Some(json!({"policy_id": stranger})))
        .await;
    assert_eq!(message, format!("policy_id: no escalation policy {stranger}"));
    let message = query
        .refused(404, "PUT", "/services/unknown-api/escalation-policy", ADMIN, Some(json!({"policy_id": checkout_own})))
        .await;
    assert_eq!(message, "the catalogue has no service \"unknown-api\"");
    assert_eq!(
        query.send("PUT", "/teams/nobody/escalation-policy", ADMIN, Some(json!({"policy_id": null}))).await.0,
        404
    );

    // Null takes the service's own away: its team's applies again.
    let (status, _) =
        query.send("PUT", "/services/checkout-api/escalation-policy", ADMIN, Some(json!({"policy_id": null}))).await;
    assert_eq!(status, 200);
    assert_eq!(policy_for().await.as_deref(), Some(team_default.as_str()));

    // A token without `admin` may read but not change.
    let definition = json!({"definition": one_step(5)});
    for (method, path, body) in [
        (
            "POST",
            "/escalation-policies".to_owned(),
            json!({"team": "payments", "name": "mine", "definition": one_step(5)}),
        ),
        ("PUT", format!("/escalation-policies/{team_default}"), definition),
        ("PUT", "/teams/payments/escalation-policy".to_owned(), json!({"policy_id": null})),
        ("PUT", "/services/checkout-api/escalation-policy".to_owned(), json!({"policy_id": null})),
    ] {
        assert_eq!(query.send(method, &path, READER, Some(body)).await.0, 403, "{method} {path}");
    }
    assert_eq!(policy_for().await.as_deref(), Some(team_default.as_str()));
    let (_, policy) = query.send("GET", &format!("/escalation-policies/{team_default}"), READER, None).await;
    assert_eq!(policy["version"], 1);

    assert_eq!(
        query.audit(3).await,
        vec![
            by_admin("service.escalation_policy", "checkout-api"),
            by_admin("service.escalation_policy", "checkout-api"),
            by_admin("team.escalation_policy", "payments"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_of_the_team_may_change_its_policies_and_a_responder_may_not() {
    let query = Query::start_with(true).await;
    let manager = query.sign_in("mia").await;
    let responder = query.sign_in("rex").await;
    query.make_member("payments", "mia", "manager").await;
    query.make_member("payments", "rex", "responder").await;
    let new_policy = |name: &str| json!({"team": "payments", "name": name, "definition": one_step(5)});

    let (status, refusal) = query.send_as("POST", "/escalation-policies", &responder, new_policy("rex's")).await;
    assert_eq!(status, 403, "{refusal}");
    assert!(refusal["error"]["message"].as_str().is_some_and(|message| message.contains("payments")), "{refusal}");
    let (status, created) = query.send_as("POST", "/escalation-policies", &manager, new_policy("mia's")).await;
    assert_eq!(status, 201, "{created}");
    let (_, listed) = query.send("GET", "/escalation-policies?team=payments", READER, None).await;
    let id = listed["items"][0]["id"].as_str().expect("mia's policy").to_owned();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // Editing it, and making it the team's and checkout-api's, is the manager's too.
    let edit = json!({"definition": one_step(10)});
    assert_eq!(query.send_as("PUT", &format!("/escalation-policies/{id}"), &responder, edit.clone()).await.0, 403);
    assert_eq!(query.send_as("PUT", &format!("/escalation-policies/{id}"), &manager, edit).await.0, 200);
    let assign = json!({"policy_id": id});
    for path in ["/teams/payments/escalation-policy", "/services/checkout-api/escalation-policy"] {
        assert_eq!(query.send_as("PUT", path, &responder, assign.clone()).await.0, 403, "{path}");
        assert_eq!(query.send_as("PUT", path, &manager, assign.clone()).await.0, 200, "{path}");
    }
    // Not search's: mia manages payments only.
    let (status, refusal) =
        query.send_as("PUT", "/services/search-api/escalation-policy", &manager, json!({"policy_id": null})).await;
    assert_eq!(status, 403, "{refusal}");

    let actors: Vec<(String, String)> =
        query.audit(4).await.into_iter().map(|(actor, action, _)| (actor, action)).collect();
    let by_mia = |action: &str| ("mia@example.com".to_owned(), action.to_owned());
    assert_eq!(
        actors,
        vec![
            by_mia("service.escalation_policy"),
            by_mia("team.escalation_policy"),
            by_mia("escalation_policy.version"),
            by_mia("escalation_policy.create"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_shows_its_policy_who_was_paged_and_when_the_next_step_fires() {
    use diesel_async::AsyncConnection;
    use tocsin_domain::AlertReceived;
    use tocsin_domain::webhook::WebhookPayload;
    use tocsin_incident_core::escalation::fire_due;
    use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};

    let query = Query::start().await;
    let alice = query.person("Alice Liddell", "alice@example.com").await;
    let mut conn = query.db.connection().await;
    let body = json!({"team": "payments", "name": "payments primary", "definition": {"steps": [
        {"targets": [{"user": alice}], "escalate_after_minutes": 5},
        {"targets": [{"channel": "payments"}], "escalate_after_minutes": 10}
    ]}});
    let (status, policy) = query.send("POST", "/escalation-policies", ADMIN, Some(body)).await;
    assert_eq!(status, 201, "{policy}");
    let (status, answer) =
        query.send("PUT", "/teams/payments/escalation-policy", ADMIN, Some(json!({"policy_id": policy["id"]}))).await;
    assert_eq!(status, 200, "{answer}");

    // An incident of checkout-api (payments'), opened and escalated as incident-core does.
    let mut payload: Value =
        serde_json::from_str(&tocsin_testkit::fixture("firing-single.json")).expect("the fixture is JSON");
    payload["alerts"][0]["labels"]["service"] = json!("checkout-api");
    payload["alerts"][0]["labels"]["team"] = json!("payments");
    let payload: WebhookPayload = serde_json::from_value(payload).expect("the fixture is a webhook");
    let opened_at = OffsetDateTime::now_utc().replace_nanosecond(0).expect("a whole second");
    let report = AlertReceived::from_webhook(payload, opened_at).into_iter().next().expect("an alert");
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&report], &[], &IntakeSettings::default(), opened_at).await)
        .await
        .expect("apply_alerts");
    let incident = batch.outcomes[0].incident_id.expect("an incident");
    let path = format!("/incidents/{incident}");

    let (status, before) = query.send("GET", &path, READER, None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["escalation"]["policy"], Value::Null, "not decided before the engine's first tick");
    assert_eq!(before["escalation"]["pages"], json!([]));

    let fired = fire_due(&mut conn, opened_at, 100).await.expect("fire_due");
    assert_eq!(fired.paged, 1, "{fired:?}");
    let (status, detail) = query.send("GET", &path, READER, None).await;
    assert_eq!(status, 200, "{detail}");
    let at = |minutes: i64| {
        (opened_at + time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert_eq!(
        detail["escalation"],
        json!({
            "policy": {"id": policy["id"], "name": "payments primary", "version": 1},
            "pages": [{"step": 0, "pass": 0, "user_id": alice, "user_name": "Alice Liddell", "channel": null,
                       "at": at(0)}],
            "next_step": {"step": 1, "pass": 0, "at": at(5)},
        })
    );
}
