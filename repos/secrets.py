"""Encryption at rest for shop secrets (Stripe keys, webhook signing secrets).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a MultiFernet: the first
key of ``KASSA_ENCRYPTION_KEYS`` encrypts, every key decrypts, so keys rotate by putting
a new key first, running ``kassa shop rotate-secrets``, then dropping the old key.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

DEV_KEY_CONTEXT = b"kassa dev encryption key v1:"


class SecretsUnreadable(RuntimeError):
    """A ciphertext none of the configured keys can open: a key was dropped too early."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    @classmethod
    def from_setting(cls, encryption_keys: str | None, secret_key: str) -> SecretBox:
        """Keys from the comma-separated setting, or (unset) one derived from the app's
        secret key, so a fresh clone runs with no configuration. Never rely on the derived
        key in production: anyone who knows KASSA_SECRET_KEY can derive it."""
        keys = [k.strip() for k in (encryption_keys or "").split(",") if k.strip()]
        return cls(keys or [dev_key(secret_key)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnreadable("no configured key opens this secret") from exc


def dev_key(secret_key: str) -> str:
    """The key used when KASSA_ENCRYPTION_KEYS is unset (to rotate away from it, too)."""
    digest = hashlib.sha256(DEV_KEY_CONTEXT + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()
