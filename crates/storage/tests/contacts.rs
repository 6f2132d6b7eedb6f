//! People's contact methods and notification rules against a real PostgreSQL: the limits per
//! person (10 methods, 20 rules) hold even for requests racing each other, the database refuses
//! what the checks would (a kind it does not know, a delay over two hours, a rule on another
//! person's method), a removed method takes its rules with it, and every change is in the audit
//! log with who made it. A page in the delivery queue is claimed once due, and cancelling the
//! incident's pages leaves one being sent to its worker.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::RunQueryDsl;
use tocsin_domain::PageUrgency;
use tocsin_storage::catalogue;
use tocsin_storage::contacts::{
    self, ContactError, ContactKind, MAX_METHODS_PER_USER, MAX_RULES_PER_USER, NewMethod, NewRule,
};
use tocsin_storage::people::{self, SignedInIdentity, UserRow};
use tocsin_storage::{AsyncConnection, AsyncPgConnection};
use tocsin_testkit::TestDatabase;

async fn user(conn: &mut AsyncPgConnection, login: &str) -> UserRow {
    let email = format!("{login}@example.com");
    let identity =
        SignedInIdentity { issuer: "https://login.example.com", subject: login, name: login, email: Some(&email) };
    people::sign_in_user(conn, &identity).await.expect("signing a user in")
}

