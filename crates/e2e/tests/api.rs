//! The query API: listing with filters and pages, reading one incident, acting on incidents
//! through incident-core, and the OpenAPI document.

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::{API_TOKEN, DISTINCT_KEYS, Stack, StackOptions, webhook};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn one_open_incident(stack: &Stack) -> String {
    stack.send(&webhook("firing-single.json", now())).await;
    let incidents = stack.incidents_when("", |items| items.len() == 1).await;
    incidents[0]["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledge_resolve_and_reopen_through_the_api() {
    let stack = Stack::start().await;
    let id = one_open_incident(&stack).await;

    let (status, incident) =
        stack.post(&format!("/incidents/{id}/acknowledge"), &json!({"actor": "ana@example.com"})).await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["status"], "acknowledged");
    assert_eq!(incident["acknowledged_by"], "ana@example.com");

    // DESIGN.md's endpoint.
    let (status, incident) =
        stack.post("/resolve", &json!({"incident_id": id, "action": "resolve", "actor": "ana@example.com"})).await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["resolved_by"], "ana@example.com");

    let (status, incident) = stack.post(&format!("/incidents/{id}/reopen"), &json!({})).await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["resolved_at"], Value::Null);

    let (status, incident) = stack
        .post(&format!("/incidents/{id}/assign"), &json!({"assignee": "bo@example.com", "actor": "ana@example.com"}))
        .await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["assignee"], "bo@example.com");

    let (_, detail) = stack.get(&format!("/incidents/{id}")).await;
    let steps: Vec<(String, String, String)> = detail["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").into(),
                e["status"].as_str().unwrap_or("-").into(),
                e["actor"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let expected = [
        ("opened", "open", "alertmanager"),
        ("acknowledged", "acknowledged", "ana@example.com"),
        ("resolved", "resolved", "ana@example.com"),
        ("reopened", "open", "api"),
        ("assigned", "-", "ana@example.com"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(steps, expected);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_transitions_get_409_and_unknown_incidents_404() {
    let stack = Stack::start().await;
    let id = one_open_incident(&stack).await;

    let (status, body) = stack.post(&format!("/incidents/{id}/reopen"), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["message"], "only a resolved incident can be reopened; this one is open");

    let (status, _) = stack.post(&format!("/incidents/{id}/acknowledge"), &json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = stack.post(&format!("/incidents/{id}/acknowledge"), &json!({})).await;
    assert_eq!((status, body["error"]["message"].as_str()), (409, Some("the incident is already acknowledged")));

    let (status, _) = stack.post("/resolve", &json!({"incident_id": id, "action": "resolve"})).await;
    assert_eq!(status, 200);
    let (status, body) = stack.post("/resolve", &json!({"incident_id": id, "action": "acknowledge"})).await;
    assert_eq!((status, body["error"]["message"].as_str()), (409, Some("the incident is already resolved")));

    let missing = uuid::Uuid::now_v7();
    let (status, body) = stack.post(&format!("/incidents/{missing}/resolve"), &json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    // `null` is the documented body's other form (found by Schemathesis): nobody named.
    let (status, body) = stack.post(&format!("/incidents/{missing}/resolve"), &json!(null)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    // PostgreSQL cannot store a NUL: refused at once, not a 504 after a command that never applies
    // (found by Schemathesis).
    let (status, body) = stack.post(&format!("/incidents/{id}/acknowledge"), &json!({"actor": "ana\u{0}"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_payload")), "{body}");
    let (status, body) = stack.post(&format!("/incidents/{id}/assign"), &json!({"assignee": "bo\u{0}"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_payload")), "{body}");
    let (status, _) = stack.get(&format!("/incidents/{missing}")).await;
    assert_eq!(status, 404);
    let (status, body) = stack.get("/incidents/not-a-uuid").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_parameter")));

    let (status, body) = stack.post("/resolve", &json!({"incident_id": id, "action": "close"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_payload")), "{body}");
    // A misspelt field is refused, not silently recorded as the default actor.
    let (status, body) = stack.post(&format!("/incidents/{id}/reopen"), &json!({"actr": "ana"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_payload")), "{body}");
    let response = stack
        .http
        .post(format!("{}/incidents/{id}/reopen", stack.query_url))
        .bearer_auth(tocsin_e2e::API_TOKEN)
        .body("actor=ana")
        .send()
        .await
        .expect("sending the request");
    assert_eq!(response.status().as_u16(), 415);
    // Unknown routes answer with the same JSON error shape.
    let (status, body) = stack.get("/no-such-route").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_is_refused_while_another_incident_holds_the_key() {
    let stack = Stack::start_with(StackOptions {
        intake: tocsin_incident_core::incidents::IntakeSettings {
            reopen_window: time::Duration::ZERO,
            ..Default::default()
        },
        ..StackOptions::default()
    })
    .await;
    let first = one_open_incident(&stack).await;
    let (status, _) = stack.post(&format!("/incidents/{first}/resolve"), &json!({})).await;
    assert_eq!(status, 200);
    // A new occurrence of the same key opens a second incident (no reopen window here).
    let mut again = webhook("firing-single.json", now());
    again["alerts"][0]["startsAt"] =
        json!(now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
    stack.send(&again).await;
    stack.incidents_when("?status=open", |items| items.len() == 1).await;

    let (status, body) = stack.post(&format!("/incidents/{first}/reopen"), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("is already open")), "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_times_out_with_504_when_incident_core_is_not_there() {
    use tocsin_storage::AsyncConnection;
    // No incident-core at all: the incident is written straight through the storage crate.
    let stack = Stack::start_with(StackOptions {
        core_replicas: 0,
        action_timeout: Duration::from_millis(300),
        ..StackOptions::default()
    })
    .await;
    let payload: tocsin_domain::webhook::WebhookPayload =
        serde_json::from_value(webhook("firing-single.json", now())).expect("converting");
    let report = tocsin_domain::AlertReceived::from_webhook(payload.clone(), now()).remove(0);
    let mut conn = stack.db.connection().await;
    let settings = tocsin_incident_core::incidents::IntakeSettings::default();
    let batch = conn
        .transaction(async |conn| {
            tocsin_incident_core::incidents::apply_alerts(conn, &[&report], &[], &settings, now()).await
        })
        .await
        .expect("transaction");
    let id = batch.outcomes[0].incident_id.map(|id| id.to_string()).unwrap_or_default();

    let (status, body) = stack.post(&format!("/incidents/{id}/acknowledge"), &json!({})).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("stays queued")), "{body}");
    // The command waits on the stream for incident-core.
    assert_eq!(stack.stream_length("commands").await, 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_pages_walk_every_incident_once() {
    let stack = Stack::start().await;
    let at = now();
    stack.send_fixtures(&DISTINCT_KEYS, at).await;
    stack.send_fixtures(&["resolved-all-at-once.json"], at).await;
    let all = stack.settled_incidents().await;
    assert_eq!(all.len(), 7);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = stack.get(&format!("/incidents?limit=2&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["items"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let listed: Vec<String> = all.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect();
    assert_eq!(seen, listed, "pages in the same order as one long list, nothing twice");

    let opened: Vec<OffsetDateTime> = all
        .iter()
        .filter_map(|i| i["opened_at"].as_str())
        .filter_map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .collect();
    assert!(opened.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let count = |items: Vec<Value>| items.len();
    let (_, critical) = stack.get("/incidents?severity=critical").await;
    assert!(critical["items"].as_array().into_iter().flatten().all(|i| i["severity"] == "critical"));
    let (_, resolved) = stack.get("/incidents?status=resolved").await;
    assert_eq!(count(resolved["items"].as_array().cloned().unwrap_or_default()), 1);
    let (_, active) = stack.get("/incidents?status=open,acknowledged").await;
    assert_eq!(count(active["items"].as_array().cloned().unwrap_or_default()), 6);
    let (_, storage) = stack.get("/incidents?team=storage&environment=production").await;
    assert_eq!(storage["items"][0]["service"], "storage-backend");
    let (_, tokyo) = stack.get("/incidents?service=%E6%9D%B1%E4%BA%AC-db").await;
    assert_eq!(count(tokyo["items"].as_array().cloned().unwrap_or_default()), 1);
    let future =
        (at + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let (_, none) = stack.get(&format!("/incidents?since={}", future.replace('+', "%2B"))).await;
    assert_eq!(count(none["items"].as_array().cloned().unwrap_or_default()), 0);

    for (query, message) in [
        ("?status=closed", "status `closed` is not one tocsin knows"),
        ("?severity=urgent", "severity `urgent` is not one tocsin knows"),
        ("?limit=0", "limit must be between 1 and 500, not 0"),
        ("?cursor=bogus", "cursor is not one this API gave out: pass next_cursor unchanged"),
    ] {
        let (status, body) = stack.get(&format!("/incidents{query}")).await;
        assert_eq!((status, body["error"]["message"].as_str()), (400, Some(message)), "{query}");
    }
    let (status, body) = stack.get("/incidents?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.starts_with("since `yesterday` is not an RFC 3339 time"))
    );
    stack.stop().await;
}

/// The values of `field` in a page's `items`.
fn field_of(page: &Value, list: &str, field: &str) -> Vec<String> {
    page[list].as_array().into_iter().flatten().map(|item| item[field].to_string()).collect()
}

/// Every page of `path` (`/incidents/{id}/alerts` or `…/timeline`) from `cursor` on, `limit` at a
/// time, as (page sizes, items).
async fn walk(stack: &Stack, path: &str, limit: usize, first_cursor: &str) -> (Vec<usize>, Vec<Value>) {
    let (mut sizes, mut items) = (Vec::new(), Vec::new());
    let mut cursor = first_cursor.to_owned();
    loop {
        let (status, page) = stack.get(&format!("{path}?limit={limit}&cursor={cursor}")).await;
        assert_eq!(status, 200, "{path}: {page}");
        let page_items = page["items"].as_array().cloned().unwrap_or_default();
        sizes.push(page_items.len());
        items.extend(page_items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return (sizes, items),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_of_many_alerts_is_read_a_page_at_a_time_and_every_alert_once() {
    let stack = Stack::start().await;
    // One webhook of 250 alerts of one service, environment and severity: one incident. Ten alerts
    // share each start time, so the pages must break ties by more than the time.
    let mut payload = webhook("firing-single.json", now());
    let template = payload["alerts"][0].clone();
    let start = now() - time::Duration::hours(1);
    let alerts: Vec<Value> = (0..250)
        .map(|n| {
            let mut alert = template.clone();
            alert["fingerprint"] = json!(format!("{n:016x}"));
            alert["labels"]["instance"] = json!(format!("web-{n:03}"));
            let starts_at = start + time::Duration::seconds(n / 10);
            alert["startsAt"] =
                json!(starts_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
            alert
        })
        .collect();
    payload["alerts"] = json!(alerts);
    stack.send(&payload).await;
    let incidents =
        stack.incidents_when("", |items| items.len() == 1 && items[0]["alert_count"].as_i64() == Some(250)).await;
    let id = incidents[0]["id"].as_str().unwrap_or_default().to_owned();

    // The incident comes with the first page of each list and where each goes on.
    let (status, detail) = stack.get(&format!("/incidents/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["alert_count"], 250);
    assert_eq!(detail["alerts"].as_array().map(Vec::len), Some(100), "the detail holds the first page only");
    assert_eq!(detail["timeline"].as_array().map(Vec::len), Some(100));
    let alerts_cursor = detail["alerts_next_cursor"].as_str().unwrap_or_else(|| panic!("no alerts cursor: {detail}"));
    let timeline_cursor =
        detail["timeline_next_cursor"].as_str().unwrap_or_else(|| panic!("no timeline cursor: {detail}"));

    // Paging on from the detail gives every alert exactly once, in order.
    let (sizes, rest) = walk(&stack, &format!("/incidents/{id}/alerts"), 70, alerts_cursor).await;
    assert_eq!(sizes, [70, 70, 10]);
    let mut fingerprints = field_of(&detail, "alerts", "fingerprint");
    fingerprints.extend(rest.iter().map(|alert| alert["fingerprint"].to_string()));
    let expected: Vec<String> = (0..250).map(|n| json!(format!("{n:016x}")).to_string()).collect();
    assert_eq!(fingerprints, expected, "every alert once, oldest first, ties in one order");

    // The same from the start, without the detail, in pages of another size.
    let (sizes, all) = walk(&stack, &format!("/incidents/{id}/alerts"), 64, "").await;
    assert_eq!(sizes, [64, 64, 64, 58]);
    assert_eq!(all.iter().map(|alert| alert["fingerprint"].to_string()).collect::<Vec<_>>(), expected);

    // The timeline pages the same way: as one long read, nothing twice, nothing left out.
    let (status, whole) = stack.get(&format!("/incidents/{id}/timeline?limit=500")).await;
    assert_eq!(status, 200, "{whole}");
    assert!(whole["next_cursor"].is_null());
    let whole = whole["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(whole.len(), 250, "opened, then 249 alerts added");
    let (_, rest) = walk(&stack, &format!("/incidents/{id}/timeline"), 40, timeline_cursor).await;
    let mut paged = detail["timeline"].as_array().cloned().unwrap_or_default();
    paged.extend(rest);
    assert_eq!(paged, whole);

    // Each limit is capped, and a cursor only pages the list it came from.
    for (query, message) in [
        ("alerts?limit=501", "limit must be between 1 and 500, not 501"),
        ("timeline?limit=0", "limit must be between 1 and 500, not 0"),
        (
            &format!("alerts?cursor={timeline_cursor}") as &str,
            "cursor is not one this API gave out for this list: pass the incident's alerts_next_cursor or the \
             page's next_cursor unchanged",
        ),
    ] {
        let (status, body) = stack.get(&format!("/incidents/{id}/{query}")).await;
        assert_eq!((status, body["error"]["message"].as_str()), (400, Some(message)), "{query}");
    }
    let missing = uuid::Uuid::now_v7();
    let (status, body) = stack.get(&format!("/incidents/{missing}/alerts")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = stack.get("/incidents/not-a-uuid/timeline").await;
    assert_eq!(status, 400);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_the_token_and_documents_itself() {
    let stack = Stack::start().await;
    let client = &stack.http;
    let url = format!("{}/incidents", stack.query_url);
    let missing = client.get(&url).send().await.expect("sending the request");
    assert_eq!(missing.status().as_u16(), 401);
    let body: Value = missing.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = client.get(&url).bearer_auth("nope").send().await.expect("sending the request");
    assert_eq!(wrong.status().as_u16(), 401);
    let right = client.get(&url).bearer_auth(API_TOKEN).send().await.expect("sending the request");
    assert_eq!(right.status().as_u16(), 200);

    let spec: Value = stack.json_at(&format!("{}/openapi.json", stack.query_url)).await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{spec}");
    for path in [
        "/incidents",
        "/incidents/{id}",
        "/incidents/{id}/alerts",
        "/incidents/{id}/timeline",
        "/resolve",
        "/incidents/{id}/acknowledge",
        "/incidents/{id}/assign",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(spec["components"]["schemas"].get("Incident").is_some());
    let ingest_spec: Value = stack.json_at(&format!("{}/openapi.json", stack.ingest_url)).await;
    let webhook = &ingest_spec["paths"]["/alerts"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(webhook["$ref"], "#/components/schemas/WebhookPayload", "{ingest_spec}");
    for document in [&spec, &ingest_spec] {
        for path in ["/health", "/ready", "/metrics"] {
            assert!(document["paths"].get(path).is_some(), "{path} missing from {document}");
        }
        assert!(document["components"]["schemas"].get("ErrorBody").is_some(), "{document}");
    }

    for url in [&stack.ingest_url, &stack.query_url, &stack.notifier_url, &stack.core_urls[0]] {
        for probe in ["/health", "/ready"] {
            let response = client.get(format!("{url}{probe}")).send().await.expect("sending the request");
            assert_eq!(response.status().as_u16(), 200, "{url}{probe}");
        }
        let metrics = client
            .get(format!("{url}/metrics"))
            .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
            .send()
            .await
            .expect("sending the request");
        assert!(
            metrics.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("application/openmetrics-text"))
        );
        let text = metrics.text().await.unwrap_or_default();
        assert!(text.contains("tocsin_http_requests_total"), "{url}/metrics: {text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics when asked for");
        let classic = client.get(format!("{url}/metrics")).send().await.expect("sending the request");
        assert!(classic.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/plain; version=0.0.4")));
        let classic = classic.text().await.unwrap_or_default();
        assert!(classic.contains("# TYPE tocsin_http_requests_total counter"), "{classic}");
        assert!(!classic.contains("# EOF"));
    }
    stack.stop().await;
}
