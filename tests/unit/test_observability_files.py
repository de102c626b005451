"""The Grafana dashboard and the alert rules only name metrics that Kassa exports: a
renamed metric fails here instead of leaving an empty panel or an alert that never fires."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import checkout.reconcile
import outbox.metrics
import repos.inventory
import web.metrics
import workers.metrics
from outbox.metrics import OutboxCollector

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "kassa-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bkassa_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# Importing these registers their metrics with the default registry.
REGISTERING_MODULES = (
    checkout.reconcile,
    outbox.metrics,
    repos.inventory,
    web.metrics,
    workers.metrics,
)


def exported() -> set[str]:
    """Every sample name Kassa's processes can expose."""
    names = set(OutboxCollector.NAMES)
    for family in REGISTRY.collect():
        if family.name.startswith("kassa_"):
            names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def dashboard_exprs() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def test_the_exported_names_are_known() -> None:
    names = exported()
    for expected in (
        "kassa_outbox_rows",
        "kassa_outbox_dead_rows",
        "kassa_outbox_oldest_pending_age_seconds",
        "kassa_outbox_relayed_total",
        "kassa_outbox_jobs_total",
        "kassa_http_request_seconds_bucket",
    ):
        assert expected in names


def test_the_dashboard_names_only_exported_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert used - exported() == set()
    assert {"kassa_outbox_rows", "kassa_outbox_dead_rows", "kassa_outbox_jobs_total"} <= used


def test_the_alert_rules_name_only_exported_metrics() -> None:
    used = {m for e in alert_exprs() for m in METRIC.findall(e)}
    assert used - exported() == set()
    assert "kassa_outbox_dead_rows" in used


def test_a_misspelt_metric_would_be_caught() -> None:
    assert {"kassa_outbox_dead_row"} - exported() == {"kassa_outbox_dead_row"}
