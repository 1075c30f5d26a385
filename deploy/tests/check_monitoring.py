#!/usr/bin/env python3
"""Checks deploy/monitoring against promtool and a running FlowEx.

    check_monitoring.py PROMTOOL SCRAPE.txt

- every dashboard query parses (wrapped into a temporary rules file and
  given to `promtool check rules`);
- every metric name used by the alert rules, the recording rules and the
  dashboards is either in SCRAPE.txt (the /metrics of a `flowex up` that
  traded), a recording rule of recording_rules.yml, or a metric of the
  exporters the stack runs beside FlowEx (PostgreSQL, Redis, node, and
  Prometheus' own `up` and `ALERTS`); the few that only distributed mode
  records (DISTRIBUTED_ONLY: `flowex up` has no proxy and no event
  publisher) must at least be declared in crates/metrics/src/lib.rs.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitoring")
EXPORTER_PREFIXES = ("pg_", "redis_", "node_")
PROMETHEUS_OWN = {"up", "ALERTS", "time"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "and", "or", "unless", "offset", "inf", "nan", "le"}
# Recorded only by `flowex serve` processes, never by `flowex up`: the
# gateway's proxy to the services and trading's Redis event publisher.
DISTRIBUTED_ONLY = {
    "flowex_gateway_upstream_duration_seconds_bucket": "flowex_gateway_upstream_duration_seconds",
    "flowex_events_published_seq": "flowex_events_published_seq",
}
METRICS_RS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                          "crates", "metrics", "src", "lib.rs")
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$service": ".*"}


def rule_exprs():
    out = []
    for name in ["alert_rules.yml", "recording_rules.yml"]:
        with open(os.path.join(ROOT, name)) as f:
            for group in yaml.safe_load(f)["groups"]:
                for rule in group["rules"]:
                    out.append((f"{name}:{rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


def recorded_names():
    with open(os.path.join(ROOT, "recording_rules.yml")) as f:
        return {r["record"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}


def dashboard_exprs():
    out = []
    folder = os.path.join(ROOT, "grafana", "dashboards")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            dash = json.load(f)
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                out.append((f"{name}:{panel['title']}", expr))
        for var in dash.get("templating", {}).get("list", []):
            m = re.match(r"label_values\((\w+)", var.get("query", ""))
            if m:
                out.append((f"{name}:${var['name']}", m.group(1)))
    return out


def metric_names(expr):
    """Metric names in a PromQL expression (selectors, not functions,
    keywords, label names or strings)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                         # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                        # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+\w+", " ", e)
    e = re.sub(r"(?<![A-Za-z0-9_:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", e)  # numbers
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", word) or word.isdigit():
            continue
        names.add(word)
    return names


def scraped(path):
    with open(path) as f:
        return {line.split("{")[0].split(" ")[0] for line in f
                if line.strip() and not line.startswith("#")}


def main(promtool, scrape):
    failures = []
    dashboards = dashboard_exprs()
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(dashboards)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
        path = f.name
    out = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    os.unlink(path)
    if out.returncode != 0:
        failures.append("dashboard queries do not parse:\n" + out.stdout + out.stderr)
    exported, recorded = scraped(scrape), recorded_names()
    used = {}
    for where, expr in rule_exprs() + dashboards:
        for name in metric_names(expr):
            used.setdefault(name, where)
    for name, where in sorted(used.items()):
        if name in exported or name in recorded or name in PROMETHEUS_OWN:
            continue
        if name.startswith(EXPORTER_PREFIXES):
            continue
        if name in DISTRIBUTED_ONLY:
            with open(METRICS_RS) as f:
                if f'm("{DISTRIBUTED_ONLY[name]}"' in f.read():
                    continue
        failures.append(f"{where} uses {name}, which a running FlowEx does not export")
    flowex = sorted(n for n in used if n.startswith(("flowex_", "process_")))
    for f in failures:
        print("FAIL", f)
    print(f"monitoring: {len(dashboards)} dashboard queries parsed, {len(flowex)} FlowEx metric "
          f"names used by rules and dashboards, all exported" if not failures else
          f"monitoring: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
