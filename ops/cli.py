"""The ``kassa`` command: a thin client over the same services the HTTP API uses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from kassa.bootstrap import bootstrap
from kassa.logs import configure_logging
from ops import merchant_cli, outbox_cli
from schemas.settings import Settings


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
    from ops.seed import seed_shop

    c = bootstrap()
    try:
        with c.uow() as uow:
            seed_shop(uow, args.shop, c.settings, currency=args.currency)
    finally:
        c.close()
    print(f"seeded shop {args.shop!r} ({args.currency})")
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
    from ops.dev import run_dev

    return run_dev(port=args.port, fresh=args.fresh)


def cmd_emulator(args: argparse.Namespace) -> int:
    from stripe_emulator.server import serve

    configure_logging(Settings().log_level, process="emulator")
    serve(args.host, args.port)
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
    p.set_defaults(func=cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in {"web", "emulator", "dev"}:
        configure_logging(Settings().log_level, process=args.command)
        logging.getLogger("stripe").setLevel(logging.WARNING)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
