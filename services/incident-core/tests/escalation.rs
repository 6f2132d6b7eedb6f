//! The escalation engine against a real PostgreSQL under a controllable clock: incidents are
//! opened, acknowledged, resolved and reopened through incident-core's own code paths (the alert
//! intake and the commands), and `fire_due` is called at the instants each test chooses. Each test
//! says what the issue asks of paging: the first step at once, nothing before a delay, an
//! acknowledgement stopping it at any point, the acknowledge timeout, resolve and reopen, repeats
//! running out, a policy edited mid-flight, an hour of downtime, nobody on call, a team's
//! responders, working hours; and that the engine never waits on an incident's row, which an
//! acknowledgement holds while it waits on the escalation's.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;
use std::time::Duration as StdDuration;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tocsin_domain::escalation::Target;
use tocsin_domain::roles::Role;
use tocsin_domain::{Action, Command, CommandOutcome, PageUrgency, Paged, Severity};
use tocsin_incident_core::escalation::{EscalationMetrics, FiredSummary, fire_due};
use tocsin_incident_core::incidents::{IntakeSettings, StatusChange, apply_alerts, apply_command};
use tocsin_storage::escalation::{self, PolicyDefinition};
use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};
use tocsin_storage::people::{self, SignedInIdentity};
use tocsin_storage::schedules::{self, NewLayerVersion};
use tocsin_storage::{StorageError, catalogue, teams};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

mod support;

use support::{T0, minutes};

/// The team `payments` with its people: alice and bob respond, carol manages, dave only views.
struct World {
    db: TestDatabase,
    conn: AsyncPgConnection,
    team: Uuid,
    alice: Uuid,
    bob: Uuid,
    carol: Uuid,
    dave: Uuid,
}

async fn person(conn: &mut AsyncPgConnection, name: &str) -> tocsin_storage::people::UserRow {
    let email = format!("{name}@example.com");
    let identity =
        SignedInIdentity { issuer: "https://login.example.com", subject: name, name, email: Some(email.as_str()) };
    people::sign_in_user(conn, &identity).await.expect("sign_in_user")
}

async fn world() -> World {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    catalogue::set_owner(&mut conn, "checkout-api", "payments", "test").await.expect("set_owner");
    let team = teams::team(&mut conn, "payments").await.expect("team").expect("the team payments");
    let mut ids = Vec::new();
    for (name, role) in
        [("alice", Role::Responder), ("bob", Role::Responder), ("carol", Role::Manager), ("dave", Role::Viewer)]
    {
        let user = person(&mut conn, name).await;
        teams::set_member(&mut conn, &team, &user, role, "test", false).await.expect("set_member");
        ids.push(user.id);
    }
    World { db, conn, team: team.id, alice: ids[0], bob: ids[1], carol: ids[2], dave: ids[3] }
}

impl World {
    /// Stores `definition` as a new version of the team's policy (created on first use) and makes
    /// it the team's.
    async fn policy(&mut self, definition: serde_json::Value) -> Uuid {
        let existing: Option<Uuid> =
            diesel::dsl::sql::<Nullable<SqlUuid>>("SELECT escalation_policy_id FROM teams WHERE slug = 'payments'")
                .get_result(&mut self.conn)
                .await
                .expect("the team's policy");
        let policy = match existing {
            Some(policy) => policy,
            None => {
                let policy =
                    escalation::create_policy(&mut self.conn, self.team, "payments").await.expect("create_policy");
                escalation::set_team_policy(&mut self.conn, self.team, Some(policy)).await.expect("set_team_policy");
                policy
            }
        };
        let definition: PolicyDefinition = serde_json::from_value(definition).expect("a policy definition");
        escalation::put_version(&mut self.conn, policy, &definition, "test").await.expect("put_version");
        policy
    }

    /// A schedule of the team where `members` take daily turns from 09:00 New York time; none: a
    /// schedule with nobody on call, ever.
    async fn schedule(&mut self, members: &[Uuid]) -> Uuid {
        let name = format!("schedule-{}", Uuid::now_v7());
        let id = schedules::create(&mut self.conn, self.team, &name, "America/New_York").await.expect("create");
        if !members.is_empty() {
            let layer = NewLayerVersion {
                schedule_id: id,
                layer: Uuid::now_v7(),
                priority: 0,
                time_zone: None,
                first_handoff: datetime!(2026-11-01 09:00),
                shift_unit: "days",
                shift_count: 1,
                restrictions: json!([]),
                members,
                created_by: "test",
            };
            schedules::put_layer(&mut self.conn, &layer, datetime!(2026-11-01 00:00 UTC)).await.expect("put_layer");
        }
        id
    }

