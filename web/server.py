"""``kassa web``: the app under gunicorn (threaded workers), built in each worker after fork.

One Python process can use one core at most; the benchmarks showed a second worker
process raising checkout throughput by about a quarter even on two cores.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flask import Flask
from gunicorn.app.base import BaseApplication

from kassa.bootstrap import bootstrap
from kassa.logs import configure_logging
from schemas.settings import Settings
from web.app import create_app


class KassaServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, bind: str, workers: int, threads: int) -> None:
        self.options = {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None,
            "graceful_timeout": 10,
            "timeout": 60,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        settings = Settings()
        configure_logging(settings.log_level, process="web")
        return create_app(bootstrap(settings))


def serve(host: str, port: int, workers: int, threads: int) -> None:
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        KassaServer(f"{host}:{port}", workers, threads).run()
    finally:
        if metrics_dir and Path(metrics_dir).name.startswith("kassa-metrics-"):
            shutil.rmtree(metrics_dir, ignore_errors=True)