async fn add_phone(
    conn: &mut AsyncPgConnection,
    owner: &UserRow,
    number: &str,
) -> Result<contacts::ContactMethod, ContactError> {
    let method = NewMethod { kind: ContactKind::Sms, address: number, label: "phone" };
    conn.transaction(async |conn| {
        contacts::lock_user(conn, owner.id).await?;
        contacts::add_method(conn, owner, &method, "ana@example.com").await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_has_at_most_ten_methods_and_twenty_rules_even_when_requests_race() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let ana = user(&mut conn, "ana").await;

    // Twelve additions at once on separate connections: the person's row is locked by each, so
    // exactly ten get in.
    let mut racing = Vec::new();
    for index in 0..12 {
        let ana = ana.clone();
        let mut conn = db.connection().await;
        racing.push(tokio::spawn(async move { add_phone(&mut conn, &ana, &format!("+1415555{index:04}")).await }));
    }
    let mut added = 0;
    let mut refused = 0;
    for task in racing {
        match task.await.expect("an addition's task") {
            Ok(_) => added += 1,
            Err(ContactError::TooManyMethods) => refused += 1,
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((added, refused), (MAX_METHODS_PER_USER, 2));
    assert_eq!(contacts::methods(&mut conn, ana.id).await.expect("methods").len() as i64, MAX_METHODS_PER_USER);

    // The same method twice is refused as a duplicate, not stored again.
    let bo = user(&mut conn, "bo").await;
    let first = add_phone(&mut conn, &bo, "+14155550100").await.expect("bo's phone");
    assert!(matches!(add_phone(&mut conn, &bo, "+14155550100").await, Err(ContactError::DuplicateMethod)));

    // Rules: twenty at most, one per (method, urgency, delay).
    let methods = contacts::methods(&mut conn, ana.id).await.expect("methods");
    let mut rules_added = 0;
    for method in &methods {
        for (urgency, delay) in [(PageUrgency::High, 0), (PageUrgency::Low, 5), (PageUrgency::High, 10)] {
            let rule = NewRule { contact_method_id: method.id, urgency, delay_minutes: delay };
            match contacts::add_rule(&mut conn, &ana, rule, "ana@example.com").await {
                Ok(_) => rules_added += 1,
                Err(ContactError::TooManyRules) => {}
                Err(other) => panic!("unexpected: {other:?}"),
            }
        }
    }
    assert_eq!(rules_added, MAX_RULES_PER_USER);
    let rule = NewRule { contact_method_id: first.id, urgency: PageUrgency::High, delay_minutes: 1 };
    contacts::add_rule(&mut conn, &bo, rule, "bo@example.com").await.expect("bo's rule");
    assert!(matches!(
        contacts::add_rule(&mut conn, &bo, rule, "bo@example.com").await,
        Err(ContactError::DuplicateRule)
    ));
    // Ana cannot put a rule on Bo's method.
    assert!(matches!(
        contacts::add_rule(&mut conn, &ana, rule, "ana@example.com").await,
        Err(ContactError::NoSuchMethod)
    ));

    // Only Bo's high-urgency rule applies to a high-urgency page of Bo.
    let applying = contacts::page_rules(&mut conn, &[bo.id], PageUrgency::High).await.expect("page rules");
    assert_eq!(applying.len(), 1);
    assert_eq!(
        (applying[0].contact_method_id, applying[0].kind, applying[0].delay_minutes),
        (first.id, ContactKind::Sms, 1)
    );
    assert!(contacts::page_rules(&mut conn, &[bo.id], PageUrgency::Low).await.expect("page rules").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_what_the_checks_would_and_a_removed_method_takes_its_rules() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let ana = user(&mut conn, "ana").await;
    let bo = user(&mut conn, "bo").await;
    let phone = add_phone(&mut conn, &ana, "+14155550123").await.expect("ana's phone");
    let bos_phone = add_phone(&mut conn, &bo, "+14155550199").await.expect("bo's phone");

    for statement in [
        format!(
            "INSERT INTO user_contact_methods (id, user_id, kind, address) VALUES (gen_random_uuid(), '{}', 'pigeon', 'roof')",
            ana.id
        ),
        format!(
            "INSERT INTO user_contact_methods (id, user_id, kind, address) VALUES (gen_random_uuid(), '{}', 'sms', '')",
            ana.id
        ),
        format!(
            "INSERT INTO user_notification_rules (id, user_id, contact_method_id, urgency, delay_minutes) VALUES (gen_random_uuid(), '{}', '{}', 'high', 121)",
            ana.id, phone.id
        ),
        format!(
            "INSERT INTO user_notification_rules (id, user_id, contact_method_id, urgency, delay_minutes) VALUES (gen_random_uuid(), '{}', '{}', 'urgent', 0)",
            ana.id, phone.id
        ),
        // A rule of Ana's on Bo's phone: the composite foreign key refuses it.
        format!(
            "INSERT INTO user_notification_rules (id, user_id, contact_method_id, urgency, delay_minutes) VALUES (gen_random_uuid(), '{}', '{}', 'high', 0)",
            ana.id, bos_phone.id
        ),
    ] {
        assert!(diesel::sql_query(&statement).execute(&mut conn).await.is_err(), "accepted: {statement}");
    }

    let rule = NewRule { contact_method_id: phone.id, urgency: PageUrgency::High, delay_minutes: 0 };
    let rule = contacts::add_rule(&mut conn, &ana, rule, "ana@example.com").await.expect("a rule");
    assert_eq!(contacts::rules(&mut conn, ana.id).await.expect("rules"), std::slice::from_ref(&rule));
    // Removing Bo's method as if it were Ana's removes nothing.
    assert_eq!(contacts::remove_method(&mut conn, &ana, bos_phone.id, "ana@example.com").await.expect("remove"), None);
    let removed = contacts::remove_method(&mut conn, &ana, phone.id, "admin").await.expect("remove");
    assert_eq!(removed.map(|method| method.id), Some(phone.id));
    assert!(contacts::rules(&mut conn, ana.id).await.expect("rules").is_empty(), "the method's rules went with it");
    assert_eq!(contacts::remove_rule(&mut conn, &ana, rule.id, "admin").await.expect("remove"), None);

    // Every change in the audit log, with who made it.
    let entries = catalogue::audit_entries(&mut conn, 100, None).await.expect("the audit log");
    let mut seen: Vec<(String, String, String)> =
        entries.iter().map(|entry| (entry.action.clone(), entry.actor.clone(), entry.subject.clone())).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("contact_method.add".into(), "ana@example.com".into(), "ana@example.com".into()),
            ("contact_method.add".into(), "ana@example.com".into(), "bo@example.com".into()),
            ("contact_method.remove".into(), "admin".into(), "ana@example.com".into()),
            ("notification_rule.add".into(), "ana@example.com".into(), "ana@example.com".into()),
        ]
    );
    let removal = entries.iter().find(|entry| entry.action == "contact_method.remove").expect("the removal");
    assert_eq!(removal.details["contact_method"]["address"], "+14155550123");
    assert_eq!(removal.details["contact_method"]["kind"], "sms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_claimed_once_due_and_cancelling_leaves_one_being_sent_to_its_worker() {
    use std::time::Duration;
    use time::OffsetDateTime;
    use tocsin_storage::notifications::{self, NewDelivery};
    use uuid::Uuid;
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let (incident, method) = (Uuid::now_v7(), Uuid::now_v7());
    let (now_rule, later_rule, soon_rule) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let targets = [
        notifications::page_target(now_rule),
        notifications::page_target(later_rule),
        notifications::page_target(soon_rule),
    ];
    let due = [
        OffsetDateTime::now_utc() - Duration::from_secs(1),
        OffsetDateTime::now_utc() + Duration::from_secs(300),
        OffsetDateTime::now_utc() + Duration::from_secs(300),
    ];
    let event_id = Uuid::now_v7();
    let rows: Vec<NewDelivery<'_>> = targets
        .iter()
        .zip(due)
        .map(|(target, due)| NewDelivery {
            event_id,
            target,
            incident_id: incident,
            event: "{}",
            traceparent: None,
            contact_method_id: Some(method),
            next_attempt_at: Some(due),
        })
        .collect();
    assert_eq!(notifications::enqueue(&mut conn, &rows).await.expect("enqueue"), 3);
    // A redelivered event queues nothing twice.
    assert_eq!(notifications::enqueue(&mut conn, &rows).await.expect("enqueue"), 0);

    // Only the page that is due is claimed, with its contact method.
    let claimed = notifications::claim_due(&mut conn, 10, Duration::from_secs(60)).await.expect("claim_due");
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].target.as_str(), claimed[0].contact_method_id), (targets[0].as_str(), Some(method)));

    // Acknowledging cancels the two waiting; the one being sent is left to its worker, which checks
    // the incident itself before sending.
    let cancelled =
        notifications::cancel_pages(&mut conn, incident, "the incident was acknowledged").await.expect("cancel");
    assert_eq!(cancelled, 2);
    assert_eq!(notifications::cancel_pages(&mut conn, incident, "again").await.expect("cancel"), 0);
    notifications::mark_cancelled(&mut conn, claimed[0].id, "the incident is acknowledged").await.expect("mark");
    assert_eq!(notifications::backlog(&mut conn).await.expect("backlog"), 0);
}
