//! Teams' members against a real PostgreSQL: two managers demoting each other at once leave the
//! team one manager (the team's row is locked while its members change), and a user is found by
//! id or by e-mail address in any case, an address two users share naming neither.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::time::Duration;
use tocsin_domain::roles::Role;
use tocsin_storage::people::{self, SignedInIdentity, UserRow};
use tocsin_storage::teams::{self, FoundUser, MemberChange, MembershipError, UserRef};
use tocsin_storage::{AsyncConnection, AsyncPgConnection};
use tocsin_testkit::TestDatabase;

async fn user(conn: &mut AsyncPgConnection, issuer: &str, login: &str) -> UserRow {
    let email = format!("{login}@example.com");
    let identity = SignedInIdentity { issuer, subject: login, name: login, email: Some(&email) };
    people::sign_in_user(conn, &identity).await.expect("signing a user in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_demoting_each_other_at_once_leave_the_team_one() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let ana = user(&mut conn, "https://login.example.com", "ana").await;
    let bo = user(&mut conn, "https://login.example.com", "bo").await;
    conn.transaction(async |conn| {
        let team = teams::lock_or_create_team(conn, "payments", "test").await?;
        teams::set_member(conn, &team, &ana, Role::Manager, "test", false).await?;
        teams::set_member(conn, &team, &bo, Role::Manager, "test", false).await?;
        Ok::<_, MembershipError>(())
    })
    .await
    .expect("two managers");

    // bo demotes ana and holds the transaction open while ana, on another connection, demotes bo.
    let (mut first, mut second) = (db.connection().await, db.connection().await);
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let demote_ana = tokio::spawn(async move {
        first
            .transaction(async move |conn| {
                let team = teams::lock_team(conn, "payments").await?.expect("the team");
                let change = teams::set_member(conn, &team, &ana, Role::Responder, "bo", true).await;
                let _ = locked.send(());
                let _ = released.await;
                change
            })
            .await
    });
    is_locked.await.expect("the first demotion holds the team");
    let demote_bo = tokio::spawn(async move {
        second
            .transaction(async move |conn| {
                let team = teams::lock_team(conn, "payments").await?.expect("the team");
                teams::set_member(conn, &team, &bo, Role::Responder, "ana", true).await
            })
            .await
    });
    // Long enough for the second demotion to be waiting on the team's row.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = release.send(());
    let first = demote_ana.await.expect("the first demotion's task");
    assert!(matches!(first, Ok(MemberChange::Changed { previous: Role::Manager })), "{first:?}");
    let second = demote_bo.await.expect("the second demotion's task");
    assert!(matches!(second, Err(MembershipError::LastManager)), "{second:?}");
    let team = teams::team(&mut conn, "payments").await.expect("reading").expect("the team");
    let roles: Vec<Role> = teams::members(&mut conn, team.id).await.expect("members").iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Responder, Role::Manager], "ana demoted, bo still the manager");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_found_by_id_or_by_email_in_any_case_and_a_shared_address_is_several() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let ana = user(&mut conn, "https://login.example.com", "ana").await;
    for found in [UserRef::Id(ana.id), UserRef::Email("ANA@Example.com")] {
        let found = teams::find_user(&mut conn, found).await.expect("finding");
        assert!(matches!(&found, FoundUser::One(user) if user.id == ana.id), "{found:?}");
    }
    let nobody = teams::find_user(&mut conn, UserRef::Email("zoe@example.com")).await.expect("finding");
    assert_eq!(nobody, FoundUser::None);
    user(&mut conn, "https://accounts.example.org", "ana").await;
    let shared = teams::find_user(&mut conn, UserRef::Email("ana@example.com")).await.expect("finding");
    assert_eq!(shared, FoundUser::Several, "one address at two identity providers");
}
