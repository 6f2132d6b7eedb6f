//! `make demo`: sends a realistic stream of alerts to a running tocsin (`make run`), so a
//! newcomer sees incidents open, group, resolve and reopen within seconds.
//!
//! It replays the webhooks captured from a real Alertmanager (moved to the present), then a few
//! dozen generated alerts over several services, environments and severities, some of which
//! resolve a little later.
//!
//! Environment: `INGEST_URL` (default `http://127.0.0.1:8081/alerts`), `INGEST_TOKEN` (default:
//! the one `make run` keeps in `.local/tokens.env`).

use anyhow::{Context, bail};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_loadgen::{replay, synthetic};

macro_rules! capture {
    ($name:literal) => {
        ($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/alertmanager/raw/", $name)))
    };
}

const FIRST_WAVE: &[(&str, &str)] = &[
    capture!("firing-single.json"),
    capture!("firing-group.json"),
    capture!("unicode.json"),
    capture!("no-service-label.json"),
    capture!("truncated.json"),
    capture!("ungrouped.json"),
    capture!("ungrouped-2.json"),
];
const RESOLUTIONS: &[(&str, &str)] = &[capture!("mixed.json"), capture!("resolved-all.json")];
const CHECKOUT_RESOLVED: (&str, &str) = capture!("resolved-all-at-once.json");

struct Ingest {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Ingest {
    async fn send(&self, what: &str, body: &Value) -> anyhow::Result<()> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("cannot reach ingest at {}: is `make run` running?", self.url))?;
        let status = response.status();
        let answer = response.text().await.unwrap_or_default();
        if status.as_u16() != 202 {
            bail!("ingest refused {what}: {status} {answer}");
        }
        let alerts = body["alerts"].as_array().map_or(0, Vec::len);
        println!("  sent {what:<38} {alerts:>2} alert(s), {} ", body["status"].as_str().unwrap_or(""));
        Ok(())
    }
}

fn token() -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("INGEST_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token);
    }
    let saved = std::fs::read_to_string(".local/tokens.env").unwrap_or_default();
    saved
        .lines()
        .filter_map(|line| line.trim().trim_start_matches("export ").split_once('='))
        .find(|(name, _)| *name == "INGEST_TOKEN")
        .map(|(_, value)| value.trim_matches(['"', '\'']).to_owned())
        .context("INGEST_TOKEN is not set and .local/tokens.env has none: start the stack with `make run` first")
}

fn parse(name: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("captured payload {name}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ingest = Ingest {
        url: std::env::var("INGEST_URL").unwrap_or_else(|_| "http://127.0.0.1:8081/alerts".into()),
        token: token()?,
        http: reqwest::Client::new(),
    };
    let now = OffsetDateTime::now_utc();

    // The captures keep their relative timing; the whole set is moved so it ends now.
    let mut captured = Vec::new();
    for (name, text) in FIRST_WAVE.iter().chain(RESOLUTIONS).chain([&CHECKOUT_RESOLVED]) {
        captured.push((*name, parse(name, text)?));
    }
    let offset = replay::offset_to_now(&captured.iter().map(|(_, v)| v).collect::<Vec<_>>(), now);
    for (_, payload) in &mut captured {
        replay::shift(payload, offset);
    }
    let (checkout_name, checkout_resolved) = captured.pop().context("captures")?;
    let resolutions = captured.split_off(FIRST_WAVE.len());

    println!("tocsin demo: replaying webhooks captured from a real Alertmanager 0.25");
    for (name, payload) in &captured {
        ingest.send(name, payload).await?;
    }
    ingest.send("checkout-api firing (3 alerts)", &replay::firing_version(&checkout_resolved)).await?;

    println!("generated alerts over {} services and 3 environments", synthetic::SERVICES.len());
    // 12 groups of 3 instances each: alert g + 12k belongs to group g.
    let groups: Vec<Vec<Value>> =
        (0..12).map(|g| (0..3).map(|k| synthetic::alert(1_000 + g + 12 * k, 12, now)).collect()).collect();
    for group in &groups {
        ingest
            .send(
                &format!("{} {}", group[0]["labels"]["service"], group[0]["labels"]["environment"]).replace('"', ""),
                &synthetic::webhook(group.to_vec()),
            )
            .await?;
    }

    println!("waiting a few seconds before some alerts resolve ...");
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (name, payload) in &resolutions {
        ingest.send(name, payload).await?;
    }
    ingest.send(checkout_name, &checkout_resolved).await?;
    let ended = OffsetDateTime::now_utc();
    for group in groups.iter().step_by(3) {
        let resolved: Vec<Value> = group.iter().map(|alert| synthetic::resolved(alert.clone(), ended)).collect();
        ingest
            .send(
                &format!("{} {} resolved", group[0]["labels"]["service"], group[0]["labels"]["environment"])
                    .replace('"', ""),
                &synthetic::webhook(resolved),
            )
            .await?;
    }
    println!("done: list the incidents with");
    println!("  curl -s -H \"Authorization: Bearer $API_TOKEN\" http://127.0.0.1:8080/incidents");
    Ok(())
}