    /// Opens an incident of `service` (the team's) at `at` through the alert intake.
    async fn open(&mut self, service: &str, severity: &str, at: OffsetDateTime) -> Uuid {
        let report = support::firing_alert(format!("{service}-{}", Uuid::now_v7()), service, severity, at);
        let settings = IntakeSettings::default();
        let batch = self
            .conn
            .transaction(async |conn| apply_alerts(conn, &[&report], &[], &settings, at).await)
            .await
            .expect("apply_alerts");
        let outcome = &batch.outcomes[0];
        assert!(outcome.opened_incident, "the alert opened an incident");
        outcome.incident_id.expect("the incident's id")
    }

    /// Applies `action` to the incident at `at` as a person's command does.
    async fn command(&mut self, incident: Uuid, action: Action, at: OffsetDateTime) {
        let outcome = self.command_by(incident, action, "alice", at).await;
        assert!(matches!(outcome, CommandOutcome::Applied { .. }), "{outcome:?}");
    }

    async fn command_by(&mut self, incident: Uuid, action: Action, actor: &str, at: OffsetDateTime) -> CommandOutcome {
        let command =
            Command { id: Uuid::now_v7(), incident_id: incident, action, actor: actor.into(), requested_at: at };
        let (outcome, _) = self
            .conn
            .transaction(async |conn| apply_command(conn, &command, None, at).await)
            .await
            .expect("apply_command");
        outcome
    }

    /// Acknowledges the incident as `actor`, returning the status changes as the command's caller
    /// gets them once committed.
    async fn acknowledge(&mut self, incident: Uuid, actor: &str, at: OffsetDateTime) -> Vec<StatusChange> {
        let command = Command {
            id: Uuid::now_v7(),
            incident_id: incident,
            action: Action::Acknowledge,
            actor: actor.into(),
            requested_at: at,
        };
        let (outcome, changes) = self
            .conn
            .transaction(async |conn| apply_command(conn, &command, None, at).await)
            .await
            .expect("apply_command");
        assert!(matches!(outcome, CommandOutcome::Applied { .. }), "{outcome:?}");
        changes
    }

    async fn fire(&mut self, at: OffsetDateTime) -> FiredSummary {
        fire_due(&mut self.conn, at, 10_000).await.expect("fire_due")
    }

    /// The `paged` timeline entries of the incident, oldest first, checked against their outbox
    /// events: one event per entry, saying the same.
    async fn pages(&mut self, incident: Uuid) -> Vec<Paged> {
        let entries: Vec<Detail> = diesel::sql_query(
            "SELECT detail FROM timeline_entries WHERE incident_id = $1 AND kind = 'paged' ORDER BY id",
        )
        .bind::<SqlUuid, _>(incident)
        .load(&mut self.conn)
        .await
        .expect("timeline");
        let events: Vec<Detail> = diesel::sql_query(
            "SELECT e->'detail' AS detail FROM outbox o, jsonb_array_elements(o.events::jsonb) AS e \
             WHERE e->>'kind' = 'paged' AND e->'incident'->>'id' = $1::text ORDER BY o.id",
        )
        .bind::<SqlUuid, _>(incident)
        .load(&mut self.conn)
        .await
        .expect("outbox");
        assert_eq!(
            entries.iter().map(|e| &e.detail).collect::<Vec<_>>(),
            events.iter().map(|e| &e.detail).collect::<Vec<_>>(),
            "one outbox event per paged timeline entry"
        );
        let pages: Vec<Paged> =
            entries.into_iter().map(|e| serde_json::from_value(e.detail).expect("a paged detail")).collect();
        let stored = self
            .count(&format!(
                "SELECT count(DISTINCT (epoch, step, pass)) AS n FROM pages WHERE incident_id = '{incident}'"
            ))
            .await;
        assert_eq!(stored, pages.len() as i64, "one set of pages rows per step fired");
        pages
    }

    async fn count(&mut self, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut self.conn)
            .await
            .map(|c| c.n)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn next_at(&mut self, incident: Uuid) -> Option<OffsetDateTime> {
        support::escalation_next_at(&mut self.conn, incident).await
    }
}

