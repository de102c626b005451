"""Decoding of Stripe's form-encoded parameters into nested dicts and lists.

Stripe (Rack) conventions: `a[b][c]=v` nests, `a[0][b]=v` indexes, `a[]=v` appends.
Indexed keys stay dicts keyed by the index string here; `params.ParamReader` turns
them into lists where a list is expected, so `metadata[0]=x` remains a map.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stripe_emulator.errors import invalid_param

Params = dict[str, Any]


def decode(pairs: Iterable[tuple[str, str]]) -> Params:
    root: Params = {}
    for key, value in pairs:
        _insert(root, _split_key(key), value, key)
    return root


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    if not head:
        raise invalid_param(key, f"Invalid parameter name: {key}")
    segments = [head]
    rest = "[" + rest
    while rest:
        end = rest.find("]")
        if not rest.startswith("[") or end < 0:
            raise invalid_param(key, f"Invalid parameter name: {key}")
        segments.append(rest[1:end])
        rest = rest[end + 1 :]
    return segments


def _insert(node: Params, segments: list[str], value: str, full_key: str) -> None:
    key, rest = segments[0], segments[1:]
    if not rest:
        if isinstance(node.get(key), dict | list):
            raise _conflict(full_key)
        node[key] = value
        return
    if rest[0] == "":
        items = node.setdefault(key, [])
        if not isinstance(items, list):
            raise _conflict(full_key)
        tail = rest[1:]
        if not tail:
            items.append(value)
            return
        if tail[0] == "":
            raise invalid_param(full_key, f"Invalid parameter name: {full_key}")
        last = items[-1] if items else None
        if isinstance(last, dict) and not _has_path(last, tail):
            target = last
        else:
            target = {}
            items.append(target)
        _insert(target, tail, value, full_key)
        return
    child = node.setdefault(key, {})
    if not isinstance(child, dict):
        raise _conflict(full_key)
    _insert(child, rest, value, full_key)


def _has_path(node: Params, segments: list[str]) -> bool:
    current: Any = node
    for segment in segments:
        if not isinstance(current, dict) or segment not in current:
            return False
        current = current[segment]
    return True


def _conflict(key: str) -> Exception:
    return invalid_param(key, f"Invalid parameter: {key} is given both as a value and a hash.")
