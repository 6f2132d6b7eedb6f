//! People fixing incidents (docs/noise.md, "Incidents people can fix"), against a real PostgreSQL
//! and, for redelivery, a real incident-core process reading a real Redis stream: a note and an
//! edit each leave one timeline entry and one event however often their command arrives, an edit
//! that changes nothing leaves neither, and a later alert leaves a person's title and severity as
//! they set them.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::time::Duration;
use support::{count, firing_alert, start_core};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::{Action, Command, CommandOutcome, Declaration, EventKind, Incident, Severity, TimelineEntry};
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts, apply_command};
use tocsin_storage::{outbox, reads};
use tocsin_testkit::{TestDatabase, TestRedis};
use uuid::Uuid;

mod support;

/// A warning incident of `checkout-api`, opened by one alert now; returns its id.
async fn warning_incident(conn: &mut AsyncPgConnection, fingerprint: &str) -> Uuid {
    let report = firing_alert(fingerprint.into(), "checkout-api", "warning", OffsetDateTime::now_utc());
    let settings = IntakeSettings::default();
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&report], &[], &settings, OffsetDateTime::now_utc()).await)
        .await
        .expect("apply_alerts");
    batch.outcomes[0].incident_id.expect("the incident's id")
}

fn command(incident_id: Uuid, action: Action) -> Command {
    Command {
        id: Uuid::now_v7(),
        incident_id,
        action,
        actor: "ana@example.com".into(),
        requested_at: OffsetDateTime::now_utc(),
    }
}

async fn apply(conn: &mut AsyncPgConnection, command: &Command) -> Incident {
    let (outcome, _) = conn
        .transaction(async |conn| apply_command(conn, command, None, OffsetDateTime::now_utc()).await)
        .await
        .expect("apply_command");
    match outcome {
        CommandOutcome::Applied { incident } => *incident,
        rejected => panic!("{rejected:?}"),
    }
}

async fn timeline_of(conn: &mut AsyncPgConnection, incident_id: Uuid, kind: EventKind) -> Vec<TimelineEntry> {
    let detail = reads::incident_detail(conn, incident_id).await.expect("reading").expect("the incident");
    detail.timeline.into_iter().filter(|entry| entry.kind == kind).collect()
}

