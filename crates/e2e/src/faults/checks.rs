//! After a fault: wait until the stack has worked through everything, then check that every
//! alert sent is in exactly one incident and that every event became exactly one Slack message.

use super::FaultStack;
use super::burst::{Outcome, Sender};
use super::slack::Message;
use redis::AsyncCommands;
use redis::streams::StreamRangeReply;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tocsin_storage::integrity::ORPHANED_ROWS;

/// How long the stack may take to work through its backlog once the fault is over.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What the test sent.
pub struct Expected {
    /// The `instance` label of every distinct alert sent (each alert has its own).
    pub instances: BTreeSet<String>,
    /// The `service` labels: one correlation key, so one incident, each.
    pub services: BTreeSet<String>,
    /// Webhooks the test's sender posted, and the alert reports in them (repeats included).
    pub webhooks: usize,
    pub reports: usize,
}

/// The figures of one fault, as docs/reliability.md lists them.
#[derive(Debug)]
pub struct Figures {
    pub fault: String,
    pub alerts: usize,
    pub reports: usize,
    pub webhooks: usize,
    pub attempts: usize,
    pub retried: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    pub incidents: usize,
    pub events: usize,
    pub messages: usize,
    /// `conversations.history` and `conversations.replies` calls: deliveries in doubt looked for.
    pub reads: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub seconds: f64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outcomes: Vec<String> = self.outcomes.iter().map(|(outcome, n)| format!("{outcome}: {n}")).collect();
        write!(
            f,
            "fault: {} | alerts sent: {} ({} reports in {} webhooks, {} attempts, {} webhooks retried; answers {}) | \
             incidents: {} | events: {} | Slack messages: {} ({} channel reads) | lost: {} | duplicates: {} | {:.1} s",
            self.fault,
            self.alerts,
            self.reports,
            self.webhooks,
            self.attempts,
            self.retried,
            outcomes.join(", "),
            self.incidents,
            self.events,
            self.messages,
            self.reads,
            self.lost,
            self.duplicates,
            self.seconds
        )
    }
}

/// One event from the events stream.
struct Event {
    id: String,
    incident: String,
}

