"""A small closed-loop load generator and the tables the benches print.

``run_load`` runs ``concurrency`` threads, each with its own ``Client`` (one keep-alive
connection per server), that take the next request number until ``total`` are done or
``time_limit`` has passed, and time every request with ``perf_counter``.

``Client`` is a few lines over ``http.client`` rather than a ``requests.Session``: the
load generator shares the two cores with the stack it measures, and ``requests`` spent
about 1 ms of CPU per call (as much as Postgres spends on a webhook's fulfilment), which
was taken from Kassa's side of every figure.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from stack import Stack


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: http.client.HTTPMessage
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


LoadError = (OSError, http.client.HTTPException)
"""What a request can raise: the connection failed or broke (a timeout is an OSError)."""


class Client:
    """One keep-alive HTTP/1.1 connection per server, for one thread at a time."""

    def __init__(self) -> None:
        self._conns: dict[str, http.client.HTTPConnection] = {}

    def post(
        self,
        url: str,
        *,
        json: Any = None,
        data: str | bytes | dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        head = dict(headers or {})
        body: bytes | None
        if json is not None:
            body = _json_bytes(json)
            head.setdefault("Content-Type", "application/json")
        elif isinstance(data, dict):
            body = urllib.parse.urlencode(data).encode()
            head.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = data.encode() if isinstance(data, str) else data
        return self.request("POST", url, body, head, timeout)

    def request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> Reply:
        """One request; a kept connection the server closed while idle is replaced once,
        as every HTTP client does (nothing of the request reached the server)."""
        parts = urllib.parse.urlsplit(url)
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        reused = parts.netloc in self._conns
        conn = self._conns.get(parts.netloc) or self._open(parts, timeout)
        try:
            conn.request(method, path, body, headers)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._drop(parts.netloc)
            if not reused:
                raise
            return self.request(method, url, body, headers, timeout)
        except LoadError:
            self._drop(parts.netloc)
            raise

    def _open(self, parts: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )
        self._conns[parts.netloc] = conn
        return conn

    def _drop(self, netloc: str) -> None:
        conn = self._conns.pop(netloc, None)
        if conn is not None:
            conn.close()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


Call = Callable[[Client, int], Reply]


@dataclass(frozen=True)
class Sample:
    index: int
    seconds: float
    status: int
    """HTTP status, or 0 when the request raised (connection error, timeout)."""
    error: str | None = None
    body: dict[str, Any] | None = None


@dataclass
class Result:
    scenario: str
    concurrency: int
    samples: list[Sample]
    wall_seconds: float
    expected: frozenset[int]
    timed_out: bool = False
    note: str = ""
    server_mean_ms: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per request by part of the stack (see Stack.cpu_seconds)."""
    machine_busy: float | None = None
    """Share of all cores busy during the run, whoever used them (from /proc/stat)."""
    steal: float | None = None
    """Share of the cores' time the hypervisor gave to someone else (steal)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(s.status for s in self.samples)

    @property
    def failures(self) -> int:
        return sum(1 for s in self.samples if s.status not in self.expected)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.wall_seconds if self.wall_seconds else 0.0

    def latency_ms(self, q: float, statuses: Sequence[int] | None = None) -> float:
        values = [s.seconds for s in self.samples if statuses is None or s.status in statuses]
        return percentile(values, q) * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "requests": len(self.samples),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": self.failures,
            "wall_seconds": round(self.wall_seconds, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.latency_ms(0.50), 2),
            "p95_ms": round(self.latency_ms(0.95), 2),
            "p99_ms": round(self.latency_ms(0.99), 2),
            "max_ms": round(self.latency_ms(1.0), 2),
            "mean_ms": round(
                1000 * sum(s.seconds for s in self.samples) / max(1, len(self.samples)), 2
            ),
            "server_mean_ms": None
            if self.server_mean_ms is None
            else round(self.server_mean_ms, 2),
            "cpu_ms_per_request": {k: round(v, 2) for k, v in self.cpu_ms.items()},
            "machine_busy": None if self.machine_busy is None else round(self.machine_busy, 3),
            "steal": None if self.steal is None else round(self.steal, 3),
            "timed_out": self.timed_out,
            "note": self.note,
            **self.extra,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def sessions(n: int) -> list[Client]:
    return [Client() for _ in range(n)]


def run_load(
    scenario: str,
    call: Call,
    *,
    concurrency: int,
    total: int,
    time_limit: float,
    expected: Sequence[int],
    clients: list[Client] | None = None,
    keep_body: bool = False,
    first_index: int = 0,
) -> Result:
    """``total`` calls numbered ``first_index…`` spread over ``concurrency`` threads."""
    clients = clients or sessions(concurrency)
    assert len(clients) >= concurrency
    lock = threading.Lock()
    counter = iter(range(first_index, first_index + total))
    per_thread: list[list[Sample]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]
    timed_out = threading.Event()

    def worker(slot: int) -> None:
        session = clients[slot]
        out = per_thread[slot]
        start.wait()
        while True:
            if time.perf_counter() > deadline[0]:
                timed_out.set()
                return
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                resp = call(session, i)
                elapsed = time.perf_counter() - t0
                body = None
                if keep_body or resp.status_code not in expected:
                    try:
                        body = resp.json()
                    except ValueError:
                        body = {"text": resp.text[:200]}
                out.append(Sample(i, elapsed, resp.status_code, None, body))
            except LoadError as exc:
                out.append(Sample(i, time.perf_counter() - t0, 0, type(exc).__name__))

    threads = [
        threading.Thread(target=worker, args=(k,), daemon=True, name=f"load-{k}")
        for k in range(concurrency)
    ]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + time_limit
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    samples = sorted((s for chunk in per_thread for s in chunk), key=lambda s: s.index)
    return Result(
        scenario,
        concurrency,
        samples,
        wall,
        frozenset(expected),
        timed_out=timed_out.is_set(),
    )


def machine_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all cores since boot, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


def observed(stack: Stack, endpoint: str | None, fn: Callable[[], Result]) -> Result:
    """Run ``fn()`` and attach Kassa's own mean time for ``endpoint`` and the CPU cost."""
    srv0 = server_seconds(stack.web_urls, endpoint) if endpoint else (0.0, 0)
    cpu0, ticks0 = stack.cpu_seconds(), machine_ticks()
    result = fn()
    cpu1, ticks1 = stack.cpu_seconds(), machine_ticks()
    srv1 = server_seconds(stack.web_urls, endpoint) if endpoint else (0.0, 0)
    if srv1[1] > srv0[1]:
        result.server_mean_ms = 1000 * (srv1[0] - srv0[0]) / (srv1[1] - srv0[1])
    n = max(1, len(result.samples))
    result.cpu_ms = {k: 1000 * (v - cpu0.get(k, 0.0)) / n for k, v in cpu1.items()}
    if ticks1[2] > ticks0[2]:
        result.machine_busy = (ticks1[0] - ticks0[0]) / (ticks1[2] - ticks0[2])
        result.steal = (ticks1[1] - ticks0[1]) / (ticks1[2] - ticks0[2])
    return result


