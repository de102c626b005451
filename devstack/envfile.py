"""``.kassa/dev.env``: where a running ``kassa dev`` says which URLs its stack listens on, so
that other ``kassa`` commands, the benches and a second shell find it by themselves.

Nothing here needs the development libraries: a production CLI reads this file too.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = Path(".kassa")
DEV_ENV_NAME = "dev.env"
DEV_ENV_KEYS = ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE", "KASSA_PUBLIC_URL")


def write_dev_env(state_dir: Path, env: dict[str, str]) -> Path:
    path = state_dir / DEV_ENV_NAME
    path.write_text("".join(f"{k}={env[k]}\n" for k in DEV_ENV_KEYS if k in env))
    return path


def find_dev_env(start: Path | None = None) -> Path | None:
    """The ``.kassa/dev.env`` of the nearest folder up from ``start`` (default: the cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STATE_DIR / DEV_ENV_NAME
        if candidate.is_file():
            return candidate
    return None


def read_dev_env(path: Path | None = None) -> dict[str, str]:
    """The URLs a running ``kassa dev`` wrote (empty when none runs from here)."""
    path = path or find_dev_env()
    found: dict[str, str] = {}
    if path is None or not path.is_file():
        return found
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in DEV_ENV_KEYS:
            found[key.strip()] = value.strip()
    return found
