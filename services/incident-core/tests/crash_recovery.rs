//! incident-core killed (SIGKILL, no goodbye) in the middle of a burst and started again: every
//! alert is applied exactly once, nothing is lost and nothing is dead-lettered.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::collections::BTreeMap;
use std::time::Duration;
use support::{count, start_core};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::{AlertReceived, AlertState, ObservedAlert};
use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};
use tocsin_testkit::{TestDatabase, TestRedis, group_lag};

mod support;

/// Small batches and a short visibility timeout, so that a kill leaves entries half applied and
/// another replica claims them soon.
const CORE_SETTINGS: &[(&str, &str)] = &[("BATCH_SIZE", "100"), ("VISIBILITY_TIMEOUT", "1s")];

const ALERTS: usize = 3000;
const KEYS: usize = 20;

fn report(n: usize, at: OffsetDateTime) -> Envelope<AlertReceived> {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighCPU".to_owned()),
        ("service", format!("service-{:02}", n % KEYS)),
        ("environment", "production".to_owned()),
        ("severity", "critical".to_owned()),
        ("instance", format!("host-{n:05}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Envelope::new(AlertReceived {
        alert: ObservedAlert {
            fingerprint: format!("{n:016x}"),
            starts_at: at,
            ends_at: None,
            state: AlertState::Firing,
            labels,
            annotations: BTreeMap::new(),
            generator_url: String::new(),
        },
        received_at: at,
        receiver: "crash-test".into(),
        group_key: "{}:{}".into(),
        external_url: "http://alertmanager".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_and_restarted_every_alert_is_applied_exactly_once() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let bus = Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect");
    let at = OffsetDateTime::now_utc();
    let reports: Vec<_> = (0..ALERTS).map(|n| report(n, at)).collect();

    let mut first = start_core(&db, &redis, "core-first", CORE_SETTINGS.iter().copied());
    // Half the burst, then kill once some (not all) of it is committed.
    for chunk in reports[..ALERTS / 2].chunks(100) {
        bus.publish(Stream::Alerts, chunk).await.expect("publish");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let applied = count(&db, "SELECT count(*) AS n FROM alerts").await;
        if applied > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "incident-core applied nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().await.expect("killing");
    let applied_at_kill = count(&db, "SELECT count(*) AS n FROM alerts").await;
    assert!(applied_at_kill < ALERTS as i64, "killed too late to prove anything");

    // The rest arrives while nothing runs; then a new replica starts.
    for chunk in reports[ALERTS / 2..].chunks(100) {
        bus.publish(Stream::Alerts, chunk).await.expect("publish");
    }
    // Redelivery of everything already applied, as Alertmanager resending would cause.
    for chunk in reports[..ALERTS / 4].chunks(100) {
        bus.publish(Stream::Alerts, chunk).await.expect("publish");
    }
    let mut second = start_core(&db, &redis, "core-second", CORE_SETTINGS.iter().copied());
    let key = tocsin_bus::stream_key(&redis.prefix, "alerts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (lag, pending) = group_lag(&redis.url, &key, "incident-core").await;
        if lag == Some(0) && pending == Some(0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not drained: lag {lag:?}, pending {pending:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().await.expect("killing");

    assert_eq!(count(&db, "SELECT count(*) AS n FROM alerts").await, ALERTS as i64);
    assert_eq!(count(&db, "SELECT count(DISTINCT fingerprint) AS n FROM alerts").await, ALERTS as i64);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM incidents").await, KEYS as i64);
    assert_eq!(count(&db, "SELECT coalesce(sum(alert_count), 0)::bigint AS n FROM incidents").await, ALERTS as i64);
    assert_eq!(count(&db, "SELECT coalesce(sum(firing_count), 0)::bigint AS n FROM incidents").await, ALERTS as i64);
    // One timeline entry per alert: `opened` for the first of each key, `alert_added` for the rest.
    assert_eq!(count(&db, "SELECT count(*) AS n FROM timeline_entries").await, ALERTS as i64);
    let orphans = orphaned_rows(&mut db.connection().await).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows::default(), "every alert and timeline entry has its incident");
    let dead: u64 = {
        let client = redis::Client::open(redis.url.as_str()).expect("the Redis URL");
        let mut conn = client.get_multiplexed_async_connection().await.expect("get multiplexed async connection");
        redis::cmd("XLEN")
            .arg(tocsin_bus::dead_letter_key(&redis.prefix, "alerts"))
            .query_async(&mut conn)
            .await
            .unwrap_or(0)
    };
    assert_eq!(dead, 0);
}
