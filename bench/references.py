"""Reference points for the outbox bench, measured in the same run on the same Postgres and
Redis: raw RQ (``enqueue_many``, and ``SimpleWorker`` processes draining trivial jobs) and
procrastinate (a Postgres-only job queue) draining trivial jobs.

The job bodies here do nothing, so the references carry none of the outbox's work (no row
lock, no effect, no ``done``): a conservative yardstick for Kassa's pipeline.

Worker processes run this module: ``python -m bench.references rq-worker REDIS_URL`` or
``python -m bench.references procrastinate-worker DATABASE_URL CONCURRENCY``. The
procrastinate parts need the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.registry import StartedJobRegistry

QUEUE = "kassa-reference"
CHUNK = 500


def noop(i: int) -> None:
    """The raw RQ job."""


def rq_queue(redis_url: str) -> Queue:
    return Queue(QUEUE, connection=redis.Redis.from_url(redis_url))


def rq_enqueue(queue: Queue, n: int, run: str) -> tuple[list[str], float]:
    """Enqueue ``n`` trivial jobs with ``enqueue_many`` in pipelines of ``CHUNK``; returns
    their ids and the jobs per second achieved."""
    ids = [f"ref-{run}-{i}" for i in range(n)]
    started = time.perf_counter()
    for at in range(0, n, CHUNK):
        queue.enqueue_many(
            [
                Queue.prepare_data("bench.references.noop", args=(i,), job_id=ids[i])
                for i in range(at, min(n, at + CHUNK))
            ]
        )
    return ids, n / (time.perf_counter() - started)


def rq_window(queue: Queue, ids: list[str]) -> float:
    """Seconds from the first job enqueued to the last one finished."""
    jobs = [
        j
        for at in range(0, len(ids), CHUNK)
        for j in Job.fetch_many(ids[at : at + CHUNK], connection=queue.connection)
    ]
    first = min(j.enqueued_at for j in jobs if j is not None and j.enqueued_at)
    last = max(j.ended_at for j in jobs if j is not None and j.ended_at)
    return (last - first).total_seconds()


def rq_workers_ready(queue: Queue) -> int:
    return Worker.count(queue=queue)


def rq_finished(queue: Queue, ids: list[str]) -> int:
    pipe = queue.connection.pipeline(transaction=False)
    for job_id in ids[-50:]:
        pipe.hget(Job.key_for(job_id), "status")
    statuses = pipe.execute()
    if any(s != b"finished" for s in statuses):
        return 0
    busy = StartedJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
    return len(ids) if queue.count == 0 and busy == 0 else 0


def procrastinate_app(database_url: str) -> Any:
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=database_url))

    @app.task(name="noop", queue=QUEUE)
    def noop_task(i: int) -> None:
        """The procrastinate job."""

    return app


def procrastinate_available() -> bool:
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        return False
    return True


def procrastinate_prepare(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
    if exists and exists[0]:
        return
    app = procrastinate_app(database_url)
    with app.open():
        app.schema_manager.apply_schema()


def procrastinate_defer(database_url: str, first: int, n: int) -> None:
    app = procrastinate_app(database_url)
    with app.open():
        task = app.tasks["noop"]
        for at in range(first, first + n, CHUNK):
            task.batch_defer(*[{"i": i} for i in range(at, min(first + n, at + CHUNK))])


def procrastinate_counts(database_url: str, first: int) -> tuple[int, float]:
    """Jobs with ``i >= first`` succeeded, and the seconds from the first of them deferred
    to the last succeeded."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        done = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s"
            " AND status = 'succeeded' AND (args->>'i')::int >= %s",
            (QUEUE, first),
        ).fetchone()
        window = conn.execute(
            """
            SELECT extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded')
                   - min(e.at) FILTER (WHERE e.type = 'deferred'))::float8
            FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id
            WHERE j.queue_name = %s AND (j.args->>'i')::int >= %s
            """,
            (QUEUE, first),
        ).fetchone()
    return int(done[0] if done else 0), float(window[0] if window and window[0] else 0.0)


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    if argv[:1] == ["rq-worker"]:
        SimpleWorker([QUEUE], connection=redis.Redis.from_url(argv[1])).work(
            logging_level="WARNING"
        )
        return 0
    if argv[:1] == ["procrastinate-worker"]:
        app = procrastinate_app(argv[1])
        with app.open():
            app.run_worker(queues=[QUEUE], concurrency=int(argv[2]), wait=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
