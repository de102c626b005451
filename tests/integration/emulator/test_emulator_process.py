"""`python -m stripe_emulator` starts fast, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from integration.emulator.emulator_kit import raw_request

from devstack.processes import free_port


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
