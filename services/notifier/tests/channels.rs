//! Teams, GitHub and e-mail against real local servers: the fake HTTP API of tocsin-testkit for the
//! first two (asserting the exact requests), and a real SMTP server (Python's aiosmtpd, through
//! tests/support/smtp_sink.py) for e-mail, in plain text, STARTTLS and implicit TLS.
//!
//! The e-mail tests need aiosmtpd: `scripts/test-tools.sh` installs it into `.local/venv`, or point
//! `TOCSIN_TEST_PYTHON` at an interpreter that has it. Without either they fail, saying so.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tocsin_domain::incident::SourceAlert;
use tocsin_domain::{EventKind, Incident, IncidentEvent, IncidentStatus};
use tocsin_notifier::channels::email::{Email, SmtpSettings};
use tocsin_notifier::channels::github::GitHub;
use tocsin_notifier::channels::teams::Teams;
use tocsin_notifier::channels::{Delivered, DeliveryError, Summary, Thread};
use tocsin_runtime::Secret;
use tocsin_testkit::{FakeApi, RecordedRequest, Reply};
use tokio::io::{AsyncBufReadExt, BufReader};

const INCIDENT_ID: &str = "00000000-0000-0000-0000-0000000000a1";
const PUBLIC_URL: &str = "https://tocsin.example.com";

fn event(kind: EventKind, status: IncidentStatus) -> IncidentEvent {
    let at = time::macros::datetime!(2026-03-01 12:00 UTC);
    let actor = if kind == EventKind::Opened { "tocsin" } else { "ana@example.com" };
    IncidentEvent {
        id: uuid::Uuid::from_u128(0xe1 + kind as u128),
        kind,
        at,
        actor: actor.into(),
        incident: Incident {
            id: uuid::Uuid::from_u128(0xa1),
            status,
            runbook_url: Some("https://runbooks.example.com/high-cpu".into()),
            source_alert: SourceAlert {
                fingerprint: "3f2a".into(),
                starts_at: at,
                labels: [("alertname".to_owned(), "HighCpu".to_owned())].into(),
            },
            alert_count: 2,
            firing_count: if status == IncidentStatus::Resolved { 0 } else { 2 },
            ..tocsin_testkit::open_incident(at)
        },
        detail: json!({ "alert": { "alertname": "HighCpu" } }),
        maintenance: None,
    }
}

/// An incident whose alert text tries to ping people and smuggle links into every channel: the
/// summary (the title) carries Slack's `<!channel>` and a Slack link, the service a GitHub team
/// mention, the alert's name a Markdown link and a Slack user mention.
fn hostile_event(kind: EventKind, status: IncidentStatus) -> IncidentEvent {
    let mut event = event(kind, status);
    event.incident.title = HOSTILE_SUMMARY.into();
    event.incident.service = "@acme/security".into();
    event.detail = json!({ "alert": { "alertname": HOSTILE_ALERTNAME } });
    event
}

const HOSTILE_SUMMARY: &str = "<!channel> <https://evil.example|Runbook>";
const HOSTILE_ALERTNAME: &str = "[Runbook](https://evil.example) <@U0ADMIN>";
/// The word joiner tocsin puts where alert text would otherwise start a mention or a link: it
/// shows as nothing, and no parser sees `@team` or `https://` any more.
const WJ: &str = "\u{2060}";

