//! What one token may hold of the live feed (`GET /events`) against a real PostgreSQL and Redis:
//! a bounded number of connections at once, and a bounded replay after a reconnection, past which
//! the page is told to reload instead.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::time::Duration;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream, Verbatim};
use tocsin_domain::IncidentEvent;
use tocsin_query::Application;
use tocsin_query::config::{Config, LiveLimits};
use tocsin_runtime::auth::Tokens;
use tocsin_testkit::{TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;

const READER: &str = "reader-token-0123456789";
const OTHER: &str = "other-reader-token-0123456789";

const TOKENS_FILE: &str = "
tokens:
  - {name: wallboard, scopes: [read], token: reader-token-0123456789}
  - {name: laptop, scopes: [read], token: other-reader-token-0123456789}
";

/// Small limits, so the tests reach them.
const LIMITS: LiveLimits = LiveLimits { max_connections_per_token: 3, max_replay: 5 };

struct Query {
    url: String,
    bus: Bus,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _db: TestDatabase,
}

async fn start() -> Query {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let shutdown = CancellationToken::new();
    let app = Application::build(
        Config {
            live: LIMITS,
            ..Config::for_tests(
                &db.url,
                &redis.url,
                &redis.prefix,
                Tokens::from_yaml(TOKENS_FILE).expect("Tokens::from_yaml"),
            )
        },
        shutdown.clone(),
    )
    .await
    .expect("building");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let bus = Bus::connect(
        &redis.url,
        BusSettings { prefix: redis.prefix.clone(), max_age: Duration::from_secs(3600), ..BusSettings::default() },
    )
    .expect("Bus::connect");
    Query { url, bus, http: reqwest::Client::new(), shutdown, _db: db }
}

impl Query {
    async fn connect(&self, token: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}/events", self.url)).bearer_auth(token);
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        request.send().await.expect("GET /events")
    }

    /// An open live connection, past its `ready`.
    async fn open(&self, token: &str, last_event_id: Option<&str>) -> Feed {
        let response = self.connect(token, last_event_id).await;
        assert_eq!(response.status(), 200, "GET /events");
        let mut feed = Feed { response, buffer: String::new() };
        assert_eq!(feed.next().await, ("ready".to_owned(), None, "{}".to_owned()));
        feed
    }

    /// Puts `count` events on the events stream, as incident-core's relay does; their ids.
    async fn publish_events(&self, count: usize) -> Vec<String> {
        let events: Vec<Envelope<Verbatim<IncidentEvent>>> = (0..count)
            .map(|n| {
                let json = format!(r#"{{"seq":{n}}}"#);
                Envelope::new(serde_json::from_str(&json).expect("parsing"))
            })
            .collect();
        self.bus.publish(Stream::Events, &events).await.expect("publish")
    }
}

/// One `GET /events` connection, read event by event.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

impl Feed {
    /// The next event as (event, id, data), keep-alive comments skipped; within 20 seconds.
    async fn next(&mut self) -> (String, Option<String>, String) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    let (mut event, mut id, mut data) = (None, None, String::new());
                    for line in frame.lines() {
                        if let Some(value) = line.strip_prefix("event: ") {
                            event = Some(value.to_owned());
                        } else if let Some(value) = line.strip_prefix("id: ") {
                            id = Some(value.to_owned());
                        } else if let Some(value) = line.strip_prefix("data: ") {
                            data.push_str(value);
                        }
                    }
                    match event {
                        Some(event) => return (event, id, data),
                        None => continue,
                    }
                }
                let chunk = self.response.chunk().await.expect("reading /events");
                let chunk = chunk.unwrap_or_else(|| panic!("/events ended; buffered: {:?}", self.buffer));
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event on /events within 20 s; buffered: {:?}", self.buffer))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_holds_a_bounded_number_of_live_connections() {
    let query = start().await;
    let mut open = Vec::new();
    for _ in 0..LIMITS.max_connections_per_token {
        open.push(query.open(READER, None).await);
    }

    let refused = query.connect(READER, None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let body: serde_json::Value = refused.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        body["error"]["message"],
        "the token `wallboard` already holds 3 live feed connections, the most LIVE_MAX_CONNECTIONS_PER_TOKEN \
         allows; close another tab or screen using it, or give it a token of its own"
    );

    // The cap is per token: another token is not affected.
    let _other = query.open(OTHER, None).await;

    // A connection that closes gives its place back as soon as query sees the client close it,
    // not at the next write to it: nothing is written to these connections for 15 s (the
    // keep-alive), so a place free well before that was freed by the close itself.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let replacement = loop {
        let response = query.connect(READER, None).await;
        match response.status().as_u16() {
            200 => break response,
            429 if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            status => panic!("GET /events after a connection closed answered {status}"),
        }
    };
    let mut replacement = Feed { response: replacement, buffer: String::new() };
    assert_eq!(replacement.next().await.0, "ready");
    // …and only the one place: the cap holds again.
    assert_eq!(query.connect(READER, None).await.status(), 429);
    query.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_too_far_behind_is_told_to_reload_instead_of_replayed() {
    let query = start().await;
    let first = query.publish_events(1).await;

    // As many missed events as may be replayed: every one, in order, then the live ones.
    let missed = query.publish_events(LIMITS.max_replay).await;
    let mut feed = query.open(READER, Some(&first[0])).await;
    for (n, id) in missed.iter().enumerate() {
        assert_eq!(feed.next().await, ("incident".to_owned(), Some(id.clone()), format!(r#"{{"seq":{n}}}"#)));
    }
    let live = query.publish_events(1).await;
    assert_eq!(feed.next().await.1.as_ref(), Some(&live[0]));
    drop(feed);

    // One more than that: nothing is replayed, the page is told at once to reload.
    let last_seen = live[0].clone();
    query.publish_events(LIMITS.max_replay + 1).await;
    let mut feed = query.open(READER, Some(&last_seen)).await;
    assert_eq!(feed.next().await, ("reset".to_owned(), None, r#"{"reason":"too_far_behind"}"#.to_owned()));
    // The connection stays live after the reset. (Events from just before it may come too: the
    // page applies events by incident version, and reloads anyway.)
    let after_reset = query.publish_events(1).await;
    loop {
        let (event, id, _) = feed.next().await;
        assert_eq!(event, "incident");
        if id.as_ref() == Some(&after_reset[0]) {
            break;
        }
    }
    drop(feed);

    // An id that is not one, and a gap the stream no longer holds, say so too.
    let mut feed = query.open(READER, Some("not-an-id")).await;
    assert_eq!(feed.next().await, ("reset".to_owned(), None, r#"{"reason":"unknown_id"}"#.to_owned()));
    drop(feed);
    let mut feed = query.open(READER, Some("1-0")).await;
    assert_eq!(feed.next().await, ("reset".to_owned(), None, r#"{"reason":"trimmed"}"#.to_owned()));
    query.shutdown.cancel();
}
