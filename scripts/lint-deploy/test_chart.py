"""Tests on the rendered output of deploy/helm/tocsin.

Run by scripts/lint-deploy.sh, which sets:
  HELM      the helm binary
  CHART     deploy/helm/tocsin
  EXAMPLES  deploy/helm/examples
  GATEWAY_API_CRDS  the Gateway API's CRD manifests (standard channel)
  PROMETHEUS_OPERATOR_CRDS  the Prometheus Operator's CRD manifests
  DATABASE_URL, REDIS_URL  a running PostgreSQL and Redis, which the preflight's script must find
The standard library, PyYAML, and validate.py beside this file (with the venv's jsonschema).
Runs TERRAFORM (default: terraform on PATH) on terraform/modules/prometheus-rules, which needs no provider.
Reads, besides the chart: the services' config modules (services/*/src/config.rs, for the variables each service reads), dashboards/ (the rules and
dashboards the chart ships) and docs/routing.example.yaml (the documented routing file). Every test renders what it needs with `helm template`
(memoised), so each one states the values it is about. The last line printed is
"N passed, N failed"; the exit status is 1 when any test failed.
"""

import functools
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

import yaml

# The shared runner, in scripts/lib/.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import test_runner  # noqa: E402 - found only once its directory is on the path
import validate  # noqa: E402 - scripts/lint-deploy/validate.py, beside this file

HELM = os.environ.get("HELM", "helm")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHART = os.environ.get("CHART", os.path.join(ROOT, "deploy/helm/tocsin"))
EXAMPLES = os.environ.get("EXAMPLES", os.path.join(ROOT, "deploy/helm/examples"))
CONFIGURATION_DOC = os.path.join(ROOT, "docs/configuration.md")
DASHBOARDS = os.path.join(ROOT, "dashboards")
ROUTING_EXAMPLE = os.path.join(ROOT, "docs/routing.example.yaml")

RELEASE = "tocsin"
NAMESPACE = "tocsin"
SERVICES = {  # values key -> component
    "ingest": "ingest",
    "incidentCore": "incident-core",
    "query": "query",
    "notifier": "notifier",
}
# The variables the services' config modules mark as required.
REQUIRED_ENV = {
    "ingest": {"REDIS_URL", "INGEST_TOKEN"},
    "incident-core": {"DATABASE_URL", "REDIS_URL"},
    "query": {"DATABASE_URL", "REDIS_URL", "API_TOKEN"},
    "notifier": {"DATABASE_URL", "REDIS_URL"},
}
OTEL_ENV = {
    "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

# Value sets. "minimal" carries the lint overlay, because the example leaves the credentials
# empty on purpose.
DEFAULT = ()
PRODUCTION = (f"{EXAMPLES}/production.yaml",)
MINIMAL = (f"{EXAMPLES}/minimal.yaml", f"{HERE}/overlays/minimal.yaml")
ALL_FEATURES = PRODUCTION + (f"{HERE}/all-features.yaml",)
TRIAL = (f"{EXAMPLES}/trial.yaml",)
# What a cluster with the Prometheus Operator serves (lint-deploy.sh renders all-features so).
PROMETHEUS_OPERATOR = ("monitoring.coreos.com/v1",)


class RenderError(Exception):
    pass


@functools.lru_cache(maxsize=None)
def render(files=DEFAULT, sets=(), release=RELEASE, api_versions=()):
    """helm template with the given values files and --set pairs; a list of objects.
    api_versions: what the cluster serves beyond Kubernetes itself (--api-versions), e.g. the
    Prometheus Operator's monitoring.coreos.com/v1."""
    cmd = [HELM, "template", release, CHART, "--namespace", NAMESPACE]
    for api in api_versions:
        cmd += ["--api-versions", api]
    for f in files:
        cmd += ["-f", f]
    for s in sets:
        # "json:key=[...]" passes a JSON value (--set-json), e.g. an empty list, which --set
        # cannot; "file:key=path" passes a file's text (--set-file).
        if s.startswith("json:"):
            cmd += ["--set-json", s[5:]]
        elif s.startswith("file:"):
            cmd += ["--set-file", s[5:]]
        else:
            cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip())
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_fails(files=DEFAULT, sets=(), api_versions=()):
    """The error message of a render that must fail."""
    try:
        render(files, sets, api_versions=api_versions)
    except RenderError as e:
        return str(e)
    raise AssertionError(f"helm template succeeded with {files} {sets}, expected a failure")


def of_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def by_name(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def full(component):
    return f"{RELEASE}-{component}"


def deployment(objs, component):
    return by_name(objs, "Deployment", full(component))


def container(dep):
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    return containers[0]


def env(dep):
    return {e["name"]: e for e in container(dep).get("env", [])}


def component_of(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def table_variables(lines):
    """Variable names from the first column of a markdown table ("| `A` |" or "| `A`, `B` |")."""
    names = set()
    for line in lines:
        row = re.match(r"^\| ((?:`[A-Z][A-Z0-9_]+`(?:, )?)+) \|", line)
        if row:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.group(1)))
    return names


def documented_env():
    """Variable names each service reads: the table in the header of its config module
    (services/<component>/src/config.rs, where each variable is read, so it cannot lag behind the
    code), plus the logging variables every service reads (docs/configuration.md, "Every
    service")."""
    common, in_section = set(), False
    with open(CONFIGURATION_DOC, encoding="utf-8") as f:
        lines = []
        for line in f:
            if line.startswith("## "):
                in_section = line.strip().lower() == "## every service"
            elif in_section:
                lines.append(line)
        common = table_variables(lines)
    documented = {}
    for comp in SERVICES.values():
        with open(os.path.join(ROOT, "services", comp, "src", "config.rs"), encoding="utf-8") as f:
            header = [line[4:] for line in f if line.startswith("//! ")]
        documented[comp] = table_variables(header) | common
    return documented


# ------------------------------------------------------------------------------------------------
# Every Deployment, in every example
# ------------------------------------------------------------------------------------------------

ALL_SETS = {"default": DEFAULT, "production": PRODUCTION, "minimal": MINIMAL, "all-features": ALL_FEATURES}


def test_four_deployments_in_every_example():
    for name, files in ALL_SETS.items():
        got = sorted(component_of(d) for d in of_kind(render(files), "Deployment"))
        assert got == sorted(SERVICES.values()), f"{name}: {got}"


def test_every_deployment_has_probes_on_health_and_ready():
    for name, files in ALL_SETS.items():
        for dep in of_kind(render(files), "Deployment"):
            c = container(dep)
            where = f"{name}/{dep['metadata']['name']}"
            assert c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health", where
            assert c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/ready", where
            assert c["livenessProbe"]["httpGet"]["port"] == "http", where
            assert c["readinessProbe"]["httpGet"]["port"] == "http", where


def test_every_deployment_has_resources():
    for name, files in ALL_SETS.items():
        for dep in of_kind(render(files), "Deployment"):
            res = container(dep).get("resources", {})
            where = f"{name}/{dep['metadata']['name']}"
            assert res.get("requests", {}).get("cpu"), f"{where}: cpu request (the HPA needs it)"
            assert res.get("requests", {}).get("memory"), f"{where}: memory request"
            assert res.get("limits", {}).get("memory"), f"{where}: memory limit"


def test_every_deployment_is_locked_down():
    for name, files in ALL_SETS.items():
        for dep in of_kind(render(files), "Deployment"):
            where = f"{name}/{dep['metadata']['name']}"
            pod = dep["spec"]["template"]["spec"]
            sc = container(dep).get("securityContext", {})
            assert pod.get("securityContext", {}).get("runAsNonRoot") is True, where
            assert sc.get("runAsNonRoot") is True, where
            assert sc.get("runAsUser") == 10001, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert pod.get("automountServiceAccountToken") is False, where


def test_every_deployment_listens_on_8080_named_http():
    for name, files in ALL_SETS.items():
        for dep in of_kind(render(files), "Deployment"):
            c = container(dep)
            assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}], name
            assert env(dep)["LISTEN_ADDR"]["value"] == "0.0.0.0:8080"
            assert env(dep)["LOG_FORMAT"]["value"] == "json"


def test_images_binaries_and_arguments():
    objs = render(PRODUCTION)
    for comp in SERVICES.values():
        c = container(deployment(objs, comp))
        assert c["image"] == f"tocsinprod.azurecr.io/tocsin-{comp}:0.1.0", c["image"]
        assert c["command"] == [f"/usr/local/bin/tocsin-{comp}"], c["command"]
    assert container(deployment(objs, "incident-core"))["args"] == ["serve"]
    # Default tag: the chart's appVersion.
    with open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8") as f:
        app_version = yaml.safe_load(f)["appVersion"]
    image = container(deployment(render(), "query"))["image"]
    assert image.endswith(f"/tocsin-query:{app_version}"), image


def test_env_uses_only_variables_the_services_read():
    documented = documented_env()
    for comp, names in documented.items():
        assert names, f"no variables found for {comp} in services/{comp}/src/config.rs"
    sets = ("otel.endpoint=http://collector:4318", "otel.protocol=http/json",
            "incidentCore.serviceTeams=web=frontend", "ingest.httpWorkers=4")
    for files in (DEFAULT, PRODUCTION, MINIMAL):
        objs = render(files, sets)
        for comp in SERVICES.values():
            names = set(env(deployment(objs, comp)))
            unknown = names - documented[comp] - OTEL_ENV
            assert not unknown, f"{comp}: variables not in services/{comp}/src/config.rs: {sorted(unknown)}"
            missing = REQUIRED_ENV[comp] - names
            assert not missing, f"{comp}: required variables missing: {sorted(missing)}"


def test_numbers_are_rendered_as_plain_integers():
    # Helm reads numbers as floats: 4194304 must not become "4.194304e+06".
    objs = render(DEFAULT, ("incidentCore.batchSize=2000", "ingest.httpWorkers=16"))
    e = env(deployment(objs, "ingest"))
    assert e["INGEST_MAX_BODY_BYTES"]["value"] == "4194304", e["INGEST_MAX_BODY_BYTES"]
    assert e["HTTP_WORKERS"]["value"] == "16"
    assert env(deployment(objs, "incident-core"))["BATCH_SIZE"]["value"] == "2000"


def test_batches_are_split_into_shards_the_pool_can_hold():
    e = env(deployment(render(DEFAULT), "incident-core"))
    assert e["APPLY_SHARDS"]["value"] == "2" and e["DATABASE_POOL_SIZE"]["value"] == "8"
    e = env(deployment(render(DEFAULT, ("incidentCore.applyShards=6",)), "incident-core"))
    assert e["APPLY_SHARDS"]["value"] == "6"
    err = render_fails(DEFAULT, ("incidentCore.applyShards=7",))
    assert "applyShards + 2 = 9" in err, err
    render_fails(DEFAULT, ("incidentCore.applyShards=0",))
    render_fails(DEFAULT, ("incidentCore.applyShards=17", "incidentCore.databasePoolSize=20"))


def test_secrets_come_from_the_secret_with_the_configured_keys():
    objs = render(PRODUCTION)
    for comp in SERVICES.values():
        for var in REQUIRED_ENV[comp]:
            ref = env(deployment(objs, comp))[var]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "tocsin-credentials", "key": var}, (comp, ref)
    objs = render(DEFAULT, ("secret.existingSecret=vault-tocsin", "secret.keys.databaseUrl=pg-url",
                            "secret.keys.queryDatabaseUrl=pg-readonly-url"))
    core = env(deployment(objs, "incident-core"))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    query = env(deployment(objs, "query"))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert core == {"name": "vault-tocsin", "key": "pg-url"}, core
    assert query == {"name": "vault-tocsin", "key": "pg-readonly-url"}, query


def test_consumer_name_is_the_pod_name():
    objs = render()
    for comp in ("incident-core", "notifier"):
        e = env(deployment(objs, comp))["CONSUMER_NAME"]
        assert e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", e
    for comp in ("ingest", "query"):
        assert "CONSUMER_NAME" not in env(deployment(objs, comp)), comp