/// What a channel's request must not hold: a mention a parser would pick up, or anything that
/// links to evil.example. (Slack's `<!channel>` means nothing outside Slack: there it is only text.)
fn assert_inert(channel: &str, sent: &str) {
    for live in ["<@U0ADMIN>", "@acme/security", "https://evil.example", "](https://evil"] {
        assert!(!sent.contains(live), "{channel} received {live:?} live: {sent}");
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("building")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address").port()
}

fn expect_retry(result: Result<Delivered, DeliveryError>) -> (String, Option<Duration>) {
    match result {
        Err(DeliveryError::Retry { reason, after }) => (reason, after),
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn expect_permanent(result: Result<Delivered, DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Permanent { reason }) => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

// --- Teams -------------------------------------------------------------------------------------

const TEAMS_PATH: &str = "/workflows/5e1d/triggers/manual/paths/invoke";

fn teams_url(api: &FakeApi) -> Secret {
    Secret::new(format!("{}{TEAMS_PATH}?api-version=1&sig=s3cr3t-signature", api.url))
}

#[tokio::test]
async fn teams_posts_an_adaptive_card() {
    let api = FakeApi::start().await;
    api.respond("POST", TEAMS_PATH, Reply::status(202));
    let teams = Teams::new(http(), teams_url(&api));
    let event = event(EventKind::Acknowledged, IncidentStatus::Acknowledged);

    let delivered = teams.deliver(&Summary::new(&event, Some(PUBLIC_URL))).await;

    assert_eq!(delivered, Ok(Delivered::default()));
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("{TEAMS_PATH}?api-version=1&sig=s3cr3t-signature"));
    assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(
        request.json(),
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "[CRITICAL] High CPU usage on web-server-01",
                            "weight": "Bolder",
                            "size": "Large",
                            "wrap": true,
                            "color": "Attention",
                        },
                        { "type": "TextBlock", "text": "Acknowledged by ana@example.com", "wrap": true },
                        {
                            "type": "FactSet",
                            "facts": [
                                { "title": "Status", "value": "acknowledged" },
                                { "title": "Severity", "value": "critical" },
                                { "title": "Service", "value": "checkout" },
                                { "title": "Environment", "value": "production" },
                                { "title": "Team", "value": "payments" },
                                { "title": "Alerts", "value": "2 firing of 2" },
                                { "title": "Assignee", "value": "nobody" },
                            ],
                        },
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Runbook",
                            "url": "https://runbooks.example.com/high-cpu",
                        },
                        {
                            "type": "Action.OpenUrl",
                            "title": "Dashboard",
                            "url": format!("{PUBLIC_URL}/incident/{INCIDENT_ID}"),
                        },
                    ],
                },
            }],
        })
    );
    api.stop().await;
}

#[tokio::test]
async fn teams_refusals_are_classified() {
    let api = FakeApi::start().await;
    api.respond_once("POST", TEAMS_PATH, Reply::text(429, "slow down").header("Retry-After", "7"));
    api.respond_once("POST", TEAMS_PATH, Reply::status(500));
    api.respond_once("POST", TEAMS_PATH, Reply::json(400, json!({ "error": { "code": "InvalidRequestContent" } })));
    let teams = Teams::new(http(), teams_url(&api));
    let event = event(EventKind::Opened, IncidentStatus::Open);
    let summary = Summary::new(&event, None);

    let (reason, after) = expect_retry(teams.deliver(&summary).await);
    assert_eq!(after, Some(Duration::from_secs(7)));
    assert_eq!(reason, "teams answered 429 Too Many Requests: slow down");
    let (_, after) = expect_retry(teams.deliver(&summary).await);
    assert_eq!(after, None);
    let reason = expect_permanent(teams.deliver(&summary).await);
    assert!(reason.contains("400 Bad Request") && reason.contains("InvalidRequestContent"), "{reason}");
    assert_eq!(api.requests().len(), 3);
    api.stop().await;
}

#[tokio::test]
async fn teams_errors_never_show_the_webhook_url() {
    let url = format!("http://127.0.0.1:{}{TEAMS_PATH}?sig=s3cr3t-signature", closed_port());
    let teams = Teams::new(http(), Secret::new(url));
    let event = event(EventKind::Opened, IncidentStatus::Open);

    let (reason, _) = expect_retry(teams.deliver(&Summary::new(&event, None)).await);

    assert!(reason.starts_with("teams: "), "{reason}");
    assert!(!reason.contains("s3cr3t") && !reason.contains("/workflows/"), "{reason}");
}

#[tokio::test]
async fn teams_shows_hostile_alert_text_as_inert_text() {
    let api = FakeApi::start().await;
    api.respond("POST", TEAMS_PATH, Reply::status(202));
    let teams = Teams::new(http(), teams_url(&api));
    let event = hostile_event(EventKind::Opened, IncidentStatus::Open);

    assert_eq!(teams.deliver(&Summary::new(&event, Some(PUBLIC_URL))).await, Ok(Delivered::default()));

    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let card = &requests[0].json()["attachments"][0]["content"];
    assert_eq!(
        card["body"],
        json!([
            {
                "type": "TextBlock",
                "text": format!("[CRITICAL] <!channel> <https:{WJ}//evil.example|Runbook>"),
                "weight": "Bolder",
                "size": "Large",
                "wrap": true,
                "color": "Attention",
            },
            {
                "type": "TextBlock",
                "text": format!("Opened by [Runbook]{WJ}(https:{WJ}//evil.example) <@{WJ}U0ADMIN>"),
                "wrap": true,
            },
            {
                "type": "FactSet",
                "facts": [
                    { "title": "Status", "value": "open" },
                    { "title": "Severity", "value": "critical" },
                    { "title": "Service", "value": format!("@{WJ}acme/security") },
                    { "title": "Environment", "value": "production" },
                    { "title": "Team", "value": "payments" },
                    { "title": "Alerts", "value": "2 firing of 2" },
                    { "title": "Assignee", "value": "nobody" },
                ],
            },
        ])
    );
    // Only the links tocsin builds are links.
    assert_eq!(
        card["actions"],
        json!([
            { "type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks.example.com/high-cpu" },
            { "type": "Action.OpenUrl", "title": "Dashboard", "url": format!("{PUBLIC_URL}/incident/{INCIDENT_ID}") },
        ])
    );
    assert_inert("teams", &requests[0].text());
    api.stop().await;
}

