"""The at-rest cipher for shop secrets: keys from the setting, the first encrypts, all
decrypt, and a token no configured key opens is an error rather than garbage."""

from __future__ import annotations

import pytest

from repos.secrets import SecretBox, SecretsUnreadable, dev_key, generate_key


def test_first_key_encrypts_every_key_decrypts() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt("sk_test_canary")
    both = SecretBox.from_setting(f" {new} , {old} ", "unused")
    assert both.decrypt(token) == "sk_test_canary"
    fresh = both.encrypt("sk_test_canary")
    assert SecretBox([new]).decrypt(fresh) == "sk_test_canary"
    with pytest.raises(SecretsUnreadable):
        SecretBox([old]).decrypt(fresh)


def test_tokens_differ_and_never_contain_the_plaintext() -> None:
    box = SecretBox([generate_key()])
    a, b = box.encrypt("whsec_canary"), box.encrypt("whsec_canary")
    assert a != b and "canary" not in a


def test_without_keys_a_development_key_comes_from_the_secret_key() -> None:
    derived = SecretBox.from_setting(None, "s3cret")
    token = derived.encrypt("x")
    assert SecretBox([dev_key("s3cret")]).decrypt(token) == "x"
    with pytest.raises(SecretsUnreadable):
        SecretBox.from_setting("", "another").decrypt(token)
    with pytest.raises(ValueError):
        SecretBox([])
