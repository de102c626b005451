"""``kassa relay``, ``kassa worker``, ``kassa dlq``, ``kassa reap``, ``kassa reconcile``.

Thin clients of outbox/, workers/ and the checkout services: each builds the Container
from the environment, does one thing and closes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from types import FrameType

from kassa.bootstrap import Container, bootstrap
from kassa.logs import configure_logging
from schemas.settings import Settings

log = logging.getLogger(__name__)


def _start(process: str) -> Container:
    settings = Settings()
    configure_logging(settings.log_level, process=process)
    return bootstrap(settings)


def _serve_metrics(settings: Settings, port: int) -> None:
    """``/metrics`` of this process on ``metrics_host:port`` (0: none). A port already taken
    (a second worker on one machine) costs that process its endpoint, not its work."""
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=settings.metrics_host)
    except OSError as exc:
        log.warning(
            "metrics endpoint not served", extra={"port": port, "error": exc.strerror or str(exc)}
        )


def _port(args: argparse.Namespace, configured: int) -> int:
    return int(args.metrics_port) if args.metrics_port is not None else configured


def cmd_relay(args: argparse.Namespace) -> int:
    from outbox.relay import Relay

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    container = _start("relay")
    try:
        from prometheus_client import REGISTRY

        from outbox.metrics import OutboxCollector

        REGISTRY.register(OutboxCollector(container.uow))
        _serve_metrics(container.settings, _port(args, container.settings.relay_metrics_port))
        Relay(container, batch_size=args.batch_size).run_forever(stop)
    finally:
        container.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.service import run_worker

    container = _start("worker")
    try:
        _serve_metrics(container.settings, _port(args, container.settings.worker_metrics_port))
        return run_worker(container, burst=args.burst, periodic=not args.no_periodic)
    finally:
        container.close()


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from checkout import outbox_admin

    container = _start("dlq")
    try:
        entries = outbox_admin.rows(container, args.state, args.kind)
    finally:
        container.close()
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no {args.state} outbox rows")
        return 0
    print(f"{'ID':>8}  {'KIND':<26} {'ATTEMPTS':>8}  {'LAST ERROR':<32} SHOP / DEDUPE KEY")
    for e in entries:
        print(
            f"{e.id:>8}  {e.kind:<26} {e.attempts:>8}  {(e.last_error or '-'):<32} "
            f"{e.shop_id} / {e.dedupe_key}"
        )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from checkout import outbox_admin

    if bool(args.ids) == args.all:
        print("name the rows to replay (IDs) or pass --all, not both")
        return 2
    container = _start("dlq")
    try:
        replayed = outbox_admin.replay(container, None if args.all else args.ids, args.kind)
    finally:
        container.close()
    print(
        f"replayed {len(replayed)} row(s)"
        + (f": {' '.join(map(str, replayed))}" if replayed else "")
    )
    missing = sorted(set(args.ids) - set(replayed))
    if missing:
        print(f"not dead or unknown: {' '.join(map(str, missing))}")
        return 1
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    from workers.service import reap_now

    container = _start("reap")
    try:
        released = reap_now(container)
    finally:
        container.close()
    print(f"released the lapsed holds of {released} checkout(s)")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from checkout.reconcile import reconcile

    container = _start("reconcile")
    try:
        report = reconcile(container, repair=not args.dry_run)
    finally:
        container.close()
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    verb = "would repair" if args.dry_run else "repaired"
    for mirror in report.mirrors:
        if not mirror.drift:
            print(f"stock mirror {mirror.shop_id}: in step with Postgres")
            continue
        print(f"stock mirror {mirror.shop_id}: {len(mirror.drift)} sku(s) drifted, {verb}")
        for d in mirror.drift:
            print(f"  {d.sku}: mirror {d.mirror}, postgres {d.postgres}")
    print(f"stripe sessions checked: {report.sessions_checked}")
    for s in report.sessions:
        ref = f" -> order {s.order_reference}" if s.order_reference else ""
        print(f"  {s.shop_id} checkout {s.checkout_id} ({s.session_id}): {s.outcome}{ref}")
    print(f"payments checked against Stripe: {report.payments_checked}")
    for p in report.payments:
        print(
            f"  {p.shop_id} order {p.order_reference} ({p.payment_intent_id}):"
            f" ours {p.ours}, stripe {p.stripe} (not repaired: look at it)"
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the outbox-related subcommands to the ``kassa`` parser."""
    p = sub.add_parser("relay", help="move due outbox rows into the job queue")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port (default KASSA_RELAY_METRICS_PORT, 9101; 0: off)",
    )
    p.set_defaults(func=cmd_relay)

    p = sub.add_parser("worker", help="run outbox jobs (RQ worker with scheduler) and the reaper")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument(
        "--no-periodic",
        action="store_true",
        help="run jobs only: no periodic reaper or reconciliation",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port (default KASSA_WORKER_METRICS_PORT, 9102; 0: off)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dlq", help="dead outbox rows: list and replay")
    dlq = p.add_subparsers(dest="dlq_command", required=True)
    q = dlq.add_parser("list", help="list dead rows (no personal data)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--kind", default=None)
    q.add_argument("--state", default="dead", choices=["pending", "enqueued", "done", "dead"])
    q.set_defaults(func=cmd_dlq_list)
    q = dlq.add_parser("replay", help="put dead rows back to pending")
    q.add_argument("ids", nargs="*", type=int, metavar="ID")
    q.add_argument("--all", action="store_true", help="every dead row (see --kind)")
    q.add_argument("--kind", default=None)
    q.set_defaults(func=cmd_dlq_replay)

    p = sub.add_parser("reap", help="release lapsed holds now")
    p.set_defaults(func=cmd_reap)

    p = sub.add_parser(
        "reconcile", help="repair the stock mirror and fulfil paid sessions without orders"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    p.set_defaults(func=cmd_reconcile)