// --- GitHub ------------------------------------------------------------------------------------

const TOKEN: &str = "ghp_t0ken";

fn github(api_url: String) -> GitHub {
    GitHub::new(http(), api_url, "acme/shop".into(), Secret::new(TOKEN), vec!["incident".into()])
}

fn assert_github_headers(request: &RecordedRequest) {
    let what = format!("{} {}", request.method, request.path);
    assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{what}");
    assert_eq!(request.header("accept"), Some("application/vnd.github+json"), "{what}");
    assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"), "{what}");
    assert_eq!(request.header("user-agent"), Some("tocsin-notifier"), "{what}");
    assert_eq!(request.header("content-type"), Some("application/json"), "{what}");
}

fn issue_created(number: u64) -> Reply {
    Reply::json(201, json!({ "number": number, "state": "open", "html_url": "https://github.com/acme/shop/issues/42" }))
}

#[tokio::test]
async fn github_follows_an_incident_on_one_issue() {
    let api = FakeApi::start().await;
    api.respond("POST", "/repos/acme/shop/issues", issue_created(42));
    api.respond("POST", "/repos/acme/shop/issues/42/comments", Reply::json(201, json!({ "id": 1 })));
    api.respond("PATCH", "/repos/acme/shop/issues/42", Reply::json(200, json!({ "number": 42 })));
    let github = github(api.url.clone());

    // Opened: a new issue, which becomes the incident's thread.
    let opened = event(EventKind::Opened, IncidentStatus::Open);
    let delivered = github.deliver(&Summary::new(&opened, Some(PUBLIC_URL)), None).await;
    let thread = Thread { location: "acme/shop".into(), reference: "42".into() };
    assert_eq!(delivered, Ok(Delivered { new_thread: Some(thread.clone()) }));
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let create = &requests[0];
    assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/repos/acme/shop/issues"));
    assert_github_headers(create);
    let body = create.json();
    assert_eq!(body["title"], "[CRITICAL] High CPU usage on web-server-01");
    assert_eq!(body["labels"], json!(["severity:critical", "service:checkout", "incident"]));
    let text = body["body"].as_str().unwrap_or_else(|| panic!("no body: {body}"));
    assert!(text.starts_with("**Opened by HighCpu**\n"), "{text}");
    for row in ["| Status | open |", "| Service | checkout |", "| Alerts | 2 firing of 2 |"] {
        assert!(text.contains(row), "{row} missing from {text}");
    }
    assert!(text.contains("[Runbook](<https://runbooks.example.com/high-cpu>)"), "{text}");
    assert!(text.contains(&format!("[Dashboard](<{PUBLIC_URL}/incident/{INCIDENT_ID}>)")), "{text}");
    assert!(text.ends_with(&format!("<!-- tocsin:incident:{INCIDENT_ID} -->\n")), "{text}");

    // Acknowledged: a comment only.
    let acknowledged = event(EventKind::Acknowledged, IncidentStatus::Acknowledged);
    assert_eq!(github.deliver(&Summary::new(&acknowledged, None), Some(&thread)).await, Ok(Delivered::default()));
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    let comment = &requests[1];
    assert_eq!((comment.method.as_str(), comment.path.as_str()), ("POST", "/repos/acme/shop/issues/42/comments"));
    assert_github_headers(comment);
    assert_eq!(
        comment.json(),
        json!({
            "body": "**Acknowledged by ana@example.com**\n\n\
                     Status: **acknowledged** · 2 firing of 2 alerts · assignee: nobody",
        })
    );

    // Resolved: closed as completed, then the comment.
    let resolved = event(EventKind::Resolved, IncidentStatus::Resolved);
    assert_eq!(github.deliver(&Summary::new(&resolved, None), Some(&thread)).await, Ok(Delivered::default()));
    let requests = api.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!((requests[2].method.as_str(), requests[2].path.as_str()), ("PATCH", "/repos/acme/shop/issues/42"));
    assert_github_headers(&requests[2]);
    assert_eq!(requests[2].json(), json!({ "state": "closed", "state_reason": "completed" }));
    assert_eq!(requests[3].path, "/repos/acme/shop/issues/42/comments");
    assert_eq!(
        requests[3].json()["body"],
        "**Resolved by ana@example.com**\n\nStatus: **resolved** · 0 firing of 2 alerts · assignee: nobody"
    );

    // Reopened: open again, then the comment.
    let reopened = event(EventKind::Reopened, IncidentStatus::Open);
    assert_eq!(github.deliver(&Summary::new(&reopened, None), Some(&thread)).await, Ok(Delivered::default()));
    let requests = api.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!((requests[4].method.as_str(), requests[4].path.as_str()), ("PATCH", "/repos/acme/shop/issues/42"));
    assert_eq!(requests[4].json(), json!({ "state": "open" }));
    assert_eq!(requests[5].path, "/repos/acme/shop/issues/42/comments");
    assert!(requests[5].text().contains("Reopened by ana@example.com"));
    api.stop().await;
}

