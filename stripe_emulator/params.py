"""Typed reading of decoded parameters, naming a bad parameter the way Stripe does.

Readers raise `InvalidParams`, so validation failures never reach the idempotency store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stripe_emulator import defaults
from stripe_emulator.errors import (
    empty_param,
    invalid_param,
    missing_param,
    unknown_param,
    unsupported_param,
)

_INTEGER = re.compile(r"-?\d+")
_CURRENCY = re.compile(r"[a-z]{3}")


@dataclass(frozen=True)
class MetadataPatch:
    """A metadata change as Stripe applies it: merge, empty value deletes, `metadata=` clears."""

    clear: bool = False
    values: dict[str, str] = field(default_factory=dict)

    def apply(self, current: Mapping[str, str]) -> dict[str, str]:
        merged = {} if self.clear else dict(current)
        for key, value in self.values.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged


class ParamReader:
    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self._data = data
        self._path = path

    @property
    def data(self) -> Mapping[str, Any]:
        return self._data

    @property
    def path(self) -> str:
        return self._path

    def name(self, key: str) -> str:
        return f"{self._path}[{key}]" if self._path else key

    def has(self, key: str) -> bool:
        return key in self._data

    def only(self, allowed: Iterable[str], unsupported: Iterable[str] = ()) -> None:
        """Reject unknown keys; `unsupported` are real Stripe parameters the emulator lacks."""
        allowed_set = set(allowed) | ({"expand"} if not self._path else set())
        unsupported_set = set(unsupported)
        for key in self._data:
            if key in unsupported_set:
                raise unsupported_param(self.name(key))
            if key not in allowed_set:
                raise unknown_param(self.name(key))

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        allow_empty: bool = False,
    ) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, str):
            raise invalid_param(self.name(key), f"Invalid string: {self.name(key)} is a hash.")
        if value == "" and not allow_empty:
            raise empty_param(self.name(key))
        if max_length is not None and len(value) > max_length:
            raise invalid_param(
                self.name(key),
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            )
        return value

    def url(self, key: str, *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_param(self.name(key), "Not a valid URL", code="url_invalid")
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        raw = self.string(key, required=required)
        if raw is None:
            return None
        if not _INTEGER.fullmatch(raw):
            raise invalid_param(
                self.name(key), f"Invalid integer: {raw}", code="parameter_invalid_integer"
            )
        value = int(raw)
        if minimum is not None and value < minimum:
            raise invalid_param(
                self.name(key), f"This value must be greater than or equal to {minimum}."
            )
        return value

    def boolean(self, key: str) -> bool | None:
        raw = self.string(key)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise invalid_param(self.name(key), f"Invalid boolean: {raw}")
        return raw == "true"

    def choice(self, key: str, options: Sequence[str], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is None or value in options:
            return value
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise invalid_param(self.name(key), f"Invalid {self.name(key)}: must be one of {listed}")

    def currency(self, key: str, *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        lowered = value.lower()
        if not _CURRENCY.fullmatch(lowered):
            raise invalid_param(self.name(key), f"Invalid currency: {value}.")
        return lowered

    def child(self, key: str, *, required: bool = False) -> ParamReader | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, dict):
            raise invalid_param(self.name(key), f"Invalid hash: {self.name(key)} must be a hash.")
        return ParamReader(value, self.name(key))

    def children(self, key: str, *, required: bool = False) -> list[ParamReader]:
        items = self._array(key, required=required)
        readers = []
        for index, item in enumerate(items):
            name = f"{self.name(key)}[{index}]"
            if not isinstance(item, dict):
                raise invalid_param(name, f"Invalid hash: {name} must be a hash.")
            readers.append(ParamReader(item, name))
        return readers

    def strings(self, key: str, *, required: bool = False) -> list[str] | None:
        if key not in self._data and not required:
            return None
        items = self._array(key, required=required)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                name = f"{self.name(key)}[{index}]"
                raise invalid_param(name, f"Invalid string: {name} is a hash.")
        return list(items)

    def metadata(self, key: str = "metadata") -> MetadataPatch | None:
        value = self._data.get(key)
        if value is None:
            return None
        if value == "":
            return MetadataPatch(clear=True)
        if not isinstance(value, dict):
            raise invalid_param(self.name(key), "Invalid hash: metadata must be a hash.")
        values: dict[str, str] = {}
        for meta_key, meta_value in value.items():
            name = f"{self.name(key)}[{meta_key}]"
            if not isinstance(meta_value, str):
                raise invalid_param(name, f"Invalid string: {name} is a hash.")
            if len(meta_key) > defaults.METADATA_KEY_MAX_LENGTH:
                raise invalid_param(
                    name,
                    f"Metadata keys can have up to {defaults.METADATA_KEY_MAX_LENGTH} "
                    f"characters, but you passed in a key that is {len(meta_key)} characters.",
                )
            if len(meta_value) > defaults.METADATA_VALUE_MAX_LENGTH:
                raise invalid_param(
                    name,
                    f"Metadata values can have up to {defaults.METADATA_VALUE_MAX_LENGTH} "
                    f"characters, but you passed in a value that is {len(meta_value)} "
                    "characters.",
                )
            values[meta_key] = meta_value
        return MetadataPatch(values=values)

    def apply_metadata(self, current: Mapping[str, str], key: str = "metadata") -> dict[str, str]:
        patch = self.metadata(key)
        merged = dict(current) if patch is None else patch.apply(current)
        if len(merged) > defaults.METADATA_MAX_KEYS:
            raise invalid_param(
                self.name(key),
                f"You can have up to {defaults.METADATA_MAX_KEYS} metadata keys, but this "
                f"object would have {len(merged)}.",
            )
        return merged

    def _array(self, key: str, *, required: bool) -> list[Any]:
        value = self._data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
        raise invalid_param(self.name(key), f"Invalid array: {self.name(key)} must be an array.")
