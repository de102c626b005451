"""``kassa shop``, ``kassa apikey`` and ``kassa catalog``: the operator's and merchant's
commands, thin over the same services as ``/admin/*``.

Secrets never go on the command line (where ``ps`` and shell history would keep them):
``--stripe-api-key-env NAME`` and ``--webhook-secret-env NAME`` read them from the
environment variable NAME.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checkout.errors import KassaError
from checkout.shops import shop_by_id
from checkout.validation import validate
from kassa.bootstrap import Container, bootstrap
from merchant import api_keys, shops
from merchant.catalog_import import Format, import_catalog_in, parse_catalog
from merchant.writes import Actor, perform
from schemas.merchant import ApiKeyCreate, ShopCreate, ShopSettingsPatch, ShopView

SETTINGS = (
    ("name", str),
    ("currency", str),
    ("storefront_url", str),
    ("hold_ttl_seconds", int),
    ("capture_mode", str),
    ("capture_window_seconds", int),
    ("checkout_rate_limit", str),
    ("low_stock_threshold", int),
)


def _run(fn: Callable[[Container], int]) -> int:
    """Build the container, run, close; a domain error is a message and exit status 1."""
    container = bootstrap()
    try:
        return fn(container)
    except KassaError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        if exc.details:
            print(json.dumps(exc.details, indent=2, default=str), file=sys.stderr)
        return 1
    finally:
        container.close()


def _settings_from(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: getattr(args, name) for name, _ in SETTINGS if getattr(args, name) is not None
    }
    for option, field in (
        ("stripe_api_key_env", "stripe_api_key"),
        ("webhook_secret_env", "stripe_webhook_secret"),
    ):
        variable = getattr(args, option)
        if variable is not None:
            if not os.environ.get(variable):
                raise SystemExit(f"environment variable {variable} is not set")
            values[field] = os.environ[variable]
    return values


def _print_shops(views: list[ShopView], as_json: bool) -> None:
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        print(
            f"{v.id:<20} {v.currency}  {v.capture_mode:<9} hold {v.hold_ttl_seconds}s"
            f"  webhook secret {'set' if v.stripe_webhook_secret_set else 'missing'}"
            f"  {v.storefront_url}"
        )


def cmd_shop_create(args: argparse.Namespace) -> int:
    body = {"id": args.id, **_settings_from(args)}

    def run(c: Container) -> int:
        view = shops.create_shop(c, validate(ShopCreate, body), actor="cli")
        _print_shops([view], args.json)
        return 0

    return _run(run)


def cmd_shop_update(args: argparse.Namespace) -> int:
    patch = _settings_from(args)

    def run(c: Container) -> int:
        view = shops.update_shop(c, args.id, validate(ShopSettingsPatch, patch), actor="cli")
        _print_shops([view], args.json)
        return 0

    return _run(run)


def cmd_shop_list(args: argparse.Namespace) -> int:
    def run(c: Container) -> int:
        _print_shops(shops.list_shops(c), args.json)
        return 0

    return _run(run)


def cmd_shop_rotate(args: argparse.Namespace) -> int:
    def run(c: Container) -> int:
        print(f"re-encrypted the secrets of {shops.rotate_secrets(c)} shop(s)")
        return 0

    return _run(run)


def cmd_apikey_create(args: argparse.Namespace) -> int:
    def run(c: Container) -> int:
        created = api_keys.create_api_key(
            c, validate(ApiKeyCreate, {"shop_id": args.shop, "name": args.name}), actor="cli"
        )
        print(f"created API key {created.id} for shop {created.shop_id} ({created.name})")
        print("the key (shown this once; store it now):")
        print(created.key)
        return 0

    return _run(run)


def cmd_apikey_list(args: argparse.Namespace) -> int:
    def run(c: Container) -> int:
        keys = api_keys.list_api_keys(c, args.shop)
        if args.json:
            print(json.dumps([k.model_dump(mode="json") for k in keys], indent=2))
            return 0
        for k in keys:
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
            print(f"{k.id}  {k.shop_id:<20} {state:<24} last used {used:<16} {k.name}")
        return 0

    return _run(run)


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    def run(c: Container) -> int:
        key = api_keys.revoke_api_key(c, args.id, args.shop, actor="cli")
        print(f"revoked API key {key.id} of shop {key.shop_id}")
        return 0

    return _run(run)


def cmd_catalog_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no file {args.file}", file=sys.stderr)
        return 2
    fmt: Format = "csv" if (args.format or path.suffix.lower().lstrip(".")) == "csv" else "json"

    def run(c: Container) -> int:
        started = time.perf_counter()
        catalog = parse_catalog(path.read_bytes(), fmt)
        shop = shop_by_id(c, args.shop)
        if shop is None:
            print(f"error: no shop {args.shop!r}", file=sys.stderr)
            return 1
        actor = Actor(shop_id=shop.id, label="cli")
        result = perform(
            c,
            actor,
            "catalog.import",
            path.name,
            lambda uow: import_catalog_in(uow, shop, actor, catalog),
            idempotency_key=None,
            fingerprint="",
            details={"products": len(catalog.doc.products)},
        )
        elapsed = time.perf_counter() - started
        assert isinstance(result.body, dict)  # an import answers one object of counts
        counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in result.body.items())
        print(f"imported into {shop.id} in {elapsed:.2f} s: {counts}")
        return 0

    return _run(run)


def _shop_options(p: argparse.ArgumentParser, *, create: bool) -> None:
    p.add_argument("--name", required=create)
    p.add_argument("--currency", required=create, help="ISO code, e.g. usd")
    p.add_argument("--storefront-url", dest="storefront_url", required=create)
    p.add_argument("--hold-ttl-seconds", dest="hold_ttl_seconds", type=int)
    p.add_argument("--capture-mode", dest="capture_mode", choices=["immediate", "delayed"])
    p.add_argument("--capture-window-seconds", dest="capture_window_seconds", type=int)
    p.add_argument("--checkout-rate-limit", dest="checkout_rate_limit", help="e.g. 10/minute")
    p.add_argument(
        "--low-stock-threshold",
        dest="low_stock_threshold",
        type=int,
        help="send stock.low when a SKU's available units fall to this or below",
    )
    p.add_argument(
        "--stripe-api-key-env",
        required=create,
        metavar="NAME",
        help="read the Stripe secret key from environment variable NAME",
    )
    p.add_argument(
        "--webhook-secret-env",
        metavar="NAME",
        help="read the Stripe webhook signing secret from environment variable NAME",
    )
    p.add_argument("--json", action="store_true")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("shop", help="shops: create, update, list, rotate-secrets")
    shop = p.add_subparsers(dest="shop_command", required=True)
    q = shop.add_parser("create", help="create a shop (secrets from environment variables)")
    q.add_argument("id")
    _shop_options(q, create=True)
    q.set_defaults(func=cmd_shop_create)
    q = shop.add_parser("update", help="change a shop's settings or secrets")
    q.add_argument("id")
    _shop_options(q, create=False)
    q.set_defaults(func=cmd_shop_update)
    q = shop.add_parser("list", help="list shops (no secrets)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_shop_list)
    q = shop.add_parser(
        "rotate-secrets", help="re-encrypt shop secrets under the first KASSA_ENCRYPTION_KEYS key"
    )
    q.set_defaults(func=cmd_shop_rotate)

    p = sub.add_parser("apikey", help="merchant API keys: create, list, revoke")
    keys = p.add_subparsers(dest="apikey_command", required=True)
    q = keys.add_parser("create", help="create a key (printed once)")
    q.add_argument("--shop", required=True)
    q.add_argument("--name", required=True)
    q.set_defaults(func=cmd_apikey_create)
    q = keys.add_parser("list", help="list keys (never their secrets)")
    q.add_argument("--shop", default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_apikey_list)
    q = keys.add_parser("revoke", help="revoke a key by id")
    q.add_argument("id")
    q.add_argument("--shop", default=None, help="refuse unless the key is this shop's")
    q.set_defaults(func=cmd_apikey_revoke)

    p = sub.add_parser("catalog", help="catalog: bulk import")
    cat = p.add_subparsers(dest="catalog_command", required=True)
    q = cat.add_parser("import", help="import products, stock, shipping options, coupons")
    q.add_argument("file")
    q.add_argument("--shop", required=True)
    q.add_argument("--format", choices=["json", "csv"], default=None, help="default: by suffix")
    q.set_defaults(func=cmd_catalog_import)
