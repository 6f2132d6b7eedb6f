//! Traces through the running stack, received the way a collector would: a local OTLP/HTTP endpoint
//! (`POST /v1/traces`, JSON) that records what the services export. One alert is one trace from
//! `POST /alerts` through incident-core to the Slack message; an action, from query's API or from a
//! Slack button, is one trace through incident-core to the edited message. With traces off nothing
//! is filled in the envelopes.

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::slack::{click, incident_of};
use tocsin_e2e::{Stack, StackOptions, slack, webhook};
use tocsin_testkit::FakeApi;

// OTLP's span kinds, as OTLP/JSON writes them.
const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const PRODUCER: i64 = 4;
const CONSUMER: i64 = 5;

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    kind: i64,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    links: Vec<String>,
}

/// Every span the collector received, with its resource's `service.name`.
fn received_spans(collector: &FakeApi) -> Vec<Span> {
    let mut spans = Vec::new();
    for request in collector.requests().iter().filter(|request| request.path == "/v1/traces") {
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body = request.json();
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|attribute| attribute["key"] == "service.name")
                .and_then(|attribute| attribute["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let text = |field: &str| span[field].as_str().unwrap_or_default().to_owned();
                    spans.push(Span {
                        service: service.clone(),
                        name: text("name"),
                        kind: span["kind"].as_i64().unwrap_or_default(),
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent_span_id: text("parentSpanId"),
                        links: span["links"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|link| link["spanId"].as_str().map(str::to_owned))
                            .collect(),
                    });
                }
            }
        }
    }
    spans
}

/// The spans from `leaf` up to its trace's root, following `parentSpanId`; panics where a parent is
/// missing, which is a broken chain.
fn chain<'a>(spans: &'a [Span], leaf: &'a Span) -> Vec<&'a Span> {
    let by_id: HashMap<(&str, &str), &Span> =
        spans.iter().map(|span| ((span.trace_id.as_str(), span.span_id.as_str()), span)).collect();
    let mut chain = vec![leaf];
    let mut current = leaf;
    while !current.parent_span_id.is_empty() {
        current = by_id.get(&(current.trace_id.as_str(), current.parent_span_id.as_str())).unwrap_or_else(|| {
            panic!("the parent {} of {current:?} was not exported; chain so far: {chain:#?}", current.parent_span_id)
        });
        chain.push(current);
    }
    chain
}

fn shape(chain: &[&Span]) -> Vec<(String, String, i64)> {
    chain.iter().map(|span| (span.service.clone(), span.name.clone(), span.kind)).collect()
}

fn expected(links: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    links.iter().map(|(service, name, kind)| ((*service).to_owned(), (*name).to_owned(), *kind)).collect()
}