impl FaultStack {
    /// Waits until every alert is applied, every event relayed and every notification sent, then
    /// checks exactly-once end to end and returns the figures; panics naming what is missing or
    /// doubled.
    pub async fn settle(&self, fault: &str, expected: &Expected, sender: &Sender) -> Figures {
        self.wait_settled().await;

        // Every alert in exactly one incident; one incident per correlation key.
        let rows =
            self.sql("SELECT labels->>'instance', count(*), count(DISTINCT incident_id) FROM alerts GROUP BY 1").await;
        let mut stored: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for row in &rows {
            let number = |i: usize| row.get(i).cloned().flatten().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
            stored.insert(row.first().cloned().flatten().unwrap_or_default(), (number(1), number(2)));
        }
        let lost_alerts: Vec<&String> = expected.instances.iter().filter(|i| !stored.contains_key(*i)).collect();
        let doubled_alerts: Vec<(&String, &(i64, i64))> =
            stored.iter().filter(|(_, (rows, incidents))| *rows != 1 || *incidents != 1).collect();
        let unexpected: Vec<&String> = stored.keys().filter(|i| !expected.instances.contains(*i)).collect();
        assert!(
            lost_alerts.is_empty() && doubled_alerts.is_empty() && unexpected.is_empty(),
            "{fault}: alerts lost: {lost_alerts:?}; stored more than once or in several incidents \
             (rows, incidents): {doubled_alerts:?}; never sent: {unexpected:?}"
        );
        let keys = self
            .sql("SELECT service, count(*) FROM incidents GROUP BY service, environment, severity ORDER BY 1")
            .await;
        let per_key: BTreeMap<String, i64> = keys
            .iter()
            .map(|row| {
                let n = row.get(1).cloned().flatten().and_then(|n| n.parse().ok()).unwrap_or(0);
                (row.first().cloned().flatten().unwrap_or_default(), n)
            })
            .collect();
        let services: BTreeSet<String> = per_key.keys().cloned().collect();
        assert!(
            services == expected.services && per_key.values().all(|n| *n == 1),
            "{fault}: one incident per correlation key expected for {:?}; incidents per service: {per_key:?}",
            expected.services
        );
        let incidents = self.count("SELECT count(*) FROM incidents").await as usize;
        let counted = self.count("SELECT coalesce(sum(alert_count), 0) FROM incidents").await as usize;
        assert_eq!(counted, expected.instances.len(), "{fault}: the incidents' alert counts add up to the alerts sent");
        let orphans = self.sql(ORPHANED_ROWS).await;
        assert!(
            orphans.len() == 1 && orphans[0].iter().all(|count| count.as_deref() == Some("0")),
            "{fault}: rows without their incident (alerts, timeline entries, pages, escalations): {orphans:?}"
        );
        self.check_query_api(fault, incidents, counted).await;

        // Every event exactly once on the channel.
        let events = self.events().await;
        let timeline = self.count("SELECT count(*) FROM timeline_entries").await as usize;
        assert_eq!(events.len(), timeline, "{fault}: every change (timeline entry) has its event on the stream");
        let messages = self.slack.messages();
        let (lost, duplicates) = check_messages(fault, &events, &messages);

        for stream in ["alerts", "commands", "events", "notifications"] {
            let key = tocsin_bus::dead_letter_key(&tocsin_bus::BusSettings::default().prefix, stream);
            let dead: u64 = self.redis_connection().await.xlen(&key).await.unwrap_or(0);
            assert_eq!(dead, 0, "{fault}: nothing is dead-lettered, but {key} holds {dead}");
        }

        let outcomes = sender.outcomes();
        let errors: Vec<(&Outcome, &usize)> = outcomes
            .iter()
            .filter(|(outcome, _)| matches!(outcome, Outcome::Status(s) if *s >= 500 && *s != 503))
            .collect();
        assert!(
            errors.is_empty(),
            "{fault}: ingest answers 503 when it cannot take a webhook, never another 5xx: {errors:?}"
        );
        assert_eq!(sender.accepted(), expected.webhooks, "{fault}: every webhook was eventually accepted");

        Figures {
            fault: fault.to_owned(),
            alerts: expected.instances.len(),
            reports: expected.reports,
            webhooks: expected.webhooks,
            attempts: outcomes.values().sum(),
            retried: sender.retried().len(),
            outcomes,
            incidents,
            events: events.len(),
            messages: messages.len(),
            reads: self.slack.calls("conversations.history").len() + self.slack.calls("conversations.replies").len(),
            lost,
            duplicates,
            seconds: self.elapsed().as_secs_f64(),
        }
    }