def test_otel_variables_only_when_set():
    for comp in SERVICES.values():
        names = set(env(deployment(render(), comp)))
        assert not names & OTEL_ENV, names & OTEL_ENV
    objs = render(DEFAULT, ("otel.endpoint=http://collector:4318",))
    for comp in SERVICES.values():
        e = env(deployment(objs, comp))
        assert e["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://collector:4318"
        assert e["OTEL_SERVICE_NAME"]["value"] == f"tocsin-{comp}"
        assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in e


def test_topology_spread_over_zones_and_nodes():
    for dep in of_kind(render(PRODUCTION), "Deployment"):
        tsc = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        keys = sorted(t["topologyKey"] for t in tsc)
        assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], keys
        for t in tsc:
            assert t["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_services_select_their_deployments_pods():
    objs = render()
    for comp in SERVICES.values():
        svc = by_name(objs, "Service", full(comp))
        labels = deployment(objs, comp)["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), comp
        assert svc["spec"]["ports"][0]["name"] == "http"


def test_graceful_termination_outlasts_the_drain():
    objs = render()
    for comp in SERVICES.values():
        dep = deployment(objs, comp)
        grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        pre_stop = container(dep).get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert grace >= 30 + pre_stop + 5, (comp, grace, pre_stop)
    assert container(deployment(objs, "ingest"))["lifecycle"]["preStop"]["sleep"]["seconds"] > 0


# ------------------------------------------------------------------------------------------------
# Examples
# ------------------------------------------------------------------------------------------------

def test_minimal_example():
    objs = render(MINIMAL)
    for comp in SERVICES.values():
        assert deployment(objs, comp)["spec"]["replicas"] == 1, comp
    assert not of_kind(objs, "Ingress")
    assert not of_kind(objs, "NetworkPolicy")
    assert not of_kind(objs, "HorizontalPodAutoscaler")
    assert by_name(objs, "Secret", "tocsin-credentials")


def test_minimal_example_without_credentials_fails_with_a_clear_message():
    err = render_fails((f"{EXAMPLES}/minimal.yaml",))
    assert "databaseUrl" in err, err


def test_production_example():
    objs = render(PRODUCTION)
    for comp in SERVICES.values():
        dep = deployment(objs, comp)
        assert "replicas" not in dep["spec"], f"{comp}: the HPA owns the replica count"
        hpa = by_name(objs, "HorizontalPodAutoscaler", full(comp))
        assert hpa["spec"]["minReplicas"] == 3, comp
        assert hpa["spec"]["scaleTargetRef"]["name"] == full(comp)
        assert dep["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        sa = by_name(objs, "ServiceAccount", dep["spec"]["template"]["spec"]["serviceAccountName"])
        assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"], comp
    assert not [s for s in of_kind(objs, "Secret")], "existingSecret: the chart creates no Secret"
    names = sorted(i["metadata"]["name"] for i in of_kind(objs, "Ingress"))
    assert names == ["tocsin", "tocsin-alerts", "tocsin-events", "tocsin-slack"], names
    e = env(deployment(objs, "notifier"))
    assert e["SLACK_CHANNEL"]["value"] == "#incidents"
    assert e["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-credentials", "key": "SLACK_BOT_TOKEN"}
    assert "ROUTING_FILE" not in e


# ------------------------------------------------------------------------------------------------
# Ingress
# ------------------------------------------------------------------------------------------------

def test_ingress_routes_alerts_to_ingest_and_the_rest_to_query():
    objs = render(PRODUCTION)
    alerts = by_name(objs, "Ingress", "tocsin-alerts")
    api = by_name(objs, "Ingress", "tocsin")
    (a_path,) = alerts["spec"]["rules"][0]["http"]["paths"]
    (q_path,) = api["spec"]["rules"][0]["http"]["paths"]
    assert (a_path["path"], a_path["pathType"]) == ("/alerts", "Exact")
    assert a_path["backend"]["service"]["name"] == full("ingest")
    assert (q_path["path"], q_path["pathType"]) == ("/", "Prefix")
    assert q_path["backend"]["service"]["name"] == full("query")
    for ing in (alerts, api):
        assert ing["spec"]["tls"][0]["hosts"] == ["tocsin.example.com"]
        assert ing["spec"]["tls"][0]["secretName"] == "tocsin-tls"
        assert ing["spec"]["ingressClassName"] == "nginx"


def test_allowlist_and_rate_limit_apply_to_the_webhook_only():
    objs = render(PRODUCTION)
    alerts = by_name(objs, "Ingress", "tocsin-alerts")["metadata"]["annotations"]
    api = by_name(objs, "Ingress", "tocsin")["metadata"].get("annotations", {})
    assert alerts["nginx.ingress.kubernetes.io/whitelist-source-range"] == "203.0.113.10/32,198.51.100.0/28"
    assert alerts["nginx.ingress.kubernetes.io/limit-rps"] == "20"
    assert alerts["nginx.ingress.kubernetes.io/proxy-body-size"] == "4194304"
    assert not [k for k in api if "whitelist" in k or "limit-" in k], api


ADMISSION_ENV = ("ALERTS_ALLOWED_SOURCES", "TRUSTED_PROXIES", "ALERTS_RATE_LIMIT_PER_TOKEN",
                 "ALERTS_RATE_LIMIT_PER_SOURCE", "ALERTS_BURST_PER_TOKEN", "ALERTS_BURST_PER_SOURCE")


def test_ingest_admission_settings_become_its_variables():
    e = env(deployment(render(DEFAULT), "ingest"))
    # A generous per-token limit by default; per source only once the proxies are known.
    assert e["ALERTS_RATE_LIMIT_PER_TOKEN"]["value"] == "6000/m", e["ALERTS_RATE_LIMIT_PER_TOKEN"]
    assert e["ALERTS_RATE_LIMIT_PER_SOURCE"]["value"] == "off"
    for var in ("ALERTS_ALLOWED_SOURCES", "TRUSTED_PROXIES", "ALERTS_BURST_PER_TOKEN", "ALERTS_BURST_PER_SOURCE"):
        assert var not in e, var
    objs = render(ALL_FEATURES)
    e = env(deployment(objs, "ingest"))
    assert e["ALERTS_ALLOWED_SOURCES"]["value"] == "203.0.113.10/32,198.51.100.0/28"
    assert e["TRUSTED_PROXIES"]["value"] == "10.20.8.0/26"
    assert (e["ALERTS_RATE_LIMIT_PER_SOURCE"]["value"], e["ALERTS_BURST_PER_SOURCE"]["value"]) == ("600/m", "100")
    for comp in ("incident-core", "query", "notifier"):
        assert not set(ADMISSION_ENV) & set(env(deployment(objs, comp))), comp


def test_admission_values_that_would_stop_ingest_or_refuse_every_webhook_fail():
    err = render_fails(PRODUCTION, ("ingest.admission.allowedSources[0]=203.0.113.10/32",))
    assert "trustedProxies" in err, err
    err = render_fails(DEFAULT, ("ingest.admission.rateLimit.perSourceBurst=10",))
    assert "perSourceBurst" in err and "a burst needs a rate limit" in err, err
    for bad in ("ingest.admission.rateLimit.perToken=100/d", "ingest.admission.rateLimit.perToken=-1",
                "ingest.admission.allowedSources[0]=everyone", "ingest.admission.rateLimit.perTokenBurst=0",
                "query.hstsMaxAge=forever", "secret.tokensFile.secretName=Not_A_Name"):
        render_fails(DEFAULT, (bad,))
    err = render_fails(DEFAULT, ("secret.tokensFile.secretNme=t",))
    assert "'secretNme' not allowed" in err, err


def test_tokens_file_mounted_read_only_into_ingest_and_query():
    for comp, var in (("ingest", "INGEST_TOKEN"), ("query", "API_TOKEN")):
        ref = env(deployment(render(DEFAULT), comp))[var]["valueFrom"]["secretKeyRef"]
        assert "optional" not in ref, ref
    objs = render(DEFAULT, ("secret.tokensFile.secretName=tocsin-tokens", "secret.tokensFile.key=tokens"))
    for comp, var in (("ingest", "INGEST_TOKEN"), ("query", "API_TOKEN")):
        dep = deployment(objs, comp)
        e = env(dep)
        assert e["TOKENS_FILE"]["value"] == "/etc/tocsin/tokens/tokens.yaml"
        # With a tokens file, the single legacy token may be left out of the Secret.
        assert e[var]["valueFrom"]["secretKeyRef"]["optional"] is True
        (mount,) = [m for m in container(dep)["volumeMounts"] if m["name"] == "tokens"]
        assert mount == {"name": "tokens", "mountPath": "/etc/tocsin/tokens", "readOnly": True}, mount
        (volume,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "tokens"]
        assert volume["secret"] == {"secretName": "tocsin-tokens", "defaultMode": 0o440,
                                    "items": [{"key": "tokens", "path": "tokens.yaml"}]}, volume
    for comp in ("incident-core", "notifier"):
        dep = deployment(objs, comp)
        assert "TOKENS_FILE" not in env(dep), comp
        assert not [v for v in dep["spec"]["template"]["spec"].get("volumes", []) if v["name"] == "tokens"], comp


def test_incident_core_and_notifier_take_the_api_token_for_ready_details_only_if_present():
    # They serve no API: the token only shows an operator which check of /ready failed. The Secret
    # may lack it (a tokens file instead), so it never stops a pod from starting.
    for values in (DEFAULT, PRODUCTION):
        for comp in ("incident-core", "notifier"):
            ref = env(deployment(render(values), comp))["API_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert ref["key"] == "API_TOKEN" and ref["optional"] is True, (comp, ref)


def test_hsts_only_when_set():
    assert "HSTS_MAX_AGE" not in env(deployment(render(PRODUCTION), "query"))
    assert env(deployment(render(ALL_FEATURES), "query"))["HSTS_MAX_AGE"]["value"] == "365d"


def test_one_certificate_for_the_shared_tls_secret():
    objs = render(PRODUCTION)
    alerts = by_name(objs, "Ingress", "tocsin-alerts")["metadata"]["annotations"]
    api = by_name(objs, "Ingress", "tocsin")["metadata"]["annotations"]
    assert api["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert "cert-manager.io/cluster-issuer" not in alerts


def test_ingress_without_allowlist_has_no_allowlist_annotation():
    objs = render(PRODUCTION, ("json:ingress.alerts.allowlist=[]", "ingress.alerts.rateLimit.enabled=false"))
    alerts = by_name(objs, "Ingress", "tocsin-alerts")["metadata"]["annotations"]
    assert set(alerts) == {"nginx.ingress.kubernetes.io/proxy-body-size"}, alerts


def test_ingress_needs_a_host():
    err = render_fails(DEFAULT, ("ingress.enabled=true",))
    assert "host" in err, err


def ingress_path(ing):
    (rule,) = ing["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    return path["path"], path["pathType"], path["backend"]["service"]["name"]


def test_slack_actions_go_to_the_notifier():
    objs = render(PRODUCTION)
    slack = by_name(objs, "Ingress", "tocsin-slack")
    # The prefix: button clicks at /slack/actions and the /tocsin command at /slack/commands.
    assert ingress_path(slack) == ("/slack", "Prefix", full("notifier"))
    # Slack posts from anywhere: neither the webhook's allowlist nor its rate limit.
    assert not [k for k in slack["metadata"].get("annotations", {}) if "whitelist" in k or "limit-" in k]
    assert slack["spec"]["tls"][0]["secretName"] == "tocsin-tls"
    for sets in (("notifier.slack.interactivity=false",), ("ingress.enabled=false", "notifier.slack.interactivity=true")):
        assert not [i for i in of_kind(render(PRODUCTION, sets), "Ingress") if i["metadata"]["name"] == "tocsin-slack"], sets


def test_the_notifier_accepts_the_ingress_controller_only_with_slack_interactivity():
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    rules = by_name(render(PRODUCTION), "NetworkPolicy", full("notifier"))["spec"]["ingress"]
    assert any(controller in (r.get("from") or []) for r in rules), rules
    rules = by_name(render(PRODUCTION, ("notifier.slack.interactivity=false",)), "NetworkPolicy", full("notifier"))["spec"]["ingress"]
    assert not any(controller in (r.get("from") or []) for r in rules), rules


def test_live_feed_gets_streaming_settings_on_its_own_ingress():
    objs = render(PRODUCTION)
    events = by_name(objs, "Ingress", "tocsin-events")
    assert ingress_path(events) == ("/events", "Exact", full("query"))
    ann = events["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(ann["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    # The rest of the API keeps nginx's buffering and timeouts.
    api = by_name(objs, "Ingress", "tocsin")["metadata"].get("annotations", {})
    assert not [k for k in api if "proxy-" in k], api
    # Other controllers: no nginx annotations, and /events is served by the query Ingress.
    traefik = ("ingress.className=traefik", "networkPolicy.ingressNamespace=traefik")
    names = [i["metadata"]["name"] for i in of_kind(render(PRODUCTION, traefik), "Ingress")]
    assert "tocsin-events" not in names, names
    # The AKS application routing add-on is ingress-nginx under another class name.
    objs = render(PRODUCTION, ("ingress.className=webapprouting.kubernetes.azure.com",
                               "ingress.events.nginxStreaming=true", "ingress.events.timeoutSeconds=7200"))
    ann = by_name(objs, "Ingress", "tocsin-events")["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"
    names = [i["metadata"]["name"] for i in of_kind(render(PRODUCTION, ("ingress.events.nginxStreaming=false",)), "Ingress")]
    assert "tocsin-events" not in names, names


def test_query_serves_the_dashboard():
    assert env(deployment(render(), "query"))["WEB_ROOT"]["value"] == "/app/web"
    assert "WEB_ROOT" not in env(deployment(render(DEFAULT, ("query.webRoot=",)), "query"))


def test_query_bounds_the_live_feed():
    e = env(deployment(render(), "query"))
    assert (e["LIVE_MAX_CONNECTIONS_PER_TOKEN"]["value"], e["LIVE_MAX_REPLAY"]["value"]) == ("20", "1000")
    e = env(deployment(render(DEFAULT, ("query.live.maxConnectionsPerToken=4", "query.live.maxReplay=0")), "query"))
    assert (e["LIVE_MAX_CONNECTIONS_PER_TOKEN"]["value"], e["LIVE_MAX_REPLAY"]["value"]) == ("4", "0")
    for bad in ("query.live.maxConnectionsPerToken=0", "query.live.maxReplay=10001", "query.live.maxReplays=5"):
        render_fails(DEFAULT, (bad,))


# ------------------------------------------------------------------------------------------------
# Switching a feature off removes its objects
# ------------------------------------------------------------------------------------------------

def test_ingress_off_removes_the_ingresses():
    assert of_kind(render(PRODUCTION), "Ingress")
    assert not of_kind(render(PRODUCTION, ("ingress.enabled=false",)), "Ingress")


def test_autoscaling_off_removes_the_hpas_and_restores_replicas():
    off = tuple(f"{k}.autoscaling.enabled=false" for k in SERVICES)
    objs = render(PRODUCTION, off)
    assert not of_kind(objs, "HorizontalPodAutoscaler")
    for comp in SERVICES.values():
        assert deployment(objs, comp)["spec"]["replicas"] == 3, comp
    # One service only: the others keep theirs.
    objs = render(PRODUCTION, ("query.autoscaling.enabled=false",))
    names = sorted(h["metadata"]["name"] for h in of_kind(objs, "HorizontalPodAutoscaler"))
    assert names == sorted(full(c) for c in ("ingest", "incident-core", "notifier")), names


def test_network_policies_off_removes_them():
    names = sorted(n["metadata"]["name"] for n in of_kind(render(), "NetworkPolicy"))
    assert names == sorted([full(c) for c in SERVICES.values()] + ["tocsin-migrate", "tocsin-preflight"]), names
    assert not of_kind(render(DEFAULT, ("networkPolicy.enabled=false",)), "NetworkPolicy")


def test_service_monitors_only_when_enabled():
    assert not of_kind(render(), "ServiceMonitor")
    objs = render(DEFAULT, ("serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus"),
                  api_versions=PROMETHEUS_OPERATOR)
    monitors = of_kind(objs, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == sorted(full(c) for c in SERVICES.values())
    for m in monitors:
        assert m["spec"]["endpoints"][0]["port"] == "http"
        assert m["spec"]["endpoints"][0]["path"] == "/metrics"
        assert m["metadata"]["labels"]["release"] == "prometheus"
        svc = by_name(objs, "Service", m["metadata"]["name"])
        assert all(svc["metadata"]["labels"].get(k) == v for k, v in m["spec"]["selector"]["matchLabels"].items())


def test_chart_created_secret_only_without_existing_secret():
    objs = render(MINIMAL)
    secret = by_name(objs, "Secret", "tocsin-credentials")
    assert set(secret["stringData"]) == {"DATABASE_URL", "REDIS_URL", "INGEST_TOKEN", "API_TOKEN"}
    # With existingSecret (the default), no Secret at all, not even the migration's copy.
    assert not of_kind(render(), "Secret")
    assert not of_kind(render(PRODUCTION), "Secret")


def test_existing_secret_and_chart_values_are_exclusive():
    err = render_fails(DEFAULT, ("secret.create.apiToken=abc",))
    assert "secret.create.apiToken" in err and "existingSecret" in err, err


def test_pod_disruption_budgets_per_service():
    objs = render()
    for comp in SERVICES.values():
        pdb = by_name(objs, "PodDisruptionBudget", full(comp))
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == deployment(objs, comp)["spec"]["selector"]["matchLabels"]
    objs = render(DEFAULT, ("notifier.podDisruptionBudget.enabled=false",))
    assert sorted(p["metadata"]["name"] for p in of_kind(objs, "PodDisruptionBudget")) == \
        sorted(full(c) for c in ("ingest", "incident-core", "query"))


ROUTING = "targets:\n  mail:\n    email: {to: [sre@example.com]}\ndefault_route:\n  targets: [mail]\n"


def routing_file_of(dep):
    """The path the notifier reads its routing file from, checked against the mounts."""
    path = env(dep)["ROUTING_FILE"]["value"]
    pod = dep["spec"]["template"]["spec"]
    (mount,) = [m for m in container(dep)["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (item,) = volume["configMap"]["items"]
    assert os.path.join(mount["mountPath"], item["path"]) == path
    assert mount["readOnly"] is True
    return path, volume["configMap"]["name"], item["key"]


def test_routing_configmap_only_when_set():
    assert not of_kind(render(), "ConfigMap")
    assert "volumes" not in deployment(render(), "notifier")["spec"]["template"]["spec"]
    assert "ROUTING_FILE" not in env(deployment(render(), "notifier"))
    objs = render(DEFAULT, (f"notifier.routing={ROUTING}",))
    cm = by_name(objs, "ConfigMap", "tocsin-notifier-routing")
    assert yaml.safe_load(cm["data"]["routing.yaml"]) == yaml.safe_load(ROUTING)
    dep = deployment(objs, "notifier")
    assert routing_file_of(dep) == ("/etc/tocsin/routing.yaml", "tocsin-notifier-routing", "routing.yaml")
    assert "checksum/routing" in dep["spec"]["template"]["metadata"]["annotations"]
    for comp in ("ingest", "incident-core", "query"):
        assert "volumes" not in deployment(objs, comp)["spec"]["template"]["spec"], comp


def test_routing_as_an_object_and_a_change_rolls_the_pods():
    objs = render(ALL_FEATURES)
    cm = by_name(objs, "ConfigMap", "tocsin-notifier-routing")
    with open(f"{HERE}/all-features.yaml", encoding="utf-8") as f:
        assert yaml.safe_load(cm["data"]["routing.yaml"]) == yaml.safe_load(f)["notifier"]["routing"]
    assert routing_file_of(deployment(objs, "notifier"))[1] == "tocsin-notifier-routing"
    checksum = lambda objs: deployment(objs, "notifier")["spec"]["template"]["metadata"]["annotations"]["checksum/routing"]
    changed = render(DEFAULT, (f"notifier.routing={ROUTING.replace('sre@', 'ops@')}",))
    assert checksum(render(DEFAULT, (f"notifier.routing={ROUTING}",))) != checksum(changed)


def test_existing_routing_configmap():
    objs = render(DEFAULT, ("notifier.existingRoutingConfigMap=my-routing",))
    assert not of_kind(objs, "ConfigMap")
    dep = deployment(objs, "notifier")
    assert routing_file_of(dep) == ("/etc/tocsin/routing.yaml", "my-routing", "routing.yaml")
    assert "checksum/routing" not in dep["spec"]["template"]["metadata"].get("annotations", {})
    err = render_fails(DEFAULT, ("notifier.existingRoutingConfigMap=my-routing", f"notifier.routing={ROUTING}"))
    assert "existingRoutingConfigMap" in err, err


# The secrets docs/routing.example.yaml names, given to the notifier as docs/deploy-aks.md says.
EXAMPLE_SECRETS = (
    'json:notifier.secretEnv=[{"name": "SLACK_BOT_TOKEN", "key": "SLACK_BOT_TOKEN"},'
    ' {"name": "SLACK_PLATFORM_WEBHOOK_URL", "secretName": "tocsin-notifier", "key": "slack-platform-webhook-url"},'
    ' {"name": "TEAMS_CHECKOUT_WEBHOOK_URL", "secretName": "tocsin-notifier", "key": "teams-checkout-webhook-url"}]',
    'json:notifier.secretFiles=[{"secretName": "tocsin-notifier-files", "mountPath": "/run/secrets/tocsin"}]',
)


def test_the_documented_routing_file_installs_with_its_secrets():
    objs = render(DEFAULT, (f"file:notifier.routing={ROUTING_EXAMPLE}",) + EXAMPLE_SECRETS)
    cm = by_name(objs, "ConfigMap", "tocsin-notifier-routing")
    with open(ROUTING_EXAMPLE, encoding="utf-8") as f:
        assert cm["data"]["routing.yaml"].strip() == f.read().strip()
    e = env(deployment(objs, "notifier"))
    assert e["TEAMS_CHECKOUT_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"] == \
        {"name": "tocsin-notifier", "key": "teams-checkout-webhook-url"}
    # A variable or a file the routing file names and the pod would not get fails the install
    # (the notifier would stop at start-up), naming it.
    err = render_fails(DEFAULT, (f"file:notifier.routing={ROUTING_EXAMPLE}", EXAMPLE_SECRETS[1]))
    assert "SLACK_BOT_TOKEN" in err and "secretEnv" in err, err
    err = render_fails(DEFAULT, (f"file:notifier.routing={ROUTING_EXAMPLE}", EXAMPLE_SECRETS[0]))
    assert "/run/secrets/tocsin/" in err and "secretFiles" in err, err


def test_routing_never_holds_a_secret():
    for secret in ("xoxb-1234-5678-abcdefgh", "https://hooks.slack.com/services/T000/B000/XXXX",
                   "https://acme.webhook.office.com/webhookb2/abc", "ghp_0123456789abcdefghijABCDEFGHIJ"):
        err = render_fails(DEFAULT, (f"notifier.routing=targets:\n  a:\n    teams: {{url_env: {secret}}}\n",))
        assert "secret" in err and secret not in err, err


def test_secret_env_from_the_credentials_secret_or_a_named_one():
    sets = ('json:notifier.secretEnv=[{"name": "SLACK_SIGNING_SECRET", "key": "slack-signing"},'
            ' {"name": "SMTP_PASSWORD", "secretName": "tocsin-smtp", "key": "password"}]',)
    objs = render(DEFAULT, sets)
    e = env(deployment(objs, "notifier"))
    assert e["SLACK_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-credentials", "key": "slack-signing"}
    assert e["SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-smtp", "key": "password"}
    for comp in ("ingest", "incident-core", "query"):
        assert "SLACK_SIGNING_SECRET" not in env(deployment(objs, comp)), comp
    # The chart's own Secret: the key must be in it.
    err = render_fails(MINIMAL, sets)
    assert "secret.create.extraKeys" in err, err
    objs = render(MINIMAL, sets + ("secret.create.extraKeys.slack-signing=s3cr3t",))
    assert by_name(objs, "Secret", "tocsin-credentials")["stringData"]["slack-signing"] == "s3cr3t"
    ref = env(deployment(objs, "notifier"))["SLACK_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tocsin-credentials", "key": "slack-signing"}
    # Extra keys belong to the chart's Secret only.
    err = render_fails(DEFAULT, ("secret.create.extraKeys.slack-signing=s3cr3t",))
    assert "extraKeys" in err and "existingSecret" in err, err


def test_secret_files_mounted_read_only():
    objs = render(ALL_FEATURES)
    dep = deployment(objs, "notifier")
    pod = dep["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in container(dep)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = volumes[mounts["/run/secrets/tocsin"]["name"]]["secret"]
    assert files["secretName"] == "tocsin-notifier-files" and "items" not in files
    assert files["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 10001
    smtp = volumes[mounts["/run/secrets/smtp"]["name"]]["secret"]
    assert smtp["items"] == [{"key": "ca.pem", "path": "ca.pem"}]
    assert all(m["readOnly"] is True for m in mounts.values())
    assert env(dep)["SMTP_CA_FILE"]["value"] == "/run/secrets/smtp/ca.pem"
    err = render_fails(DEFAULT, ('json:notifier.secretFiles=[{"secretName": "a", "mountPath": "/run/s"},'
                                 ' {"secretName": "b", "mountPath": "/run/s/"}]',))
    assert "/run/s" in err, err


def test_one_slack_channel_without_a_routing_file():
    token = 'json:notifier.secretEnv=[{"name": "SLACK_BOT_TOKEN", "key": "SLACK_BOT_TOKEN"}]'
    e = env(deployment(render(DEFAULT, ("notifier.slack.channel=#oncall", token)), "notifier"))
    assert e["SLACK_CHANNEL"]["value"] == "#oncall" and "ROUTING_FILE" not in e
    # Each half alone would stop the notifier at start-up; a channel beside a routing file
    # would be ignored.
    assert "SLACK_BOT_TOKEN" in render_fails(DEFAULT, ("notifier.slack.channel=#oncall",))
    assert "notifier.slack.channel" in render_fails(DEFAULT, (token,))
    err = render_fails(DEFAULT, ("notifier.slack.channel=#oncall", token, f"notifier.routing={ROUTING}"))
    assert "ignored" in err, err


def test_notifier_settings_become_its_variables():
    objs = render(ALL_FEATURES, ("notifier.slack.apiUrl=https://slack.proxy.example/api",
                                 "notifier.delivery.maxAttempts=3", "notifier.delivery.channelInterval=2s"))
    e = env(deployment(objs, "notifier"))
    expected = {
        "SMTP_URL": "smtp://smtp.example.com:587?tls=required", "SMTP_FROM": "tocsin <tocsin@example.com>",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3", "SLACK_API_URL": "https://slack.proxy.example/api",
        "DELIVERY_MAX_ATTEMPTS": "3", "CHANNEL_INTERVAL": "2s", "DELIVERY_BACKOFF": "2s",
        "DELIVERY_MAX_BACKOFF": "5m", "DELIVERY_TIMEOUT": "10s", "DATABASE_POOL_SIZE": "4",
        "STREAM_MAX_AGE": "7d", "PUBLIC_URL": "https://tocsin.example.com",
    }
    assert {k: e[k].get("value") for k in expected} == expected
    for secret in ("SMTP_USERNAME", "SMTP_PASSWORD"):
        assert e[secret]["valueFrom"]["secretKeyRef"]["name"] == "tocsin-smtp", secret
    # Unset settings are left to the notifier's defaults.
    e = env(deployment(render(), "notifier"))
    assert not {"SMTP_URL", "SMTP_FROM", "GITHUB_API_URL", "SLACK_API_URL", "PUBLIC_URL", "SLACK_CHANNEL"} & set(e)


def test_public_url_follows_the_ingress():
    public = lambda files, sets=(): env(deployment(render(files, sets), "notifier")).get("PUBLIC_URL", {}).get("value")
    assert public(PRODUCTION) == "https://tocsin.example.com"
    assert public(PRODUCTION, ("ingress.tls.enabled=false",)) == "http://tocsin.example.com"
    assert public(PRODUCTION, ("notifier.publicUrl=https://oncall.example.com",)) == "https://oncall.example.com"
    assert public(DEFAULT) is None


# Gateway API: the routes alone, attached to a Gateway in another namespace whose data plane
# runs in "gateways".
GATEWAY_ONLY = ("ingress.host=tocsin.example.com", "httpRoute.enabled=true",
                'json:httpRoute.parentRefs=[{"name": "shared-gateway", "namespace": "gateways"}]',
                "networkPolicy.ingressNamespace=gateways")


def http_route_rule(route):
    """The one rule of an HTTPRoute as (match type, path, backend Service, port)."""
    (rule,) = route["spec"]["rules"]
    (match,) = rule["matches"]
    (backend,) = rule["backendRefs"]
    return match["path"]["type"], match["path"]["value"], backend["name"], backend["port"]


def test_http_routes_attach_to_the_named_gateway_with_the_ingress_paths():
    objs = render(ALL_FEATURES)
    routes = {r["metadata"]["name"]: r for r in of_kind(objs, "HTTPRoute")}
    assert http_route_rule(routes["tocsin-alerts"]) == ("Exact", "/alerts", full("ingest"), 8080)
    assert http_route_rule(routes["tocsin-slack"]) == ("PathPrefix", "/slack", full("notifier"), 8080)
    assert http_route_rule(routes["tocsin"]) == ("PathPrefix", "/", full("query"), 8080)
    gateway = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared-gateway",
               "namespace": "gateways", "sectionName": "https"}
    for route in routes.values():
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert route["spec"]["parentRefs"] == [gateway], route["spec"]["parentRefs"]
        assert route["spec"]["hostnames"] == ["tocsin.example.com"]
    # Beside the Ingress objects, which stay as they were.
    assert {i["metadata"]["name"] for i in of_kind(objs, "Ingress")} >= {"tocsin", "tocsin-alerts", "tocsin-slack"}
    # Every path an Ingress serves is routed too (the Ingress's /events is query's, under /).
    ingress_paths = {ingress_path(i)[0].rstrip("/") or "/" for i in of_kind(objs, "Ingress")} - {"/events"}
    assert ingress_paths == {http_route_rule(r)[1] for r in routes.values()}, ingress_paths


def test_http_routes_satisfy_the_gateway_api_crd_and_a_typo_would_not():
    # The CRD folder comes from scripts/lint-deploy.sh (the Gateway API's Go module).
    schemas = validate.crd_schemas([os.environ["GATEWAY_API_CRDS"]])
    route = by_name(render(ALL_FEATURES), "HTTPRoute", "tocsin-alerts")
    check = schemas[("gateway.networking.k8s.io/v1", "HTTPRoute")]
    assert not list(check.iter_errors(route))
    typo = json.loads(json.dumps(route))
    typo["spec"]["rules"][0]["backendRefs"][0]["prot"] = 8080
    assert [e.message for e in check.iter_errors(typo)] == ["Additional properties are not allowed ('prot' was unexpected)"]


def test_http_routes_are_off_by_default():
    for files in (DEFAULT, PRODUCTION, MINIMAL):
        assert not of_kind(render(files), "HTTPRoute"), files


def test_http_routes_need_a_gateway_and_a_host():
    err = render_fails(DEFAULT, GATEWAY_ONLY[1:])
    assert "host" in err, err
    err = render_fails(DEFAULT, ("ingress.host=tocsin.example.com", "httpRoute.enabled=true",
                                 "networkPolicy.ingressNamespace=gateways"))
    assert "parentRefs" in err, err
    err = render_fails(DEFAULT, ("ingress.host=tocsin.example.com", "httpRoute.enabled=true",
                                 'json:httpRoute.parentRefs=[{"namespace": "gateways"}]'))
    assert "name" in err, err


def test_http_routes_alone_make_tocsin_public_through_the_gateway():
    objs = render(DEFAULT, GATEWAY_ONLY)
    assert not of_kind(objs, "Ingress")
    names = {r["metadata"]["name"] for r in of_kind(objs, "HTTPRoute")}
    assert names == {"tocsin", "tocsin-alerts", "tocsin-slack"}, names
    (parent,) = by_name(objs, "HTTPRoute", "tocsin")["spec"]["parentRefs"]
    assert "sectionName" not in parent, "no listener named: every listener of the Gateway"
    assert env(deployment(objs, "notifier"))["PUBLIC_URL"]["value"] == "https://tocsin.example.com"
    plain = render(DEFAULT, GATEWAY_ONLY + ("httpRoute.https=false",))
    assert env(deployment(plain, "notifier"))["PUBLIC_URL"]["value"] == "http://tocsin.example.com"
    # The Gateway's data plane reaches the public services, and only it and Prometheus do.
    for comp in ("ingest", "query", "notifier"):
        assert source_namespaces(ingress_rules(objs, comp)) == sorted(["gateways", METRICS_NAMESPACE]), comp


def test_a_gateway_without_named_sources_is_refused_by_the_network_policies():
    # The chart cannot know where a Gateway's data plane runs: it asks rather than guesses.
    err = render_fails(DEFAULT, GATEWAY_ONLY[:-1])
    assert "networkPolicy.ingressNamespace" in err and "Gateway" in err, err
    assert of_kind(render(DEFAULT, GATEWAY_ONLY[:-1] + ("networkPolicy.enabled=false",)), "HTTPRoute")


def test_sign_in_is_off_until_an_issuer_is_given_and_then_reaches_the_provider():
    objs = render(PRODUCTION)
    assert not {"OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"} & set(env(deployment(objs, "query")))
    issuer = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
    on = ("query.signIn.issuerUrl=" + issuer, "query.signIn.clientId=tocsin-dashboard")
    objs = render(PRODUCTION, on)
    query = env(deployment(objs, "query"))
    assert query["OIDC_ISSUER_URL"]["value"] == issuer
    assert query["OIDC_CLIENT_ID"]["value"] == "tocsin-dashboard"
    assert query["OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "OIDC_CLIENT_SECRET"
    # The redirect URI is made from the dashboard's address, the ingress's unless set.
    assert query["PUBLIC_URL"]["value"] == "https://tocsin.example.com"
    assert query["SESSION_LIFETIME"]["value"] == "12h"
    assert query["SIGN_IN_DEFAULT_ROLE"]["value"] == "automatic"
    viewers = env(deployment(render(PRODUCTION, on + ("query.signIn.defaultRole=viewer",)), "query"))
    assert viewers["SIGN_IN_DEFAULT_ROLE"]["value"] == "viewer"
    # A manager is never a default: the schema refuses it before query would.
    failure = render_fails(PRODUCTION, on + ("query.signIn.defaultRole=manager",))
    assert "defaultRole" in failure, failure
    np = by_name(objs, "NetworkPolicy", full("query"))
    https = [r for r in np["spec"]["egress"] if {p["port"] for p in r["ports"]} == {443}]
    assert https and https[0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0", np["spec"]["egress"]
    # Without sign-in, query talks to nothing on the internet.
    off = by_name(render(PRODUCTION), "NetworkPolicy", full("query"))
    assert not [r for r in off["spec"]["egress"] if {p["port"] for p in r["ports"]} == {443}]
    # A client id is required once an issuer is given.
    failure = render_fails(PRODUCTION, ("query.signIn.issuerUrl=" + issuer,))
    assert "query.signIn.clientId" in failure, failure


def test_incident_core_reads_the_service_catalogue_every_catalogue_refresh():
    core = env(deployment(render(PRODUCTION, ("incidentCore.catalogueRefresh=30s",)), "incident-core"))
    assert core["CATALOGUE_REFRESH"]["value"] == "30s"


def test_notifier_has_the_database_like_incident_core():
    objs = render(PRODUCTION, ("secret.keys.queryDatabaseUrl=DATABASE_URL_READONLY",))
    notifier, core = env(deployment(objs, "notifier")), env(deployment(objs, "incident-core"))
    # It writes its deliveries: the read-only role of query would not do.
    assert notifier["DATABASE_URL"] == core["DATABASE_URL"], notifier["DATABASE_URL"]
    assert notifier["DATABASE_POOL_SIZE"]["value"] == "4"
    np = by_name(objs, "NetworkPolicy", full("notifier"))
    (pg,) = [r for r in np["spec"]["egress"] if {p["port"] for p in r["ports"]} == {5432}]
    assert pg["to"] == [{"ipBlock": {"cidr": "10.20.2.0/24"}}], pg


def test_migrations_hook_job():
    for files, secret in ((DEFAULT, "tocsin-credentials"), (MINIMAL, "tocsin-migrate")):
        objs = render(files)
        job = by_name(objs, "Job", "tocsin-migrate")
        ann = job["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
        c = job["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["/usr/local/bin/tocsin-incident-core"] and c["args"] == ["migrate"]
        assert c["env"][-1]["name"] == "DATABASE_URL"
        assert c["env"][-1]["valueFrom"]["secretKeyRef"]["name"] == secret
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        # Everything the Job needs exists before it: hooks with a lower weight.
        sa = by_name(objs, "ServiceAccount", job["spec"]["template"]["spec"]["serviceAccountName"])
        assert int(sa["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(ann["helm.sh/hook-weight"])
        if secret != "tocsin-credentials":
            s = by_name(objs, "Secret", secret)
            assert int(s["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(ann["helm.sh/hook-weight"])
    assert [j["metadata"]["name"] for j in of_kind(render(DEFAULT, ("migrations.enabled=false",)), "Job")] == \
        ["tocsin-preflight"]


def test_keda_replaces_the_hpa_of_its_service():
    base = ("keda.redisAddress=tocsin.redis.cache.windows.net:6380", "incidentCore.autoscaling.keda.enabled=true")
    objs = render(PRODUCTION, base)
    so = by_name(objs, "ScaledObject", full("incident-core"))
    (redis,) = [t for t in so["spec"]["triggers"] if t["type"] == "redis-streams"]
    assert redis["metadata"]["stream"] == "tocsin:alerts"
    assert redis["metadata"]["consumerGroup"] == "incident-core"
    assert redis["metadata"]["enableTLS"] == "true"
    assert so["spec"]["minReplicaCount"] == 3
    assert "authenticationRef" not in redis, "no password key configured"
    hpas = sorted(h["metadata"]["name"] for h in of_kind(objs, "HorizontalPodAutoscaler"))
    assert full("incident-core") not in hpas and len(hpas) == 3, hpas
    assert "replicas" not in deployment(objs, "incident-core")["spec"]
    objs = render(PRODUCTION, base + ("secret.keys.redisPassword=REDIS_PASSWORD", "notifier.autoscaling.keda.enabled=true"))
    auth = by_name(objs, "TriggerAuthentication", full("notifier") + "-redis")
    assert auth["spec"]["secretTargetRef"][0] == {"parameter": "password", "name": "tocsin-credentials", "key": "REDIS_PASSWORD"}
    so = by_name(objs, "ScaledObject", full("notifier"))
    assert so["spec"]["triggers"][0]["metadata"]["stream"] == "tocsin:events"
    assert not of_kind(render(PRODUCTION), "ScaledObject")


def test_keda_needs_the_redis_address():
    err = render_fails(DEFAULT, ("incidentCore.autoscaling.keda.enabled=true",))
    assert "keda.redisAddress" in err, err


# ------------------------------------------------------------------------------------------------
# Monitoring: the rules and dashboards of dashboards/
# ------------------------------------------------------------------------------------------------

def rule_groups_in_dashboards():
    groups = []
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "rules", "*.yml"))):
        with open(path, encoding="utf-8") as f:
            groups += yaml.safe_load(f)["groups"]
    assert groups, "no rule groups in dashboards/rules"
    return groups


def test_prometheus_rule_has_every_rule_group():
    objs = render(DEFAULT, ("monitoring.prometheusRule.enabled=true", "monitoring.prometheusRule.labels.release=prom"),
                  api_versions=PROMETHEUS_OPERATOR)
    (rule,) = of_kind(objs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prom"
    # With the release named tocsin the job names are the ones the rules were written for:
    # the rules are dashboards/rules, unchanged.
    assert rule["spec"]["groups"] == rule_groups_in_dashboards()
    # kubernetes-validate has no schema for the CRD: the shape Prometheus needs, checked here.
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"], group.get("name")
        for r in group["rules"]:
            assert r["expr"] and (("record" in r) != ("alert" in r)), r


def test_prometheus_rule_follows_the_release_name():
    objs = render(DEFAULT, ("monitoring.prometheusRule.enabled=true", "serviceMonitor.enabled=true"), release="oncall",
                  api_versions=PROMETHEUS_OPERATOR)
    (rule,) = of_kind(objs, "PrometheusRule")
    text = json.dumps(rule["spec"])
    jobs = set(re.findall(r'job=\\"([^\\"]+)\\"', text))
    services = {s["metadata"]["name"] for s in of_kind(objs, "Service")}
    assert jobs and jobs <= services, (jobs, services)  # each job is a ServiceMonitor's Service
    assert 'job=~\\"oncall-tocsin-(' in text
    assert not re.search(r'job=~?\\"tocsin-', text)


def test_grafana_dashboards_one_configmap_each():
    objs = render(DEFAULT, ("monitoring.grafanaDashboards.enabled=true",))
    maps = {c["metadata"]["name"]: c for c in of_kind(objs, "ConfigMap")}
    files = sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")))
    assert files and len(maps) == len(files), (sorted(maps), files)
    for path in files:
        name = os.path.basename(path)
        cm = maps[f"tocsin-dashboard-{name[:-len('.json')].removeprefix('tocsin-')}"]
        with open(path, encoding="utf-8") as f:
            assert json.loads(cm["data"][name]) == json.load(f), name
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "tocsin"}
        assert len(cm["data"][name].encode()) < 1024 * 1024, name
    objs = render(DEFAULT, ("monitoring.grafanaDashboards.enabled=true", "monitoring.grafanaDashboards.label=dashboards",
                            "monitoring.grafanaDashboards.labelValue=tocsin", "monitoring.grafanaDashboards.folder="))
    for cm in of_kind(objs, "ConfigMap"):
        assert cm["metadata"]["labels"]["dashboards"] == "tocsin" and "grafana_dashboard" not in cm["metadata"]["labels"]
        assert "annotations" not in cm["metadata"]


def test_monitoring_objects_only_when_enabled():
    kinds = lambda objs: sorted({o["kind"] for o in objs if component_of(o) == "monitoring"} |
                                {o["kind"] for o in objs if o["kind"] in ("PrometheusRule", "ServiceMonitor")})
    assert kinds(render()) == []
    operator = PROMETHEUS_OPERATOR
    assert kinds(render(ALL_FEATURES, api_versions=operator)) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
    assert kinds(render(ALL_FEATURES, ("monitoring.prometheusRule.enabled=false",), api_versions=operator)) == \
        ["ConfigMap", "ServiceMonitor"]
    assert kinds(render(ALL_FEATURES, ("monitoring.grafanaDashboards.enabled=false",), api_versions=operator)) == \
        ["PrometheusRule", "ServiceMonitor"]
    assert kinds(render(ALL_FEATURES, ("serviceMonitor.enabled=false",), api_versions=operator)) == \
        ["ConfigMap", "PrometheusRule"]


# ------------------------------------------------------------------------------------------------
# NetworkPolicies: each service gets what it needs
# ------------------------------------------------------------------------------------------------

def egress_ports(np):
    return {p["port"] for rule in np["spec"]["egress"] for p in rule.get("ports", [])}


def test_network_policies_allow_what_each_service_needs():
    objs = render(PRODUCTION)
    for comp in SERVICES.values():
        np = by_name(objs, "NetworkPolicy", full(comp))
        assert np["spec"]["podSelector"]["matchLabels"] == deployment(objs, comp)["spec"]["selector"]["matchLabels"]
        ports = egress_ports(np)
        assert {53, 10000} <= ports, (comp, ports)
        assert (5432 in ports) == (comp in ("incident-core", "query", "notifier")), (comp, ports)
        # Only the notifier talks to the internet (Slack, Teams, GitHub, SMTP), and incident-core
        # to the archive's store over HTTPS, as archive.enabled (production.yaml) asks.
        assert bool(ports & {443, 465, 587}) == (comp in ("notifier", "incident-core")), (comp, ports)
        assert comp == "notifier" or not ports & {465, 587}, (comp, ports)
        sources = [r.get("from") for r in np["spec"]["ingress"]]
        namespaces = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                      for peers in sources for p in (peers or [])]
        if comp in ("ingest", "query", "notifier"):  # the notifier: Slack's clicks
            assert "ingress-nginx" in namespaces, (comp, namespaces)
        else:
            assert namespaces == ["kube-system"], (comp, namespaces)  # metrics scraping only
    migrate = by_name(objs, "NetworkPolicy", "tocsin-migrate")
    assert migrate["spec"]["ingress"] == [] and egress_ports(migrate) == {53, 5432}
    # The preflight reaches what it checks: PostgreSQL and Redis.
    preflight_np = by_name(objs, "NetworkPolicy", "tocsin-preflight")
    assert preflight_np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "preflight"
    assert preflight_np["spec"]["ingress"] == [] and egress_ports(preflight_np) == {53, 5432, 10000}


CONTROLLER_NAMESPACE = "ingress-nginx"  # from ingress.className "nginx", the chart's default
METRICS_NAMESPACE = "monitoring"


def ingress_rules(objs, comp):
    return by_name(objs, "NetworkPolicy", full(comp))["spec"]["ingress"]


def admits_anyone(rule):
    """Why an ingress rule lets any pod (or any address) in, or None: no `from` at all, an empty
    namespaceSelector (every namespace), an empty podSelector alone (every pod of the namespace),
    or an ipBlock of the whole address space."""
    peers = rule.get("from")
    if not peers:
        return "no from: every source"
    for peer in peers:
        if peer.get("namespaceSelector") == {} and not peer.get("podSelector"):
            return f"{peer}: every pod of every namespace"
        if set(peer) == {"podSelector"} and not peer["podSelector"]:
            return f"{peer}: every pod of the namespace"
        if peer.get("ipBlock", {}).get("cidr") in ("0.0.0.0/0", "::/0"):
            return f"{peer}: every address"
    return None


def source_namespaces(rules):
    """The namespaces the rules admit, each peer a namespaceSelector on kubernetes.io/metadata.name."""
    found = []
    for rule in rules:
        for peer in rule.get("from") or []:
            assert set(peer) == {"namespaceSelector"}, peer
            found.append(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    return sorted(found)


def test_default_network_policies_admit_only_the_ingress_controller_and_prometheus():
    # The chart's defaults, and production's ingress and Slack interactivity with the defaults'
    # sources: the controller's namespace on the public services, Prometheus's on every one.
    production_sources = ("json:networkPolicy.ingressFrom=[]", "json:networkPolicy.metricsFrom=[]",
                          "networkPolicy.metricsNamespace=" + METRICS_NAMESPACE)
    for objs in (render(), render(PRODUCTION, production_sources)):
        for comp in SERVICES.values():
            rules = ingress_rules(objs, comp)
            for rule in rules:
                assert not admits_anyone(rule), (comp, admits_anyone(rule))
                assert rule["ports"] == [{"protocol": "TCP", "port": "http"}], (comp, rule)
    objs = render()
    for comp in ("ingest", "query"):
        assert source_namespaces(ingress_rules(objs, comp)) == sorted([CONTROLLER_NAMESPACE, METRICS_NAMESPACE]), comp
    for comp in ("incident-core", "notifier"):  # no ingress in the defaults: no Slack clicks
        assert source_namespaces(ingress_rules(objs, comp)) == [METRICS_NAMESPACE], comp
    objs = render(PRODUCTION, production_sources)
    got = source_namespaces(ingress_rules(objs, "notifier"))
    assert got == sorted([CONTROLLER_NAMESPACE, METRICS_NAMESPACE]), got


def test_the_controller_namespace_follows_the_ingress_class_or_is_named():
    routing = render(DEFAULT, ("ingress.className=webapprouting.kubernetes.azure.com",))
    named = render(DEFAULT, ("ingress.className=traefik", "networkPolicy.ingressNamespace=traefik-system"))
    for objs, namespace in ((routing, "app-routing-system"), (named, "traefik-system")):
        for comp in ("ingest", "query"):
            assert source_namespaces(ingress_rules(objs, comp)) == sorted([namespace, METRICS_NAMESPACE]), (comp, namespace)
    # A class the chart cannot place: the install names the value to set instead of guessing.
    err = render_fails(DEFAULT, ("ingress.className=traefik",))
    assert "networkPolicy.ingressNamespace" in err and "traefik" in err, err


def test_explicit_sources_replace_the_namespaces():
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}},
                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"rsName": "ama-metrics"}}}
    objs = render(DEFAULT, ("json:networkPolicy.ingressFrom=" + json.dumps([controller]),
                            "json:networkPolicy.metricsFrom=" + json.dumps([scraper])))
    for comp in ("ingest", "query"):
        assert [r["from"] for r in ingress_rules(objs, comp)] == [[controller], [scraper]], comp
    for comp in ("incident-core", "notifier"):
        assert [r["from"] for r in ingress_rules(objs, comp)] == [[scraper]], comp


def test_without_a_scraper_only_the_controller_gets_in():
    objs = render(DEFAULT, ("networkPolicy.metricsNamespace=",))
    for comp in ("ingest", "query"):
        assert source_namespaces(ingress_rules(objs, comp)) == [CONTROLLER_NAMESPACE], comp
    for comp in ("incident-core", "notifier"):
        # Nothing but the kubelet's probes, which NetworkPolicies do not apply to.
        assert ingress_rules(objs, comp) == [], comp


def test_schema_checks_the_network_policy_sources():
    for typo, word in (("networkPolicy.ingressNamspace=x", "ingressNamspace"),
                       ('json:networkPolicy.ingressFrom=[{"namespaceSelecter": {}}]', "namespaceSelecter"),
                       ('json:networkPolicy.metricsFrom=[{"ipblock": {"cidr": "10.0.0.0/8"}}]', "ipblock")):
        err = render_fails(DEFAULT, (typo,))
        assert f"'{word}' not allowed" in err, (typo, err)
    for bad in ("networkPolicy.ingressNamespace=Ingress_Nginx", "networkPolicy.metricsNamespace=-monitoring",
                "json:networkPolicy.ingressFrom=[{}]", "json:networkPolicy.metricsNamespace=7"):
        render_fails(DEFAULT, (bad,))


def test_every_service_reaches_azure_managed_redis_on_its_tls_port():
    # Azure Managed Redis (terraform/modules/redis) listens on 10000, TLS; the production example
    # opens that port alone, towards the private endpoints' subnet.
    for files, ports in ((DEFAULT, {6379, 6380, 10000}), (PRODUCTION, {10000})):
        objs = render(files)
        for comp in SERVICES.values():
            egress = by_name(objs, "NetworkPolicy", full(comp))["spec"]["egress"]
            redis = [r for r in egress if {p["port"] for p in r.get("ports", [])} & {6379, 6380, 10000}]
            assert len(redis) == 1 and {p["port"] for p in redis[0]["ports"]} == ports, (comp, redis)
    (rule,) = [r for r in by_name(render(PRODUCTION), "NetworkPolicy", full("ingest"))["spec"]["egress"]
               if r["ports"][0]["port"] == 10000]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.20.3.0/24"}}], rule


def test_notifier_reaches_the_internet_on_its_ports_only():
    np = by_name(render(), "NetworkPolicy", full("notifier"))
    private = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
    outside = [r for r in np["spec"]["egress"] if {p["port"] for p in r["ports"]} & {443, 465, 587}]
    assert sorted(sorted(p["port"] for p in r["ports"]) for r in outside) == [[443], [465, 587]], outside
    for r in outside:
        (peer,) = r["to"]
        assert peer["ipBlock"]["cidr"] == "0.0.0.0/0" and set(peer["ipBlock"]["except"]) == private, r
    relay = 'json:networkPolicy.notifier.smtp={"ports": [25], "to": [{"ipBlock": {"cidr": "10.20.4.0/28"}}]}'
    np = by_name(render(DEFAULT, (relay,)), "NetworkPolicy", full("notifier"))
    (smtp,) = [r for r in np["spec"]["egress"] if r["ports"][0]["port"] == 25]
    assert smtp["to"] == [{"ipBlock": {"cidr": "10.20.4.0/28"}}]


# ------------------------------------------------------------------------------------------------
# Services are independent
# ------------------------------------------------------------------------------------------------

def index(objs):
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def test_scaling_query_changes_no_other_service():
    for files, sets in ((DEFAULT, ("query.replicas=7",)),
                        (PRODUCTION, ("query.autoscaling.maxReplicas=30", "query.resources.requests.cpu=1"))):
        before, after = index(render(files)), index(render(files, sets))
        assert before.keys() == after.keys()
        changed = sorted(k for k in before if before[k] != after[k])
        assert changed and all(component_of(after[k]) == "query" for k in changed), changed


def test_every_object_carries_the_release_labels():
    for files in ALL_SETS.values():
        for o in render(files):
            labels = o["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/instance") == RELEASE, o["metadata"]["name"]
            assert labels.get("app.kubernetes.io/name") == "tocsin", o["metadata"]["name"]


# ------------------------------------------------------------------------------------------------
# The backup CronJob (docs/operations.md)
# ------------------------------------------------------------------------------------------------

BACKUP_ON = ("backup.enabled=true", "backup.destination=https://tocsinprod.blob.core.windows.net/backups")


def backup_objects(objs):
    return sorted((o["kind"], o["metadata"]["name"]) for o in objs if component_of(o) == "backup")


def backup_pod(objs):
    cron = by_name(objs, "CronJob", full("backup"))
    return cron, cron["spec"]["jobTemplate"]["spec"]["template"]


def test_backup_off_renders_nothing():
    for name, files in (("default", DEFAULT), ("minimal", MINIMAL)):
        objs = render(files)
        assert not backup_objects(objs) and not of_kind(objs, "CronJob"), name
    objs = render(PRODUCTION, ("backup.enabled=false",))
    assert not backup_objects(objs) and [component_of(o) for o in of_kind(objs, "CronJob")] == ["archive"]


def test_backup_on_renders_its_cronjob_service_account_and_policy():
    objs = render(DEFAULT, ("workloadIdentity.enabled=true",
                            "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555") + BACKUP_ON)
    assert backup_objects(objs) == [("CronJob", "tocsin-backup"), ("NetworkPolicy", "tocsin-backup"),
                                    ("ServiceAccount", "tocsin-backup")], backup_objects(objs)
    assert backup_objects(render(PRODUCTION)) == backup_objects(objs), "production.yaml enables the backup"
    objs = render(DEFAULT, ("networkPolicy.enabled=false", "workloadIdentity.enabled=true",
                            "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555") + BACKUP_ON)
    assert ("NetworkPolicy", "tocsin-backup") not in backup_objects(objs)


def test_backup_cronjob_schedule_and_job_limits():
    cron, _ = backup_pod(render(PRODUCTION))
    spec = cron["spec"]
    assert spec["schedule"] == "15 2 * * *" and "timeZone" not in spec
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and job["activeDeadlineSeconds"] == 3600
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    cron, _ = backup_pod(render(PRODUCTION, ("backup.schedule=0 */6 * * *", "backup.timeZone=Europe/Paris")))
    assert cron["spec"]["schedule"] == "0 */6 * * *" and cron["spec"]["timeZone"] == "Europe/Paris"


def test_backup_uses_workload_identity_with_the_federated_service_account():
    objs = render(PRODUCTION)
    _, pod = backup_pod(objs)
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    # terraform/environment/main.tf federates "<release>-backup" in the namespace.
    assert pod["spec"]["serviceAccountName"] == "tocsin-backup"
    sa = by_name(objs, "ServiceAccount", "tocsin-backup")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == "00000000-0000-0000-0000-000000000000"
    assert sa["automountServiceAccountToken"] is False and pod["spec"]["automountServiceAccountToken"] is False
    with open(os.path.join(ROOT, "terraform/environment/main.tf"), encoding="utf-8") as f:
        assert re.search(r'for component in \[[^\]]*"backup"', f.read()), "terraform federates the backup ServiceAccount"
    c = container(dict(spec={"template": pod}))
    assert env(dict(spec={"template": pod}))["AZCOPY_AUTO_LOGIN_TYPE"]["value"] == "WORKLOAD", c["env"]
    own = "json:backup.serviceAccount.workloadIdentityClientId=\"99999999-2222-3333-4444-555555555555\""
    sa = by_name(render(PRODUCTION, (own,)), "ServiceAccount", "tocsin-backup")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"].startswith("9999")


def test_backup_without_workload_identity_fails_with_a_clear_message():
    err = render_fails(DEFAULT, BACKUP_ON)
    assert "Workload Identity" in err and "workloadIdentity.clientId" in err, err


def test_backup_needs_a_destination():
    err = render_fails(PRODUCTION, ("backup.destination=",))
    assert "destination" in err, err
    for bad in ("backup.destination=file:///tmp/x", "backup.destination=tocsinprod.blob.core.windows.net/backups",
                "backup.schedule=daily", "backup.prefix=/abs", "backup.activeDeadlineSeconds=0"):
        render_fails(PRODUCTION, (bad,))


def test_backup_pod_is_locked_down_with_a_writable_tmp():
    for files in (PRODUCTION, ALL_FEATURES):
        _, pod = backup_pod(render(files))
        spec = pod["spec"]
        (c,) = spec["containers"]
        sc = c["securityContext"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        (mount,) = c["volumeMounts"]
        (volume,) = spec["volumes"]
        assert mount["mountPath"] == "/tmp" and volume["name"] == mount["name"] and "emptyDir" in volume
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
        assert c["image"] == "tocsinprod.azurecr.io/tocsin-backup:0.1.0", c["image"]
        assert c["command"] == ["/usr/local/bin/tocsin-backup"]


def test_backup_reads_the_database_url_from_the_credentials_secret():
    _, pod = backup_pod(render(PRODUCTION))
    e = env(dict(spec={"template": pod}))
    assert e["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-credentials", "key": "DATABASE_URL"}
    assert e["BACKUP_DESTINATION"]["value"] == "https://tocsinprod.blob.core.windows.net/backups"
    assert e["BACKUP_PREFIX"]["value"] == "postgres" and e["BACKUP_NAME"]["value"] == RELEASE
    # A read-only role under another key of the same Secret.
    _, pod = backup_pod(render(ALL_FEATURES))
    ref = env(dict(spec={"template": pod}))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tocsin-credentials", "key": "DATABASE_URL_READONLY"}, ref
    # The chart-created Secret, like incident-core.
    objs = render(MINIMAL, ("workloadIdentity.enabled=true", "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555") + BACKUP_ON)
    _, pod = backup_pod(objs)
    core = env(deployment(objs, "incident-core"))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert env(dict(spec={"template": pod}))["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == core


def test_backup_network_policy_reaches_postgres_and_https_only():
    objs = render(PRODUCTION)
    np = by_name(objs, "NetworkPolicy", full("backup"))
    _, pod = backup_pod(objs)
    assert all(pod["metadata"]["labels"].get(k) == v for k, v in np["spec"]["podSelector"]["matchLabels"].items())
    assert np["spec"]["ingress"] == []
    assert egress_ports(np) == {53, 5432, 443}, egress_ports(np)
    (pg,) = [r for r in np["spec"]["egress"] if r["ports"][0]["port"] == 5432]
    assert pg["to"] == [{"ipBlock": {"cidr": "10.20.2.0/24"}}], pg


def test_backup_changes_no_service():
    before, after = index(render(PRODUCTION, ("backup.enabled=false",))), index(render(PRODUCTION))
    assert set(after) - set(before) == {("CronJob", "tocsin-backup"), ("NetworkPolicy", "tocsin-backup"),
                                        ("ServiceAccount", "tocsin-backup")}
    assert all(before[k] == after[k] for k in before)


def test_schema_rejects_typos_in_the_backup_values():
    for typo, word in (("backup.enable=true", "enable"), ("backup.schedul=x", "schedul"),
                       ("backup.serviceAccount.workloadIdentityClientID=x", "workloadIdentityClientID"),
                       ("backup.networkPolicy.http.ports[0]=443", "http"), ("backup.databaseURLKey=x", "databaseURLKey")):
        err = render_fails(PRODUCTION, (typo,))
        assert f"'{word}' not allowed" in err, (typo, err)


# ------------------------------------------------------------------------------------------------
# Retention and the archive CronJob (docs/operations.md, "Retention and archival")
# ------------------------------------------------------------------------------------------------

ARCHIVE_URL = "https://tocsinprod.blob.core.windows.net/archives/tocsin"
WORKLOAD_IDENTITY = ("workloadIdentity.enabled=true", "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555")
ARCHIVE_ON = ("archive.enabled=true", f"archive.url={ARCHIVE_URL}")
ARCHIVE_OBJECTS = [("CronJob", "tocsin-archive"), ("NetworkPolicy", "tocsin-archive"), ("ServiceAccount", "tocsin-archive")]


def archive_objects(objs):
    return sorted((o["kind"], o["metadata"]["name"]) for o in objs if component_of(o) == "archive")


def archive_pod(objs):
    cron = by_name(objs, "CronJob", full("archive"))
    return cron, cron["spec"]["jobTemplate"]["spec"]["template"]


def archive_env(objs):
    _, pod = archive_pod(objs)
    return env(dict(spec={"template": pod}))


def test_retention_values_become_incident_core_variables():
    e = env(deployment(render(DEFAULT), "incident-core"))
    assert e["RETENTION_DAYS"]["value"] == "90" and e["RETENTION_INTERVAL"]["value"] == "1h"
    assert e["RETENTION_BATCH_SIZE"]["value"] == "500" and e["RETENTION_BATCH_PAUSE"]["value"] == "100ms"
    assert not {"RETENTION_INCIDENTS_DAYS", "RETENTION_COMMAND_OUTCOMES_DAYS", "RETENTION_DELIVERIES_DAYS"} & set(e), \
        "a kind without its own setting follows RETENTION_DAYS"
    e = env(deployment(render(ALL_FEATURES), "incident-core"))
    assert e["RETENTION_COMMAND_OUTCOMES_DAYS"]["value"] == "30" and e["RETENTION_DELIVERIES_DAYS"]["value"] == "0"
    assert "RETENTION_INCIDENTS_DAYS" not in e
    e = env(deployment(render(DEFAULT, ("incidentCore.retention.days=0", "incidentCore.retention.batchSize=10000")),
                       "incident-core"))
    assert e["RETENTION_DAYS"]["value"] == "0" and e["RETENTION_BATCH_SIZE"]["value"] == "10000"
    for bad in ("incidentCore.retention.days=-1", "incidentCore.retention.batchSize=0",
                "incidentCore.retention.interval=hourly", "incidentCore.retention.keep=1"):
        render_fails(DEFAULT, (bad,))


def test_archive_off_renders_nothing_and_leaves_incident_core_without_an_archive():
    for name, files in (("default", DEFAULT), ("minimal", MINIMAL)):
        objs = render(files)
        assert not archive_objects(objs), name
        assert "ARCHIVE_URL" not in env(deployment(objs, "incident-core")), name
    objs = render(PRODUCTION, ("archive.enabled=false",))
    assert not archive_objects(objs) and "ARCHIVE_URL" not in env(deployment(objs, "incident-core"))


def test_archive_on_renders_its_cronjob_service_account_and_policy():
    objs = render(DEFAULT, WORKLOAD_IDENTITY + ARCHIVE_ON)
    assert archive_objects(objs) == ARCHIVE_OBJECTS, archive_objects(objs)
    assert archive_objects(render(PRODUCTION)) == ARCHIVE_OBJECTS, "production.yaml enables the archive"
    objs = render(DEFAULT, ("networkPolicy.enabled=false",) + WORKLOAD_IDENTITY + ARCHIVE_ON)
    assert ("NetworkPolicy", "tocsin-archive") not in archive_objects(objs)


def test_archive_cronjob_runs_incident_core_archive_over_the_last_days():
    cron, pod = archive_pod(render(PRODUCTION))
    spec = cron["spec"]
    assert spec["schedule"] == "45 2 * * *" and "timeZone" not in spec
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and job["activeDeadlineSeconds"] == 3600
    assert pod["spec"]["restartPolicy"] == "Never"
    c = container(dict(spec={"template": pod}))
    # incident-core's own image and binary: the subcommand, not another image to build and ship.
    assert c["image"] == container(deployment(render(PRODUCTION), "incident-core"))["image"], c["image"]
    assert "command" not in c and c["args"] == ["archive", "--last", "3"], c
    cron, pod = archive_pod(render(PRODUCTION, ("archive.days=7", "archive.schedule=0 4 * * *",
                                                "archive.timeZone=Europe/Paris")))
    assert cron["spec"]["schedule"] == "0 4 * * *" and cron["spec"]["timeZone"] == "Europe/Paris"
    assert container(dict(spec={"template": pod}))["args"] == ["archive", "--last", "7"]


def test_archive_reads_the_database_and_writes_to_the_archive_url():
    e = archive_env(render(PRODUCTION))
    assert e["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-credentials", "key": "DATABASE_URL"}
    assert e["ARCHIVE_URL"]["value"] == ARCHIVE_URL
    # The variables the subcommand reads are incident-core's (services/incident-core/src/config.rs).
    assert set(e) - documented_env()["incident-core"] == set(), set(e) - documented_env()["incident-core"]
    ref = archive_env(render(ALL_FEATURES))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tocsin-credentials", "key": "DATABASE_URL_READONLY"}, ref


def test_archive_uses_workload_identity_for_azure_and_extra_variables_for_s3():
    objs = render(PRODUCTION)
    _, pod = archive_pod(objs)
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == "tocsin-archive"
    sa = by_name(objs, "ServiceAccount", "tocsin-archive")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == "00000000-0000-0000-0000-000000000000"
    assert sa["automountServiceAccountToken"] is False and pod["spec"]["automountServiceAccountToken"] is False
    with open(os.path.join(ROOT, "terraform/environment/main.tf"), encoding="utf-8") as f:
        assert re.search(r'for component in \[[^\]]*"archive"', f.read()), "terraform federates the archive ServiceAccount"
    own = "json:archive.serviceAccount.workloadIdentityClientId=\"99999999-2222-3333-4444-555555555555\""
    sa = by_name(render(PRODUCTION, (own,)), "ServiceAccount", "tocsin-archive")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"].startswith("9999")
    err = render_fails(DEFAULT, ARCHIVE_ON)
    assert "Workload Identity" in err and "workloadIdentity.clientId" in err, err
    # S3: no Workload Identity, credentials from a Secret, for the job and incident-core alike.
    s3 = ("archive.enabled=true", "archive.url=s3://tocsin-archive/prod",
          'json:archive.extraEnv=[{"name": "AWS_REGION", "value": "eu-west-1"}, {"name": "AWS_SECRET_ACCESS_KEY", '
          '"valueFrom": {"secretKeyRef": {"name": "tocsin-s3", "key": "secret"}}}]')
    objs = render(DEFAULT, s3)
    _, pod = archive_pod(objs)
    assert "azure.workload.identity/use" not in pod["metadata"]["labels"]
    for e in (archive_env(objs), env(deployment(objs, "incident-core"))):
        assert e["ARCHIVE_URL"]["value"] == "s3://tocsin-archive/prod"
        assert e["AWS_REGION"]["value"] == "eu-west-1"
        assert e["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-s3", "key": "secret"}


def test_archive_needs_a_url_of_a_store_it_can_write_to():
    err = render_fails(PRODUCTION, ("archive.url=",))
    assert "url" in err, err
    for bad in ("archive.url=file:///var/lib/tocsin", "archive.url=tocsinprod.blob.core.windows.net/archive",
                "archive.url=http://tocsinprod.blob.core.windows.net/archive", "archive.url=az://archive/tocsin",
                "archive.days=0", "archive.schedule=nightly", "archive.activeDeadlineSeconds=0"):
        render_fails(PRODUCTION, (bad,))


def test_archive_pod_is_locked_down():
    for files in (PRODUCTION, ALL_FEATURES):
        _, pod = archive_pod(render(files))
        spec = pod["spec"]
        (c,) = spec["containers"]
        sc = c["securityContext"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert "volumes" not in spec and "volumeMounts" not in c, "the archive streams to the store, no scratch disk"
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]


def test_archive_network_policies_reach_postgres_and_https_only():
    objs = render(PRODUCTION)
    np = by_name(objs, "NetworkPolicy", full("archive"))
    _, pod = archive_pod(objs)
    assert all(pod["metadata"]["labels"].get(k) == v for k, v in np["spec"]["podSelector"]["matchLabels"].items())
    assert np["spec"]["ingress"] == []
    assert egress_ports(np) == {53, 5432, 443}, egress_ports(np)
    # incident-core writes to the archive before retention deletes: HTTPS too, only then.
    assert 443 in egress_ports(by_name(objs, "NetworkPolicy", full("incident-core")))
    off = render(PRODUCTION, ("archive.enabled=false",))
    assert 443 not in egress_ports(by_name(off, "NetworkPolicy", full("incident-core")))


def test_archive_changes_only_incident_core_besides_its_own_objects():
    before, after = index(render(PRODUCTION, ("archive.enabled=false",))), index(render(PRODUCTION))
    assert sorted(set(after) - set(before)) == ARCHIVE_OBJECTS
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [("Deployment", "tocsin-incident-core"), ("NetworkPolicy", "tocsin-incident-core")], changed
    added = set(env(after[("Deployment", "tocsin-incident-core")])) - set(env(before[("Deployment", "tocsin-incident-core")]))
    assert added == {"ARCHIVE_URL"}, added


def test_schema_rejects_typos_in_the_archive_values():
    for typo, word in (("archive.enable=true", "enable"), ("archive.URL=x", "URL"),
                       ("archive.serviceAccount.workloadIdentityClientID=x", "workloadIdentityClientID"),
                       ("archive.networkPolicy.http.ports[0]=443", "http"), ("archive.lastDays=3", "lastDays")):
        err = render_fails(PRODUCTION, (typo,))
        assert f"'{word}' not allowed" in err, (typo, err)


# ------------------------------------------------------------------------------------------------
# values.schema.json rejects mistakes at install time
# ------------------------------------------------------------------------------------------------

def test_schema_rejects_a_typo_in_a_service_block():
    err = render_fails(DEFAULT, ("ingest.replcas=3",))
    assert "replcas" in err, err


def test_schema_rejects_typos_elsewhere():
    for typo, word in (("ingres.enabled=true", "ingres"), ("networkPolicy.enable=false", "enable"),
                       ("incidentCore.autoscaling.kedaa.enabled=true", "kedaa"),
                       ("secret.keys.databaseURL=x", "databaseURL"), ("query.probes.livenes.periodSeconds=5", "livenes")):
        err = render_fails(DEFAULT, (typo,))
        assert f"'{word}' not allowed" in err, (typo, err)


def test_schema_rejects_typos_in_the_new_values():
    for typo, word in (("notifier.slack.interactivty=true", "interactivty"),
                       ("monitoring.prometheusRule.enable=true", "enable"),
                       ("monitoring.grafanaDashbords.enabled=true", "grafanaDashbords"),
                       ("ingress.events.nginxStreming=true", "nginxStreming"),
                       ("notifier.smtp.username=me", "username"),
                       ("networkPolicy.notifier.http.ports[0]=80", "http"),
                       ('json:notifier.secretEnv=[{"name": "A", "key": "a", "secrtName": "s"}]', "secrtName"),
                       ('json:notifier.secretFiles=[{"secretName": "s", "mountpath": "/run/s"}]', "mountpath")):
        err = render_fails(DEFAULT, (typo,))
        assert f"'{word}' not allowed" in err, (typo, err)


def test_schema_rejects_bad_values():
    for bad in ("config.logFormat=xml", "incidentCore.batchSize=5000", "ingest.replicas=two",
                "incidentCore.correlationFields=service,host", "image.pullPolicy=Sometimes",
                "incidentCore.reopenWindow=soon", "ingress.alerts.allowlist[0]=10.0.0.1",
                "notifier.smtp.url=smtp://user:password@smtp.example.com:587", "notifier.smtp.url=mail.example.com",
                "notifier.publicUrl=tocsin.example.com", "notifier.delivery.backoff=soon",
                "notifier.delivery.maxAttempts=0", "ingress.events.timeoutSeconds=5",
                "notifier.slack.interactivity=yes", 'json:notifier.secretEnv=[{"name": "A-B", "key": "a"}]',
                'json:notifier.secretFiles=[{"secretName": "s", "mountPath": "run/s"}]',
                "json:notifier.routing=[1, 2]",
                # The services export over OTLP/HTTP only, and refuse to start with grpc.
                "otel.protocol=grpc"):
        render_fails(DEFAULT, (bad,))


def test_a_variable_set_twice_fails_the_install():
    err = render_fails(DEFAULT, ('json:notifier.extraEnv=[{"name": "ROUTING_FILE", "value": "/x"}]',
                                 "notifier.existingRoutingConfigMap=r"))
    assert "ROUTING_FILE" in err and "twice" in err, err
    err = render_fails(DEFAULT, ('json:query.extraEnv=[{"name": "WEB_ROOT", "value": "/srv"}]',))
    assert "WEB_ROOT" in err and "query.extraEnv" in err, err


def test_twilio_settings_for_pages_become_the_notifiers_variables():
    assert "TWILIO_FROM" not in env(deployment(render(DEFAULT), "notifier"))
    sets = ('json:notifier.twilio={"apiUrl": "https://twilio.example.com", "from": "+15005550006"}',)
    variables = env(deployment(render(DEFAULT, sets), "notifier"))
    assert variables["TWILIO_FROM"]["value"] == "+15005550006"
    assert variables["TWILIO_API_URL"]["value"] == "https://twilio.example.com"
    # Not a number in E.164 form: refused before anything is installed.
    err = render_fails(DEFAULT, ('json:notifier.twilio={"apiUrl": "", "from": "555-0006"}',))
    assert "twilio" in err, err
    # Answers to pages: TWILIO_WEBHOOK_BASE_URL, and /twilio/ through the ingress to the notifier.
    sets = ('json:notifier.twilio={"apiUrl": "", "from": "+15005550006", "webhookBaseUrl": "https://tocsin.example.com"}',)
    objs = render(PRODUCTION, sets)
    variables = env(deployment(objs, "notifier"))
    assert variables["TWILIO_WEBHOOK_BASE_URL"]["value"] == "https://tocsin.example.com"
    assert ingress_path(by_name(objs, "Ingress", "tocsin-twilio")) == ("/twilio/", "Prefix", full("notifier"))
    assert not [o for o in render(PRODUCTION) if o["kind"] == "Ingress" and o["metadata"]["name"] == "tocsin-twilio"]
    err = render_fails(DEFAULT, ('json:notifier.twilio={"apiUrl": "", "from": "", "webhookBaseUrl": "tocsin.example.com"}',))
    assert "twilio" in err, err


# ------------------------------------------------------------------------------------------------
# Images: where the release publishes them, by tag or by digest
# ------------------------------------------------------------------------------------------------

RELEASE_WORKFLOW = os.path.join(ROOT, ".github/workflows/release.yml")
DIGEST = "sha256:" + "ab" * 32


def test_default_images_are_the_ones_the_release_workflow_publishes():
    with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
        registry = yaml.safe_load(f)["image"]["registry"]
    with open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8") as f:
        chart = yaml.safe_load(f)
    owner = chart["home"].removeprefix("https://github.com/").split("/")[0]
    assert registry == f"ghcr.io/{owner}", registry
    with open(RELEASE_WORKFLOW, encoding="utf-8") as f:
        workflow = yaml.safe_load(f)
    publish = workflow["jobs"]["publish"]
    assert publish["permissions"]["packages"] == "write"
    steps = {step.get("name"): step for step in publish["steps"]}
    assert 'registry=ghcr.io/${GITHUB_REPOSITORY_OWNER,,}' in steps["sign in to GitHub Container Registry"]["run"]
    build = steps["build and push the images"]
    # Each image under the name the chart asks for, tagged with the version the chart's appVersion
    # becomes (helm package --app-version "$VERSION").
    assert build["env"]["GHCR"] == "${{ steps.ghcr.outputs.registry }}"
    assert '--tag "$GHCR/tocsin-$service:$VERSION"' in build["run"]
    chart_step = steps["package and push the chart"]["run"]
    assert '--app-version "$VERSION"' in chart_step and 'helm push "dist/tocsin-$VERSION.tgz" "oci://$GHCR/helm"' in chart_step
    images = {container(deployment(render(), c))["image"] for c in SERVICES.values()}
    assert images == {f"{registry}/tocsin-{c}:{chart['appVersion']}" for c in SERVICES.values()}, images


def test_an_image_digest_wins_over_the_tags():
    objs = render(DEFAULT, (f"query.image.digest={DIGEST}", "query.image.tag=9.9.9", "image.tag=8.8.8",
                            f"incidentCore.image.digest={DIGEST}", f"backup.image.digest={DIGEST}"))
    assert container(deployment(objs, "query"))["image"] == f"ghcr.io/tocsin-oncall/tocsin-query@{DIGEST}"
    # Each service has its own: the others keep the tag.
    assert container(deployment(objs, "ingest"))["image"] == "ghcr.io/tocsin-oncall/tocsin-ingest:8.8.8"
    # The migration runs incident-core's image, so the digest reaches it; the preflight the backup's.
    migrate = by_name(objs, "Job", "tocsin-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert migrate["image"] == f"ghcr.io/tocsin-oncall/tocsin-incident-core@{DIGEST}"
    preflight = by_name(objs, "Job", "tocsin-preflight")["spec"]["template"]["spec"]["containers"][0]
    assert preflight["image"] == f"ghcr.io/tocsin-oncall/tocsin-backup@{DIGEST}"
    err = render_fails(DEFAULT, ("query.image.digest=latest",))
    assert "digest" in err, err


# ------------------------------------------------------------------------------------------------
# Trial mode: PostgreSQL and Redis in the cluster
# ------------------------------------------------------------------------------------------------

def trial_credentials(objs):
    return by_name(objs, "Secret", "tocsin-trial")["stringData"]


def test_trial_mode_brings_postgres_and_redis_on_persistent_volumes():
    objs = render(TRIAL)
    images = {}
    for store, port in (("postgres", 5432), ("redis", 6379)):
        sts = by_name(objs, "StatefulSet", f"tocsin-{store}")
        assert sts["spec"]["replicas"] == 1
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and claim["spec"]["resources"]["requests"]["storage"]
        pod = sts["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        images[store] = c["image"]
        assert {m["name"] for m in c["volumeMounts"]} >= {"data"}
        assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["readOnlyRootFilesystem"] is True
        svc = by_name(objs, "Service", f"tocsin-{store}")
        assert svc["spec"]["ports"][0]["port"] == port
        assert all(sts["spec"]["template"]["metadata"]["labels"][k] == v for k, v in svc["spec"]["selector"].items())
        # Only this release's pods get in.
        (rule,) = by_name(objs, "NetworkPolicy", f"tocsin-{store}")["spec"]["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}}]
        assert "not-for-production" in json.dumps(sts["metadata"]["annotations"])
    assert images == {"postgres": "docker.io/library/postgres:17", "redis": "docker.io/library/redis:7.4"}
    # The bus's streams must never be evicted.
    redis = container(by_name(objs, "StatefulSet", "tocsin-redis"))
    assert "--maxmemory-policy noeviction" in redis["args"][0] and "--appendonly yes" in redis["args"][0]
    # Off by default, and in every other example.
    for files in (DEFAULT, PRODUCTION, MINIMAL):
        assert not of_kind(render(files), "StatefulSet"), files


def test_trial_credentials_point_the_services_at_the_trial_stores():
    objs = render(TRIAL)
    trial = trial_credentials(objs)
    assert set(trial) == {"postgresPassword", "redisPassword", "ingestToken", "apiToken"}
    assert all(len(v) == 32 for v in trial.values())
    assert by_name(objs, "Secret", "tocsin-trial")["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    created = by_name(objs, "Secret", "tocsin-credentials")["stringData"]
    database = f"postgres://tocsin:{trial['postgresPassword']}@tocsin-postgres:5432/tocsin?sslmode=disable"
    assert created == {"DATABASE_URL": database, "REDIS_URL": f"redis://:{trial['redisPassword']}@tocsin-redis:6379/0",
                       "INGEST_TOKEN": trial["ingestToken"], "API_TOKEN": trial["apiToken"]}
    # The migration's copy, made in another template of the same render, holds the same URL.
    assert by_name(objs, "Secret", "tocsin-migrate")["stringData"] == {"DATABASE_URL": database}
    postgres = env(by_name(objs, "StatefulSet", "tocsin-postgres"))
    assert postgres["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "tocsin-trial", "key": "postgresPassword"}
    # Tokens given are kept.
    objs = render(TRIAL, ("secret.create.apiToken=given-api-token",))
    assert by_name(objs, "Secret", "tocsin-credentials")["stringData"]["API_TOKEN"] == "given-api-token"


def test_trial_migration_runs_after_the_install_once_the_database_answers():
    objs = render(TRIAL)
    job = by_name(objs, "Job", "tocsin-migrate")
    # Before the install the trial's PostgreSQL does not exist yet; upgrades still migrate first.
    hooks = {o["kind"]: o["metadata"]["annotations"]["helm.sh/hook"] for o in objs
             if o["metadata"]["name"] == "tocsin-migrate"}
    assert hooks == {"Job": "post-install,pre-upgrade", "ServiceAccount": "post-install,pre-upgrade",
                     "Secret": "post-install,pre-upgrade", "NetworkPolicy": "post-install,pre-upgrade"}, hooks
    (wait,) = job["spec"]["template"]["spec"]["initContainers"]
    assert "pg_isready" in wait["args"][0]
    assert wait["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "tocsin-migrate"
    assert wait["securityContext"]["readOnlyRootFilesystem"] is True
    # Bounded by the Job's deadline, not by Helm's timeout.
    assert job["spec"]["activeDeadlineSeconds"] == 600
    # Outside trial mode the migration is before the install, without waiting.
    job = by_name(render(DEFAULT), "Job", "tocsin-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "initContainers" not in job["spec"]["template"]["spec"]


def test_trial_mode_refuses_credentials_of_its_own():
    err = render_fails((f"{EXAMPLES}/trial.yaml",), ("secret.existingSecret=tocsin-credentials",))
    assert "secret.existingSecret" in err and "trial" in err, err
    err = render_fails((f"{EXAMPLES}/trial.yaml",), ("secret.create.databaseUrl=postgres://db/tocsin",))
    assert "secret.create.databaseUrl" in err, err


# ------------------------------------------------------------------------------------------------
# Preflight: a missing Secret or an unreachable database, said at once
# ------------------------------------------------------------------------------------------------

def preflight(objs):
    return by_name(objs, "Job", "tocsin-preflight")


def run_preflight(job, credentials, tmp):
    """Runs the preflight's script on this machine with `credentials` as the mounted Secret
    (None: the Secret is missing); returns (exit status, output)."""
    (c,) = job["spec"]["template"]["spec"]["containers"]
    (mount,) = c["volumeMounts"]
    secret_dir = os.path.join(tmp, "credentials")
    os.makedirs(secret_dir, exist_ok=True)
    for name in os.listdir(secret_dir):
        os.remove(os.path.join(secret_dir, name))
    for key, value in (credentials or {}).items():
        with open(os.path.join(secret_dir, key), "w", encoding="utf-8") as f:
            f.write(value)
    script = c["args"][0].replace(mount["mountPath"], secret_dir)
    proc = subprocess.run(c["command"] + [script], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preflight_runs_first_and_fails_fast():
    objs = render(DEFAULT)
    job = preflight(objs)
    weight = lambda o: int(o["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert weight(job) < weight(by_name(objs, "Job", "tocsin-migrate"))
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] <= 120
    pod = job["spec"]["template"]["spec"]
    # Mounted, optional: a missing Secret lets the pod start and say so, where an env reference
    # would leave it in CreateContainerConfigError until Helm's timeout.
    assert pod["volumes"][0]["secret"] == {"secretName": "tocsin-credentials", "optional": True, "defaultMode": 288}
    assert "env" not in pod["containers"][0]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    # With the chart's own Secret, which does not exist before the install: the migration's copy.
    job = preflight(render(MINIMAL))
    assert job["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "tocsin-migrate"
    assert not [o for o in render(TRIAL) if o["metadata"]["name"] == "tocsin-preflight"]
    assert not [o for o in render(DEFAULT, ("preflight.enabled=false",)) if o["metadata"]["name"] == "tocsin-preflight"]


def test_preflight_says_what_is_missing_or_unreachable():
    with tempfile.TemporaryDirectory() as tmp:
        check_preflight_messages(tmp)


def check_preflight_messages(tmp):
    job = preflight(render(DEFAULT, ("preflight.connectSeconds=5",)))
    status, out = run_preflight(job, None, tmp)
    assert status == 1 and "Secret tocsin-credentials does not exist in namespace tocsin" in out, out
    status, out = run_preflight(job, {"DATABASE_URL": "postgres://x@db/tocsin", "REDIS_URL": "redis://r:6379"}, tmp)
    assert status == 1 and "has no key INGEST_TOKEN API_TOKEN" in out, out
    port = closed_port()
    credentials = {"DATABASE_URL": f"postgres://tocsin:s3cret@127.0.0.1:{port}/tocsin?sslmode=require",
                   "REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0", "INGEST_TOKEN": "i", "API_TOKEN": "a"}
    status, out = run_preflight(job, credentials, tmp)
    assert status == 1 and f"PostgreSQL at 127.0.0.1:{port} does not answer after 5s" in out, out
    assert "s3cret" not in out, out
    # PostgreSQL answers, Redis does not accept connections.
    credentials["DATABASE_URL"] = os.environ["DATABASE_URL"]
    redis_port = closed_port()
    credentials["REDIS_URL"] = f"rediss://:s3cret@127.0.0.1:{redis_port}/0"
    status, out = run_preflight(job, credentials, tmp)
    assert status == 1 and "preflight: PostgreSQL at" in out and "answers" in out, out
    assert f"Redis at 127.0.0.1:{redis_port} does not accept connections after" in out, out
    assert "s3cret" not in out, out
    # Both answer: the install goes on.
    credentials["REDIS_URL"] = os.environ["REDIS_URL"]
    status, out = run_preflight(job, credentials, tmp)
    assert status == 0 and "accepts connections" in out, out
    # With a tokens file the two tokens are optional.
    job = preflight(render(DEFAULT, ("preflight.connectSeconds=5", "secret.tokensFile.secretName=tokens")))
    del credentials["INGEST_TOKEN"], credentials["API_TOKEN"]
    status, out = run_preflight(job, credentials, tmp)
    assert status == 0 and "has no key" not in out, out


# ------------------------------------------------------------------------------------------------
# Monitoring objects follow what the cluster serves
# ------------------------------------------------------------------------------------------------

def monitoring_objects(objs):
    return sorted((o["kind"], o["apiVersion"]) for o in objs if o["kind"] in ("ServiceMonitor", "PrometheusRule"))


MONITORED = ("serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true")


def test_monitoring_objects_follow_the_clusters_api():
    operator = [("PrometheusRule", "monitoring.coreos.com/v1")] + [("ServiceMonitor", "monitoring.coreos.com/v1")] * 4
    # Without the CRDs (a fresh AKS) nothing the API server would refuse.
    assert monitoring_objects(render(DEFAULT, MONITORED)) == []
    assert monitoring_objects(render(DEFAULT, MONITORED, api_versions=PROMETHEUS_OPERATOR)) == operator
    # Forced, for `helm template` or CRDs installed by the same run.
    assert monitoring_objects(render(DEFAULT, MONITORED + ("monitoring.api=prometheusOperator",))) == operator
    # Azure Monitor managed Prometheus: its own API group, found or named; it reads no PrometheusRule.
    azure = [("ServiceMonitor", "azmonitoring.coreos.com/v1")] * 4
    assert monitoring_objects(render(DEFAULT, ("serviceMonitor.enabled=true",),
                                     api_versions=("azmonitoring.coreos.com/v1",))) == azure
    assert monitoring_objects(render(DEFAULT, ("serviceMonitor.enabled=true", "monitoring.api=azureManagedPrometheus"))) == azure
    err = render_fails(DEFAULT, MONITORED + ("monitoring.api=azureManagedPrometheus",))
    assert "monitoring.prometheusRule.enabled" in err and "terraform" in err, err
    # Both served: the Prometheus Operator's, which also evaluates the rules.
    both = PROMETHEUS_OPERATOR + ("azmonitoring.coreos.com/v1",)
    assert monitoring_objects(render(DEFAULT, MONITORED, api_versions=both)) == operator
    err = render_fails(DEFAULT, ("monitoring.api=prometheus",))
    assert "monitoring" in err and "api" in err, err


def test_monitoring_objects_satisfy_the_prometheus_operators_crds():
    schemas = validate.crd_schemas([os.environ["PROMETHEUS_OPERATOR_CRDS"]])
    for kind, api in (("ServiceMonitor", "monitoring.coreos.com/v1"), ("PrometheusRule", "monitoring.coreos.com/v1")):
        objs = of_kind(render(DEFAULT, MONITORED, api_versions=PROMETHEUS_OPERATOR), kind)
        assert objs, kind
        for obj in objs:
            assert not [e.message for e in schemas[(api, kind)].iter_errors(obj)], obj["metadata"]["name"]
    # Azure's ServiceMonitor takes the Prometheus Operator's fields under its own group: the
    # same object, but for the group, passes the operator's schema.
    check = schemas[("monitoring.coreos.com/v1", "ServiceMonitor")]
    for obj in of_kind(render(DEFAULT, ("serviceMonitor.enabled=true", "monitoring.api=azureManagedPrometheus")), "ServiceMonitor"):
        assert obj["apiVersion"] == "azmonitoring.coreos.com/v1"
        assert not [e.message for e in check.iter_errors(dict(obj, apiVersion="monitoring.coreos.com/v1"))]
    typo = of_kind(render(DEFAULT, MONITORED, api_versions=PROMETHEUS_OPERATOR), "ServiceMonitor")[0]
    typo = json.loads(json.dumps(typo))
    typo["spec"]["endpoints"][0]["intervall"] = "30s"
    assert [e.message for e in check.iter_errors(typo)] == ["Additional properties are not allowed ('intervall' was unexpected)"]


# ------------------------------------------------------------------------------------------------
# Azure Monitor managed Prometheus: Terraform's rule groups are the chart's rules
# ------------------------------------------------------------------------------------------------

TERRAFORM_RULES_MODULE = os.path.join(ROOT, "terraform/modules/prometheus-rules")
ENVIRONMENT_MAIN = os.path.join(ROOT, "terraform/environment/main.tf")
AZURE_SEVERITY = {"critical": 0, "warning": 2}


def terraform_rule_groups(rule_files, job_prefix):
    """terraform/modules/prometheus-rules applied (it has no provider) to the given rule files;
    its `groups` output, or RenderError with Terraform's message."""
    terraform = os.environ.get("TERRAFORM", "terraform")
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "main.tf"), "w", encoding="utf-8") as f:
            f.write(f'module "rules" {{\n  source = {json.dumps(TERRAFORM_RULES_MODULE)}\n'
                    f'  rule_files = [for f in {json.dumps(rule_files)} : file(f)]\n'
                    f'  job_prefix = {json.dumps(job_prefix)}\n}}\n'
                    'output "groups" {\n  value = module.rules.groups\n}\n')
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            proc = subprocess.run([terraform, f"-chdir={work}"] + args, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RenderError(proc.stdout + proc.stderr)
        proc = subprocess.run([terraform, f"-chdir={work}", "output", "-json", "groups"],
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)


def test_terraform_reads_the_rules_the_chart_ships():
    # The environment hands modules/managed-prometheus every file of dashboards/rules, of which
    # files/rules in the chart is a checked copy (scripts/sync-chart-files.sh --check).
    with open(ENVIRONMENT_MAIN, encoding="utf-8") as f:
        main = f.read()
    (rules_dir,) = re.findall(r'rules_dir = "\$\{path.module\}/([^"]+)"', main)
    assert os.path.realpath(os.path.join(ROOT, "terraform/environment", rules_dir)) == os.path.join(DASHBOARDS, "rules")
    assert 'fileset(local.rules_dir, "*.yml")' in main


def test_azure_rule_groups_agree_with_the_prometheus_rule():
    release = "oncall"  # job matchers rewritten: oncall-tocsin-<service>
    objs = render(DEFAULT, ("monitoring.prometheusRule.enabled=true",), release=release, api_versions=PROMETHEUS_OPERATOR)
    (rule,) = of_kind(objs, "PrometheusRule")
    files = sorted(glob.glob(os.path.join(DASHBOARDS, "rules", "*.yml")))
    azure = terraform_rule_groups(files, f"{release}-tocsin-")
    assert sorted(azure) == sorted(g["name"] for g in rule["spec"]["groups"]), sorted(azure)
    for group in rule["spec"]["groups"]:
        azure_rules = azure[group["name"]]["rules"]
        assert azure[group["name"]]["interval"] == "PT" + group.get("interval", "1m").upper()
        assert len(azure_rules) == len(group["rules"]), group["name"]
        for prom, az in zip(group["rules"], azure_rules):
            assert (az["alert"], az["record"]) == (prom.get("alert"), prom.get("record")), az
            assert az["expression"] == prom["expr"], (az["expression"], prom["expr"])
            assert az["labels"] == prom.get("labels", {}), az
            if "alert" in prom:
                assert az["for"] == "PT" + prom.get("for", "0s").upper(), az["for"]
                assert az["severity"] == AZURE_SEVERITY[prom["labels"]["severity"]], az
                assert az["annotations"] == prom.get("annotations", {}), az
            else:
                assert az["for"] is None and az["severity"] is None and az["annotations"] is None, az


def test_azure_rule_groups_refuse_what_azure_cannot_say():
    with tempfile.TemporaryDirectory() as work:
        day = os.path.join(work, "day.yml")
        with open(day, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "1d"}]}]}, f)
        try:
            terraform_rule_groups([day], "tocsin-")
        except RenderError as e:
            assert "1d is 24h" in str(e), e
        else:
            raise AssertionError("a for of 1d was accepted")
        keep = os.path.join(work, "keep.yml")
        with open(keep, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "keep_firing_for": "5m"}]}]}, f)
        try:
            terraform_rule_groups([keep], "tocsin-")
        except RenderError as e:
            assert "cannot express" in str(e), e
        else:
            raise AssertionError("keep_firing_for was accepted")


if __name__ == "__main__":
    sys.exit(test_runner.run(globals(), expected=(AssertionError, RenderError)))