/// The events in the outbox of `kind`, as (actor, detail), oldest first.
async fn events_of(conn: &mut AsyncPgConnection, kind: EventKind) -> Vec<(String, serde_json::Value)> {
    let pending = conn.transaction(async |conn| outbox::lock_pending(conn, 100).await).await.expect("transaction");
    pending
        .into_iter()
        .flat_map(|row| row.events().expect("events"))
        .map(|event| serde_json::from_str::<tocsin_domain::IncidentEvent>(event.payload.get()).expect("an event"))
        .filter(|event| event.kind == kind)
        .map(|event| (event.actor, event.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_is_one_timeline_entry_and_one_event_however_often_it_arrives() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let incident_id = warning_incident(&mut conn, "fp-note").await;
    let text = "Rolled back **v2.3**; see <https://status.example.com>";
    let note = command(incident_id, Action::Note { text: text.into() });
    let first = apply(&mut conn, &note).await;
    let again = apply(&mut conn, &note).await;
    assert_eq!(again, first, "a redelivered note is answered from its recorded outcome");
    assert_eq!(first.version, 2, "a note moves the version once");

    let entries = timeline_of(&mut conn, incident_id, EventKind::NoteAdded).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "ana@example.com");
    assert_eq!(entries[0].detail, serde_json::json!({ "text": text }));
    assert_eq!(entries[0].status, None);
    assert_eq!(
        events_of(&mut conn, EventKind::NoteAdded).await,
        [("ana@example.com".to_owned(), serde_json::json!({ "text": text }))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_records_what_changed_and_a_later_alert_keeps_it() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let incident_id = warning_incident(&mut conn, "fp-edit").await;
    let edit = command(
        incident_id,
        Action::Edit { title: Some("Checkout down in eu-west-1".into()), severity: Some(Severity::Critical) },
    );
    let edited = apply(&mut conn, &edit).await;
    assert_eq!((edited.title.as_str(), edited.severity), ("Checkout down in eu-west-1", Severity::Critical));
    assert_eq!(apply(&mut conn, &edit).await, edited, "redelivered: the recorded outcome");
    let expected = serde_json::json!({
        "title": { "from": "HighLatency", "to": "Checkout down in eu-west-1" },
        "severity": { "from": "warning", "to": "critical" },
    });
    let entries = timeline_of(&mut conn, incident_id, EventKind::Edited).await;
    assert_eq!(entries.iter().map(|entry| &entry.detail).collect::<Vec<_>>(), [&expected]);
    assert_eq!(events_of(&mut conn, EventKind::Edited).await, [("ana@example.com".to_owned(), expected)]);

    // The same values again: nothing to record.
    let unchanged = apply(
        &mut conn,
        &command(incident_id, Action::Edit { title: Some("Checkout down in eu-west-1".into()), severity: None }),
    )
    .await;
    assert_eq!(unchanged.version, edited.version);
    assert_eq!(timeline_of(&mut conn, incident_id, EventKind::Edited).await.len(), 1);

    // Another alert of the same key (its labels still say warning) joins the edited incident and
    // changes neither its title nor its severity.
    let later = firing_alert("fp-edit-2".into(), "checkout-api", "warning", OffsetDateTime::now_utc());
    let settings = IntakeSettings::default();
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&later], &[], &settings, OffsetDateTime::now_utc()).await)
        .await
        .expect("apply_alerts");
    assert_eq!(batch.outcomes[0].incident_id, Some(incident_id), "joined the edited incident");
    let now = reads::incident(&mut conn, incident_id).await.expect("reading").expect("the incident");
    assert_eq!(
        (now.title.as_str(), now.severity, now.alert_count),
        ("Checkout down in eu-west-1", Severity::Critical, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_delivered_twice_on_the_stream_are_applied_once_by_the_running_service() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let incident_id = {
        let mut conn = db.connection().await;
        warning_incident(&mut conn, "fp-stream").await
    };
    let mut core = start_core(&db, &redis, "core-edits", Vec::<(&str, &str)>::new());
    let bus = Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect");
    let note = command(incident_id, Action::Note { text: "on it".into() });
    let edit = command(incident_id, Action::Edit { title: None, severity: Some(Severity::High) });
    // Each command twice, as a publisher retrying after a lost answer would send it.
    let envelopes: Vec<Envelope<Command>> = [&note, &edit, &note, &edit]
        .into_iter()
        .map(|command| Envelope::new(command.clone()).with_id(command.id))
        .collect();
    bus.publish(Stream::Commands, &envelopes).await.expect("publish the commands");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) AS n FROM command_outcomes").await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "incident-core applied the commands");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the duplicates their turn before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    core.kill().await.expect("killing");
    let timeline = |kind: &str| format!("SELECT count(*) AS n FROM timeline_entries WHERE kind = '{kind}'");
    assert_eq!(count(&db, &timeline("note_added")).await, 1);
    assert_eq!(count(&db, &timeline("edited")).await, 1);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM incidents WHERE severity = 'high' AND version = 3").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_incident_opens_once_without_alerts_and_starts_its_escalation() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let declaration = Declaration {
        title: "Checkout failing for card payments".into(),
        severity: Severity::Critical,
        service: "checkout-api".into(),
        environment: "production".into(),
        team: "payments".into(),
        summary: Some("Support reports failures since 14:02".into()),
    };
    let declare = command(Uuid::now_v7(), Action::Declare(declaration));
    let opened = apply(&mut conn, &declare).await;
    assert_eq!(apply(&mut conn, &declare).await, opened, "redelivered: the recorded outcome, no second incident");
    assert_eq!(
        (opened.id, opened.title.as_str(), opened.team.as_str(), opened.alert_count, opened.version),
        (declare.incident_id, "Checkout failing for card payments", "payments", 0, 1)
    );
    let entries = timeline_of(&mut conn, opened.id, EventKind::Opened).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].actor.as_str(), entries[0].status),
        ("ana@example.com", Some(tocsin_domain::IncidentStatus::Open))
    );
    let summary = serde_json::json!({"declared": true, "summary": "Support reports failures since 14:02"});
    assert_eq!(events_of(&mut conn, EventKind::Opened).await, [("ana@example.com".to_owned(), summary)]);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM incidents").await, 1);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM incident_escalations WHERE epoch = 1").await,
        1,
        "its escalation started"
    );

    // An alert of the same service and severity opens its own incident: a declared one has a key of its own.
    let alert = firing_alert("fp-after-declare".into(), "checkout-api", "critical", OffsetDateTime::now_utc());
    let settings = IntakeSettings::default();
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&alert], &[], &settings, OffsetDateTime::now_utc()).await)
        .await
        .expect("apply_alerts");
    assert!(batch.outcomes[0].opened_incident && batch.outcomes[0].incident_id != Some(opened.id));
}
