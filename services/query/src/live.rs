//! `GET /events`: the dashboard's live feed, as server-sent events.
//!
//! One task per query replica follows the events stream (XREAD, no consumer group: every replica
//! sees every event) and fans the events out to the connected pages through a broadcast channel.
//! Events are passed on as the JSON they travelled as, not decoded. With no page connected it
//! reads no entries, only where the stream ends.
//! Each message carries the stream entry id as its SSE `id`, so a page that lost its connection
//! comes back with `Last-Event-ID` and gets what it missed from the stream itself (XRANGE). When
//! that is impossible (trimmed away, more than `LIVE_MAX_REPLAY` events, Redis down, this
//! connection fell behind the broadcast) the page is told `reset` and reloads its lists from the
//! API instead. Whether a replay fits is known from one bounded read before anything is sent, so a
//! page far behind costs one read of `LIVE_MAX_REPLAY` + 1 entries, not a long replay.
//!
//! A token holds at most `LIVE_MAX_CONNECTIONS_PER_TOKEN` connections at once on a replica; the
//! next one is answered 429 until one of them closes.
//!
//! The wire format, for the page:
//!
//! ```text
//! retry: 2000
//! event: ready          sent once the connection is set up
//! data: {}
//!
//! id: 1764201234567-0
//! event: incident       one per incident event, data is the IncidentEvent JSON
//! data: {"id":"…","kind":"acknowledged","at":"…","actor":"…","incident":{…},"detail":{}}
//!
//! event: reset          what was missed cannot be replayed; reload the lists
//! data: {"reason":"too_far_behind"}   or unknown_id, trimmed, unavailable, fell_behind
//!
//! : keep-alive          every 15 s, so proxies do not close an idle connection
//! ```

use crate::State;
use crate::config::LiveLimits;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tocsin_bus::{Bus, Stream, Verbatim, entry_id_before, parse_entry_id};
use tocsin_domain::IncidentEvent;
use tocsin_runtime::ApiError;
use tocsin_runtime::auth;
use tocsin_runtime::openapi::ErrorBody;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Events a connection may fall behind the feed before it is told to reset.
const BROADCAST_CAPACITY: usize = 4096;
/// What a page refused for too many connections is told to wait before it tries again.
const RETRY_CONNECTION_AFTER_SECS: u64 = 5;
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long the follower's XREAD waits for new entries before asking again.
const FOLLOW_BLOCK: Duration = Duration::from_secs(5);
/// With no page connected, how often the follower moves to the stream's newest entry.
const IDLE_FOLLOW: Duration = Duration::from_secs(1);

/// One event as it goes out: the stream entry id and the event's JSON.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    entry_id: String,
    data: String,
}

impl LiveEvent {
    fn new(entry_id: String, event: &Verbatim<IncidentEvent>) -> LiveEvent {
        LiveEvent { entry_id, data: event.json().to_owned() }
    }

    fn frame(&self) -> Bytes {
        Bytes::from(format!("id: {}\nevent: incident\ndata: {}\n\n", self.entry_id, self.data))
    }
}

/// The fan-out point shared by every connection of this replica.
#[derive(Clone)]
pub(crate) struct LiveFeed {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    clients: Gauge,
    /// Rung when a page connects, so an idle follower starts reading at once.
    page_connected: Arc<Notify>,
    limits: LiveLimits,
    /// Open connections by token name; a name leaves the map with its last connection.
    open_by_token: Arc<Mutex<HashMap<Arc<str>, usize>>>,
}

impl LiveFeed {
    pub fn new(clients: Gauge, limits: LiveLimits) -> LiveFeed {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        LiveFeed { sender, clients, page_connected: Arc::new(Notify::new()), limits, open_by_token: Arc::default() }
    }

    /// A place for one more connection of `token`, or `None` when it holds as many as it may.
    fn admit(&self, token: Arc<str>) -> Option<Admission> {
        let mut open = self.open_by_token.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(token.clone()).or_insert(0);
        if *count >= self.limits.max_connections_per_token {
            return None;
        }
        *count += 1;
        Some(Admission { token, open_by_token: self.open_by_token.clone() })
    }

