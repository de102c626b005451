"""Which webhook URLs point into a private network (address literals: no DNS needed)."""

from __future__ import annotations

import pytest

from checkout.webhook_targets import private_target


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9000/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_private_loopback_link_local_and_multicast_targets_are_refused(url: str) -> None:
    assert private_target(url) is not None


@pytest.mark.parametrize("url", ["https://93.184.215.14/hooks", "http://[2606:4700::1111]/"])
def test_public_addresses_are_allowed(url: str) -> None:
    assert private_target(url) is None


def test_a_name_that_does_not_resolve_is_left_to_delivery() -> None:
    assert private_target("https://no-such-host.invalid/hooks") is None
