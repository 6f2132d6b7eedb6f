//! People, sessions and sign-in attempts against a real PostgreSQL: a user is one per issuer and
//! subject, a session counts only while neither expired nor revoked, and a sign-in attempt is
//! taken once, by the browser that started it, while it is young.

use diesel_async::RunQueryDsl;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_storage::people::{self, NewSession, SignInAttempt, SignedInIdentity};
use tocsin_testkit::TestDatabase;

const ISSUER: &str = "https://login.example.com/tenant/v2.0";

fn alice<'a>(name: &'a str, email: Option<&'a str>) -> SignedInIdentity<'a> {
    SignedInIdentity { issuer: ISSUER, subject: "alice-subject", name, email }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_created_at_first_sign_in_and_refreshed_at_the_next() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let first = people::sign_in_user(&mut conn, &alice("Alice", Some("alice@example.com")))
        .await
        .unwrap_or_else(|e| panic!("first: {e}"));
    let again =
        people::sign_in_user(&mut conn, &alice("Alice Liddell", None)).await.unwrap_or_else(|e| panic!("again: {e}"));
    assert_eq!(again.id, first.id, "the same issuer and subject are the same person");
    assert_eq!((again.name.as_str(), again.email.as_deref(), again.is_admin), ("Alice Liddell", None, false));
    assert!(again.last_seen_at >= first.last_seen_at);
    let other_issuer = SignedInIdentity { issuer: "https://other.example.com", ..alice("Alice", None) };
    let stranger = people::sign_in_user(&mut conn, &other_issuer).await.unwrap_or_else(|e| panic!("other issuer: {e}"));
    assert_ne!(stranger.id, first.id, "a subject is only unique within its issuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_counts_until_it_expires_or_is_revoked() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let user = people::sign_in_user(&mut conn, &alice("Alice", None)).await.unwrap_or_else(|e| panic!("user: {e}"));
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    for (id, id_token) in [([1u8; 32], Some("id.token.one")), ([2u8; 32], None), ([3u8; 32], None)] {
        let session = NewSession { id_sha256: &id, user_id: user.id, csrf_token: "csrf", id_token, expires_at: later };
        people::create_session(&mut conn, &session).await.unwrap_or_else(|e| panic!("session: {e}"));
    }
    let active = people::active_session(&mut conn, &[1u8; 32])
        .await
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("no active session"));
    assert_eq!((active.user.id, active.csrf_token.as_str()), (user.id, "csrf"));
    assert_eq!(
        people::active_session(&mut conn, &[9u8; 32]).await.unwrap_or_else(|e| panic!("read: {e}")),
        None,
        "unknown"
    );

    assert_eq!(
        people::revoke_session(&mut conn, &[1u8; 32]).await.unwrap_or_else(|e| panic!("revoke: {e}")),
        Some(Some("id.token.one".into()))
    );
    assert_eq!(
        people::revoke_session(&mut conn, &[1u8; 32]).await.unwrap_or_else(|e| panic!("revoke: {e}")),
        None,
        "already revoked"
    );
    assert_eq!(
        people::active_session(&mut conn, &[1u8; 32]).await.unwrap_or_else(|e| panic!("read: {e}")),
        None,
        "revoked"
    );

    diesel::sql_query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_sha256 = $1")
        .bind::<diesel::sql_types::Bytea, _>([2u8; 32].to_vec())
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("expire: {e}"));
    assert_eq!(
        people::active_session(&mut conn, &[2u8; 32]).await.unwrap_or_else(|e| panic!("read: {e}")),
        None,
        "expired"
    );

    assert_eq!(people::revoke_user_sessions(&mut conn, user.id).await.unwrap_or_else(|e| panic!("revoke all: {e}")), 2);
    assert_eq!(
        people::active_session(&mut conn, &[3u8; 32]).await.unwrap_or_else(|e| panic!("read: {e}")),
        None,
        "revoked with the rest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_attempt_is_taken_once_by_its_browser_while_young() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let lifetime = Duration::from_secs(600);
    let attempt = |state: &str| SignInAttempt {
        state: state.into(),
        browser_sha256: vec![7u8; 32],
        pkce_verifier: "verifier".into(),
        nonce: "nonce".into(),
        return_to: "/".into(),
    };
    people::start_sign_in(&mut conn, &attempt("one"), lifetime).await.unwrap_or_else(|e| panic!("start: {e}"));
    assert_eq!(
        people::take_sign_in(&mut conn, "one", &[8u8; 32], lifetime).await.unwrap_or_else(|e| panic!("take: {e}")),
        None,
        "another browser takes nothing"
    );
    assert_eq!(
        people::take_sign_in(&mut conn, "one", &[7u8; 32], lifetime).await.unwrap_or_else(|e| panic!("take: {e}")),
        Some(attempt("one"))
    );
    assert_eq!(
        people::take_sign_in(&mut conn, "one", &[7u8; 32], lifetime).await.unwrap_or_else(|e| panic!("take: {e}")),
        None,
        "replayed"
    );
    assert_eq!(
        people::take_sign_in(&mut conn, "forged", &[7u8; 32], lifetime).await.unwrap_or_else(|e| panic!("take: {e}")),
        None
    );

    people::start_sign_in(&mut conn, &attempt("old"), lifetime).await.unwrap_or_else(|e| panic!("start: {e}"));
    diesel::sql_query("UPDATE sign_in_attempts SET created_at = now() - interval '11 minutes'")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("age: {e}"));
    assert_eq!(
        people::take_sign_in(&mut conn, "old", &[7u8; 32], lifetime).await.unwrap_or_else(|e| panic!("take: {e}")),
        None,
        "too old"
    );
}