    /// Until incident-core has applied and relayed everything and the notifier has sent it all.
    async fn wait_settled(&self) {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let alerts =
                tocsin_testkit::group_lag(&self.redis.url(), &super::stream_key("alerts"), "incident-core").await;
            let events = tocsin_testkit::group_lag(&self.redis.url(), &super::stream_key("events"), "notifier").await;
            let outbox = self.count("SELECT count(*) FROM outbox").await;
            let unsent = self.count("SELECT count(*) FROM notification_deliveries WHERE status <> 'sent'").await;
            let relayed = self.events().await.len() as i64;
            let changes = self.count("SELECT count(*) FROM timeline_entries").await;
            let recorded = self.count("SELECT count(DISTINCT event_id) FROM notification_deliveries").await;
            let drained = |lag: (Option<u64>, Option<u64>)| lag == (Some(0), Some(0));
            if drained(alerts)
                && drained(events)
                && outbox == 0
                && unsent == 0
                && relayed == changes
                && recorded == changes
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stack did not settle within {SETTLE_TIMEOUT:?}: alerts (lag, pending) {alerts:?}, events \
                 (lag, pending) {events:?}, outbox rows {outbox}, deliveries not sent {unsent}, changes {changes}, \
                 events on the stream {relayed}, events with deliveries {recorded}; logs in {}",
                self.dir().display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The distinct events on the events stream (the relay may publish one twice; the notifier
    /// dedupes by id).
    async fn events(&self) -> Vec<Event> {
        let mut connection = self.redis_connection().await;
        let reply: StreamRangeReply =
            connection.xrange_all(super::stream_key("events")).await.expect("XRANGE on the events stream");
        let mut seen = BTreeSet::new();
        let mut events = Vec::new();
        for entry in reply.ids {
            let text: String = entry.get("envelope").unwrap_or_default();
            let envelope: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let id = envelope["id"].as_str().unwrap_or_default().to_owned();
            let incident = envelope["payload"]["incident"]["id"].as_str().unwrap_or_default().to_owned();
            if seen.insert(id.clone()) {
                events.push(Event { id, incident });
            }
        }
        events
    }

    /// The query API shows the same incidents and alert counts as the database.
    async fn check_query_api(&self, fault: &str, incidents: usize, alerts: usize) {
        let response = self
            .http
            .get(format!("{}/incidents?limit=500", self.query.url()))
            .bearer_auth(crate::API_TOKEN)
            .send()
            .await
            .expect("GET /incidents");
        let page: serde_json::Value = response.json().await.unwrap_or_default();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let listed: i64 = items.iter().filter_map(|item| item["alert_count"].as_i64()).sum();
        assert_eq!(items.len(), incidents, "{fault}: GET /incidents lists every incident: {page}");
        assert_eq!(listed as usize, alerts, "{fault}: GET /incidents counts every alert once");
    }
}

/// Each incident has one message in the channel, and each event is one post: the incident's
/// message for its first event, one reply in that message's thread for every later one. Returns
/// (lost, duplicates); panics listing them when there are any.
fn check_messages(fault: &str, events: &[Event], messages: &[Message]) -> (usize, usize) {
    // A post's event: from the metadata the notifier attaches.
    let mut posts_per_event: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unknown = Vec::new();
    for message in messages {
        match message.payload()["event_id"].as_str() {
            Some(event) => *posts_per_event.entry(event).or_default() += 1,
            None => unknown.push(message.ts.clone()),
        }
    }
    let lost: Vec<&str> = events.iter().map(|e| e.id.as_str()).filter(|id| !posts_per_event.contains_key(id)).collect();
    let doubled: Vec<(&str, usize)> =
        posts_per_event.iter().filter(|(_, posts)| **posts > 1).map(|(id, posts)| (*id, *posts)).collect();

    // The same from the channel's shape, without the metadata: the incident of a message is in its
    // buttons, the incident of a reply is its parent's.
    let mut incident_of_ts: BTreeMap<&str, String> = BTreeMap::new();
    let mut roots: BTreeMap<String, usize> = BTreeMap::new();
    let mut replies: BTreeMap<String, usize> = BTreeMap::new();
    for message in messages.iter().filter(|m| m.thread_ts.is_none()) {
        let incident = button_value(&message.body).unwrap_or_default();
        incident_of_ts.insert(&message.ts, incident.clone());
        *roots.entry(incident).or_default() += 1;
    }
    for message in messages.iter().filter_map(|m| m.thread_ts.as_deref()) {
        let incident = incident_of_ts.get(message).cloned().unwrap_or_default();
        *replies.entry(incident).or_default() += 1;
    }
    let mut events_per_incident: BTreeMap<&str, usize> = BTreeMap::new();
    for event in events {
        *events_per_incident.entry(&event.incident).or_default() += 1;
    }
    let shape: Vec<String> = events_per_incident
        .iter()
        .filter_map(|(incident, events)| {
            let (root, reply) =
                (roots.get(*incident).copied().unwrap_or(0), replies.get(*incident).copied().unwrap_or(0));
            (root != 1 || reply + 1 != *events)
                .then(|| format!("incident {incident}: {events} events, {root} messages, {reply} replies"))
        })
        .collect();
    assert!(
        lost.is_empty() && doubled.is_empty() && unknown.is_empty() && shape.is_empty(),
        "{fault}: every event must be exactly one Slack post. Events never posted: {lost:?}; events posted \
         more than once (event, posts): {doubled:?}; posts without an event id: {unknown:?}; per incident: {shape:?}"
    );
    (lost.len(), doubled.len())
}

/// The incident id the message's buttons carry.
fn button_value(body: &serde_json::Value) -> Option<String> {
    body["blocks"]
        .as_array()?
        .iter()
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .find_map(|element| element["value"].as_str().map(str::to_owned))
}
