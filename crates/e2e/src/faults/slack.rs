//! A fake Slack Web API that keeps the messages posted to it, as a channel does: every
//! `chat.postMessage` gets a `ts` of its own, `chat.update` edits in place, and
//! `conversations.history` / `conversations.replies` read the channel back (with each message's
//! `metadata` when asked for `include_all_metadata`), paged by cursor as Slack pages them. It can
//! also hold back its answer to a post it took, so a test can kill the notifier in the window
//! between Slack taking a message and the notifier learning that it did.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_testkit::{FakeApi, RecordedRequest, Reply};

/// The channel id the fake answers with; the notifier is configured with it.
pub const CHANNEL_ID: &str = "C0FAULTS";

/// A message as the channel holds it.
#[derive(Debug, Clone)]
pub struct Message {
    pub ts: String,
    /// The parent's `ts` for a reply in a thread; `None` for a message in the channel itself.
    pub thread_ts: Option<String>,
    /// The `chat.postMessage` body that created it.
    pub body: Value,
}

impl Message {
    /// The `metadata.event_payload` the notifier attached, if any.
    pub fn payload(&self) -> &Value {
        &self.body["metadata"]["event_payload"]
    }
}

pub struct FakeSlack {
    pub api: FakeApi,
    channel: Arc<Mutex<Vec<Message>>>,
    hold: Arc<Hold>,
}

/// The next post's answer held back: armed by the test, holding while the answer waits.
#[derive(Default)]
struct Hold {
    armed: Mutex<Option<Duration>>,
    holding: AtomicBool,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let api = FakeApi::start().await;
        let channel: Arc<Mutex<Vec<Message>>> = Arc::default();
        // Slack's ts is "<unix seconds>.<six digits>", unique in a channel and increasing.
        let first_second = time::OffsetDateTime::now_utc().unix_timestamp();
        let posted = channel.clone();
        let hold: Arc<Hold> = Arc::default();
        let held = hold.clone();
        api.respond_with("POST", "/api/chat.postMessage", move |request| {
            let body = request.json();
            let ts = {
                let mut messages = lock(&posted);
                let ts = format!("{first_second}.{:06}", messages.len() + 1);
                let thread_ts = body["thread_ts"].as_str().map(str::to_owned);
                messages.push(Message { ts: ts.clone(), thread_ts, body });
                ts
            };
            // The fake serves one request at a time, so holding blocks it whole: the notifier it
            // answers is meant to be dead by then.
            let delay = held.armed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            if let Some(delay) = delay {
                held.holding.store(true, Ordering::SeqCst);
                std::thread::sleep(delay);
                held.holding.store(false, Ordering::SeqCst);
            }
            Reply::json(200, json!({"ok": true, "channel": CHANNEL_ID, "ts": ts}))
        });
        api.respond_with("POST", "/api/chat.update", |request| {
            let body = request.json();
            Reply::json(200, json!({"ok": true, "channel": CHANNEL_ID, "ts": body["ts"]}))
        });
        let history = channel.clone();
        api.respond_with("GET", "/api/conversations.history", move |request| {
            let query = Query::of(request);
            let messages = lock(&history);
            // Newest first, the channel's own messages only (replies stay in their threads).
            let found: Vec<&Message> = messages
                .iter()
                .rev()
                .filter(|message| message.thread_ts.is_none())
                .filter(|message| query.oldest.as_deref().is_none_or(|oldest| is_after(&message.ts, oldest)))
                .collect();
            query.page(&found)
        });
        let replies = channel.clone();
        api.respond_with("GET", "/api/conversations.replies", move |request| {
            let query = Query::of(request);
            let messages = lock(&replies);
            let Some(parent) = query.ts.as_deref() else {
                return Reply::json(200, json!({"ok": false, "error": "invalid_arguments"}));
            };
            // The parent first, then its replies, oldest first.
            let found: Vec<&Message> = messages
                .iter()
                .filter(|message| message.ts == parent || message.thread_ts.as_deref() == Some(parent))
                .filter(|message| {
                    message.ts == parent || query.oldest.as_deref().is_none_or(|oldest| is_after(&message.ts, oldest))
                })
                .collect();
            if found.is_empty() {
                return Reply::json(200, json!({"ok": false, "error": "thread_not_found"}));
            }
            query.page(&found)
        });
        FakeSlack { api, channel, hold }
    }

    /// The next `chat.postMessage` is taken (it is in the channel at once) but answered only after
    /// `delay`.
    pub fn hold_next_answer(&self, delay: Duration) {
        *self.hold.armed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(delay);
    }

    /// Whether a post is in the channel and its answer held back right now.
    pub fn holding_an_answer(&self) -> bool {
        self.hold.holding.load(Ordering::SeqCst)
    }

    /// `SLACK_API_URL` for the notifier.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.api.url)
    }

    /// Every message posted so far (channel messages and replies), in the order they were posted.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.channel).clone()
    }

    /// Every request of one Web API method (`chat.update`, …).
    pub fn calls(&self, method: &str) -> Vec<RecordedRequest> {
        let path = format!("/api/{method}");
        self.api.requests().into_iter().filter(|request| request.path.split('?').next() == Some(&path)).collect()
    }
}

fn lock(channel: &Mutex<Vec<Message>>) -> std::sync::MutexGuard<'_, Vec<Message>> {
    channel.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether Slack timestamp `ts` is later than `oldest` (both "<seconds>.<micro>").
fn is_after(ts: &str, oldest: &str) -> bool {
    let value = |text: &str| text.parse::<f64>().unwrap_or(0.0);
    value(ts) > value(oldest)
}

/// The arguments of a `conversations.*` read, from its query string.
struct Query {
    ts: Option<String>,
    oldest: Option<String>,
    cursor: usize,
    limit: usize,
    metadata: bool,
}

impl Query {
    fn of(request: &RecordedRequest) -> Query {
        let query = request.path.split_once('?').map_or("", |(_, query)| query);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let get = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        Query {
            ts: get("ts"),
            oldest: get("oldest"),
            cursor: get("cursor").and_then(|cursor| cursor.parse().ok()).unwrap_or(0),
            limit: get("limit").and_then(|limit| limit.parse().ok()).filter(|limit| *limit > 0).unwrap_or(100),
            metadata: get("include_all_metadata").is_some_and(|flag| flag == "true" || flag == "1"),
        }
    }

    /// One page of `found` from the cursor on, with the next cursor while more remain.
    fn page(&self, found: &[&Message]) -> Reply {
        let page: Vec<Value> = found
            .iter()
            .skip(self.cursor)
            .take(self.limit)
            .map(|message| {
                let mut shown = json!({"type": "message", "ts": message.ts, "text": message.body["text"]});
                if let Some(thread_ts) = &message.thread_ts {
                    shown["thread_ts"] = json!(thread_ts);
                }
                if self.metadata && !message.body["metadata"].is_null() {
                    shown["metadata"] = message.body["metadata"].clone();
                }
                shown
            })
            .collect();
        let next = self.cursor + page.len();
        let has_more = next < found.len();
        let cursor = if has_more { next.to_string() } else { String::new() };
        Reply::json(
            200,
            json!({"ok": true, "messages": page, "has_more": has_more, "response_metadata": {"next_cursor": cursor}}),
        )
    }
}
