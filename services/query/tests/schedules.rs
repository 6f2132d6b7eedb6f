//! On-call schedules through query's API against a real PostgreSQL: a weekly rotation in New York
//! across the autumn change (its 169-hour week), an override that changes the final result and a
//! second one overlapping it that the database refuses, an edit that leaves the past as it was, who
//! is on call now, refusals that name the field and the limit, changes for admins only (but a
//! responder of the team putting themselves on call, and taking that back), and every change in
//! the audit log.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use support::{ADMIN, Query, READER};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

impl Query {
    async fn new_schedule(&self, name: &str) -> String {
        let body = json!({"team": "payments", "name": name, "time_zone": "America/New_York"});
        let (status, schedule) = self.send("POST", "/schedules", ADMIN, Some(body)).await;
        assert_eq!(status, 201, "creating schedule {name}: {schedule}");
        schedule["id"].as_str().expect("the schedule's id").to_owned()
    }
}

/// Weekly, handing off on Mondays at 09:00 New York time, counted from October 5, 2026.
fn weekly(members: Value) -> Value {
    json!({"first_handoff": "2026-10-05T09:00", "shift_unit": "weeks", "shift_count": 1, "members": members})
}

/// Shifts as (who, from, until).
fn lines(shifts: &Value) -> Vec<(String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    shifts
        .as_array()
        .into_iter()
        .flatten()
        .map(|shift| (text(&shift["user"]["name"]), text(&shift["from"]), text(&shift["until"])))
        .collect()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("formatting a time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_rotation_across_the_autumn_change_with_an_override_and_an_edit_that_leaves_the_past() {
    let query = Query::start().await;
    let alice = query.person("Alice", "alice@example.com").await;
    let bob = query.person("Bob", "bob@example.com").await;
    let carol = query.person("Carol", "carol@example.com").await;
    let id = query.new_schedule("primary").await;

    // Members by e-mail address (in any case) or by id; answered with id, name and address.
    let (status, layer) = query
        .send("POST", &format!("/schedules/{id}/layers"), ADMIN, Some(weekly(json!(["Alice@Example.com", bob]))))
        .await;
    assert_eq!(status, 201, "{layer}");
    assert_eq!(
        layer["members"],
        json!([
            {"id": alice, "name": "Alice", "email": "alice@example.com"},
            {"id": bob, "name": "Bob", "email": "bob@example.com"},
        ])
    );
    assert_eq!(layer["first_handoff"], "2026-10-05T09:00:00");
    let layer_id = layer["id"].as_str().expect("the layer's id").to_owned();

    // A layer is in force from when it is put. To look at the autumn change of 2026, which is
    // past, the layer is dated back as if it had been put on October 1.
    let mut conn = query.db.connection().await;
    diesel::sql_query(
        "UPDATE schedule_layers SET effective = tstzrange('2026-10-01T00:00:00Z', upper(effective), '[)')",
    )
    .execute(&mut conn)
    .await
    .expect("dating the layer back");

    // New York leaves daylight saving on Sunday, November 1: Bob's week from Monday, October 26,
    // 09:00 EDT to Monday, November 2, 09:00 EST is 169 hours.
    let across_the_change = format!("/schedules/{id}/shifts?from=2026-10-26T00:00:00Z&until=2026-11-09T00:00:00Z");
    let (status, before_the_edit) = query.send("GET", &across_the_change, READER, None).await;
    assert_eq!(status, 200, "{before_the_edit}");
    let expected = [
        ("Alice", "2026-10-26T00:00:00Z", "2026-10-26T13:00:00Z"),
        ("Bob", "2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z"),
        ("Alice", "2026-11-02T14:00:00Z", "2026-11-09T00:00:00Z"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(who, from, until)| (who.to_string(), from.to_string(), until.to_string())).collect();
    assert_eq!(lines(&before_the_edit["final"]), expected);
    assert_eq!(before_the_edit["final"][1]["layer_id"], layer_id.as_str());
    assert_eq!(lines(&before_the_edit["layers"][0]["shifts"]), expected, "the layer alone is the whole schedule");
    assert_eq!(before_the_edit["gaps"], json!([]));
    assert_eq!(before_the_edit["time_zone"], "America/New_York");

    // Before the layer was in force, nobody was on call.
    let (_, september) = query
        .send(
            "GET",
            &format!("/schedules/{id}/shifts?from=2026-09-28T00:00:00Z&until=2026-10-02T00:00:00Z"),
            READER,
            None,
        )
        .await;
    assert_eq!(september["gaps"], json!([{"from": "2026-09-28T00:00:00Z", "until": "2026-10-01T00:00:00Z"}]));

    // Carol takes half a day, two days from now, from whoever is on call then.
    let hour = OffsetDateTime::now_utc() + Duration::days(2);
    let from = hour.replace_minute(0).and_then(|at| at.replace_second(0)).and_then(|at| at.replace_nanosecond(0));
    let from = from.expect("the hour two days from now");
    let until = from + Duration::hours(12);
    let around = format!(
        "/schedules/{id}/shifts?from={}&until={}",
        rfc3339(from - Duration::hours(1)),
        rfc3339(until + Duration::hours(1))
    );
    let (_, without_override) = query.send("GET", &around, READER, None).await;
    assert!(lines(&without_override["final"]).iter().all(|(who, _, _)| who != "Carol"), "{without_override}");
    let carol_takes =
        json!({"user": "carol@example.com", "from": rfc3339(from), "until": rfc3339(until), "reason": "swap"});
    let (status, taken) = query.send("POST", &format!("/schedules/{id}/overrides"), ADMIN, Some(carol_takes)).await;
    assert_eq!(status, 201, "{taken}");
    assert_eq!(taken["replaces"], Value::Null);
    let (_, with_override) = query.send("GET", &around, READER, None).await;
    let carols: Vec<&Value> = with_override["final"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|shift| shift["user"]["name"] == "Carol")
        .collect();
    assert_eq!(carols.len(), 1, "{with_override}");
    assert_eq!((&carols[0]["from"], &carols[0]["until"]), (&json!(rfc3339(from)), &json!(rfc3339(until))));
    assert_eq!(carols[0]["override_id"], taken["id"]);
    assert_eq!(lines(&with_override["overrides"]), vec![("Carol".to_owned(), rfc3339(from), rfc3339(until))]);

    // A second override over part of the same time: the database's exclusion constraint refuses it.
    let bob_takes =
        json!({"user": bob, "from": rfc3339(until - Duration::hours(1)), "until": rfc3339(until + Duration::hours(5))});
    let message = query.refused(409, "POST", &format!("/schedules/{id}/overrides"), ADMIN, Some(bob_takes)).await;
    assert!(message.contains("already has an override for part of"), "{message}");

    // An edit: Carol alone, from now on. Who was on call across the change is as it was.
    let (status, edited) = query
        .send("PUT", &format!("/schedules/{id}/layers/{layer_id}"), ADMIN, Some(weekly(json!(["carol@example.com"]))))
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["id"], layer_id.as_str());
    let (_, after_the_edit) = query.send("GET", &across_the_change, READER, None).await;
    assert_eq!(after_the_edit["final"], before_the_edit["final"]);

    // Carol is on call now, by the layer, until her override takes over (another source of shift).
    let (status, on_call) = query.send("GET", "/oncall", READER, None).await;
    assert_eq!(status, 200, "{on_call}");
    assert_eq!(on_call["items"].as_array().map(Vec::len), Some(1), "{on_call}");
    assert_eq!(on_call["items"][0]["schedule"]["name"], "primary");
    assert_eq!(on_call["items"][0]["schedule"]["team"], "payments");
    assert_eq!(on_call["items"][0]["user"]["email"], "carol@example.com");
    assert_eq!(on_call["items"][0]["until"], rfc3339(from).as_str());
    let (_, payments) = query.send("GET", "/oncall?team=payments", READER, None).await;
    assert_eq!(payments["items"], on_call["items"]);

    // The schedule as a page shows it: the version in force, the override to come.
    let (status, shown) = query.send("GET", &format!("/schedules/{id}"), READER, None).await;
    assert_eq!(status, 200, "{shown}");
    let layers = shown["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{shown}");
    assert_eq!(layers[0]["members"][0]["name"], "Carol");
    assert_eq!(layers[0]["effective_until"], Value::Null);
    assert_eq!(shown["overrides"][0]["id"], taken["id"]);
    assert_eq!(shown["overrides"][0]["reason"], "swap");

    // Removing the override (it has not started) and the layer (from now on): nobody is on call,
    // and the past is still as it was.
    let override_path = format!("/schedules/{id}/overrides/{}", taken["id"].as_str().unwrap_or_default());
    assert_eq!(query.send("DELETE", &override_path, ADMIN, None).await.0, 204);
    assert_eq!(query.send("DELETE", &override_path, ADMIN, None).await.0, 404);
    assert_eq!(query.send("DELETE", &format!("/schedules/{id}/layers/{layer_id}"), ADMIN, None).await.0, 204);
    let (_, on_call) = query.send("GET", "/oncall", READER, None).await;
    assert_eq!(on_call["items"][0]["user"], Value::Null, "{on_call}");
    let (_, after_removal) = query.send("GET", &across_the_change, READER, None).await;
    assert_eq!(after_removal["final"], before_the_edit["final"]);

    // Every change is in the audit log, by the token that made it; the refused override is not.
    let (status, log) = query.send("GET", "/audit-log?limit=7", ADMIN, None).await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(String, String, String)> = log["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
            (field("actor"), field("action"), field("subject"))
        })
        .collect();
    let change = |action: &str, subject: &str| ("admin".to_owned(), action.to_owned(), subject.to_owned());
    assert_eq!(
        entries,
        vec![
            change("schedule.layer.remove", &id),
            change("schedule.override.remove", &id),
            change("schedule.layer.put", &id),
            change("schedule.override.add", &id),
            change("schedule.layer.put", &id),
            change("schedule.create", &id),
            change("catalogue.set", "search-api"),
        ]
    );
    assert_eq!(log["items"][3]["details"]["user"], json!(carol));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_and_the_limit_and_only_admins_change_schedules() {
    let query = Query::start().await;
    let alice = query.person("Alice", "alice@example.com").await;
    let id = query.new_schedule("primary").await;
    let layers = format!("/schedules/{id}/layers");
    let overrides = format!("/schedules/{id}/overrides");

    // Changes take the admin scope; reads take read.
    let not_admin = "the token `wallboard` does not have the `admin` scope this route needs";
    let body = json!({"team": "payments", "name": "secondary", "time_zone": "Europe/Berlin"});
    assert_eq!(query.refused(403, "POST", "/schedules", READER, Some(body)).await, not_admin);
    assert_eq!(query.refused(403, "POST", &layers, READER, Some(weekly(json!([alice])))).await, not_admin);
    assert_eq!(query.refused(403, "DELETE", &format!("/schedules/{id}"), READER, None).await, not_admin);
    let rename = Some(json!({"name": "renamed"}));
    assert_eq!(query.refused(403, "PATCH", &format!("/schedules/{id}"), READER, rename).await, not_admin);
    let override_body = json!({"user": alice, "from": "2100-01-01T00:00:00Z", "until": "2100-01-02T00:00:00Z"});
    assert_eq!(query.refused(403, "POST", &overrides, READER, Some(override_body)).await, not_admin);
    assert_eq!(query.send("GET", "/schedules", READER, None).await.0, 200);

    // The schedule itself.
    let mars = json!({"team": "payments", "name": "mars", "time_zone": "Mars/Olympus_Mons"});
    let message = query.refused(400, "POST", "/schedules", ADMIN, Some(mars)).await;
    assert_eq!(message, "time_zone \"Mars/Olympus_Mons\" is not an IANA time zone (such as America/New_York)");
    let nowhere = json!({"team": "nowhere", "name": "primary", "time_zone": "UTC"});
    let message = query.refused(400, "POST", "/schedules", ADMIN, Some(nowhere)).await;
    assert!(message.starts_with("team: no team \"nowhere\""), "{message}");
    let long = json!({"team": "payments", "name": "n".repeat(201), "time_zone": "UTC"});
    assert_eq!(
        query.refused(400, "POST", "/schedules", ADMIN, Some(long)).await,
        "name is 201 bytes; the limit is 200"
    );
    let again = json!({"team": "payments", "name": "primary", "time_zone": "UTC"});
    let message = query.refused(409, "POST", "/schedules", ADMIN, Some(again)).await;
    assert_eq!(message, "team \"payments\" already has a schedule named \"primary\"");
    let other = query.new_schedule("other").await;
    let (status, renamed) =
        query.send("PATCH", &format!("/schedules/{other}"), ADMIN, Some(json!({"name": "secondary"}))).await;
    assert_eq!((status, &renamed["name"]), (200, &json!("secondary")), "{renamed}");
    let taken = Some(json!({"name": "primary"}));
    let message = query.refused(409, "PATCH", &format!("/schedules/{other}"), ADMIN, taken).await;
    assert_eq!(message, "team \"payments\" already has a schedule named \"primary\"");
    let (_, log) = query.send("GET", "/audit-log?limit=1", ADMIN, None).await;
    assert_eq!(log["items"][0]["action"], "schedule.rename");
    assert_eq!(log["items"][0]["details"], json!({"name": "secondary", "previous_name": "other"}));
    let message = query.refused(400, "GET", "/oncall?team=nowhere", READER, None).await;
    assert!(message.starts_with("team: no team \"nowhere\""), "{message}");
    // A NUL (which PostgreSQL refuses outright) is the caller's mistake, not a 500: found by Schemathesis.
    for path in ["/schedules?team=pay%00ments", "/oncall?team=pay%00ments"] {
        let message = query.refused(400, "GET", path, READER, None).await;
        assert_eq!(message, "team holds a control character", "{path}");
    }

    // Layers.
    let nobody = weekly(json!([alice, "nobody@example.com"]));
    let message = query.refused(400, "POST", &layers, ADMIN, Some(nobody)).await;
    assert!(message.starts_with("members[1]: no user \"nobody@example.com\""), "{message}");
    let crowd: Vec<Value> = (0..51).map(|_| json!(alice)).collect();
    let message = query.refused(400, "POST", &layers, ADMIN, Some(weekly(Value::Array(crowd)))).await;
    assert_eq!(message, "members has 51; a layer has 1 to 50");
    let mut restricted = weekly(json!([alice]));
    restricted["restrictions"] = json!([{"days": ["funday"], "start": "09:00", "minutes": 480}]);
    let message = query.refused(400, "POST", &layers, ADMIN, Some(restricted.clone())).await;
    assert!(message.starts_with("restrictions[0]: weekday \"funday\""), "{message}");
    restricted["restrictions"] = json!([{"days": ["monday"], "start": "09:00", "minutes": 10_081}]);
    let message = query.refused(400, "POST", &layers, ADMIN, Some(restricted.clone())).await;
    assert_eq!(message, "restrictions[0].minutes is 10081; it must be between 1 and 10080 (a week)");
    restricted["restrictions"] = Value::Array(vec![json!({"days": ["monday"], "start": "09:00", "minutes": 60}); 15]);
    let message = query.refused(400, "POST", &layers, ADMIN, Some(restricted)).await;
    assert_eq!(message, "restrictions has 15; a layer has at most 14");
    let mut zoned = weekly(json!([alice]));
    zoned["first_handoff"] = json!("2026-10-05T09:00Z");
    let message = query.refused(400, "POST", &layers, ADMIN, Some(zoned)).await;
    assert!(message.starts_with("first_handoff \"2026-10-05T09:00Z\" is not a local date and time"), "{message}");
    let mut restricted = weekly(json!([alice]));
    restricted["restrictions"] =
        json!([{"days": ["monday", "tuesday", "wednesday", "thursday", "friday"], "start": "09:00", "minutes": 480}]);
    let (status, layer) = query.send("POST", &layers, ADMIN, Some(restricted)).await;
    assert_eq!(status, 201, "{layer}");
    assert_eq!(layer["restrictions"][0]["start"], "09:00:00");

    // The range of shifts.
    let shifts = |range: &str| format!("/schedules/{id}/shifts?{range}");
    let message =
        query.refused(400, "GET", &shifts("from=2026-10-01T00:00:00Z&until=2026-12-15T00:00:00Z"), READER, None).await;
    assert_eq!(
        message,
        "the range from 2026-10-01T00:00:00Z to 2026-12-15T00:00:00Z is over 62 days, the most one request may ask for"
    );
    let message = query.refused(400, "GET", &shifts("from=2026-10-01T00:00:00Z"), READER, None).await;
    assert!(message.starts_with("until is required"), "{message}");
    let message = query.refused(400, "GET", &shifts("from=yesterday&until=2026-10-02T00:00:00Z"), READER, None).await;
    assert!(message.starts_with("from \"yesterday\" is not an RFC 3339 time"), "{message}");
    assert_eq!(
        query
            .send(
                "GET",
                &format!("/schedules/{}/shifts?from=2026-10-01T00:00:00Z&until=2026-10-02T00:00:00Z", Uuid::now_v7()),
                READER,
                None
            )
            .await
            .0,
        404
    );

    // Overrides.
    let taking = |from: &str, until: &str| json!({"user": alice, "from": from, "until": until});
    let message = query
        .refused(400, "POST", &overrides, ADMIN, Some(taking("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")))
        .await;
    assert!(message.starts_with("until (2026-01-02T00:00:00Z) is past"), "{message}");
    let message = query
        .refused(400, "POST", &overrides, ADMIN, Some(taking("2100-01-01T00:00:00Z", "2100-02-02T00:00:00Z")))
        .await;
    assert_eq!(message, "an override lasts at most 31 days; this one lasts 32.0");
    let stranger = json!({"user": Uuid::now_v7(), "from": "2100-01-01T00:00:00Z", "until": "2100-01-02T00:00:00Z"});
    let message = query.refused(400, "POST", &overrides, ADMIN, Some(stranger)).await;
    assert!(message.starts_with("user: no user"), "{message}");
    let yourself = json!({"user": alice, "replaces": "alice@example.com", "from": "2100-01-01T00:00:00Z", "until": "2100-01-02T00:00:00Z"});
    assert_eq!(
        query.refused(400, "POST", &overrides, ADMIN, Some(yourself)).await,
        "user and replaces are the same person"
    );

    // Deleting the schedule takes its layers with it.
    assert_eq!(query.send("DELETE", &format!("/schedules/{id}"), ADMIN, None).await.0, 204);
    assert_eq!(query.send("GET", &format!("/schedules/{id}"), READER, None).await.0, 404);
    let (_, log) = query.send("GET", "/audit-log?limit=1", ADMIN, None).await;
    assert_eq!(log["items"][0]["action"], "schedule.delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_takes_a_shift_and_gives_it_back_but_puts_nobody_else_on_call() {
    let query = Query::start_with(true).await;
    let rex = query.sign_in("rex").await;
    let vic = query.sign_in("vic").await;
    query.person("ana", "ana@example.com").await;
    for (login, role) in [("rex", "responder"), ("vic", "viewer"), ("ana", "responder")] {
        query.make_member("payments", login, role).await;
    }
    let id = query.new_schedule("primary").await;
    let overrides = format!("/schedules/{id}/overrides");
    let now = OffsetDateTime::now_utc();
    let tonight = |who: &str| json!({"user": who, "from": rfc3339(now + Duration::hours(1)), "until": rfc3339(now + Duration::hours(9))});

    // Rex covers Ana tonight: a responder of the team puts themselves on call.
    let mut covering = tonight("rex@example.com");
    covering["replaces"] = json!("ana@example.com");
    let (status, taken) = query.send_as("POST", &overrides, &rex, covering).await;
    assert_eq!(status, 201, "{taken}");
    assert_eq!(
        (&taken["user"]["email"], &taken["replaces"]["email"]),
        (&json!("rex@example.com"), &json!("ana@example.com"))
    );

    // Putting someone else on call is the team's managers' to do, and a viewer is in no rotation.
    let tomorrow = json!({"user": "ana@example.com", "from": rfc3339(now + Duration::days(1)), "until": rfc3339(now + Duration::days(2))});
    let (status, refusal) = query.send_as("POST", &overrides, &rex, tomorrow).await;
    assert_eq!(status, 403, "{refusal}");
    assert_eq!(
        refusal["error"]["message"],
        "managing team `payments` needs the manager role in it, or admin; you are a responder there"
    );
    let (status, refusal) = query.send_as("POST", &overrides, &vic, tonight("vic@example.com")).await;
    assert_eq!(status, 403, "{refusal}");
    assert_eq!(
        refusal["error"]["message"],
        "going on call in a schedule of team `payments` needs the responder or manager role in that team, or admin; \
         you are a viewer there"
    );

    // An admin's override of Ana is not Rex's to remove; his own is.
    let later = json!({"user": "ana@example.com", "from": rfc3339(now + Duration::days(3)), "until": rfc3339(now + Duration::days(4))});
    let (status, admins) = query.send("POST", &overrides, ADMIN, Some(later)).await;
    assert_eq!(status, 201, "{admins}");
    let remove = |override_id: &Value| format!("{overrides}/{}", override_id.as_str().unwrap_or_default());
    assert_eq!(query.send_as("DELETE", &remove(&admins["id"]), &rex, Value::Null).await.0, 403);
    let (status, answer) = query.send_as("DELETE", &remove(&taken["id"]), &rex, Value::Null).await;
    assert_eq!(status, 204, "{answer}");
    let (_, schedule) = query.send("GET", &format!("/schedules/{id}"), READER, None).await;
    let left: Vec<&Value> =
        schedule["overrides"].as_array().into_iter().flatten().map(|o| &o["user"]["email"]).collect();
    assert_eq!(left, [&json!("ana@example.com")], "{schedule}");

    let (_, log) = query.send("GET", "/audit-log?limit=3", ADMIN, None).await;
    let entries: Vec<(&Value, &Value)> =
        log["items"].as_array().into_iter().flatten().map(|entry| (&entry["actor"], &entry["action"])).collect();
    assert_eq!(
        entries,
        [
            (&json!("rex@example.com"), &json!("schedule.override.remove")),
            (&json!("admin"), &json!("schedule.override.add")),
            (&json!("rex@example.com"), &json!("schedule.override.add")),
        ]
    );
}