#[tokio::test]
async fn github_shows_hostile_alert_text_as_inert_text() {
    let api = FakeApi::start().await;
    api.respond("POST", "/repos/acme/shop/issues", issue_created(42));
    api.respond("POST", "/repos/acme/shop/issues/42/comments", Reply::json(201, json!({ "id": 1 })));
    let github = github(api.url.clone());
    let opened = hostile_event(EventKind::Opened, IncidentStatus::Open);
    let mut acknowledged = hostile_event(EventKind::Acknowledged, IncidentStatus::Acknowledged);
    acknowledged.actor = "@acme/security".into();
    acknowledged.incident.assignee = Some("[me](https://evil.example)".into());
    let thread = Thread { location: "acme/shop".into(), reference: "42".into() };

    github.deliver(&Summary::new(&opened, Some(PUBLIC_URL)), None).await.expect("deliver");
    github.deliver(&Summary::new(&acknowledged, Some(PUBLIC_URL)), Some(&thread)).await.expect("deliver");

    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].json(),
        json!({
            "title": format!("[CRITICAL] <!channel> <https:{WJ}//evil.example|Runbook>"),
            "body": format!(
                "**Opened by \\[Runbook\\](https:{WJ}//evil.example) \\<@{WJ}U0ADMIN\\>**\n\n\
                 | | |\n|---|---|\n\
                 | Status | open |\n| Severity | critical |\n| Service | @{WJ}acme/security |\n\
                 | Environment | production |\n| Team | payments |\n| Alerts | 2 firing of 2 |\n\
                 | Assignee | nobody |\n\n\
                 [Runbook](<https://runbooks.example.com/high-cpu>) · \
                 [Dashboard](<{PUBLIC_URL}/incident/{INCIDENT_ID}>)\n\n\
                 <!-- tocsin:incident:{INCIDENT_ID} -->\n"
            ),
            "labels": ["severity:critical", "service:@acme/security", "incident"],
        })
    );
    assert_eq!(
        requests[1].json(),
        json!({
            "body": format!(
                "**Acknowledged by @{WJ}acme/security**\n\n\
                 Status: **acknowledged** · 2 firing of 2 alerts · assignee: \\[me\\](https:{WJ}//evil.example) · \
                 [Dashboard](<{PUBLIC_URL}/incident/{INCIDENT_ID}>)"
            ),
        })
    );
    // Labels are names, never rendered as Markdown: `service:@acme/security` pings nobody.
    for shown in [&requests[0].json()["title"], &requests[0].json()["body"], &requests[1].json()["body"]] {
        assert_inert("github", shown.as_str().unwrap_or_default());
    }
    api.stop().await;
}

#[tokio::test]
async fn github_enterprise_api_urls_keep_their_path() {
    let api = FakeApi::start().await;
    api.respond("POST", "/api/v3/repos/acme/shop/issues", issue_created(7));
    api.respond("PATCH", "/api/v3/repos/acme/shop/issues/7", Reply::json(200, json!({ "number": 7 })));
    let github = github(format!("{}/api/v3/", api.url));

    // An incident first seen already resolved: its issue is opened and closed at once.
    let resolved = event(EventKind::Resolved, IncidentStatus::Resolved);
    let delivered = github.deliver(&Summary::new(&resolved, None), None).await;

    let thread = Thread { location: "acme/shop".into(), reference: "7".into() };
    assert_eq!(delivered, Ok(Delivered { new_thread: Some(thread) }));
    let requests = api.requests();
    let calls: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(calls, [("POST", "/api/v3/repos/acme/shop/issues"), ("PATCH", "/api/v3/repos/acme/shop/issues/7")]);
    assert_eq!(requests[1].json(), json!({ "state": "closed", "state_reason": "completed" }));
    requests.iter().for_each(assert_github_headers);
    api.stop().await;
}