#[derive(QueryableByName)]
struct Detail {
    #[diesel(sql_type = Jsonb)]
    detail: serde_json::Value,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Who a page reached, by id.
fn users(page: &Paged) -> Vec<Uuid> {
    page.users.iter().map(|user| user.id).collect()
}

fn two_steps(first: Target, second: Target) -> serde_json::Value {
    json!({"steps": [
        {"targets": [first], "escalate_after_minutes": 5},
        {"targets": [second], "escalate_after_minutes": 10}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_on_call_person_is_paged_at_once_and_the_next_step_only_after_its_delay() {
    let mut w = world().await;
    let schedule = w.schedule(&[w.alice]).await;
    let policy = w.policy(two_steps(Target::Schedule(schedule), Target::User(w.bob))).await;
    let incident = w.open("checkout-api", "critical", T0).await;

    let first = w.fire(T0).await;
    assert_eq!((first.paged, first.nobody, first.ran_out), (1, 0, 0));
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(users(page), vec![w.alice], "the schedule's on-call person");
    assert_eq!(page.users[0].name, "alice");
    assert_eq!(page.users[0].email.as_deref(), Some("alice@example.com"));
    assert_eq!((page.epoch, page.policy_id, page.policy_version, page.step, page.pass), (1, policy, 1, 0, 0));
    assert_eq!(page.urgency, PageUrgency::High);
    assert_eq!(page.next_at, Some(T0 + minutes(5)));
    assert!(page.unreached.is_empty() && page.channels.is_empty());

    // A tick later, and just before the delay: nothing.
    assert_eq!(w.fire(T0 + Duration::seconds(1)).await, FiredSummary::default());
    assert_eq!(w.fire(T0 + minutes(5) - Duration::milliseconds(1)).await, FiredSummary::default());
    assert_eq!(w.pages(incident).await.len(), 1);

    let second = w.fire(T0 + minutes(5)).await;
    assert_eq!((second.paged, second.ran_out), (1, 1), "the last step of the only pass");
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 2);
    assert_eq!((users(&pages[1]), pages[1].step, pages[1].next_at), (vec![w.bob], 1, None));
    assert_eq!(w.next_at(incident).await, None);
    assert_eq!(w.fire(T0 + Duration::hours(5)).await, FiredSummary::default(), "nothing after the last step");

    let timeline_actor =
        w.count("SELECT count(*) AS n FROM timeline_entries WHERE kind = 'paged' AND actor = 'tocsin'").await;
    assert_eq!(timeline_actor, 2, "the engine signs its entries");
    let orphans = orphaned_rows(&mut w.conn).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_stops_the_escalation_at_every_point() {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 5}
    ], "repeat": 1}))
        .await;

    // Before the engine's first tick, the policy not even decided yet.
    let before_any = w.open("svc-before", "critical", T0).await;
    w.command(before_any, Action::Acknowledge, T0 + Duration::seconds(1)).await;
    // After the first step.
    let after_first = w.open("svc-first", "critical", T0).await;
    // After the second step, on the second pass.
    let on_second_pass = w.open("svc-second-pass", "critical", T0).await;

    let first_tick = T0 + Duration::seconds(2);
    let at_open = w.fire(first_tick).await;
    assert_eq!((at_open.paged, at_open.decided), (2, 1), "the acknowledged one pages nobody");
    assert!(w.pages(before_any).await.is_empty());
    assert_eq!(w.next_at(before_any).await, None);

    w.command(after_first, Action::Acknowledge, T0 + minutes(3)).await;
    assert_eq!(w.fire(first_tick + minutes(5)).await.paged, 1, "only the unacknowledged one goes on");
    assert_eq!(w.pages(after_first).await.len(), 1);
    assert_eq!(w.fire(first_tick + minutes(10)).await.paged, 1, "the first step again, on the second pass");
    let pages = w.pages(on_second_pass).await;
    assert_eq!((pages[2].step, pages[2].pass), (0, 1));

    w.command(on_second_pass, Action::Acknowledge, T0 + minutes(11)).await;
    assert_eq!(w.fire(T0 + Duration::hours(3)).await, FiredSummary::default());
    for incident in [before_any, after_first, on_second_pass] {
        assert_eq!(w.next_at(incident).await, None);
    }
    assert_eq!(w.pages(after_first).await.len(), 1);
    assert_eq!(w.pages(on_second_pass).await.len(), 3);
}