    /// Follows the events stream until shutdown. Starts at the stream's newest entry: what came
    /// before is in PostgreSQL, which a page reads first. After a Redis outage it resumes where it
    /// stopped, so connected pages miss nothing that is still on the stream.
    pub async fn follow(self, bus: Bus, shutdown: CancellationToken) {
        let mut after = loop {
            match bus.last_entry_id(Stream::Events).await {
                Ok(last) => break last.unwrap_or_else(|| "0-0".to_owned()),
                Err(error) => {
                    tracing::warn!(%error, "the live feed cannot read the events stream yet");
                    if pause(&shutdown, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        };
        while !shutdown.is_cancelled() {
            if self.sender.receiver_count() == 0 {
                // Nobody watching: keep up with the stream's end without reading its entries.
                // A replica nobody looks at, the usual case at night, then costs Redis and itself
                // nothing per event. A page that connects gets what follows, give or take a
                // second it already has from the API (events apply by incident version).
                tokio::select! {
                    _ = self.page_connected.notified() => {}
                    _ = tokio::time::sleep(IDLE_FOLLOW) => {}
                    _ = shutdown.cancelled() => return,
                }
                if self.sender.receiver_count() == 0
                    && let Ok(Some(last)) = bus.last_entry_id(Stream::Events).await
                {
                    after = last;
                }
                continue;
            }
            let page = tokio::select! {
                page = bus.read_after::<Verbatim<IncidentEvent>>(Stream::Events, &after, 500, FOLLOW_BLOCK) => page,
                _ = shutdown.cancelled() => return,
            };
            match page {
                Ok(page) => {
                    for entry in page.entries {
                        // Every page may have gone since the read: then this goes nowhere.
                        let _ = self.sender.send(Arc::new(LiveEvent::new(entry.entry_id, &entry.envelope.payload)));
                    }
                    if let Some(last) = page.last_id {
                        after = last;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the live feed lost the events stream; retrying");
                    if pause(&shutdown, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        }
    }
}

/// One open connection counted against its token; dropping it, when the connection ends however
/// it ends, gives the place back.
struct Admission {
    token: Arc<str>,
    open_by_token: Arc<Mutex<HashMap<Arc<str>, usize>>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.open_by_token.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

/// Sleeps, and says whether shutdown came first.
async fn pause(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.cancelled() => true,
    }
}

#[utoipa::path(
    get,
    path = "/events",
    params(("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received, to replay what was missed")),
    responses(
        (status = 200, description = "A text/event-stream of incident events (see docs/api.md)", content_type = "text/event-stream"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 429, description = "The token already holds as many live connections as `LIVE_MAX_CONNECTIONS_PER_TOKEN` allows", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn events(request: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    // The auth middleware in front of this route put the caller there.
    let token = auth::caller(&request).map_or_else(|| Arc::from("unknown"), |caller| caller.token_name);
    let Some(admission) = state.live.admit(token.clone()) else {
        let max = state.live.limits.max_connections_per_token;
        tracing::debug!(token.name = %token, max, "live feed connection refused: too many for the token");
        return Err(ApiError::rate_limited(
            format!(
                "the token `{token}` already holds {max} live feed connections, the most \
                 LIVE_MAX_CONNECTIONS_PER_TOKEN allows; close another tab or screen using it, or give it a token of its own"
            ),
            RETRY_CONNECTION_AFTER_SECS,
        ));
    };
    let last_event_id = request
        .headers()
        .get("Last-Event-ID")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned);
    // Subscribe before replaying, so nothing falls between the replay and the live part.
    let receiver = state.live.sender.subscribe();
    state.live.page_connected.notify_one();
    let (frames, outgoing) = mpsc::channel::<Bytes>(64);
    let connection = Connection {
        bus: state.bus.clone(),
        frames,
        clients: state.live.clients.clone(),
        max_replay: state.live.limits.max_replay,
        shutdown: state.shutdown.clone(),
        _admission: admission,
    };
    tokio::spawn(connection.serve(last_event_id, receiver));
    let body = tokio_stream_of(outgoing).map(Ok::<_, std::convert::Infallible>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx (the usual ingress) not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn tokio_stream_of(mut receiver: mpsc::Receiver<Bytes>) -> impl futures_util::Stream<Item = Bytes> {
    futures_util::stream::poll_fn(move |context| receiver.poll_recv(context))
}

struct Connection {
    bus: Bus,
    frames: mpsc::Sender<Bytes>,
    clients: Gauge,
    max_replay: usize,
    shutdown: CancellationToken,
    /// Held for as long as the connection lives.
    _admission: Admission,
}

/// Why a connection ends early: the page went away.
struct Gone;

impl Connection {
    async fn serve(self, last_event_id: Option<String>, receiver: broadcast::Receiver<Arc<LiveEvent>>) {
        self.clients.inc();
        let _ = self.run(last_event_id, receiver).await;
        self.clients.dec();
    }

    async fn run(
        &self,
        last_event_id: Option<String>,
        mut receiver: broadcast::Receiver<Arc<LiveEvent>>,
    ) -> Result<(), Gone> {
        self.send(Bytes::from_static(b"retry: 2000\nevent: ready\ndata: {}\n\n")).await?;
        let mut sent_up_to = match last_event_id {
            Some(last) => self.replay_after(last).await?,
            None => None,
        };
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => {
                        let newer = sent_up_to.as_deref().is_none_or(|sent| entry_id_before(sent, &event.entry_id));
                        if newer {
                            self.send(event.frame()).await?;
                            sent_up_to = Some(event.entry_id.clone());
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "a live connection fell behind; telling the page to reload");
                        self.send(reset(Reset::FellBehind)).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = keep_alive.tick() => self.send(Bytes::from_static(b": keep-alive\n\n")).await?,
                _ = self.frames.closed() => return Err(Gone),
                _ = self.shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Replays what a reconnecting page missed after `last`, and returns the id it is now up to.
    /// Sends `reset` instead, and replays nothing, when the stream cannot give all of it or it is
    /// more than `max_replay` events.
    async fn replay_after(&self, last: String) -> Result<Option<String>, Gone> {
        if parse_entry_id(&last).is_none() {
            self.send(reset(Reset::UnknownId)).await?;
            return Ok(None);
        }
        match self.bus.first_entry_id(Stream::Events).await {
            // Entries after `last` were trimmed away: the gap cannot be replayed.
            Ok(Some(first)) if entry_id_before(&last, &first) => {
                self.send(reset(Reset::Trimmed)).await?;
                return Ok(None);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot replay missed events; telling the page to reload");
                self.send(reset(Reset::Unavailable)).await?;
                return Ok(None);
            }
        }
        // Reading one more than may be replayed says whether the page is too far behind, before
        // anything is sent; what is read is bounded by the setting. (Entries that do not decode
        // are skipped by the read and not counted, hence the loop.)
        let mut missed = Vec::new();
        let mut after = last;
        loop {
            let room = self.max_replay + 1 - missed.len();
            let page = match self.bus.range_after::<Verbatim<IncidentEvent>>(Stream::Events, &after, room).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "cannot replay missed events; telling the page to reload");
                    self.send(reset(Reset::Unavailable)).await?;
                    return Ok(None);
                }
            };
            let Some(page_last) = page.last_id else { break };
            missed.extend(page.entries);
            after = page_last;
            if missed.len() > self.max_replay {
                tracing::debug!(max_replay = self.max_replay, "a page missed too much to replay; telling it to reload");
                self.send(reset(Reset::TooFarBehind)).await?;
                return Ok(None);
            }
        }
        for entry in &missed {
            self.send(LiveEvent::new(entry.entry_id.clone(), &entry.envelope.payload).frame()).await?;
        }
        Ok(Some(after))
    }

    async fn send(&self, frame: Bytes) -> Result<(), Gone> {
        self.frames.send(frame).await.map_err(|_| Gone)
    }
}

/// Why a page must reload instead of being brought up to date, said in the `reset` event's data.
#[derive(Debug, Clone, Copy)]
enum Reset {
    /// `Last-Event-ID` is not a stream entry id.
    UnknownId,
    /// The stream no longer holds the events after it.
    Trimmed,
    /// More events were missed than `LIVE_MAX_REPLAY`.
    TooFarBehind,
    /// Redis could not be read.
    Unavailable,
    /// This connection fell behind the live events.
    FellBehind,
}

fn reset(why: Reset) -> Bytes {
    let reason = match why {
        Reset::UnknownId => "unknown_id",
        Reset::Trimmed => "trimmed",
        Reset::TooFarBehind => "too_far_behind",
        Reset::Unavailable => "unavailable",
        Reset::FellBehind => "fell_behind",
    };
    Bytes::from(format!("event: reset\ndata: {{\"reason\":\"{reason}\"}}\n\n"))
}
