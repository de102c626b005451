"""`python -m stripe_emulator` starts fast, serves, and stops cleanly on SIGTERM; the address
its payment pages are handed out at can differ from the one it is called by."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, raw_request, session_params

from devstack.processes import free_port, wait_http
from stripe_emulator import EmulatorServer
from stripe_emulator.defaults import ENV_PUBLIC_URL

ROOT = Path(__file__).resolve().parents[3]


def test_the_module_runs_the_emulator_until_sigterm() -> None:
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ready_after = time.monotonic() - started
        assert f"http://127.0.0.1:{port}" in line
        # A hang, not speed, is what this catches: interpreter start-up on a loaded machine
        # can take seconds (the server itself is instant).
        assert ready_after < 30
        response = raw_request("GET", f"http://127.0.0.1:{port}/_emulator/clock")
        assert response.status == 200

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_kassa_emulator_names_its_public_url_in_the_payment_page_urls(tmp_path: Path) -> None:
    """In a container, Kassa calls the emulator by its service name and a browser on the host
    opens the published port: ``--public-url`` makes the sessions' URLs name the latter, and
    the page is served at that path."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "emulator",
            "--port",
            str(port),
            "--public-url",
            "http://localhost:4242/",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_emulator/state", timeout=60, alive=lambda: alive(process))
        client = stripe.StripeClient("sk_test_kassa", base_addresses={"api": url})
        session = client.v1.checkout.sessions.create(params=session_params())

        assert session.url == f"http://localhost:4242/checkout/{session.id}"
        page = raw_request("GET", url + urlsplit(session.url).path)
        assert page.status == 200 and "Pay" in page.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_public_url_comes_from_the_environment_and_defaults_to_the_calls_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EmulatorServer() as server:
        default = Emulator(server).client().v1.checkout.sessions.create(params=session_params())
        assert default.url == f"{server.url}/checkout/{default.id}"
    monkeypatch.setenv(ENV_PUBLIC_URL, "https://pay.example.test/emulator")
    with EmulatorServer() as server:
        public = Emulator(server).client().v1.checkout.sessions.create(params=session_params())

    assert public.url == f"https://pay.example.test/emulator/checkout/{public.id}"
    monkeypatch.setenv(ENV_PUBLIC_URL, "localhost:12111")
    with pytest.raises(ValueError, match=ENV_PUBLIC_URL):
        EmulatorServer()


def test_a_public_url_it_cannot_use_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "emulator", "--public-url", "localhost:12111"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kassa emulator: the emulator's public URL (STRIPE_EMULATOR_PUBLIC_URL, --public-url)"
        " must be http(s)://host[:port][/path]; got 'localhost:12111'"
    ]


def alive(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        raise AssertionError(f"the emulator exited with {process.returncode}")
