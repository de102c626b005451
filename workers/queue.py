"""How outbox rows become RQ jobs: the groups, the job ids, the function and the retry
policy. The relay enqueues through here, and so do tests that enqueue a group twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import redis
from redis.typing import EncodableT, FieldT
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from schemas.records import OutboxRow
from schemas.settings import Settings
from workers.retry import retry_for

QUEUE_NAME = "kassa"
JOB_FUNCTION = "workers.jobs.run_outbox_rows"
JOB_TIMEOUT_SECONDS = 300
"""Longer than the worst in-process retry of a Stripe call (three 10 s tries, SDK retries)."""

RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600

JOB_OF_ROW_KEY = "kassa:outbox-job"
"""Redis hash: outbox row id -> the id of the RQ job that carries it, written in the same
pipeline as the job. The stale sweep asks Redis about that job; the job removes its rows
once they are finished. Lost with Redis exactly when the jobs are."""

REDIS_ONLY_KINDS = frozenset({"stock_mirror.decrement", "cart.clear"})
"""Kinds whose effect is a Redis command and writes nothing to Postgres: a job applies a
whole group of them in one transaction. Every other kind gets a transaction per row."""

_RQ_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def job_id_for(dedupe_key: str) -> str:
    """The row's dedupe key, which fulfilment builds from [A-Za-z0-9_-]; anything else
    (RQ refuses it) becomes a stable hash of the key."""
    if _RQ_SAFE_ID.fullmatch(dedupe_key):
        return dedupe_key
    return "outbox-" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]


def group_job_id(rows: Sequence[OutboxRow]) -> str:
    """Derived from the group alone, so enqueueing the same group again gives the same id.
    A group of one keeps its row's id (``job_id_for``)."""
    if len(rows) == 1:
        return job_id_for(rows[0].dedupe_key)
    ids = sorted(r.id for r in rows)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]
    return f"outbox-{ids[0]}-{len(ids)}-{digest}"


def group_rows(rows: Iterable[OutboxRow], settings: Settings) -> list[list[OutboxRow]]:
    """Rows of the same kind and shop, in id order, in groups of at most
    ``outbox_group_size`` (Redis-only kinds) or ``worker_threads`` (the rest)."""
    by_kind: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        by_kind.setdefault((row.kind, row.shop_id), []).append(row)
    groups = []
    for (kind, _), members in by_kind.items():
        size = settings.outbox_group_size if kind in REDIS_ONLY_KINDS else settings.worker_threads
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    return groups


def outbox_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def enqueue_rows(queue: Queue, rows: Sequence[OutboxRow], settings: Settings) -> list[Job]:
    """One job per group of rows (``group_rows``), all in one Redis transaction (all or
    none). RQ does not deduplicate job ids, so a row enqueued twice runs twice; the
    worker's row lock and the row's state make the second a no-op."""
    unique = {r.id: r for r in rows}
    if not unique:
        return []
    groups = group_rows(unique.values(), settings)
    retry = retry_for(settings)
    pipe = queue.connection.pipeline()
    job_of_row: dict[FieldT, EncodableT] = {}
    datas = []
    for group in groups:
        job_id = group_job_id(group)
        job_of_row.update({str(r.id): job_id for r in group})
        datas.append(
            Queue.prepare_data(
                JOB_FUNCTION,
                args=([r.id for r in group], group[0].shop_id),
                job_id=job_id,
                timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=RESULT_TTL_SECONDS,
                failure_ttl=FAILURE_TTL_SECONDS,
                description=f"outbox {group[0].kind} x{len(group)} from {group[0].id}",
                retry=retry,
            )
        )
    pipe.hset(JOB_OF_ROW_KEY, mapping=job_of_row)
    jobs: list[Job] = queue.enqueue_many(datas, pipeline=pipe)
    pipe.execute()
    return jobs


def forget_rows(connection: redis.Redis, row_ids: Sequence[int]) -> None:
    """Drop finished rows from the row -> job map."""
    if row_ids:
        connection.hdel(JOB_OF_ROW_KEY, *map(str, row_ids))


def live_rows(queue: Queue, rows: Iterable[OutboxRow]) -> set[int]:
    """The ids of the rows whose job Redis will still run by itself: waiting in the queue,
    or scheduled for a retry. Anything else (lost with Redis, popped by a worker that died,
    failed for good) needs enqueueing again. The job's status alone cannot tell: a job
    popped by a worker killed a moment later still says ``queued``."""
    rows = list(rows)
    if not rows:
        return set()
    mapped = queue.connection.hmget(JOB_OF_ROW_KEY, [str(r.id) for r in rows])
    job_of = {
        r.id: (m.decode() if isinstance(m, bytes) else m) or job_id_for(r.dedupe_key)
        for r, m in zip(rows, mapped, strict=True)
    }
    ids = sorted(set(job_of.values()))
    scheduled = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
    pipe = queue.connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.lpos(queue.key, job_id)
        pipe.zscore(scheduled.key, job_id)
    found = pipe.execute()
    alive = {
        job_id
        for i, job_id in enumerate(ids)
        if found[2 * i] is not None or found[2 * i + 1] is not None
    }
    return {row_id for row_id, job_id in job_of.items() if job_id in alive}
