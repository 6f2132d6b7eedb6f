//! What the tests that run incident-core as a real process share: starting it, a team with
//! someone on call and a policy paging them, alerts for it, and counting rows.

#![allow(dead_code, reason = "each test binary uses its own part of what is shared")]

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::process::Stdio;
use time::OffsetDateTime;
use tocsin_domain::roles::Role;
use tocsin_domain::{AlertReceived, AlertState, ObservedAlert};
use tocsin_storage::escalation::{self, PolicyDefinition};
use tocsin_storage::people::{self, SignedInIdentity};
use tocsin_storage::schedules::{self, NewLayerVersion};
use tocsin_storage::{catalogue, teams};
use tocsin_testkit::{TestDatabase, TestRedis};
use uuid::Uuid;

/// The clock the escalation and maintenance tests start at: a Monday, 03:00 in New York.
pub const T0: OffsetDateTime = time::macros::datetime!(2026-12-07 08:00 UTC);

pub fn minutes(count: i64) -> time::Duration {
    time::Duration::minutes(count)
}

/// incident-core as its own process on the test's database and streams, named `name` in the
/// consumer groups, with `settings` added to its environment; killed when dropped.
pub fn start_core<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    db: &TestDatabase,
    redis: &TestRedis,
    name: &str,
    settings: impl IntoIterator<Item = (K, V)>,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin-incident-core"))
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", &redis.url)
        .env("STREAM_PREFIX", &redis.prefix)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("CONSUMER_NAME", name)
        .env("RUST_LOG", "warn")
        .envs(settings)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting incident-core")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The count a statement `SELECT count(*) AS n …` gives.
pub async fn count(db: &TestDatabase, sql: &str) -> i64 {
    let mut conn = db.connection().await;
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.map(|c| c.n).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[derive(QueryableByName)]
struct NextAt {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_at: Option<OffsetDateTime>,
}

/// When the incident's escalation fires next (`None`: nothing is due).
pub async fn escalation_next_at(conn: &mut AsyncPgConnection, incident: Uuid) -> Option<OffsetDateTime> {
    diesel::sql_query("SELECT next_at FROM incident_escalations WHERE incident_id = $1")
        .bind::<SqlUuid, _>(incident)
        .get_result::<NextAt>(conn)
        .await
        .expect("the escalation's row")
        .next_at
}

/// The team `payments`, owning `checkout-api`, with `names` as responders; the first of them
/// always on call in its weekly Berlin schedule; and the team's policy, `definition` given the
/// schedule's id and the people's. Returns the people's ids, in the order of `names`.
pub async fn payments_on_call(
    db: &TestDatabase,
    names: &[&str],
    definition: impl FnOnce(Uuid, &[Uuid]) -> serde_json::Value,
) -> Vec<Uuid> {
    let mut conn = db.connection().await;
    catalogue::set_owner(&mut conn, "checkout-api", "payments", "test").await.expect("set_owner");
    let team = teams::team(&mut conn, "payments").await.expect("team").expect("the team payments");
    let mut people = Vec::new();
    for &name in names {
        let identity = SignedInIdentity { issuer: "https://login.example.com", subject: name, name, email: None };
        let user = people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user");
        teams::set_member(&mut conn, &team, &user, Role::Responder, "test", false).await.expect("set_member");
        people.push(user.id);
    }
    let schedule = schedules::create(&mut conn, team.id, "primary", "Europe/Berlin").await.expect("create");
    let first_alone = NewLayerVersion {
        schedule_id: schedule,
        layer: Uuid::now_v7(),
        priority: 0,
        time_zone: None,
        first_handoff: time::macros::datetime!(2026-01-01 09:00),
        shift_unit: "weeks",
        shift_count: 1,
        restrictions: serde_json::json!([]),
        members: &people[..1],
        created_by: "test",
    };
    schedules::put_layer(&mut conn, &first_alone, time::macros::datetime!(2026-01-01 00:00 UTC))
        .await
        .expect("put_layer");
    let policy = escalation::create_policy(&mut conn, team.id, "payments").await.expect("create_policy");
    let definition: PolicyDefinition =
        serde_json::from_value(definition(schedule, &people)).expect("a policy definition");
    escalation::put_version(&mut conn, policy, &definition, "test").await.expect("put_version");
    escalation::set_team_policy(&mut conn, team.id, Some(policy)).await.expect("set_team_policy");
    people
}

/// A critical alert of `service`, the team `payments`', firing since `at`.
pub fn critical_alert(fingerprint: String, service: &str, at: OffsetDateTime) -> AlertReceived {
    firing_alert(fingerprint, service, "critical", at)
}

/// An alert of `service`, the team `payments`', with `severity`, firing since `at`.
pub fn firing_alert(fingerprint: String, service: &str, severity: &str, at: OffsetDateTime) -> AlertReceived {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighLatency"),
        ("service", service),
        ("environment", "production"),
        ("severity", severity),
        ("team", "payments"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    AlertReceived {
        alert: ObservedAlert {
            fingerprint,
            starts_at: at,
            ends_at: None,
            state: AlertState::Firing,
            labels,
            annotations: BTreeMap::new(),
            generator_url: String::new(),
        },
        received_at: at,
        receiver: "test".into(),
        group_key: "{}:{}".into(),
        external_url: "http://alertmanager".into(),
    }
}
