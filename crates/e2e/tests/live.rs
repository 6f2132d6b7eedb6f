//! What the dashboard relies on from query: the live feed of incident events (`GET /events`, with
//! replay after a reconnection) and the built page served from the API's own origin.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::{API_TOKEN, Stack, StackOptions, webhook};

/// One server-sent event as the page's parser sees it.
#[derive(Debug, Default, Clone)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: String,
}

/// A connection to `GET /events`, read frame by frame.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(stack: &Stack, last_event_id: Option<&str>) -> EventStream {
        let mut request = stack.http.get(format!("{}/events", stack.query_url)).bearer_auth(API_TOKEN);
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.expect("GET /events");
        assert_eq!(response.status(), 200);
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(content_type, "text/event-stream");
        EventStream { response, buffer: String::new() }
    }

    /// The next event (comments such as keep-alives skipped), within 20 seconds.
    async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    let mut event = SseEvent { event: "message".into(), ..SseEvent::default() };
                    let mut is_comment = true;
                    for line in frame.lines() {
                        if let Some(value) = line.strip_prefix("id: ") {
                            event.id = Some(value.to_owned());
                        } else if let Some(value) = line.strip_prefix("event: ") {
                            event.event = value.to_owned();
                        } else if let Some(value) = line.strip_prefix("data: ") {
                            event.data.push_str(value);
                        } else if line.starts_with("retry: ") || line.starts_with(':') {
                            continue;
                        }
                        is_comment &= line.starts_with(':');
                    }
                    if !is_comment {
                        return event;
                    }
                    continue;
                }
                let chunk = self.response.chunk().await.expect("reading /events");
                let chunk = chunk.unwrap_or_else(|| panic!("/events ended; buffered: {:?}", self.buffer));
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event on /events within 20 s; buffered: {:?}", self.buffer))
    }

    /// The next incident event, skipping `ready`.
    async fn next_incident(&mut self) -> (String, Value) {
        loop {
            let event = self.next().await;
            match event.event.as_str() {
                "ready" => continue,
                "incident" => {
                    let data: Value = serde_json::from_str(&event.data)
                        .unwrap_or_else(|error| panic!("event data is not JSON ({error}): {}", event.data));
                    return (event.id.unwrap_or_else(|| panic!("an incident event without id: {data}")), data);
                }
                other => panic!("unexpected `{other}` event: {event:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_carries_changes_and_replays_what_a_page_missed() {
    let stack = Stack::start().await;

    let unauthenticated =
        stack.http.get(format!("{}/events", stack.query_url)).send().await.expect("sending the request");
    assert_eq!(unauthenticated.status(), 401);

    let mut live = EventStream::open(&stack, None).await;
    assert_eq!(live.next().await.event, "ready");

    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let (opened_id, opened) = live.next_incident().await;
    assert_eq!(opened["kind"], "opened");
    assert_eq!(opened["incident"]["status"], "open");
    let incident_id = opened["incident"]["id"].as_str().unwrap_or_default().to_owned();
    // The incident in the event is the API's incident object.
    let (_, from_api) = stack.get(&format!("/incidents/{incident_id}")).await;
    assert_eq!(opened["incident"]["title"], from_api["title"]);
    assert_eq!(opened["incident"]["opened_at"], from_api["opened_at"]);

    let (status, _) =
        stack.post(&format!("/incidents/{incident_id}/acknowledge"), &json!({"actor": "ana@example.com"})).await;
    assert_eq!(status, 200);
    let (acknowledged_id, acknowledged) = live.next_incident().await;
    assert_eq!(acknowledged["kind"], "acknowledged");
    assert_eq!(acknowledged["actor"], "ana@example.com");
    assert_eq!(acknowledged["incident"]["status"], "acknowledged");
    assert!(tocsin_bus::entry_id_before(&opened_id, &acknowledged_id));

    // The page loses its connection; the incident changes meanwhile.
    drop(live);
    let (status, _) = stack.post(&format!("/incidents/{incident_id}/resolve"), &json!({"actor": "bo"})).await;
    assert_eq!(status, 200);

    // It comes back with the id of the last event it saw and gets exactly what it missed.
    let mut resumed = EventStream::open(&stack, Some(&acknowledged_id)).await;
    assert_eq!(resumed.next().await.event, "ready");
    let (_, missed) = resumed.next_incident().await;
    assert_eq!(missed["kind"], "resolved");
    assert_eq!(missed["actor"], "bo");
    assert_eq!(missed["incident"]["status"], "resolved");
    // …and then stays live.
    let (status, _) = stack.post(&format!("/incidents/{incident_id}/reopen"), &json!({})).await;
    assert_eq!(status, 200);
    let (_, reopened) = resumed.next_incident().await;
    assert_eq!(reopened["kind"], "reopened");

    // A gap the stream no longer holds, or an id that is not one, cannot be replayed: reload.
    for stale in ["1-0", "not-an-id"] {
        let mut stream = EventStream::open(&stack, Some(stale)).await;
        assert_eq!(stream.next().await.event, "ready");
        assert_eq!(stream.next().await.event, "reset", "Last-Event-ID {stale}");
    }

    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_serves_the_dashboard_next_to_the_api() {
    let web_root = std::env::temp_dir().join(format!("tocsin-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(web_root.join("assets")).expect("create dir all");
    let index = "<!doctype html><title>tocsin</title><div id=root></div>";
    std::fs::write(web_root.join("index.html"), index).expect("writing a test file");
    std::fs::write(web_root.join("assets/index-3f2a1c.js"), "console.log('tocsin')").expect("writing a test file");
    let stack = Stack::start_with(StackOptions { web_root: Some(web_root.clone()), ..StackOptions::default() }).await;
    let get =
        |path: &str, accept: &str| stack.http.get(format!("{}{path}", stack.query_url)).header("Accept", accept).send();
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    let page = get("/", html).await.expect("GET");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert_eq!(page.text().await.unwrap_or_default(), index);

    let bundle = get("/assets/index-3f2a1c.js", "*/*").await.expect("GET");
    assert_eq!(bundle.status(), 200);
    assert_eq!(bundle.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(bundle.headers()["content-type"].to_str().unwrap_or_default().contains("javascript"));

    // The page's own routes survive a reload.
    for route in ["/incident/01a21992-dfe9-7c1d-9f3b-2b0d6c1e4a77", "/history?severity=critical", "/wallboard"] {
        let reload = get(route, html).await.expect("GET");
        assert_eq!(reload.status(), 200, "{route}");
        assert_eq!(reload.text().await.unwrap_or_default(), index, "{route}");
    }

    // The API keeps its own answers.
    let api = get("/incidents", html).await.expect("GET");
    assert_eq!(api.status(), 401, "the API route wins over the page");
    let missing = get("/no-such-thing", "application/json").await.expect("GET");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "not_found");
    let escape = get("/../Cargo.toml", html).await.expect("GET");
    assert_ne!(escape.text().await.unwrap_or_default(), std::fs::read_to_string("Cargo.toml").unwrap_or_default());

    stack.stop().await;
    let _ = std::fs::remove_dir_all(web_root);
}
