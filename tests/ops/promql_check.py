#!/usr/bin/python3
"""Executes every PromQL expression of Proctor's Grafana dashboards and
Prometheus rules against a live Prometheus (tests/ops/dashboards_test).

Each expression must parse (the query API answers status "success"); each
dashboard expression must also return at least one series, except GPU panels
(DCGM_* metrics), which have no data without NVIDIA's dcgm-exporter: those are
reported as SKIPPED. Dashboards are also checked structurally (datasource,
unit, thresholds, targets). Rules are read back from the server
(/api/v1/rules), so a rule that failed to load or evaluate is caught too.

Standard library only. Exit status: 0 when every check passed, 1 otherwise.
"""
import argparse
import glob
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

DATASOURCE_UID = "proctor-prometheus"
GRAFANA_INTERVALS = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}


def get(base, path, params=None):
    url = base + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def query(base, expr):
    """Returns (ok, result list or error text)."""
    try:
        body = get(base, "/api/v1/query", {"query": expr})
    except urllib.error.HTTPError as e:  # 400 for a parse error
        try:
            body = json.loads(e.read().decode("utf-8"))
        except ValueError:
            return False, "HTTP %d" % e.code
    except OSError as e:
        return False, str(e)
    if body.get("status") != "success":
        return False, "%s: %s" % (body.get("errorType"), body.get("error"))
    return True, body["data"]["result"]


def wait_for(what, predicate, deadline):
    last = None
    while time.time() < deadline:
        try:
            if predicate():
                return True
        except OSError as e:
            last = e
        time.sleep(0.5)
    print("TIMEOUT waiting for %s (%s)" % (what, last))
    return False


def substitute(expr, variables):
    for name, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(name, value)
    for name in variables:
        # Template variables are only used in regex matchers (=~"$x").
        expr = expr.replace("${%s}" % name, ".*").replace("$" + name, ".*")
    return expr


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(path, failures):
    """Structural checks; returns [(where, expr)] to execute."""
    with open(path) as f:
        try:
            d = json.load(f)
        except ValueError as e:
            failures.append("%s: not JSON: %s" % (path, e))
            return [], []
    name = os.path.basename(path)
    for key in ("uid", "title", "panels"):
        if not d.get(key):
            failures.append("%s: missing %s" % (name, key))
    variables = [v["name"] for v in d.get("templating", {}).get("list", [])]
    exprs = []
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q or "")
        if not m:
            failures.append("%s: variable %s: unsupported query %r" % (name, v["name"], q))
            continue
        exprs.append(("%s variable $%s" % (name, v["name"]),
                      "group by (%s) (%s)" % (m.group(2), m.group(1))))
    ids = set()
    for p in walk_panels(d.get("panels", [])):
        where = "%s panel %r" % (name, p.get("title"))
        if p.get("id") in ids:
            failures.append("%s: duplicate panel id %s" % (where, p.get("id")))
        ids.add(p.get("id"))
        if "gridPos" not in p:
            failures.append("%s: no gridPos" % where)
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != DATASOURCE_UID:
            failures.append("%s: datasource uid is not %s" % (where, DATASOURCE_UID))
        defaults = p.get("fieldConfig", {}).get("defaults", {})
        if not defaults.get("unit"):
            failures.append("%s: no unit" % where)
        if not defaults.get("thresholds", {}).get("steps"):
            failures.append("%s: no thresholds" % where)
        if not p.get("description"):
            failures.append("%s: no description" % where)
        targets = p.get("targets", [])
        if not targets:
            failures.append("%s: no targets" % where)
        for t in targets:
            if not t.get("expr"):
                failures.append("%s: target %s has no expr" % (where, t.get("refId")))
                continue
            exprs.append(("%s target %s" % (where, t.get("refId")), t["expr"]))
    return exprs, variables


def count_rules(paths):
    n = 0
    for path in paths:
        with open(path) as f:
            n += sum(1 for line in f if re.match(r"\s*- (record|alert):", line))
    return n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prometheus", required=True, help="base URL, http://127.0.0.1:PORT")
    parser.add_argument("--dashboards", required=True, help="directory of dashboard JSON")
    parser.add_argument("--rules", nargs="+", required=True, help="rule files the server loaded")
    parser.add_argument("--timeout", type=float, default=40)
    args = parser.parse_args()
    base = args.prometheus.rstrip("/")
    deadline = time.time() + args.timeout
    failures = []

    def ready():
        with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
            return r.status == 200

    def has(expr, minimum=1):
        ok, result = query(base, expr)
        return ok and len(result) >= minimum

    expected_rules = count_rules(args.rules)

    def rules_evaluated():
        groups = get(base, "/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return len(rules) == expected_rules and all(
            not r.get("lastEvaluation", "").startswith("0001") for r in rules)

    if not (wait_for("Prometheus ready", ready, deadline)
            and wait_for("coordinator and worker scraped",
                         lambda: has('up{job="proctor-coordinator"} == 1')
                         and has('up{job="proctor-worker"} == 1'), deadline)
            and wait_for("the finished run to be scraped",
                         lambda: has('proctor_coordinator_runs{state="succeeded"} >= 1')
                         and has("proctor_worker_decode_tokens_total > 0"), deadline)
            and wait_for("a few samples of every series",
                         lambda: has('count_over_time(up{job="proctor-worker"}[1m]) >= 4'),
                         deadline)
            and wait_for("every rule evaluated", rules_evaluated, deadline)):
        return 1

    checked = skipped = 0
    for path in sorted(glob.glob(os.path.join(args.dashboards, "*.json"))):
        exprs, variables = check_dashboard(path, failures)
        for where, raw in exprs:
            expr = substitute(raw, variables)
            ok, result = query(base, expr)
            if not ok:
                failures.append("%s: does not parse: %s\n    %s" % (where, result, expr))
            elif not result:
                if "DCGM_" in raw:
                    skipped += 1
                    print("SKIPPED (no DCGM exporter here): %s: %s" % (where, expr))
                else:
                    failures.append("%s: no series\n    %s" % (where, expr))
            else:
                checked += 1

    groups = get(base, "/api/v1/rules")["data"]["groups"]
    rules = 0
    for g in groups:
        for r in g["rules"]:
            rules += 1
            where = "rule %s (group %s)" % (r["name"], g["name"])
            if r.get("health") != "ok":
                failures.append("%s: health %s: %s" % (where, r.get("health"), r.get("lastError")))
            ok, result = query(base, r["query"])
            if not ok:
                failures.append("%s: does not parse: %s" % (where, result))
    if rules != expected_rules:
        failures.append("the server loaded %d rules, the files hold %d" % (rules, expected_rules))

    print("dashboard queries returning data: %d; GPU (DCGM) queries skipped: %d; "
          "rule queries parsed and evaluated: %d" % (checked, skipped, rules))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
