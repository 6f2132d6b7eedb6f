#!/usr/bin/env python3
"""Checks the Grafana dashboards in dashboards/*.json (standard library only).

For each dashboard:
  - valid JSON with a title, a uid and panels;
  - a template variable of type `datasource` (named `datasource` or `DS_*`), and every panel
    and every target uses it (`${datasource}`), row panels excepted;
  - panel ids unique (rows' nested panels included), every panel has a description;
  - every target's expr is non-empty, names only metrics that exist (docs/architecture.md's
    metrics table, `up`, and the recording rules in dashboards/rules/tocsin-recording.yml),
    and is valid PromQL: Grafana variables are replaced ($__rate_interval and the like by 5m,
    $__range_s by 300, $team-style variables by .*) and each expr is checked by
    `promtool check rules` as a recording rule in a temporary rules file;
  - template variable queries (label_values(metric, label)) name existing metrics.

Prints `ok - ...` / `not ok - ...` per check and ends with `N passed, N failed`; exits 1 if
any check failed. Usage: check_dashboards.py [--promtool PATH] [dashboard.json ...]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

passed = 0
failed = 0


def result(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}" + (f": {detail}" if detail else ""))


def known_metrics():
    """Metric names a dashboard may use: the exported ones and the recorded ones."""
    names = {"up"}
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("| `tocsin_"):
                for name in re.findall(r"`(tocsin_[a-z0-9_]+)", line.split("|")[1]):
                    names.add(name)
                    names.update(name + s for s in HISTOGRAM_SUFFIXES)
    with open(os.path.join(ROOT, "dashboards", "rules", "tocsin-recording.yml"), encoding="utf-8") as f:
        names.update(re.findall(r"^\s*-\s*record:\s*(\S+)", f.read(), re.M))
    return names


def substitute(expr):
    """Grafana variables to values promtool accepts."""
    expr = re.sub(r"\$\{?__range_s\}?|\$\{?__range_ms\}?|\$\{?__interval_ms\}?", "300", expr)
    expr = re.sub(r"\$\{?__[a-z_]+\}?", "5m", expr)
    expr = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z_][A-Za-z0-9_]*\]\]", ".*", expr)
    return expr


def metric_names(expr):
    """Metric-looking identifiers of a PromQL expression: tocsin_*, recording rules, up."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    candidates = re.findall(r"(?<![A-Za-z0-9_:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*[{\[)]|\s*$|\s+(?:or|and|unless|offset)\b|\s*[-+*/<>=!])", without_strings)
    names = set()
    for name in candidates:
        if name.startswith("tocsin_") or ":" in name or name == "up":
            names.add(name)
    return names


def promtool_ok(promtool, exprs):
    """Runs promtool check rules on the expressions as recording rules. Returns (ok, output)."""
    rules = {"groups": [{"name": "dashboard-exprs",
                         "rules": [{"record": f"dashboard:expr_{i}:check", "expr": e} for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML
        path = f.name
    try:
        run = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        return run.returncode == 0, (run.stdout + run.stderr).strip()
    finally:
        os.unlink(path)


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def uses_ds(ds, names):
    if isinstance(ds, str):
        uid = ds
    elif isinstance(ds, dict):
        uid = ds.get("uid", "")
    else:
        return False
    return uid in {f"${n}" for n in names} | {f"${{{n}}}" for n in names}


def check(path, promtool, metrics):
    name = os.path.relpath(path, ROOT)
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        result(False, f"{name}: valid JSON", str(e))
        return
    result(True, f"{name}: valid JSON")
    result(bool(dash.get("title")) and bool(dash.get("uid")) and isinstance(dash.get("panels"), list) and dash["panels"],
           f"{name}: has a title, a uid and panels")

    variables = dash.get("templating", {}).get("list", [])
    ds_names = [v["name"] for v in variables if v.get("type") == "datasource"
                and (v.get("name") == "datasource" or v.get("name", "").startswith("DS_"))]
    result(bool(ds_names) and all(v.get("query") == "prometheus" for v in variables if v.get("name") in ds_names),
           f"{name}: has a Prometheus datasource template variable", f"variables: {[v.get('name') for v in variables]}")

    for var in variables:
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        used = set(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,", query))
        unknown = sorted(m for m in used if m not in metrics)
        result(bool(query) and uses_ds(var.get("datasource"), ds_names) and not unknown,
               f"{name}: variable ${var.get('name')} queries known metrics through the datasource variable",
               f"query {query!r}, unknown {unknown}")

    ids = [p.get("id") for p in all_panels(dash.get("panels", []))]
    dupes = sorted({i for i in ids if ids.count(i) > 1 or i is None}, key=str)
    result(not dupes, f"{name}: unique panel ids", f"duplicated or missing: {dupes}")

    exprs = []
    for panel in all_panels(dash.get("panels", [])):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", f"panel {panel.get('id')}")
        where = f"{name}: panel {title!r}"
        result(bool(str(panel.get("description", "")).strip()), f"{where} has a description")
        targets = panel.get("targets", [])
        ok = uses_ds(panel.get("datasource"), ds_names) and bool(targets) and all(uses_ds(t.get("datasource"), ds_names) for t in targets)
        result(ok, f"{where} and its targets use the datasource variable",
               f"panel {panel.get('datasource')}, targets {[t.get('datasource') for t in targets]}")
        for t in targets:
            expr = str(t.get("expr", "")).strip()
            twhere = f"{where} target {t.get('refId')}"
            if not expr:
                result(False, f"{twhere}: expr is not empty")
                continue
            unknown = sorted(m for m in metric_names(expr) if m not in metrics)
            result(not unknown, f"{twhere}: uses known metrics", f"unknown: {unknown}")
            exprs.append((twhere, substitute(expr)))

    if not exprs:
        return
    ok, out = promtool_ok(promtool, [e for _, e in exprs])
    if ok:
        for where, _ in exprs:
            result(True, f"{where}: valid PromQL")
        return
    for where, expr in exprs:  # find the culprits one by one
        ok, out = promtool_ok(promtool, [expr])
        result(ok, f"{where}: valid PromQL", f"{expr!r}: {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promtool", default=os.environ.get("PROMTOOL", "promtool"))
    parser.add_argument("dashboards", nargs="*")
    args = parser.parse_args()
    paths = args.dashboards or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    result(bool(paths), "dashboards found", "no dashboards/*.json")
    metrics = known_metrics()
    for path in paths:
        check(path, args.promtool, metrics)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