#[tokio::test]
async fn github_rate_limits_are_retried_after_the_reset() {
    let api = FakeApi::start().await;
    let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 30;
    api.respond_once(
        "POST",
        "/repos/acme/shop/issues",
        Reply::json(403, json!({ "message": "API rate limit exceeded for user ID 1." }))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    api.respond_once(
        "POST",
        "/repos/acme/shop/issues",
        Reply::json(403, json!({ "message": "You have exceeded a secondary rate limit." })).header("retry-after", "45"),
    );
    api.respond_once("POST", "/repos/acme/shop/issues", Reply::json(401, json!({ "message": "Bad credentials" })));
    api.respond_once(
        "POST",
        "/repos/acme/shop/issues",
        Reply::json(403, json!({ "message": "Resource not accessible by personal access token" }))
            .header("x-ratelimit-remaining", "4999"),
    );
    api.respond_once("POST", "/repos/acme/shop/issues", Reply::status(502));
    let github = github(api.url.clone());
    let event = event(EventKind::Opened, IncidentStatus::Open);
    let summary = Summary::new(&event, None);

    let (_, after) = expect_retry(github.deliver(&summary, None).await);
    let after = after.expect("no wait for a rate limit");
    assert!((Duration::from_secs(28)..=Duration::from_secs(30)).contains(&after), "{after:?}");
    let (_, after) = expect_retry(github.deliver(&summary, None).await);
    assert_eq!(after, Some(Duration::from_secs(45)));
    let reason = expect_permanent(github.deliver(&summary, None).await);
    assert_eq!(reason, r#"github issues.create answered 401 Unauthorized: {"message":"Bad credentials"}"#);
    expect_permanent(github.deliver(&summary, None).await);
    expect_retry(github.deliver(&summary, None).await);
    api.stop().await;
}

#[tokio::test]
async fn github_a_failed_comment_fails_the_delivery() {
    let api = FakeApi::start().await;
    api.respond("POST", "/repos/acme/shop/issues/42/comments", Reply::json(404, json!({ "message": "Not Found" })));
    let github = github(api.url.clone());
    let event = event(EventKind::Acknowledged, IncidentStatus::Acknowledged);
    let thread = Thread { location: "acme/shop".into(), reference: "42".into() };

    let reason = expect_permanent(github.deliver(&Summary::new(&event, None), Some(&thread)).await);

    assert!(reason.starts_with("github issues.comment answered 404 Not Found"), "{reason}");
    let not_a_number = Thread { location: "acme/shop".into(), reference: "../../x".into() };
    expect_permanent(github.deliver(&Summary::new(&event, None), Some(&not_a_number)).await);
    assert_eq!(api.requests().len(), 1, "nothing is sent for a malformed thread");
    api.stop().await;
}

// --- E-mail ------------------------------------------------------------------------------------

/// A scratch folder under target/tmp, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("notifier-channels-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An interpreter with aiosmtpd: `TOCSIN_TEST_PYTHON`, else the project's `.local/venv`.
async fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/venv/bin/python");
    let candidates: Vec<PathBuf> =
        std::env::var_os("TOCSIN_TEST_PYTHON").map(PathBuf::from).into_iter().chain([venv]).collect();
    for candidate in &candidates {
        let status = tokio::process::Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if status.is_ok_and(|status| status.success()) {
            return candidate.clone();
        }
    }
    panic!(
        "the e-mail tests need Python with aiosmtpd; none of {candidates:?} has it. \
         Run scripts/test-tools.sh (installs it into .local/venv), or set TOCSIN_TEST_PYTHON"
    );
}

/// Runs `openssl` with the (space-separated) arguments in `dir`.
async fn openssl(args: &str, dir: &Path) {
    let output = tokio::process::Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .await
        .expect("openssl");
    if !output.status.success() {
        panic!("openssl {args} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// A throwaway CA and a certificate it signed for `localhost` and 127.0.0.1; answers the CA's path.
async fn certificates(dir: &Path) -> PathBuf {
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(
        &format!(
            "req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=tocsin-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
        dir,
    )
    .await;
    openssl(&format!("req {key} -keyout server.key -out server.csr -subj /CN=localhost"), dir).await;
    let extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                      extendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), extensions).expect("writing a test file");
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
         -extfile server.ext",
        dir,
    )
    .await;
    dir.join("ca.pem")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SinkTls {
    None,
    StartTls,
    Implicit,
}

/// tests/support/smtp_sink.py, running until dropped.
struct Sink {
    port: u16,
    mail: PathBuf,
    _process: tokio::process::Child,
}

impl Sink {
    async fn start(scratch: &Path, tls: SinkTls, extra: &[&str]) -> Sink {
        let python = python().await;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mail = scratch.join("mail");
        let mut command = tokio::process::Command::new(python);
        command.arg(&script).arg(&mail).args(extra);
        match tls {
            SinkTls::None => {}
            SinkTls::StartTls => {
                command.args(["--tls", "starttls"]);
            }
            SinkTls::Implicit => {
                command.args(["--tls", "implicit"]);
            }
        }
        if tls != SinkTls::None {
            command.arg("--cert").arg(scratch.join("server.pem")).arg("--key").arg(scratch.join("server.key"));
        }
        let mut process = command
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{}: {error}", script.display()));
        let stdout = process.stdout.take().expect("the SMTP sink has no stdout");
        let mut first_line = String::new();
        tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut first_line))
            .await
            .expect("the SMTP sink did not start within 30s")
            .expect("the SMTP sink");
        let port = first_line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink said {first_line:?}"));
        Sink { port, mail, _process: process }
    }

    /// What the server accepted, in order.
    fn received(&self) -> Vec<Value> {
        let mut received = Vec::new();
        for n in 1.. {
            match std::fs::read(self.mail.join(format!("{n}.json"))) {
                Ok(bytes) => received.push(serde_json::from_slice(&bytes).expect("parsing")),
                Err(_) => break,
            }
        }
        received
    }
}

fn smtp(url: String) -> SmtpSettings {
    SmtpSettings {
        url,
        from: "tocsin <tocsin@example.com>".into(),
        username: None,
        password: None,
        ca_file: None,
        timeout: Duration::from_secs(10),
    }
}

fn recipients() -> Vec<String> {
    vec!["oncall@example.com".into(), "Payments Team <payments@example.com>".into()]
}

fn email(settings: &SmtpSettings, to: &[String]) -> Email {
    Email::new(settings, to).expect("creating")
}

/// A header of a received message, as Python's e-mail package decodes it.
fn header<'a>(message: &'a Value, name: &str) -> Option<&'a str> {
    let headers = message["headers"].as_array()?;
    let pair = headers.iter().find(|pair| pair[0].as_str().is_some_and(|key| key.eq_ignore_ascii_case(name)))?;
    pair[1].as_str()
}

