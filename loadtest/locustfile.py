"""Burst test of a tocsin installation's webhook with Locust.

Each Locust user is one Alertmanager: it POSTs webhooks of payload version 4, shaped like the
captures in testdata/alertmanager (same fields in the same order, the same labels and
annotations), to ``/alerts`` with the ingest bearer token. A webhook is one alert group (service,
environment, severity) and its alerts. A webhook either fires a group that was quiet (new, distinct
alerts), or resends a firing group unchanged (what Alertmanager does every repeat_interval: tocsin
must deduplicate it), or resolves a firing group.

    TOCSIN_INGEST_TOKEN=... locust -f loadtest/locustfile.py --host https://alerts.example.com

Settings, from the environment (docs/load-testing.md says more):

    TOCSIN_INGEST_TOKEN           required: INGEST_TOKEN, or a token with the ingest scope
    LOADTEST_WEBHOOKS_PER_SECOND  per user (one Alertmanager); default 1
    LOADTEST_ALERTS_PER_WEBHOOK   alerts a group fires with; default 5
    LOADTEST_REPEAT_RATIO         share of webhooks that resend a firing group; default 0.5
    LOADTEST_RESOLVE_RATIO        share of webhooks that resolve a firing group; default 0.1
    LOADTEST_GROUPS               groups per user: at most this many fire at once; default 20
    LOADTEST_ENVIRONMENT          the environment label of every alert; default loadtest
    LOADTEST_RUN_ID               label loadtest_run of every alert; default random

A webhook counts as failed unless ingest answers 202 and accepted every alert of it.
"""

import hashlib
import itertools
import json
import os
import random
import secrets
from datetime import datetime, timezone

from locust import HttpUser, constant_throughput, task

SERVICES = [
    "web-server", "checkout-api", "payments", "search", "inventory", "auth",
    "api-gateway", "orders", "notifications", "storage-backend", "postgres", "redis-cache",
]
SEVERITIES = ["critical", "high", "warning", "info"]
RULES = [
    ("HighCPU", "CPU usage on {instance} has been above 90% for more than 5 minutes"),
    ("HighLatency", "p99 latency of {instance} is above 2s"),
    ("DiskSpaceLow", "Filesystem /var/lib/data on {instance} has less than 10% free space"),
    ("InstanceDown", "{instance} has not answered the scrape for 1 minute"),
    ("ErrorRateHigh", "5xx ratio of {instance} is above 5%"),
]
# What Alertmanager writes for "no end yet": Go's zero time.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def setting(name, default, parse):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise SystemExit(f"{name}={raw!r} is not valid: {error}") from None


def ratio(raw):
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("expected a number from 0 to 1")
    return value


def positive(raw):
    value = int(raw)
    if value < 1:
        raise ValueError("expected a whole number of 1 or more")
    return value


def positive_rate(raw):
    value = float(raw)
    if value <= 0:
        raise ValueError("expected a number above 0")
    return value


TOKEN = os.environ.get("TOCSIN_INGEST_TOKEN", "")
WEBHOOKS_PER_SECOND = setting("LOADTEST_WEBHOOKS_PER_SECOND", 1.0, positive_rate)
ALERTS_PER_WEBHOOK = setting("LOADTEST_ALERTS_PER_WEBHOOK", 5, positive)
REPEAT_RATIO = setting("LOADTEST_REPEAT_RATIO", 0.5, ratio)
RESOLVE_RATIO = setting("LOADTEST_RESOLVE_RATIO", 0.1, ratio)
GROUPS = setting("LOADTEST_GROUPS", 20, positive)
ENVIRONMENT = os.environ.get("LOADTEST_ENVIRONMENT") or "loadtest"
RUN_ID = os.environ.get("LOADTEST_RUN_ID") or secrets.token_hex(3)
if not TOKEN:
    raise SystemExit("TOCSIN_INGEST_TOKEN is not set: the bearer token ingest expects")
if REPEAT_RATIO + RESOLVE_RATIO > 1:
    raise SystemExit("LOADTEST_REPEAT_RATIO + LOADTEST_RESOLVE_RATIO must not exceed 1")

user_numbers = itertools.count(1)