/// The chain of every "deliver slack" span of the trace rooted in a span named `root`, for the one
/// whose chain is `links`; panics with what there is otherwise.
fn assert_delivered_in_trace_of(spans: &[Span], root: &str, links: &[(&str, &str, i64)]) -> String {
    let roots: Vec<&Span> = spans.iter().filter(|span| span.name == root && span.parent_span_id.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root span `{root}`: {roots:#?}");
    let trace_id = &roots[0].trace_id;
    let chains: Vec<Vec<(String, String, i64)>> = spans
        .iter()
        .filter(|span| span.trace_id == *trace_id && span.name == "deliver slack")
        .map(|leaf| shape(&chain(spans, leaf)))
        .collect();
    assert!(
        chains.contains(&expected(links)),
        "no Slack delivery under `{root}` by the expected chain; found {chains:#?}"
    );
    trace_id.clone()
}

fn services_in(spans: &[Span], trace_id: &str) -> BTreeSet<String> {
    spans.iter().filter(|span| span.trace_id == trace_id).map(|span| span.service.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_and_the_actions_on_its_incident_are_each_one_trace_across_the_services() {
    let collector = FakeApi::start().await;
    let slack = slack::start().await;
    let otel_env = pairs(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=e2e"),
    ]);
    let stack = Stack::start_with(StackOptions {
        otel_env,
        notifier_env: slack::notifier_env(&slack),
        ..StackOptions::default()
    })
    .await;

    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let posted = slack.wait_for(1, Duration::from_secs(30)).await;
    let incident_id = incident_of(&posted[0]);

    // Acknowledged through query's API: the message is edited and a reply posted in its thread.
    let (status, body) = stack.post(&format!("/incidents/{incident_id}/acknowledge"), &json!({"actor": "ana"})).await;
    assert_eq!(status, 200, "{body}");
    slack.wait_for(3, Duration::from_secs(30)).await;
    // Resolved from the message's button.
    assert_eq!(click(&stack, "tocsin_resolve", &incident_id).await.status(), 200);
    stack.incidents_when("?status=resolved", |items| items.iter().any(|i| i["id"] == incident_id.as_str())).await;
    slack.wait_for(5, Duration::from_secs(30)).await;

    // Stopping a service exports what its tracer still holds.
    stack.stop().await;
    let spans = received_spans(&collector);
    assert!(!spans.is_empty(), "nothing was exported");

    let alert_trace = assert_delivered_in_trace_of(
        &spans,
        "POST /alerts",
        &[
            ("tocsin-notifier", "deliver slack", CLIENT),
            ("tocsin-notifier", "route event", CONSUMER),
            ("tocsin-incident-core", "publish events", PRODUCER),
            ("tocsin-incident-core", "apply alert", CONSUMER),
            ("tocsin-ingest", "publish alerts", PRODUCER),
            ("tocsin-ingest", "POST /alerts", SERVER),
        ],
    );
    assert_eq!(
        services_in(&spans, &alert_trace),
        ["tocsin-incident-core", "tocsin-ingest", "tocsin-notifier"].map(str::to_owned).into(),
    );
    // The batch's span is a trace of its own, linked to the alert it applied.
    let published: Vec<&Span> =
        spans.iter().filter(|span| span.trace_id == alert_trace && span.name == "publish alerts").collect();
    let batch = spans
        .iter()
        .find(|span| span.name == "apply alerts" && published.iter().any(|p| span.links.contains(&p.span_id)))
        .expect("no `apply alerts` span links to the alert's producer span");
    assert_eq!(batch.service, "tocsin-incident-core");

    let api_action = assert_delivered_in_trace_of(
        &spans,
        "POST /incidents/{id}/acknowledge",
        &[
            ("tocsin-notifier", "deliver slack", CLIENT),
            ("tocsin-notifier", "route event", CONSUMER),
            ("tocsin-incident-core", "publish events", PRODUCER),
            ("tocsin-incident-core", "apply command", CONSUMER),
            ("tocsin-query", "publish commands", PRODUCER),
            ("tocsin-query", "POST /incidents/{id}/acknowledge", SERVER),
        ],
    );
    assert_eq!(
        services_in(&spans, &api_action),
        ["tocsin-incident-core", "tocsin-notifier", "tocsin-query"].map(str::to_owned).into(),
    );
    assert_delivered_in_trace_of(
        &spans,
        "POST /slack/actions",
        &[
            ("tocsin-notifier", "deliver slack", CLIENT),
            ("tocsin-notifier", "route event", CONSUMER),
            ("tocsin-incident-core", "publish events", PRODUCER),
            ("tocsin-incident-core", "apply command", CONSUMER),
            ("tocsin-notifier", "publish commands", PRODUCER),
            ("tocsin-notifier", "POST /slack/actions", SERVER),
        ],
    );

    // Probes and metrics are not traced.
    assert!(spans.iter().all(|span| !span.name.ends_with("/metrics") && !span.name.ends_with("/ready")));
    collector.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_traces_off_the_envelopes_carry_no_trace_context() {
    let slack = slack::start().await;
    let stack =
        Stack::start_with(StackOptions { notifier_env: slack::notifier_env(&slack), ..StackOptions::default() }).await;
    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let posted = slack.wait_for(1, Duration::from_secs(30)).await;
    let incident_id = incident_of(&posted[0]);
    let (status, body) = stack.post(&format!("/incidents/{incident_id}/acknowledge"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    stack.wait_drained("events", tocsin_notifier::CONSUMER_GROUP).await;

    let mut redis = stack.redis().await;
    for stream in ["alerts", "commands", "events"] {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(stack.stream_key(stream))
            .arg("-")
            .arg("+")
            .query_async(&mut redis)
            .await
            .unwrap_or_else(|e| panic!("XRANGE {stream}: {e}"));
        assert!(!entries.is_empty(), "nothing on {stream}");
        for (_, fields) in entries {
            let envelope: Value = serde_json::from_str(&fields[0].1).expect("parsing");
            assert_eq!(envelope["traceparent"], Value::Null, "{stream}: {envelope}");
        }
    }
    stack.stop().await;
    slack.stop().await;
}
