//! The `tocsin` binary against the running stack: logging in, listing (a table for people, JSON
//! and YAML for scripts), showing and acting on incidents, who is on call, and errors that name
//! the fix.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tocsin_e2e::{ADMIN_TOKEN, API_TOKEN, Stack, webhook};
use tocsin_storage::people::{self, SignedInIdentity};

struct Cli {
    config: PathBuf,
}

impl Cli {
    fn new() -> Cli {
        let folder = std::env::temp_dir().join(format!("tocsin-cli-{}", uuid::Uuid::new_v4().simple()));
        Cli { config: folder.join("tocsin/config.yaml") }
    }

    /// Runs `tocsin ARGS` with `token` on standard input, and waits for it.
    async fn run(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
        command
            .args(args)
            .env("TOCSIN_CONFIG", &self.config)
            .env_remove("TOCSIN_TOKEN")
            .env_remove("TOCSIN_CONTEXT")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("tocsin {args:?}: {error}"));
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(token.unwrap_or_default().as_bytes()).await.ok();
        }
        child.wait_with_output().await.unwrap_or_else(|error| panic!("tocsin {args:?}: {error}"))
    }

    /// Runs a command that must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args, None).await;
        assert!(output.status.success(), "tocsin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs a command that must fail with exit code 1; its standard error.
    async fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args, None).await;
        assert_eq!(output.status.code(), Some(1), "tocsin {args:?}: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|metadata| metadata.permissions().mode() & 0o777).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sre_logs_in_lists_acknowledges_and_reads_the_timeline() {
    let stack = Stack::start().await;
    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let incidents = stack.incidents_when("", |items| items.len() == 1).await;
    let id = incidents[0]["id"].as_str().unwrap_or_default().to_owned();
    let cli = Cli::new();

    // Nothing works before logging in, and the error says how to.
    let error = cli.fails(&["incidents", "list"]).await;
    assert!(error.contains("no context: log in first with `tocsin login"), "{error}");

    // A wrong token is found at login, not later, and nothing is saved.
    let refused = cli.run(&["login", "--url", &stack.query_url], Some("not-the-token-at-all")).await;
    assert_eq!(refused.status.code(), Some(1));
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("refused the token of context `default`") && error.contains("tocsin login --name default"),
        "{error}"
    );
    assert!(!cli.config.exists());
    let unreachable = cli.run(&["login", "--url", "http://127.0.0.1:9", "--name", "nowhere"], Some(API_TOKEN)).await;
    let error = String::from_utf8_lossy(&unreachable.stderr);
    assert!(error.contains("cannot reach http://127.0.0.1:9/") && error.contains("tocsin context list"), "{error}");

    let login = cli.run(&["login", "--url", &stack.query_url, "--name", "local"], Some(API_TOKEN)).await;
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    assert_eq!(mode(&cli.config), 0o600, "the file holds a token");
    assert_eq!(cli.ok(&["context", "list"]).await, format!("* local\t{}/\n", stack.query_url));

    // JSON for jq: the API's objects, whole.
    let listed: Vec<Value> = serde_json::from_str(&cli.ok(&["incidents", "list", "-o", "json"]).await)
        .expect("list -o json is not a JSON array");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["service"], "web-server");
    assert_eq!(listed[0]["status"], "open");

    // A table for people.
    let table = cli.ok(&["incidents", "list"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["ID", "STATUS", "SEVERITY", "SERVICE", "ENVIRONMENT", "TEAM", "AGE", "TITLE"]);
    let row: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(row[..6], [id.as_str(), "open", "critical", "web-server", "production", "unowned"]);

    let acknowledged: Value =
        serde_json::from_str(&cli.ok(&["incidents", "ack", &id, "--actor", "ana@example.com", "-o", "json"]).await)
            .expect("ack -o json");
    assert_eq!(acknowledged["status"], "acknowledged");
    assert_eq!(acknowledged["acknowledged_by"], "ana@example.com");

    let shown: Value =
        serde_yaml_ng::from_str(&cli.ok(&["incidents", "show", &id, "-o", "yaml"]).await).expect("show -o yaml");
    let timeline: Vec<(&str, &str)> = shown["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| (entry["kind"].as_str().unwrap_or_default(), entry["actor"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(timeline.last(), Some(&("acknowledged", "ana@example.com")), "{shown}");

    // A note on it, and an incident declared by hand, as the API records them.
    let noted: Value = serde_json::from_str(
        &cli.ok(&["incident", "note", &id, "Rolled back **v2.3**", "--actor", "ana@example.com", "-o", "json"]).await,
    )
    .expect("note -o json");
    assert_eq!(noted["version"], acknowledged["version"].as_i64().unwrap_or_default() + 1);
    let declared: Value = serde_json::from_str(
        &cli.ok(&[
            "incident",
            "declare",
            "Checkout failing for card payments",
            "--service",
            "checkout-api",
            "--severity",
            "high",
            "--summary",
            "Support reports failures",
            "--actor",
            "ana@example.com",
            "-o",
            "json",
        ])
        .await,
    )
    .expect("declare -o json");
    assert_eq!(
        (&declared["title"], &declared["severity"], &declared["status"], &declared["alert_count"]),
        (&json!("Checkout failing for card payments"), &json!("high"), &json!("open"), &json!(0))
    );
    let error = cli.fails(&["incident", "declare", "x", "--service", "checkout-api", "--severity", "sev1"]).await;
    assert!(error.contains("unknown variant `sev1`") && error.contains("critical"), "{error}");

    // The API's refusals come through in its words.
    let error = cli.fails(&["incidents", "ack", &id]).await;
    assert!(error.contains("acknowledged"), "{error}");
    let error = cli.fails(&["incidents", "show", "0190e3f2-0000-7000-8000-000000000000"]).await;
    assert!(error.contains("no incident 0190e3f2-0000-7000-8000-000000000000"), "{error}");
    let filtered: Vec<Value> =
        serde_json::from_str(&cli.ok(&["incidents", "list", "--status", "resolved", "-o", "json"]).await)
            .expect("from_str");
    assert!(filtered.is_empty());

    let script = cli.ok(&["completions", "bash"]).await;
    assert!(script.contains("_tocsin()"), "{script}");
    std::fs::remove_dir_all(cli.config.parent().and_then(Path::parent).unwrap_or(Path::new("/nonexistent"))).ok();
    stack.stop().await;
}

/// Sends a change to query as an admin; its answer.
async fn as_admin(stack: &Stack, method: reqwest::Method, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", stack.query_url);
    let response = stack.http.request(method.clone(), url).bearer_auth(ADMIN_TOKEN).json(&body).send().await;
    let response = response.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sre_asks_who_is_on_call() {
    let stack = Stack::start().await;
    let mut conn = stack.db.connection().await;
    for (name, email) in [("Ana", "ana@example.com"), ("Ben", "ben@example.com")] {
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: email, name, email: Some(email) };
        people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user");
    }
    // payments has a daily rotation of Ana and Ben in Berlin; web has a schedule nobody is on yet.
    for (service, team) in [("checkout-api", "payments"), ("web-server", "web")] {
        as_admin(&stack, reqwest::Method::PUT, &format!("/services/{service}"), json!({ "team": team })).await;
    }
    let primary = json!({"team": "payments", "name": "primary", "time_zone": "Europe/Berlin"});
    let primary = as_admin(&stack, reqwest::Method::POST, "/schedules", primary).await;
    let id = primary["id"].as_str().expect("the schedule's id").to_owned();
    let daily = json!({
        "first_handoff": "2026-01-01T09:00", "shift_unit": "days", "shift_count": 1,
        "members": ["ana@example.com", "ben@example.com"],
    });
    as_admin(&stack, reqwest::Method::POST, &format!("/schedules/{id}/layers"), daily).await;
    let empty = json!({"team": "web", "name": "frontend", "time_zone": "UTC"});
    as_admin(&stack, reqwest::Method::POST, "/schedules", empty).await;

    let cli = Cli::new();
    let login = cli.run(&["login", "--url", &stack.query_url], Some(API_TOKEN)).await;
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));

    // JSON: the items of GET /oncall, by team. A daily shift ends within a day.
    let now = OffsetDateTime::now_utc();
    let on_call: Vec<Value> =
        serde_json::from_str(&cli.ok(&["oncall", "-o", "json"]).await).expect("oncall -o json is not a JSON array");
    assert_eq!(on_call.len(), 2, "{on_call:?}");
    assert_eq!(on_call[0]["schedule"]["name"], "primary");
    let on_duty = on_call[0]["user"]["email"].as_str().unwrap_or_default();
    assert!(["ana@example.com", "ben@example.com"].contains(&on_duty), "{on_call:?}");
    let until = on_call[0]["until"].as_str().and_then(|until| OffsetDateTime::parse(until, &Rfc3339).ok());
    let until = until.expect("an RFC 3339 end of shift");
    assert!(until > now && until - now <= time::Duration::hours(25), "{until}");
    assert_eq!(on_call[1]["schedule"]["team"], "web");
    assert_eq!(on_call[1]["user"], Value::Null);

    // A table for people.
    let table = cli.ok(&["oncall"]).await;
    let rows: Vec<Vec<&str>> = table.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["TEAM", "SCHEDULE", "WHO", "EMAIL", "UNTIL", "LEFT"]);
    assert_eq!(rows[1][..4], ["payments", "primary", on_call[0]["user"]["name"].as_str().unwrap_or_default(), on_duty]);
    assert_eq!(rows[2], ["web", "frontend", "nobody", "-", "-", "-"]);

    // One team, as YAML; a team that does not exist is named.
    let web: Value = serde_yaml_ng::from_str(&cli.ok(&["oncall", "--team", "web", "-o", "yaml"]).await).expect("yaml");
    assert_eq!(web.as_array().map(Vec::len), Some(1), "{web}");
    let error = cli.fails(&["oncall", "--team", "nowhere"]).await;
    assert!(error.contains("no team \"nowhere\""), "{error}");

    // The schedules themselves.
    let listed = cli.ok(&["schedules", "list", "--team", "payments"]).await;
    let row: Vec<&str> = listed.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row, [id.as_str(), "payments", "primary", "Europe/Berlin"]);
    let shown: Value = serde_json::from_str(&cli.ok(&["schedules", "show", &id, "-o", "json"]).await).expect("json");
    let members: Vec<&str> = shown["layers"][0]["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|user| user["name"].as_str())
        .collect();
    assert_eq!(members, ["Ana", "Ben"]);
    let table = cli.ok(&["schedules", "show", &id]).await;
    assert!(table.contains("every 1 day from 2026-01-01T09:00:00") && table.contains("Ana, Ben"), "{table}");
    std::fs::remove_dir_all(cli.config.parent().and_then(Path::parent).unwrap_or(Path::new("/nonexistent"))).ok();
    stack.stop().await;
}