/// The decoded text of the message's part of `content_type`.
fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    message["parts"]
        .as_array()
        .and_then(|parts| parts.iter().find(|part| part["content_type"] == content_type))
        .and_then(|part| part["text"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {}", message["content"]))
}

#[tokio::test]
async fn email_goes_to_every_recipient_as_text_and_html_threaded_per_incident() {
    let scratch = Scratch::new();
    let sink = Sink::start(&scratch.0, SinkTls::None, &[]).await;
    let email = email(&smtp(format!("smtp://127.0.0.1:{}", sink.port)), &recipients());
    let mut opened = event(EventKind::Opened, IncidentStatus::Open);
    opened.incident.title = "<script>alert('pwned')</script> & CPU".into();
    let mut acknowledged = event(EventKind::Acknowledged, IncidentStatus::Acknowledged);
    acknowledged.incident.title = opened.incident.title.clone();

    assert_eq!(email.deliver(&Summary::new(&opened, Some(PUBLIC_URL))).await, Ok(Delivered::default()));
    assert_eq!(email.deliver(&Summary::new(&acknowledged, Some(PUBLIC_URL))).await, Ok(Delivered::default()));

    let received = sink.received();
    assert_eq!(received.len(), 2, "one message per event");
    let first = &received[0];
    assert_eq!(first["mail_from"], "tocsin@example.com");
    assert_eq!(first["rcpt_tos"], json!(["oncall@example.com", "payments@example.com"]));
    assert_eq!(first["tls"], false);
    assert_eq!(header(first, "From"), Some("tocsin <tocsin@example.com>"));
    assert_eq!(header(first, "To"), Some("oncall@example.com, Payments Team <payments@example.com>"));
    assert_eq!(header(first, "Subject"), Some("[CRITICAL] <script>alert('pwned')</script> & CPU"));
    assert_eq!(first["content_type"], "multipart/alternative");
    let thread = format!("<incident-{INCIDENT_ID}@tocsin>");
    assert_eq!(header(first, "Message-ID"), Some(thread.as_str()));
    assert_eq!(header(first, "In-Reply-To"), None);

    let text = part(first, "text/plain");
    assert!(text.starts_with("[CRITICAL] <script>alert('pwned')</script> & CPU\n\nOpened by HighCpu\n"), "{text}");
    assert!(text.contains("Service:     checkout\n"), "{text}");
    assert!(text.contains("Runbook: https://runbooks.example.com/high-cpu\n"), "{text}");
    let html = part(first, "text/html");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("<h2>[CRITICAL] &lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; CPU</h2>"),
        "{html}"
    );
    assert!(html.contains("<strong>Opened by HighCpu</strong>"), "{html}");
    assert!(html.contains(">Service</th><td>checkout</td>"), "{html}");
    assert!(html.contains("<a href=\"https://runbooks.example.com/high-cpu\">Runbook</a>"), "{html}");
    assert!(html.contains(&format!("<a href=\"{PUBLIC_URL}/incident/{INCIDENT_ID}\">Dashboard</a>")), "{html}");

    let second = &received[1];
    assert_eq!(header(second, "Subject"), header(first, "Subject"), "one subject keeps the thread together");
    assert_eq!(header(second, "In-Reply-To"), Some(thread.as_str()));
    assert_eq!(header(second, "References"), Some(thread.as_str()));
    assert_ne!(header(second, "Message-ID"), Some(thread.as_str()));
    assert!(part(second, "text/plain").contains("\nAcknowledged by ana@example.com\n"));
    assert!(part(second, "text/html").contains("<strong>Acknowledged by ana@example.com</strong>"));
}

