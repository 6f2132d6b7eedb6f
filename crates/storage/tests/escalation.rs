//! Escalation policies against a real PostgreSQL: versions are numbered one after another, even
//! when two edits arrive at once, and an older version reads back unchanged after a newer one;
//! what breaks a limit is never stored; a service's own policy wins over its team's.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use jiff::SignedDuration;
use serde_json::json;
use tocsin_domain::Severity;
use tocsin_domain::escalation::{LowUrgency, Target};
use tocsin_storage::catalogue;
use tocsin_storage::escalation::{self, PolicyDefinition, PutError};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

/// The team `payments`, owner of `checkout-api`.
async fn payments(conn: &mut AsyncPgConnection) -> Uuid {
    catalogue::set_owner(conn, "checkout-api", "payments", "test").await.expect("set_owner");
    diesel::dsl::sql::<diesel::sql_types::Uuid>("SELECT id FROM teams WHERE slug = 'payments'")
        .get_result(conn)
        .await
        .expect("the team's id")
}

fn definition(value: serde_json::Value) -> PolicyDefinition {
    serde_json::from_value(value).expect("a policy definition")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_kept_and_numbered_and_read_back_as_the_domain_takes_them() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let team = payments(&mut conn).await;
    let policy = escalation::create_policy(&mut conn, team, "payments default").await.expect("create_policy");
    let schedule = Uuid::now_v7();
    let first = definition(json!({
        "steps": [
            {"targets": [{"schedule": schedule}], "escalate_after_minutes": 5},
            {"targets": [{"team": team}, {"channel": "payments-slack"}], "escalate_after_minutes": 15}
        ],
        "repeat": 2,
        "acknowledge_timeout_minutes": 60,
        "urgency": {"high_from": "high", "low": {"working_hours": {
            "time_zone": "Europe/Berlin",
            "hours": [{"days": ["monday", "tuesday", "wednesday", "thursday", "friday"], "start": "09:00", "minutes": 480}]
        }}}
    }));
    assert_eq!(escalation::put_version(&mut conn, policy, &first, "alice@example.com").await.expect("put"), 1);
    let second = definition(json!({"steps": [{"targets": [{"team": team}], "escalate_after_minutes": 10}]}));
    assert_eq!(escalation::put_version(&mut conn, policy, &second, "bob@example.com").await.expect("put"), 2);

    let newest = escalation::load_version(&mut conn, policy, None).await.expect("load").expect("a version");
    assert_eq!((newest.version, &newest.definition), (2, &second));
    assert_eq!(newest.policy.repeat, 0);
    assert_eq!(newest.policy.urgency.high_from, Severity::Critical, "critical pages at once by default");
    assert_eq!(newest.policy.urgency.low, LowUrgency::NotifyOnly, "the rest notify only by default");

    // An incident escalating on version 1 still finds it as it was.
    let kept = escalation::load_version(&mut conn, policy, Some(1)).await.expect("load").expect("version 1");
    assert_eq!(kept.definition, first);
    assert_eq!(kept.policy.steps.len(), 2);
    assert_eq!(kept.policy.steps[0].targets, vec![Target::Schedule(schedule)]);
    assert_eq!(kept.policy.steps[1].escalate_after, SignedDuration::from_mins(15));
    assert_eq!(kept.policy.acknowledge_timeout, Some(SignedDuration::from_mins(60)));
    assert!(matches!(kept.policy.urgency.low, LowUrgency::WorkingHours { ref hours, .. } if hours.len() == 1));
    assert!(escalation::load_version(&mut conn, policy, Some(3)).await.expect("load").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edits_at_once_get_a_version_each() {
    let db = TestDatabase::new().await;
    let mut setup = db.connection().await;
    let team = payments(&mut setup).await;
    let policy = escalation::create_policy(&mut setup, team, "p").await.expect("create_policy");
    let edit =
        |minutes: u32| definition(json!({"steps": [{"targets": [{"team": team}], "escalate_after_minutes": minutes}]}));
    let (mut a, mut b) = (db.connection().await, db.connection().await);
    let (first, second) = (edit(5), edit(6));
    let (one, two) = tokio::join!(
        escalation::put_version(&mut a, policy, &first, "a"),
        escalation::put_version(&mut b, policy, &second, "b")
    );
    let mut versions = vec![one.expect("first edit"), two.expect("second edit")];
    versions.sort_unstable();
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_over_a_limit_is_not_stored_and_the_refusal_names_the_field() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let team = payments(&mut conn).await;
    let policy = escalation::create_policy(&mut conn, team, "p").await.expect("create_policy");
    let too_quick = definition(json!({"steps": [{"targets": [{"team": team}], "escalate_after_minutes": 0}]}));
    let refused = escalation::put_version(&mut conn, policy, &too_quick, "a").await;
    assert!(
        matches!(&refused, Err(PutError::Invalid(message)) if message.contains("steps[0].escalate_after")),
        "{refused:?}"
    );
    let bad_zone = definition(json!({
        "steps": [{"targets": [{"team": team}], "escalate_after_minutes": 5}],
        "urgency": {"low": {"working_hours": {"time_zone": "Mars/Olympus_Mons", "hours": []}}}
    }));
    let refused = escalation::put_version(&mut conn, policy, &bad_zone, "a").await;
    assert!(
        matches!(&refused, Err(PutError::Invalid(message)) if message.contains("Mars/Olympus_Mons")),
        "{refused:?}"
    );
    assert!(escalation::load_version(&mut conn, policy, None).await.expect("load").is_none(), "nothing stored");
    let unknown = Uuid::now_v7();
    let fine = definition(json!({"steps": [{"targets": [{"team": team}], "escalate_after_minutes": 5}]}));
    assert!(
        matches!(escalation::put_version(&mut conn, unknown, &fine, "a").await, Err(PutError::UnknownPolicy(id)) if id == unknown)
    );
    assert!(
        serde_json::from_value::<PolicyDefinition>(json!({"steps": [], "escalate_after": 5})).is_err(),
        "unknown fields are refused, not ignored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_own_policy_wins_over_its_teams() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let team = payments(&mut conn).await;
    let team_policy = escalation::create_policy(&mut conn, team, "team").await.expect("create_policy");
    let service_policy = escalation::create_policy(&mut conn, team, "checkout").await.expect("create_policy");
    assert_eq!(escalation::policy_for(&mut conn, "checkout-api", "payments").await.expect("policy_for"), None);
    escalation::set_team_policy(&mut conn, team, Some(team_policy)).await.expect("set_team_policy");
    assert_eq!(
        escalation::policy_for(&mut conn, "checkout-api", "payments").await.expect("policy_for"),
        Some(team_policy)
    );
    assert!(escalation::set_service_policy(&mut conn, "checkout-api", Some(service_policy)).await.expect("set"));
    assert_eq!(
        escalation::policy_for(&mut conn, "checkout-api", "payments").await.expect("policy_for"),
        Some(service_policy)
    );
    assert_eq!(
        escalation::policy_for(&mut conn, "ledger", "payments").await.expect("policy_for"),
        Some(team_policy),
        "a service the catalogue does not name gets its team's"
    );
    assert!(!escalation::set_service_policy(&mut conn, "no-such-service", None).await.expect("set"));
}
