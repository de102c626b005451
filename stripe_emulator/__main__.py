"""`python -m stripe_emulator [--host H] [--port P] [--public-url URL]`: the emulator alone."""

from __future__ import annotations

import argparse
import logging

from stripe_emulator import defaults
from stripe_emulator.server import PUBLIC_URL_HELP, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="stripe_emulator", description="A local Stripe for development and tests."
    )
    parser.add_argument("--host", default=defaults.DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=defaults.DEFAULT_PORT)
    parser.add_argument("--public-url", help=PUBLIC_URL_HELP)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve(args.host, args.port, args.public_url)
    except ValueError as exc:  # a setting it cannot use
        parser.error(str(exc))


if __name__ == "__main__":
    main()