#[tokio::test]
async fn email_shows_hostile_alert_text_as_inert_text() {
    let scratch = Scratch::new();
    let sink = Sink::start(&scratch.0, SinkTls::None, &[]).await;
    let email = email(&smtp(format!("smtp://127.0.0.1:{}", sink.port)), &recipients());
    let event = hostile_event(EventKind::Opened, IncidentStatus::Open);

    assert_eq!(email.deliver(&Summary::new(&event, Some(PUBLIC_URL))).await, Ok(Delivered::default()));

    let received = sink.received();
    assert_eq!(received.len(), 1);
    let message = &received[0];
    let headline = format!("[CRITICAL] <!channel> <https:{WJ}//evil.example|Runbook>");
    assert_eq!(header(message, "Subject"), Some(headline.as_str()));
    assert_eq!(
        part(message, "text/plain"),
        format!(
            "{headline}\n\n\
             Opened by [Runbook](https:{WJ}//evil.example) <@{WJ}U0ADMIN>\n\n\
             Status:      open\n\
             Severity:    critical\n\
             Service:     @{WJ}acme/security\n\
             Environment: production\n\
             Team:        payments\n\
             Alerts:      2 firing of 2\n\
             Assignee:    nobody\n\n\
             Runbook: https://runbooks.example.com/high-cpu\n\
             Dashboard: {PUBLIC_URL}/incident/{INCIDENT_ID}\n\n\
             -- \nSent by tocsin about incident {INCIDENT_ID}.\n"
        )
    );
    let row = |label: &str, value: &str| {
        format!("<tr><th align=\"left\" style=\"padding-right: 1em\">{label}</th><td>{value}</td></tr>\n")
    };
    assert_eq!(
        part(message, "text/html"),
        format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n\
             <h2>[CRITICAL] &lt;!channel&gt; &lt;https:{WJ}//evil.example|Runbook&gt;</h2>\n\
             <p><strong>Opened by [Runbook](https:{WJ}//evil.example) &lt;@{WJ}U0ADMIN&gt;</strong></p>\n<table>\n\
             {}{}{}{}{}{}{}</table>\n\
             <p><a href=\"https://runbooks.example.com/high-cpu\">Runbook</a> · \
             <a href=\"{PUBLIC_URL}/incident/{INCIDENT_ID}\">Dashboard</a></p>\n\
             <p style=\"color: #666; font-size: small\">Sent by tocsin about incident {INCIDENT_ID}.</p>\n\
             </body></html>\n",
            row("Status", "open"),
            row("Severity", "critical"),
            row("Service", &format!("@{WJ}acme/security")),
            row("Environment", "production"),
            row("Team", "payments"),
            row("Alerts", "2 firing of 2"),
            row("Assignee", "nobody"),
        )
    );
    for shown in [headline.as_str(), part(message, "text/plain"), part(message, "text/html")] {
        assert_inert("e-mail", shown);
    }
}

