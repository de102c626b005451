"""Liveness, readiness, metrics and the API description: what orchestrators and tools poll."""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from outbox.metrics import OutboxCollector
from schemas.api import Health
from web.context import container
from web.openapi import build_spec, documented

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@documented("The process is alive", response=Health)
def healthz() -> Response:
    return jsonify(Health(status="ok").model_dump())


@bp.get("/readyz")
@documented("Postgres and Redis are reachable", response=Health, errors={503: "not ready"})
def readyz() -> tuple[Response, int]:
    c = container()
    checks: dict[str, str] = {}
    for name, probe in (("postgres", c.db.ping), ("redis", c.redis.ping)):
        try:
            checks[name] = "ok" if probe() else "failed"
        except Exception as exc:
            checks[name] = f"unavailable ({type(exc).__name__})"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(Health(status="ok" if ok else "unavailable", checks=checks).model_dump()), (
        200 if ok else 503
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Every worker process's metrics, pooled when gunicorn runs several of them, then the
    outbox gauges read from Postgres now."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest()
    c = container()
    live = CollectorRegistry(auto_describe=False)
    live.register(OutboxCollector(c.uow))
    return Response(own + generate_latest(live), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec(current_app, "Kassa", "0.1.0"))