def server_seconds(web_urls: Sequence[str], endpoint: str) -> tuple[float, int]:
    """Sum and count of Kassa's own ``kassa_http_request_seconds`` for one endpoint, over
    every web process (scraped from ``/metrics``)."""
    total, count = 0.0, 0
    for url in web_urls:
        try:
            text = requests.get(f"{url}/metrics", timeout=5).text
        except requests.RequestException:
            continue
        for line in text.splitlines():
            if f'endpoint="{endpoint}"' not in line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            if name.startswith("kassa_http_request_seconds_sum"):
                total += float(value)
            elif name.startswith("kassa_http_request_seconds_count"):
                count += int(float(value))
    return total, count


def print_table(title: str, results: Sequence[Result]) -> None:
    headers = [
        "scenario",
        "conc",
        "requests",
        "statuses",
        "fail",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "server ms",
    ]
    rows = []
    for r in results:
        s = r.summary()
        rows.append(
            [
                r.scenario + (" (time cap hit)" if r.timed_out else ""),
                str(r.concurrency),
                str(s["requests"]),
                " ".join(f"{k}x{v}" for k, v in s["statuses"].items()),
                str(s["failures"]),
                f"{s['throughput_rps']:.1f}",
                f"{s['p50_ms']:.1f}",
                f"{s['p95_ms']:.1f}",
                f"{s['p99_ms']:.1f}",
                f"{s['max_ms']:.1f}",
                "-" if s["server_mean_ms"] is None else f"{s['server_mean_ms']:.1f}",
            ]
        )
    print_rows(title, headers, rows)
    print(
        "server ms = mean of Kassa's own request timer (kassa_http_request_seconds) over the run",
        flush=True,
    )


def print_cpu_table(results: Sequence[Result]) -> None:
    groups = sorted({k for r in results for k in r.cpu_ms}, key=lambda k: (k == "bench", k))
    if groups in ([], ["bench"]):
        return  # not our stack: its processes are not ours to measure
    headers = ["scenario", "conc", *groups, "stack total", "machine busy", "steal"]
    rows = []
    for r in results:
        stack_total = sum(v for k, v in r.cpu_ms.items() if k != "bench")
        rows.append(
            [
                r.scenario,
                str(r.concurrency),
                *(f"{r.cpu_ms.get(g, 0.0):.2f}" for g in groups),
                f"{stack_total:.2f}",
                "-" if r.machine_busy is None else f"{100 * r.machine_busy:.0f}%",
                "-" if r.steal is None else f"{100 * r.steal:.0f}%",
            ]
        )
    print_rows("CPU milliseconds per request, by process group", headers, rows)
    print(
        f"machine busy = share of all {os.cpu_count()} cores in use during the run (any process"
        " on the machine, not only the stack); steal = share taken by the hypervisor",
        flush=True,
    )


def print_rows(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(f"\n{title}")
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def report_failures(results: Sequence[Result], limit: int = 5) -> int:
    """Print a few unexpected answers per scenario; returns how many there were in all."""
    total = 0
    for r in results:
        bad = [s for s in r.samples if s.status not in r.expected]
        total += len(bad)
        for s in bad[:limit]:
            detail = s.error or json.dumps(s.body)[:300]
            print(f"  unexpected in {r.scenario} c={r.concurrency}: #{s.index} {s.status} {detail}")
    return total


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {path}")