def now_rfc3339():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(labels):
    """16 hex digits derived from the label set, like Alertmanager's: equal labels, equal
    fingerprint."""
    canonical = "\xff".join(f"{name}\xfe{value}" for name, value in sorted(labels.items()))
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


class AlertGroup:
    """One Alertmanager group: the alerts that share service, environment and severity."""

    def __init__(self, user_number, number):
        self.service = SERVICES[number % len(SERVICES)]
        self.severity = SEVERITIES[(number // len(SERVICES)) % len(SEVERITIES)]
        self.alertname, self.description = RULES[number % len(RULES)]
        # Groups are per user, so two users never share an occurrence.
        self.instance_prefix = f"{self.service}-u{user_number}g{number}"
        self.alerts = []
        self.instances = itertools.count(1)

    def labels(self):
        return {"environment": ENVIRONMENT, "service": self.service, "severity": self.severity}

    def fire(self, count):
        """Fires `count` new alerts: instances the group has not had before."""
        for _ in range(count):
            instance = f"{self.instance_prefix}-{next(self.instances):02d}"
            labels = {
                "alertname": self.alertname,
                "environment": ENVIRONMENT,
                "instance": instance,
                "job": "node_exporter",
                "loadtest_run": RUN_ID,
                "service": self.service,
                "severity": self.severity,
            }
            self.alerts.append({
                "status": "firing",
                "labels": labels,
                "annotations": {
                    "description": self.description.format(instance=instance),
                    "runbook_url": f"https://runbooks.example.com/{self.alertname.lower()}",
                    "summary": f"{self.alertname} on {instance}",
                },
                "startsAt": now_rfc3339(),
                "endsAt": GO_ZERO_TIME,
                "generatorURL": f"http://prometheus:9090/graph?g0.expr=up%7Bjob%3D%22{self.service}%22%7D&g0.tab=1",
                "fingerprint": fingerprint(labels),
            })

    def resolve(self):
        """The webhook that resolves every alert now; the group is quiet afterwards."""
        ended = now_rfc3339()
        for alert in self.alerts:
            alert["status"] = "resolved"
            alert["endsAt"] = ended
        webhook = self.webhook()
        self.alerts = []
        return webhook

    def webhook(self):
        status = "firing" if any(a["status"] == "firing" for a in self.alerts) else "resolved"
        common = self.labels() | {"alertname": self.alertname, "job": "node_exporter", "loadtest_run": RUN_ID}
        group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels().items())) + "}"
        return {
            "receiver": "tocsin-loadtest",
            "status": status,
            "alerts": self.alerts,
            "groupLabels": self.labels(),
            "commonLabels": common,
            "commonAnnotations": {"runbook_url": f"https://runbooks.example.com/{self.alertname.lower()}"},
            "externalURL": "http://alertmanager.loadtest:9093",
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
        }


class Alertmanager(HttpUser):
    """One Alertmanager sending webhooks at LOADTEST_WEBHOOKS_PER_SECOND."""

    wait_time = constant_throughput(WEBHOOKS_PER_SECOND)

    def on_start(self):
        self.number = next(user_numbers)
        self.groups = [AlertGroup(self.number, n) for n in range(GROUPS)]

    def next_webhook(self):
        """A resend or a resolution of a firing group, by their ratios, else a quiet group fires.
        With every group firing, one resolves instead."""
        firing = [group for group in self.groups if group.alerts]
        quiet = [group for group in self.groups if not group.alerts]
        roll = random.random()
        if firing and roll < REPEAT_RATIO:
            return "resend", random.choice(firing).webhook()
        if firing and (roll < REPEAT_RATIO + RESOLVE_RATIO or not quiet):
            return "resolve", random.choice(firing).resolve()
        group = random.choice(quiet)
        group.fire(ALERTS_PER_WEBHOOK)
        return "fire", group.webhook()

    @task
    def post_webhook(self):
        kind, webhook = self.next_webhook()
        body = json.dumps(webhook, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        with self.client.post(
            "/alerts", data=body, headers=headers, name=f"POST /alerts ({kind})", catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:300]}")
                return
            accepted = response.json().get("accepted")
            if accepted != len(webhook["alerts"]):
                response.failure(f"accepted {accepted} of {len(webhook['alerts'])} alerts")
