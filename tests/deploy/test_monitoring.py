"""Prometheus (scrape configs, alert rules, prometheus-adapter rules) and the Grafana dashboard: PromQL parses and
names only series that server/metrics.py exports."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.deploy.helpers import DEPLOY, exported_series, k8s_objects, tool


def promql_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every PromQL expression in the dashboard, the alert rules and the adapter rules."""
    found = []
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "t2l.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"dashboard: {panel['title']}", target["expr"]))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "t2l.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']}", rule["expr"]))
    adapter = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-adapter-values.yaml").read_text())
    for rule in adapter["rules"]["custom"]:
        found.append(("adapter seriesQuery", rule["seriesQuery"]))
        query = rule["metricsQuery"].replace("<<.Series>>", rule["seriesQuery"].split("{")[0]) \
            .replace("{<<.LabelMatchers>>}", '{namespace="t2l"}').replace("<<.GroupBy>>", "pod")
        found.append(("adapter metricsQuery", query))
    return found


def test_promql_parses():
    parser = pytest.importorskip("promql_parser", reason="pip install promql-parser==0.11.0")
    expressions = promql_expressions()
    assert len(expressions) >= 20
    for where, expr in expressions:
        try:
            parser.parse(expr.replace("$__rate_interval", "5m"))
        except ValueError as exc:
            pytest.fail(f"{where}: {expr!r}: {exc}")


def test_monitoring_uses_only_exported_metrics():
    exported = exported_series()
    assert {"t2l_requests_total", "t2l_request_seconds_bucket", "t2l_engine_requests_in_flight"} <= exported
    for where, expr in promql_expressions():
        for name in re.findall(r"\bt2l_[a-z_]+\b", expr):
            assert name in exported, f"{where}: {name} is not exported by server/metrics.py"
    for path, doc in k8s_objects():
        if doc["kind"] == "HorizontalPodAutoscaler":
            for metric in doc["spec"]["metrics"]:
                name = metric["pods"]["metric"]["name"]
                if name.startswith("t2l_"):
                    assert name in exported
    adapter = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-adapter-values.yaml").read_text())
    served = set()
    for rule in adapter["rules"]["custom"]:
        series = rule["seriesQuery"].split("{")[0]
        served.add(re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), series))
    wanted = {m["pods"]["metric"]["name"] for _, d in k8s_objects() if d["kind"] == "HorizontalPodAutoscaler"
              for m in d["spec"]["metrics"]}
    assert wanted <= served, f"no prometheus-adapter rule serves {sorted(wanted - served)}"


def test_dashboard_has_the_required_panels():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "t2l.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["datasource"]["uid"] == "${datasource}"
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    assert "rate(t2l_requests_total" in exprs, "request rate"
    assert re.search(r"histogram_quantile\(0\.5, .*t2l_request_seconds_bucket", exprs), "latency p50"
    assert re.search(r"histogram_quantile\(0\.99, .*t2l_request_seconds_bucket", exprs), "latency p99"
    assert re.search(r't2l_cache_lookups_total\{source=~"memory\|redis"\}.*/.*t2l_cache_lookups_total', exprs)
    assert "t2l_adapters_loaded" in exprs and "t2l_generation_seconds_bucket" in exprs


def test_prometheus_configs():
    for name in ("prometheus.yml", "prometheus-k8s.yml"):
        config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
        assert config["scrape_configs"] and all("job_name" in j for j in config["scrape_configs"])
    k8s = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text())
    labels = {r.get("target_label") for r in k8s["scrape_configs"][0]["relabel_configs"]}
    assert {"namespace", "pod"} <= labels, "prometheus-adapter maps these labels to Kubernetes objects"
    promtool = tool("promtool")
    if promtool:  # Debian's `prometheus` package has it; optional
        for name in ("prometheus.yml", "prometheus-k8s.yml"):
            out = subprocess.run([promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / name)],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
        out = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "rules" / "t2l.yml")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