/// An incident whose policy pages alice, then bob five minutes later, with a 30-minute
/// acknowledge timeout: opened at `T0`, alice paged, acknowledged at `T0 + 2 min`.
async fn acknowledged_with_a_timeout() -> (World, Uuid) {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 5}
    ], "acknowledge_timeout_minutes": 30}))
        .await;
    let incident = w.open("checkout-api", "critical", T0).await;
    assert_eq!(w.fire(T0).await.paged, 1);
    w.command(incident, Action::Acknowledge, T0 + minutes(2)).await;
    (w, incident)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_nobody_follows_up_escalates_again_from_the_first_step() {
    let (mut w, incident) = acknowledged_with_a_timeout().await;
    assert_eq!(w.next_at(incident).await, Some(T0 + minutes(32)));

    assert_eq!(w.fire(T0 + minutes(31)).await, FiredSummary::default());
    assert_eq!(w.fire(T0 + minutes(32)).await.paged, 1);
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 2);
    assert_eq!((pages[1].epoch, pages[1].step, pages[1].pass), (2, 0, 0), "a new epoch, from the first step");
    assert_eq!(users(&pages[1]), vec![w.alice]);
    assert_eq!(w.fire(T0 + minutes(37)).await.paged, 1, "and on to the next step");

    // An incident acknowledged before its policy was decided gets the timer all the same.
    let early = w.open("svc-early", "critical", T0 + minutes(40)).await;
    w.command(early, Action::Acknowledge, T0 + minutes(40)).await;
    assert_eq!(w.fire(T0 + minutes(40)).await.decided, 1);
    assert_eq!(w.next_at(early).await, Some(T0 + minutes(70)));
    assert!(w.pages(early).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_acknowledgement_is_taken_back_by_acknowledging_again() {
    let (mut w, incident) = acknowledged_with_a_timeout().await;

    // Until the timeout pages anyone, the acknowledgement holds and a second one is refused.
    let early = w.command_by(incident, Action::Acknowledge, "bob", T0 + minutes(10)).await;
    let CommandOutcome::Rejected { message, .. } = early else { panic!("{early:?}") };
    assert_eq!(message, "the incident is already acknowledged");

    assert_eq!(w.fire(T0 + minutes(32)).await.paged, 1, "the acknowledgement ran out: alice is paged again");
    let again = w.command_by(incident, Action::Acknowledge, "bob", T0 + minutes(34)).await;
    let CommandOutcome::Applied { incident: acknowledged } = again else { panic!("{again:?}") };
    assert_eq!(acknowledged.acknowledged_by.as_deref(), Some("bob"), "whoever holds it now");
    assert_eq!(acknowledged.acknowledged_at, Some(T0 + minutes(2)), "MTTA still ends at the first acknowledgement");

    // The second step is not paged, and the timeout runs again from the new acknowledgement.
    assert_eq!(w.next_at(incident).await, Some(T0 + minutes(64)));
    assert_eq!(w.fire(T0 + minutes(40)).await, FiredSummary::default());
    assert_eq!(w.pages(incident).await.len(), 2);
    assert_eq!(
        w.count(&format!(
            "SELECT count(*) AS n FROM timeline_entries WHERE incident_id = '{incident}' AND kind = 'acknowledged'"
        ))
        .await,
        2,
        "each acknowledgement is on the timeline"
    );
    assert_eq!(w.fire(T0 + minutes(64)).await.paged, 1, "and it can run out again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_ends_the_escalation_and_reopen_restarts_it_in_a_new_epoch() {
    let mut w = world().await;
    w.policy(two_steps(Target::User(w.alice), Target::User(w.bob))).await;
    let incident = w.open("checkout-api", "critical", T0).await;
    assert_eq!(w.fire(T0).await.paged, 1);
    w.command(incident, Action::Resolve, T0 + minutes(1)).await;
    assert_eq!(w.next_at(incident).await, None);
    assert_eq!(w.fire(T0 + minutes(30)).await, FiredSummary::default());

    w.command(incident, Action::Reopen, T0 + minutes(40)).await;
    assert_eq!(w.fire(T0 + minutes(40)).await.paged, 1);
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 2);
    assert!(pages[1].epoch > pages[0].epoch, "a new epoch: {} after {}", pages[1].epoch, pages[0].epoch);
    assert_eq!((pages[1].step, pages[1].pass, users(&pages[1])), (0, 0, vec![w.alice]));
    assert_eq!(pages[1].next_at, Some(T0 + minutes(45)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_run_out() {
    let mut w = world().await;
    w.policy(json!({"steps": [{"targets": [{"user": w.alice}], "escalate_after_minutes": 5}], "repeat": 2})).await;
    let incident = w.open("checkout-api", "critical", T0).await;
    let mut ran_out = 0;
    for minute in [0, 5, 10] {
        let fired = w.fire(T0 + minutes(minute)).await;
        assert_eq!(fired.paged, 1, "minute {minute}");
        ran_out += fired.ran_out;
    }
    assert_eq!(ran_out, 1);
    assert_eq!(w.fire(T0 + Duration::hours(2)).await, FiredSummary::default());
    let passes: Vec<u32> = w.pages(incident).await.iter().map(|page| page.pass).collect();
    assert_eq!(passes, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_edited_mid_flight_leaves_running_incidents_on_their_version() {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.carol}], "escalate_after_minutes": 5}
    ]}))
    .await;
    let running = w.open("checkout-api", "critical", T0).await;
    assert_eq!(w.fire(T0).await.paged, 1);
    // The second step is deleted and the delays shortened.
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 1},
        {"targets": [{"user": w.carol}], "escalate_after_minutes": 1}
    ]}))
    .await;
    assert_eq!(w.fire(T0 + minutes(4)).await, FiredSummary::default(), "version 1's delay still holds");
    assert_eq!(w.fire(T0 + minutes(5)).await.paged, 1);
    assert_eq!(w.fire(T0 + minutes(10)).await.paged, 1);
    let pages = w.pages(running).await;
    let seen: Vec<(i32, Vec<Uuid>)> = pages.iter().map(|page| (page.policy_version, users(page))).collect();
    assert_eq!(seen, vec![(1, vec![w.alice]), (1, vec![w.bob]), (1, vec![w.carol])]);

    let new = w.open("svc-new", "critical", T0 + minutes(20)).await;
    w.fire(T0 + minutes(20)).await;
    w.fire(T0 + minutes(21)).await;
    let pages = w.pages(new).await;
    let seen: Vec<(i32, Vec<Uuid>)> = pages.iter().map(|page| (page.policy_version, users(page))).collect();
    assert_eq!(seen, vec![(2, vec![w.alice]), (2, vec![w.carol])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_step_fires_once_and_the_next_wait_counts_from_then() {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.carol}], "escalate_after_minutes": 5}
    ]}))
    .await;
    let incident = w.open("checkout-api", "critical", T0).await;
    w.fire(T0).await;
    // An hour of downtime: the second step was due at T0 + 5m.
    let back = T0 + minutes(65);
    let fired = w.fire(back).await;
    assert_eq!(fired.fired(), 1, "one step, not one per missed tick or delay");
    assert_eq!(fired.delays.len(), 1);
    assert!((fired.delays[0] - 3600.0).abs() < 1e-6, "an hour late: {:?}", fired.delays);
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 2);
    assert_eq!((users(&pages[1]), pages[1].next_at), (vec![w.bob], Some(back + minutes(5))));
    assert_eq!(w.fire(back + minutes(4)).await, FiredSummary::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_on_call_goes_to_the_next_step_at_once_and_says_who_was_unreached() {
    let mut w = world().await;
    let empty = w.schedule(&[]).await;
    w.policy(json!({"steps": [
        {"targets": [{"schedule": empty}, {"channel": "payments-oncall"}], "escalate_after_minutes": 15},
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 15}
    ]}))
    .await;
    let incident = w.open("checkout-api", "critical", T0).await;
    let fired = w.fire(T0).await;
    assert_eq!((fired.nobody, fired.paged), (1, 1), "both steps in the same tick");
    let pages = w.pages(incident).await;
    assert_eq!(pages.len(), 2);
    assert!(pages[0].users.is_empty());
    assert_eq!(pages[0].unreached, vec![Target::Schedule(empty)]);
    assert_eq!(pages[0].channels, vec!["payments-oncall".to_owned()], "the channel still hears of it");
    assert_eq!(pages[0].next_at, Some(T0), "the next step at once");
    assert_eq!(users(&pages[1]), vec![w.alice]);
    assert_eq!(pages[1].next_at, None, "the last step");

    // A policy whose only target is nobody still writes its page, every pass, and ends.
    w.policy(json!({"steps": [{"targets": [{"schedule": empty}], "escalate_after_minutes": 15}], "repeat": 2})).await;
    let lonely = w.open("svc-lonely", "critical", T0).await;
    let fired = w.fire(T0).await;
    assert_eq!((fired.nobody, fired.ran_out), (3, 1));
    let marks = w
        .count(&format!(
            "SELECT count(*) AS n FROM pages WHERE incident_id = '{lonely}' AND user_id IS NULL AND channel IS NULL"
        ))
        .await;
    assert_eq!(marks, 3, "one mark per step that reached nobody");
    assert!(
        w.pages(lonely)
            .await
            .iter()
            .all(|page| page.users.is_empty() && page.unreached == vec![Target::Schedule(empty)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_target_pages_its_responders_and_managers_but_not_its_viewers() {
    let mut w = world().await;
    let team = w.team;
    w.policy(json!({"steps": [
        {"targets": [{"team": team}, {"user": w.alice}, {"user": Uuid::now_v7()}], "escalate_after_minutes": 5}
    ]}))
    .await;
    let incident = w.open("checkout-api", "critical", T0).await;
    assert_eq!(w.fire(T0).await.paged, 1);
    let page = &w.pages(incident).await[0];
    let mut paged = users(page);
    paged.sort();
    let mut expected = vec![w.alice, w.bob, w.carol];
    expected.sort();
    assert_eq!(paged, expected, "each person once, however many targets name them; not dave, a viewer");
    assert!(!paged.contains(&w.dave));
    assert_eq!(page.unreached.len(), 1, "a user who does not exist: {:?}", page.unreached);
    let rows = w.count(&format!("SELECT count(*) AS n FROM pages WHERE incident_id = '{incident}'")).await;
    assert_eq!(rows, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_waits_for_working_hours_in_the_policy_zone_and_notify_only_pages_nobody() {
    let mut w = world().await;
    w.policy(json!({
        "steps": [{"targets": [{"user": w.alice}], "escalate_after_minutes": 5}],
        "urgency": {"high_from": "critical", "low": {"working_hours": {
            "time_zone": "America/New_York",
            "hours": [{"days": ["monday", "tuesday", "wednesday", "thursday", "friday"], "start": "09:00", "minutes": 480}]
        }}}
    }))
    .await;
    // Monday 03:00 in New York; working hours start at 09:00 EST, 14:00 UTC.
    let warning = w.open("checkout-api", "warning", T0).await;
    let decided = w.fire(T0).await;
    assert_eq!((decided.decided, decided.fired()), (1, 0));
    let nine = datetime!(2026-12-07 14:00 UTC);
    assert_eq!(w.next_at(warning).await, Some(nine));
    assert_eq!(w.fire(nine - Duration::seconds(1)).await, FiredSummary::default());
    assert_eq!(w.fire(nine).await.paged, 1);
    let page = &w.pages(warning).await[0];
    assert_eq!((page.urgency, users(page)), (PageUrgency::Low, vec![w.alice]));

    // Critical pages at once, night or not.
    let critical = w.open("svc-critical", "critical", T0).await;
    assert_eq!(w.fire(T0).await.paged, 1);
    assert_eq!(w.pages(critical).await[0].urgency, PageUrgency::High);

    // By default, less than critical notifies only: nobody is paged, ever.
    w.policy(json!({"steps": [{"targets": [{"user": w.alice}], "escalate_after_minutes": 5}]})).await;
    let quiet = w.open("svc-quiet", "warning", T0).await;
    assert_eq!(w.fire(T0).await.decided, 1);
    assert_eq!(w.next_at(quiet).await, None);
    assert_eq!(w.fire(nine + Duration::days(1)).await, FiredSummary::default());
    assert!(w.pages(quiet).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_raising_the_severity_starts_paging_that_had_not_started_and_changes_the_urgency_of_later_steps() {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 5},
    ]}))
    .await;
    let raise = |severity| Action::Edit { title: None, severity: Some(severity) };

    // A warning notifies only: nothing is due until someone says it is critical.
    let quiet = w.open("checkout-api", "warning", T0).await;
    assert_eq!(w.fire(T0).await.decided, 1);
    assert_eq!(w.next_at(quiet).await, None);
    w.command(quiet, raise(Severity::Critical), T0 + minutes(3)).await;
    assert_eq!(w.fire(T0 + minutes(3)).await.paged, 1, "decided again at the new severity: paged at once");
    let pages = w.pages(quiet).await;
    assert_eq!((pages[0].urgency, users(&pages[0])), (PageUrgency::High, vec![w.alice]));

    // An escalation that has paged goes on where it is: raising the severity again does not start
    // it over, and lowering it makes the next step a low-urgency page.
    w.command(quiet, Action::Edit { title: None, severity: Some(Severity::Info) }, T0 + minutes(4)).await;
    assert_eq!(w.fire(T0 + minutes(4)).await, FiredSummary::default(), "nothing is restarted");
    assert_eq!(w.fire(T0 + minutes(8)).await.paged, 1, "the second step, on its own schedule");
    let pages = w.pages(quiet).await;
    assert_eq!((pages.len(), pages[1].urgency, users(&pages[1])), (2, PageUrgency::Low, vec![w.bob]));
    w.command(quiet, raise(Severity::High), T0 + minutes(9)).await;
    assert_eq!(w.fire(T0 + minutes(9)).await, FiredSummary::default(), "a raise after a page restarts nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_without_a_policy_pages_nobody_and_is_never_claimed() {
    let mut w = world().await;
    let incident = w.open("checkout-api", "critical", T0).await;
    // Nothing is due: the engine has nothing to claim (a storm without policies costs it nothing).
    assert_eq!(w.next_at(incident).await, None);
    assert_eq!(w.fire(T0).await, FiredSummary::default());
    assert!(w.pages(incident).await.is_empty());
    // A policy given to the team afterwards is not this incident's: it was not in force when it opened.
    w.policy(json!({"steps": [{"targets": [{"user": w.alice}], "escalate_after_minutes": 5}]})).await;
    assert_eq!(w.fire(T0 + Duration::minutes(1)).await, FiredSummary::default());
    assert!(w.pages(incident).await.is_empty());
}

/// The engine never waits on an incident's row: with it locked (as an acknowledgement holds it
/// while it waits on the escalation's row), a step still fires. Were the engine to take any lock
/// on it (a foreign key's KEY SHARE included), this would wait, and the other order would deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_fires_while_the_incident_row_is_locked() {
    let mut w = world().await;
    w.policy(two_steps(Target::User(w.alice), Target::User(w.bob))).await;
    let incident = w.open("checkout-api", "critical", T0).await;
    let mut holder = w.db.connection().await;
    holder.batch_execute("BEGIN").await.expect("BEGIN");
    holder
        .batch_execute(&format!("SELECT 1 FROM incidents WHERE id = '{incident}' FOR UPDATE"))
        .await
        .expect("locking the incident");
    let mut engine = w.db.connection().await;
    let fired = tokio::time::timeout(StdDuration::from_secs(10), fire_due(&mut engine, T0, 100))
        .await
        .expect("the engine waited on the incident's row")
        .expect("fire_due");
    assert_eq!(fired.paged, 1);
    holder.batch_execute("ROLLBACK").await.expect("ROLLBACK");
}

/// Acknowledgements racing the engine on the same incidents: no deadlock, no error, and once
/// every acknowledgement has committed nothing more is due; each step paged at most once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_racing_the_engine_neither_deadlock_nor_page_twice() {
    let mut w = world().await;
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}], "escalate_after_minutes": 1},
        {"targets": [{"user": w.bob}], "escalate_after_minutes": 1}
    ], "repeat": 9}))
        .await;
    let mut incidents = Vec::new();
    for n in 0..40 {
        incidents.push(w.open(&format!("svc-{n:02}"), "critical", T0).await);
    }
    let db_url = w.db.url.clone();
    let engine = tokio::spawn(async move {
        let mut conn = AsyncPgConnection::establish(&db_url).await.expect("connect");
        let mut fired = 0;
        // The clock runs a minute per round, so every round has steps due.
        for round in 0..60 {
            fired += fire_due(&mut conn, T0 + minutes(round), 5).await.expect("fire_due").fired();
            tokio::task::yield_now().await;
        }
        fired
    });
    let mut acks = w.db.connection().await;
    for (n, incident) in incidents.iter().enumerate() {
        let command = Command {
            id: Uuid::now_v7(),
            incident_id: *incident,
            action: Action::Acknowledge,
            actor: "alice".into(),
            requested_at: T0 + Duration::seconds(n as i64),
        };
        let outcome =
            acks.transaction(async |conn| apply_command(conn, &command, None, OffsetDateTime::now_utc()).await).await;
        match outcome {
            Ok((CommandOutcome::Applied { .. }, _)) => {}
            Ok((other, _)) => panic!("{other:?}"),
            Err(StorageError::Contended(error)) => panic!("contended (a deadlock?): {error}"),
            Err(error) => panic!("{error}"),
        }
    }
    let fired = engine.await.expect("the engine task");
    assert!(fired > 0, "the engine fired while acknowledgements came in");
    assert_eq!(w.count("SELECT count(*) AS n FROM incident_escalations WHERE next_at IS NOT NULL").await, 0);
    let twice = w
        .count(
            "SELECT count(*) AS n FROM (SELECT 1 FROM timeline_entries WHERE kind = 'paged' \
             GROUP BY incident_id, detail->>'epoch', detail->>'step', detail->>'pass' HAVING count(*) > 1) AS t",
        )
        .await;
    assert_eq!(twice, 0);
}

