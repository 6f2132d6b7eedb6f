//! The codes people answer SMS pages with, against a real PostgreSQL: an incident keeps its code
//! for a person, two incidents paging one person at once never share one (even when their SMS go
//! out on separate connections at the same moment), a resolved incident's code is the next one's,
//! and a reply is found only from the person's own SMS number.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use tocsin_storage::contacts::{self, ContactKind, NewMethod};
use tocsin_storage::people::{self, SignedInIdentity, UserRow};
use tocsin_storage::replies::{self, MAX_REPLY_CODE};
use tocsin_storage::{AsyncConnection, AsyncPgConnection};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

async fn user(conn: &mut AsyncPgConnection, login: &str) -> UserRow {
    let email = format!("{login}@example.com");
    let identity =
        SignedInIdentity { issuer: "https://login.example.com", subject: login, name: login, email: Some(&email) };
    people::sign_in_user(conn, &identity).await.expect("signing a user in")
}

async fn incident(conn: &mut AsyncPgConnection, status: &str) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status,
                                source_fingerprint, source_starts_at, source_labels, opened_at, resolved_at)
         VALUES ($1, $1::text, 'disk full', 'web', 'production', 'critical', 'sre', $2, 'fp', now(), '{}', now(),
                 CASE WHEN $2 = 'resolved' THEN now() END)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .execute(conn)
    .await
    .expect("inserting an incident");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_a_persons_own_short_and_reused_once_their_incident_is_resolved() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let ana = user(&mut conn, "ana").await;
    let bo = user(&mut conn, "bo").await;
    let phone = NewMethod { kind: ContactKind::Sms, address: "+14155550123", label: "" };
    conn.transaction(async |conn| {
        contacts::lock_user(conn, ana.id).await?;
        contacts::add_method(conn, &ana, &phone, "test").await
    })
    .await
    .expect("Ana's phone");

    // Twenty incidents page Ana at once, each SMS taking its code on a connection of its own.
    let mut incidents = Vec::new();
    for _ in 0..20 {
        incidents.push(incident(&mut conn, "open").await);
    }
    let mut racing = Vec::new();
    for incident_id in incidents.clone() {
        let mut conn = db.connection().await;
        racing.push(tokio::spawn(async move { replies::reply_code(&mut conn, ana.id, incident_id).await }));
    }
    let mut codes = Vec::new();
    for task in racing {
        codes.push(task.await.expect("a task").expect("a code"));
    }
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<i16>>(), "twenty codes, none shared, the lowest first");

    // An incident keeps its code for every page of it; Bo's codes are his own.
    assert_eq!(replies::reply_code(&mut conn, ana.id, incidents[3]).await.expect("again"), codes[3]);
    assert_eq!(replies::reply_code(&mut conn, bo.id, incidents[3]).await.expect("Bo's"), 1);

    // A reply finds the incident only from Ana's number, and only with one of her codes.
    let found = replies::replies_to(&mut conn, "+14155550123", codes[3]).await.expect("replies_to");
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].user_id, found[0].incident_id, found[0].actor.as_str()),
        (ana.id, incidents[3], "ana@example.com")
    );
    assert!(replies::replies_to(&mut conn, "+14155550999", codes[3]).await.expect("replies_to").is_empty());
    assert!(replies::replies_to(&mut conn, "+14155550123", 21).await.expect("replies_to").is_empty());
    assert!(replies::is_sms_number(&mut conn, "+14155550123").await.expect("is_sms_number"));
    assert!(!replies::is_sms_number(&mut conn, "+14155550999").await.expect("is_sms_number"));

    // Once the incident with code 5 is resolved, the next incident takes 5; the others keep theirs.
    let five = incidents[codes.iter().position(|code| *code == 5).expect("code 5")];
    diesel::sql_query("UPDATE incidents SET status = 'resolved', resolved_at = now() WHERE id = $1")
        .bind::<SqlUuid, _>(five)
        .execute(&mut conn)
        .await
        .expect("resolving");
    let next = incident(&mut conn, "open").await;
    assert_eq!(replies::reply_code(&mut conn, ana.id, next).await.expect("the next"), 5);
    let found = replies::replies_to(&mut conn, "+14155550123", 5).await.expect("replies_to");
    assert_eq!(found[0].incident_id, next, "the code now names the new incident");
    assert_eq!(found[0].last_reply_sid, None);

    // With all 99 taken by open incidents, the one assigned longest ago is taken over.
    for _ in 21..=MAX_REPLY_CODE {
        let open = incident(&mut conn, "open").await;
        replies::reply_code(&mut conn, ana.id, open).await.expect("a code");
    }
    let hundredth = incident(&mut conn, "open").await;
    let code = replies::reply_code(&mut conn, ana.id, hundredth).await.expect("a code");
    assert!((1..=MAX_REPLY_CODE).contains(&code));
    let rows: i64 = {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::sql_query("SELECT count(*) AS count FROM page_reply_codes WHERE user_id = $1")
            .bind::<SqlUuid, _>(ana.id)
            .get_result::<Count>(&mut conn)
            .await
            .expect("counting")
            .count
    };
    assert_eq!(rows, i64::from(MAX_REPLY_CODE), "at most 99 codes a person");

    // The reply acted on is kept with its code.
    replies::mark_replied(&mut conn, ana.id, code, "SM0001").await.expect("mark_replied");
    let found = replies::replies_to(&mut conn, "+14155550123", code).await.expect("replies_to");
    assert_eq!(found[0].last_reply_sid.as_deref(), Some("SM0001"));
}
