//! The `tocsin` binary against the running stack: logging in, listing (a table for people, JSON
//! and YAML for scripts), showing and acting on incidents, and errors that name the fix.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use time::OffsetDateTime;
use tocsin_e2e::{API_TOKEN, Stack, webhook};

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