/// The metrics of a registry as Prometheus reads them, the lines of `family` only.
fn metric_lines(registry: &prometheus_client::registry::Registry, family: &str) -> Vec<String> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("the registry encodes");
    text.lines().filter(|line| line.starts_with(family)).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_paged_are_counted_by_night_in_their_own_zone_and_the_acknowledged_step_is_timed() {
    let mut w = world().await;
    let mut registry = tocsin_runtime::metrics::registry();
    let metrics = EscalationMetrics::register(&mut registry);
    // The team's oldest schedule is in New York, where T0 is 03:00.
    w.schedule(&[w.alice]).await;
    // T0 is 17:00 in Tokyo (alice's own zone: day, though it is night for the team) and 00:00 in
    // Los Angeles (bob's: night, though day in UTC); carol set no zone, so the team's decides.
    for (user, zone) in [(w.alice, "Asia/Tokyo"), (w.bob, "America/Los_Angeles")] {
        diesel::sql_query("UPDATE users SET time_zone = $2 WHERE id = $1")
            .bind::<SqlUuid, _>(user)
            .bind::<diesel::sql_types::Text, _>(zone)
            .execute(&mut w.conn)
            .await
            .expect("set a time zone");
    }
    w.policy(json!({"steps": [
        {"targets": [{"user": w.alice}, {"user": w.bob}], "escalate_after_minutes": 5},
        {"targets": [{"user": w.carol}], "escalate_after_minutes": 5}
    ]}))
    .await;
    let incident = w.open("checkout-api", "critical", T0).await;
    // Acknowledged before its escalation paged anyone: no step to time.
    let quiet = w.open("svc-quiet", "critical", T0).await;
    let changes = w.acknowledge(quiet, "bob", T0).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].acknowledged_step, None, "nothing paged in its epoch");
    metrics.observe_acknowledgements(&changes);

    for at in [T0, T0 + minutes(5)] {
        let fired = w.fire(at).await;
        metrics.observe(&fired);
    }
    let changes = w.acknowledge(incident, "carol", T0 + minutes(7)).await;
    metrics.observe_acknowledgements(&changes);

    let mut paged = metric_lines(&registry, "tocsin_escalation_people_paged_total");
    paged.sort();
    assert_eq!(
        paged,
        [
            r#"tocsin_escalation_people_paged_total{team="payments",person="alice",night="false"} 1"#,
            r#"tocsin_escalation_people_paged_total{team="payments",person="bob",night="true"} 1"#,
            r#"tocsin_escalation_people_paged_total{team="payments",person="carol",night="true"} 1"#,
        ]
    );

    // Seven minutes from the opening to carol's acknowledgement, on the second step.
    let by_step = metric_lines(&registry, "tocsin_escalation_time_to_acknowledge_seconds");
    assert!(
        by_step.contains(
            &r#"tocsin_escalation_time_to_acknowledge_seconds_sum{team="payments",step="2"} 420.0"#.to_owned()
        ),
        "{by_step:?}"
    );
    assert!(
        by_step
            .contains(&r#"tocsin_escalation_time_to_acknowledge_seconds_count{team="payments",step="2"} 1"#.to_owned()),
        "{by_step:?}"
    );
    assert!(
        by_step.contains(
            &r#"tocsin_escalation_time_to_acknowledge_seconds_bucket{le="300.0",team="payments",step="2"} 0"#
                .to_owned()
        ),
        "{by_step:?}"
    );
    assert!(
        by_step.contains(
            &r#"tocsin_escalation_time_to_acknowledge_seconds_bucket{le="600.0",team="payments",step="2"} 1"#
                .to_owned()
        ),
        "{by_step:?}"
    );
    assert!(!by_step.iter().any(|line| line.contains(r#"step="1""#)), "the quiet incident is not timed: {by_step:?}");
    let by_responder = metric_lines(&registry, "tocsin_escalation_responder_time_to_acknowledge_seconds");
    assert!(
        by_responder.contains(
            &r#"tocsin_escalation_responder_time_to_acknowledge_seconds_sum{responder="carol"} 420.0"#.to_owned()
        ),
        "{by_responder:?}"
    );
    assert!(!by_responder.iter().any(|line| line.contains("bob")), "{by_responder:?}");
}
