"""Prometheus finds the outbox wherever it scrapes: the web's ``/metrics`` (gunicorn with
two processes) reads the outbox gauges from Postgres, and the relay and the worker serve
their own counters on their default ports with no flag. A dead row makes the dead-letter
alert of deploy/prometheus/alerts.yml fire, checked by promtool on the scraped value."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from integration.workers.outbox_support import ROOT, Orders, env_for
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import Supervisor, free_port, wait_for, wait_http
from schemas.outbox import OrderConfirmationEmail, StockLine, StockMirrorDecrement
from schemas.settings import Settings

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def scrape(url: str) -> dict[str, float]:
    """Every sample of a /metrics page: ``name{labels}`` -> value."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def dead_letter_alert_fires(dead_rows: float, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` on the real rule file with the scraped gauge as input."""
    rule = next(
        r
        for g in yaml.safe_load(ALERTS.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == "KassaOutboxDeadLetters"
    )
    value = int(dead_rows) if dead_rows == int(dead_rows) else dead_rows
    test = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'kassa_outbox_dead_rows{job="kassa-web"}',
                        "values": " ".join([str(value)] * 5),
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "3m",
                        "alertname": "KassaOutboxDeadLetters",
                        "exp_alerts": [
                            {
                                "exp_labels": rule["labels"],
                                "exp_annotations": {
                                    k: v.replace("{{ $value }}", str(value))
                                    for k, v in rule["annotations"].items()
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "dead_letters.test.yml"
    path.write_text(yaml.safe_dump(test))
    return subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_every_process_kind_serves_the_outbox_metrics(
    settings: Settings, orders: Orders, tmp_path: Path
) -> None:
    web_port, relay_port, worker_port = free_port(), free_port(), free_port()
    env = env_for(
        settings.model_copy(
            update={"relay_metrics_port": relay_port, "worker_metrics_port": worker_port}
        )
    )
    sup = Supervisor(tmp_path / "logs", env, cwd=ROOT)
    try:
        sup.spawn("web", "ops.cli", "web", "--port", str(web_port), "--workers", "2")
        sup.spawn("relay", "ops.cli", "relay")  # no --metrics-port: the settings' default
        sup.spawn("worker", "ops.cli", "worker", "--no-periodic")
        ghost = uuid.uuid4()  # an email for an order that does not exist: dead at once
        dead_id = orders.queue(
            OrderConfirmationEmail(shop_id="demo", order_id=ghost), f"order-{ghost}-email"
        ).id
        done_id = orders.queue(
            StockMirrorDecrement(
                shop_id="demo", order_reference="K-1", lines=[StockLine(sku="MUG", quantity=1)]
            ),
            "mirror-K-1",
        ).id
        wait_for(
            lambda: orders.states([dead_id, done_id]) == {dead_id: "dead", done_id: "done"},
            timeout=60,
            what="one row dead and one done",
            context=lambda: sup.log_tail("worker") + sup.log_tail("relay"),
        )
        web = f"http://127.0.0.1:{web_port}/metrics"
        wait_http(web, timeout=60, alive=sup.check_alive)

        pages = {
            "web": scrape(web),
            "relay": scrape(f"http://127.0.0.1:{relay_port}/metrics"),
            "worker": scrape(f"http://127.0.0.1:{worker_port}/metrics"),
        }
    finally:
        sup.stop()

    for kind in ("web", "relay"):
        page = pages[kind]
        assert page["kassa_outbox_dead_rows{}"] == 1, kind
        assert page['kassa_outbox_rows{state="dead"}'] == 1, kind
        assert page['kassa_outbox_rows{state="done"}'] == 1, kind
        assert page["kassa_outbox_oldest_pending_age_seconds{}"] == 0, kind
        assert page["kassa_outbox_stats_up{}"] == 1, kind
    assert 'kassa_outbox_relayed_total{reason="due"}' in pages["relay"]
    assert pages["relay"]['kassa_outbox_relayed_total{reason="due"}'] >= 2
    assert "kassa_outbox_relay_lag_seconds_count{}" in pages["relay"]
    worker = pages["worker"]
    assert worker['kassa_outbox_jobs_total{kind="stock_mirror.decrement",outcome="done"}'] == 1
    assert worker['kassa_outbox_jobs_total{kind="email.order_confirmation",outcome="dead"}'] == 1
    assert any(k.startswith("kassa_http_requests_total{") for k in pages["web"])

    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (scripts/check-deploy installs it)")
    result = dead_letter_alert_fires(pages["web"]["kassa_outbox_dead_rows{}"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert dead_letter_alert_fires(0, tmp_path).returncode != 0  # no dead row: no alert
