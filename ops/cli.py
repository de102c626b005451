"""The ``kassa`` command: a thin client over the same services the HTTP API uses.

Run from a folder where ``kassa dev`` is running, with ``DATABASE_URL`` and ``REDIS_URL``
unset, every command uses that stack (its ``.kassa/dev.env``). An unreachable Postgres or
Redis is reported in one line, not a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence

import psycopg
import redis

from devstack.envfile import find_dev_env, read_dev_env
from kassa.bootstrap import bootstrap
from kassa.logs import configure_logging
from ops import merchant_cli, outbox_cli
from schemas.settings import Settings

SERVICE_VARS = ("DATABASE_URL", "REDIS_URL")
SERVERS = {"web", "relay", "worker", "emulator", "dev"}
"""Commands that keep running; the others do one thing and exit."""


def cmd_migrate(args: argparse.Namespace) -> int:
    from merchant.shops import rotate_secrets
    from repos.migrations import migrate

    applied = migrate(Settings().database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    c = bootstrap()
    try:  # secrets stored in clear before migration 0010 are encrypted now
        encrypted = rotate_secrets(c, only_plaintext=True)
    finally:
        c.close()
    if encrypted:
        print(f"encrypted the secrets of {encrypted} shop(s)")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from ops.seed import register_webhook_endpoint, seed_and_mirror

    c = bootstrap()
    try:
        seed_and_mirror(c, args.shop, currency=args.currency)
        print(f"seeded shop {args.shop!r} ({args.currency})")
        if args.register_webhook:
            url = register_webhook_endpoint(c, args.shop, args.register_webhook)
            print(f"registered the webhook endpoint {url} with Stripe")
    finally:
        c.close()
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Metrics of several worker processes must be pooled in files, and prometheus-client
        # decides that when it is first imported: start again with the directory set.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kassa-metrics-")
        os.execv(sys.executable, [sys.executable, "-m", "ops.cli", *sys.argv[1:]])
    from web.server import serve

    configure_logging(Settings().log_level, process="web")
    serve(args.host, args.port, args.workers, args.threads)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from devstack.dev import run_dev
    from devstack.services import ServiceError, require_local_extra

    try:
        require_local_extra()
        return run_dev(port=args.port, fresh=args.fresh)
    except ServiceError as exc:
        print(f"kassa dev: {exc}", file=sys.stderr)
        return 1


def cmd_emulator(args: argparse.Namespace) -> int:
    from stripe_emulator.server import serve

    configure_logging(Settings().log_level, process="emulator")
    try:
        serve(args.host, args.port, args.public_url)
    except ValueError as exc:  # a setting it cannot use: --public-url, STRIPE_EMULATOR_*
        print(f"kassa emulator: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kassa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dev", help="run the whole stack locally with embedded services")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--fresh", action="store_true", help="wipe local data first")
    p.set_defaults(func=cmd_dev)

    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)

    p = sub.add_parser("seed", help="load the demo catalog")
    p.add_argument("--shop", default="demo")
    p.add_argument("--currency", default="usd")
    p.add_argument(
        "--register-webhook",
        metavar="WEB_URL",
        help="also register WEB_URL/webhooks/stripe/<shop> with the shop's Stripe account (the"
        " emulator, or test mode) and store its signing secret; WEB_URL is where Stripe"
        " reaches Kassa, e.g. http://web:8000 in the compose demo",
    )
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("web", help="serve the HTTP API and storefront")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    p.set_defaults(func=cmd_web)

    outbox_cli.register(sub)
    merchant_cli.register(sub)

    p = sub.add_parser("emulator", help="run the Stripe emulator (development and tests only)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12111)
    p.add_argument(
        "--public-url",
        help="where browsers reach it, for the payment pages' URLs, e.g. http://localhost:12111"
        " (default: $STRIPE_EMULATOR_PUBLIC_URL, else the address Kassa calls it by)",
    )
    p.set_defaults(func=cmd_emulator)
    return parser


def use_dev_stack() -> str | None:
    """With neither DATABASE_URL nor REDIS_URL set, take the URLs of the ``kassa dev`` running
    from this folder (or one above); returns the file they came from."""
    if any(os.environ.get(k) for k in SERVICE_VARS):
        return None
    path = find_dev_env()
    if path is None:
        return None
    for key, value in read_dev_env(path).items():
        os.environ.setdefault(key, value)
    return str(path)


def _where(url: str) -> str:
    """host:port of a service URL, never its credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or '?'}"


def unreachable(exc: Exception, from_file: str | None) -> str:
    """One line that says which service did not answer and what to do about it."""
    settings = Settings()
    if isinstance(exc, psycopg.Error):
        what = f"Postgres at {_where(settings.database_url)}"
    else:
        what = f"Redis at {_where(settings.redis_url)}"
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if from_file:
        hint = f"the URLs in {from_file} are stale: start `kassa dev` again"
    elif any(os.environ.get(k) for k in SERVICE_VARS):
        hint = "check DATABASE_URL and REDIS_URL"
    else:
        hint = "set DATABASE_URL and REDIS_URL, or run `kassa dev` in this folder"
    return f"kassa: cannot reach {what} ({reason[:200]}); {hint}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from_file = None if args.command == "dev" else use_dev_stack()
    if args.command not in {"web", "emulator", "dev"}:
        configure_logging(Settings().log_level, process=args.command)
        logging.getLogger("stripe").setLevel(logging.WARNING)
    if args.command not in SERVERS:
        # The pool logs each failed connection attempt while it waits; a one-shot command
        # says in its one line below why it gave up. Relay and worker keep those warnings.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        result: int = args.func(args)
    except (psycopg.OperationalError, redis.exceptions.ConnectionError) as exc:
        # PoolTimeout is an OperationalError; redis' TimeoutError a ConnectionError.
        print(unreachable(exc, from_file), file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
