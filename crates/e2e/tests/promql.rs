//! Every expression of the shipped Prometheus rules and Grafana dashboards, run by a real
//! Prometheus that scrapes a running stack after some traffic: every rule evaluates without error
//! and every recording rule and dashboard query returns data. (Alerting expressions return data
//! only while their condition holds; that they evaluate cleanly is what is checked for them, and
//! `promtool test rules` checks when they fire.) The notifier posts to a local stand-in for Slack,
//! so the delivery metrics have series and observations too.

use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::tools::{binary, spawn, workdir, write};
use tocsin_e2e::{Stack, StackOptions, webhooks};
use tocsin_testkit::free_port;

fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `expr` of a Grafana dashboard, with the dashboard's variables given values Prometheus
/// accepts: all teams, services, environments and severities; one-minute rate windows.
fn dashboard_expressions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let dir = repository().join("dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    fn walk(value: &Value, file: &str, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    found.push((file.to_owned(), expr.clone()));
                }
                map.values().for_each(|v| walk(v, file, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, file, found)),
            _ => {}
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dashboard: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        walk(&dashboard, &name, &mut found);
    }
    found
        .into_iter()
        .map(|(file, expr)| {
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$__range_s", "3600")
                .replace("$__range", "1h")
                .replace("${team}", ".*")
                .replace("$team", ".*")
                .replace("${service}", ".*")
                .replace("$service", ".*")
                .replace("${environment}", ".*")
                .replace("$environment", ".*")
                .replace("${severity}", ".*")
                .replace("$severity", ".*");
            (file, expr)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_and_dashboard_expression_runs_against_the_running_stack() {
    // The notifier delivers to a fake Slack, so its delivery series have data.
    let fake_slack = tocsin_e2e::slack::start().await;
    let stack = Stack::start_with(StackOptions {
        notifier_env: tocsin_e2e::slack::notifier_env(&fake_slack),
        ..Default::default()
    })
    .await;
    let dir = workdir();
    let port = free_port();
    let rules = repository().join("dashboards/rules");
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let scrape = |job: &str, url: &str| {
        format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n", host(url))
    };
    write(
        &dir.join("prometheus.yml"),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n  - {}\nscrape_configs:\n{}{}{}{}",
            rules.join("tocsin-recording.yml").display(),
            rules.join("tocsin-alerts.yml").display(),
            scrape("tocsin-ingest", &stack.ingest_url),
            scrape("tocsin-incident-core", &stack.core_urls[0]),
            scrape("tocsin-query", &stack.query_url),
            scrape("tocsin-notifier", &stack.notifier_url),
        ),
    );
    let _prometheus = spawn(
        &binary("prometheus", "prometheus"),
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join("prometheus.log"),
    );
    let api = format!("http://127.0.0.1:{port}/api/v1");
    // Null while Prometheus is not listening yet (it starts in parallel with the traffic below).
    let query = async |expr: &str| -> Value {
        let url =
            reqwest::Url::parse_with_params(&format!("{api}/query"), &[("query", expr)]).expect("parse with params");
        match stack.http.get(url).send().await {
            Ok(response) => response.json::<Value>().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    };

    // Traffic of every kind the metrics describe: incidents opened, paged, acknowledged and
    // resolved by a person and by themselves, a refused webhook, reads, notifications sent to Slack.
    // The incident acknowledged below is unicode.json's, whose service pages Ana, in a schedule
    // whose zone it is night in now, so the night pages have a series too.
    let night_zone = {
        // Zones without daylight saving, their offsets in minutes: at any hour one of them is
        // between 23:00 and 04:59.
        const ZONES: [(&str, i32); 12] = [
            ("Pacific/Pago_Pago", -660),
            ("Pacific/Honolulu", -600),
            ("America/Bogota", -300),
            ("America/Sao_Paulo", -180),
            ("Atlantic/Reykjavik", 0),
            ("Europe/Moscow", 180),
            ("Asia/Dubai", 240),
            ("Asia/Kolkata", 330),
            ("Asia/Shanghai", 480),
            ("Asia/Tokyo", 540),
            ("Australia/Brisbane", 600),
            ("Pacific/Kiritimati", 840),
        ];
        let now = OffsetDateTime::now_utc();
        let minute_of_day = i32::from(now.hour()) * 60 + i32::from(now.minute());
        let local_hour = |offset: i32| (minute_of_day + offset).rem_euclid(24 * 60) / 60;
        ZONES
            .iter()
            .find(|(_, offset)| matches!(local_hour(*offset), 23 | 0..=4))
            .map(|(zone, _)| *zone)
            .expect("a zone where it is night")
    };
    stack.someone_on_call("東京-db", "payments", "Ana", "ana@example.com", night_zone).await;
    let payloads = webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], OffsetDateTime::now_utc());
    stack.send(&payloads[0]).await;
    stack.send(&tocsin_e2e::webhook("unicode.json", OffsetDateTime::now_utc() - time::Duration::minutes(2))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while query("sum(up)").await["data"]["result"][0]["value"][1] != "4" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus never scraped the four services; its log is in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.send(&payloads[1]).await;
    stack.send(&payloads[2]).await;
    let open = stack.incidents_when("?status=open", |items| items.len() == 1).await;
    let id = open[0]["id"].as_str().unwrap_or_default().to_owned();
    // Acknowledged once the escalation engine has paged Ana in the incident's current round, so
    // the time to acknowledge a step is observed too.
    let acknowledge_once_paged = async || {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, incident) = stack.get(&format!("/incidents/{id}")).await;
            if incident["escalation"]["pages"].as_array().is_some_and(|pages| !pages.is_empty()) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the incident was never paged: {incident}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(stack.post(&format!("/incidents/{id}/acknowledge"), &serde_json::json!({})).await.0, 200);
    };
    acknowledge_once_paged().await;
    // Resolve only once the acknowledged incident was counted, so that series exists too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = stack.http.get(format!("{}/metrics", stack.core_urls[0])).send().await;
        let text = match metrics {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.lines().any(|l| l.starts_with("tocsin_incidents_active{") && l.contains("status=\"acknowledged\"} 1")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the acknowledged incident was never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And scraped.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stack.post(&format!("/incidents/{id}/resolve"), &serde_json::json!({})).await.0, 200);
    // Reopened, paged and acknowledged again by the same responder: the per-responder series,
    // born at its first observation, has an increase once it has been scraped at 1 and then at 2.
    assert_eq!(stack.post(&format!("/incidents/{id}/reopen"), &serde_json::json!({})).await.0, 200);
    acknowledge_once_paged().await;
    let refused = stack
        .http
        .post(format!("{}/alerts", stack.ingest_url))
        .bearer_auth(tocsin_e2e::INGEST_TOKEN)
        .body("{}")
        .send()
        .await;
    assert!(refused.is_ok_and(|r| r.status().as_u16() == 415));
    // Notifications went out (the delivery counters and the latency histogram have moved).
    fake_slack.wait_for(1, Duration::from_secs(30)).await;
    // Enough scrapes and evaluations for rates over the fresh counters.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Every rule evaluated cleanly; every recording rule produced series.
    let rules: Value = stack.json_at(&format!("{api}/rules")).await;
    let mut problems = Vec::new();
    let mut recording = Vec::new();
    for group in rules["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or_default().to_owned();
            if rule["health"] != "ok" {
                problems.push(format!("rule {name}: health {} {}", rule["health"], rule["lastError"]));
            }
            if rule["type"] == "recording" {
                recording.push(name);
            }
        }
    }
    assert!(recording.len() >= 10, "the recording rules were not loaded: {rules}");
    for name in &recording {
        let answer = query(name).await;
        if answer["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("recording rule {name} has no data"));
        }
    }

    // Every dashboard query parses, runs and returns data.
    let expressions = dashboard_expressions();
    assert!(expressions.len() >= 10, "no dashboard queries found");
    for (file, expr) in &expressions {
        let answer = query(expr).await;
        if answer["status"] != "success" {
            problems.push(format!("{file}: `{expr}`: {}", answer["error"]));
        } else if answer["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{file}: `{expr}` returns no data"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\n(Prometheus data in {})",
        problems.len(),
        problems.join("\n"),
        dir.display()
    );
    stack.stop().await;
    fake_slack.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
