//! PostgreSQL over TLS, as managed servers require: the URL's `sslmode` asks for it and the
//! server's certificate is verified. `make test` runs a local server with TLS on and exports
//! `TOCSIN_TEST_DATABASE_TLS_URL` (scripts/local-infra.sh); with servers of your own, set it to a
//! TLS URL of yours.

use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;
use tocsin_testkit::TestDatabase;

#[derive(QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn tls_url() -> String {
    std::env::var("TOCSIN_TEST_DATABASE_TLS_URL").unwrap_or_else(|_| {
        panic!("TOCSIN_TEST_DATABASE_TLS_URL is not set: run `make test`, or point it at your server with sslmode=verify-full")
    })
}

/// The TLS URL, aimed at `database` instead.
fn for_database(url: &str, database: &str) -> String {
    let (before, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = before.rsplit_once('/').unwrap_or((before, ""));
    format!("{server}/{database}?{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_and_migrations_speak_tls_when_the_url_asks() {
    let db = TestDatabase::new().await;
    let database = db.url.rsplit('/').next().unwrap_or_default().to_owned();
    let url = for_database(&tls_url(), &database);

    let applied = tocsin_storage::migrate(&url).await.expect("migrate over TLS");
    assert!(applied.is_empty(), "the template had every migration already");
    let pool = tocsin_storage::connect(&url, &tocsin_storage::PoolSettings::default()).expect("connect");
    let mut conn = pool.get().await.expect("connecting over TLS");
    let encrypted: Encrypted = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .await
        .expect("get result");
    assert!(encrypted.ssl, "the connection is encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_nobody_vouches_for_is_refused() {
    // The same server without its CA: the certificate chains to nothing the Mozilla roots know.
    let url = tls_url();
    let (before, _) = url.split_once('?').unwrap_or((&url, ""));
    let unverifiable = format!("{before}?sslmode=verify-full");
    let error = tocsin_storage::migrate(&unverifiable).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("certificate"), "expected a certificate error, got `{error}`");
}