#[tokio::test]
async fn email_over_starttls_logs_in_and_checks_the_certificate() {
    let scratch = Scratch::new();
    let ca = certificates(&scratch.0).await;
    let sink = Sink::start(&scratch.0, SinkTls::StartTls, &["--user", "tocsin:s3cret"]).await;
    let mut settings = smtp(format!("smtp://localhost:{}?tls=required", sink.port));
    settings.username = Some(Secret::new("tocsin"));
    settings.password = Some(Secret::new("s3cret"));
    settings.ca_file = Some(ca);
    let event = event(EventKind::Opened, IncidentStatus::Open);

    assert_eq!(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await, Ok(Delivered::default()));

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["tls"], true);
    assert_eq!(received[0]["login"], "tocsin");

    // A wrong password is the server's 535: permanent.
    settings.password = Some(Secret::new("wrong"));
    let reason = expect_permanent(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await);
    assert!(reason.contains("535"), "{reason}");

    // Without the CA, the certificate is not trusted and nothing is sent.
    settings.password = Some(Secret::new("s3cret"));
    settings.ca_file = None;
    let (reason, _) = expect_retry(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await);
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn email_over_implicit_tls() {
    let scratch = Scratch::new();
    let ca = certificates(&scratch.0).await;
    let sink = Sink::start(&scratch.0, SinkTls::Implicit, &["--user", "tocsin:s3cret"]).await;
    let mut settings = smtp(format!("smtps://127.0.0.1:{}", sink.port));
    settings.username = Some(Secret::new("tocsin"));
    settings.password = Some(Secret::new("s3cret"));
    settings.ca_file = Some(ca);
    let event = event(EventKind::Resolved, IncidentStatus::Resolved);

    assert_eq!(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await, Ok(Delivered::default()));

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["tls"], true);
    assert_eq!(received[0]["login"], "tocsin");
    assert!(part(&received[0], "text/plain").contains("\nResolved by ana@example.com\n"));
}

#[tokio::test]
async fn email_requiring_starttls_from_a_server_without_it_sends_nothing() {
    let scratch = Scratch::new();
    let sink = Sink::start(&scratch.0, SinkTls::None, &[]).await;
    let settings = smtp(format!("smtp://127.0.0.1:{}?tls=required", sink.port));
    let event = event(EventKind::Opened, IncidentStatus::Open);

    let reason = expect_permanent(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await);

    assert!(reason.contains("STARTTLS"), "{reason}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn email_refusals_are_permanent_or_retried_by_their_code() {
    let scratch = Scratch::new();
    let sink = Sink::start(
        &scratch.0,
        SinkTls::None,
        &["--refuse", "gone@example.com:550 5.1.1 no such mailbox", "--refuse", "busy@example.com:451 4.3.0 try later"],
    )
    .await;
    let settings = smtp(format!("smtp://127.0.0.1:{}", sink.port));
    let event = event(EventKind::Opened, IncidentStatus::Open);
    let summary = Summary::new(&event, None);

    let refused = email(&settings, &["oncall@example.com".into(), "gone@example.com".into()]);
    let reason = expect_permanent(refused.deliver(&summary).await);
    assert!(reason.contains("550") && reason.contains("no such mailbox"), "{reason}");

    let busy = email(&settings, &["busy@example.com".into()]);
    let (reason, _) = expect_retry(busy.deliver(&summary).await);
    assert!(reason.contains("451"), "{reason}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn email_to_a_server_that_stalls_is_retried_after_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    // Accepts, then says nothing, not even the greeting.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = smtp(format!("smtp://127.0.0.1:{port}"));
    settings.timeout = Duration::from_millis(500);
    let event = event(EventKind::Opened, IncidentStatus::Open);

    let started = std::time::Instant::now();
    let (reason, _) = expect_retry(email(&settings, &recipients()).deliver(&Summary::new(&event, None)).await);

    assert_eq!(reason, "smtp: no answer within 0.5s");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    silent.abort();
}

#[tokio::test]
async fn email_to_a_server_that_is_down_is_retried() {
    let email = email(&smtp(format!("smtp://127.0.0.1:{}", closed_port())), &recipients());
    let event = event(EventKind::Opened, IncidentStatus::Open);

    let (reason, after) = expect_retry(email.deliver(&Summary::new(&event, None)).await);

    assert!(reason.starts_with("smtp: "), "{reason}");
    assert_eq!(after, None);
}
