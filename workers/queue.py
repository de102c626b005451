"""How an outbox row becomes an RQ job: the queue, the job id, the function and the retry
policy. The relay enqueues through here, and so do tests that enqueue a row twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from schemas.records import OutboxRow
from schemas.settings import Settings
from workers.retry import retry_for

QUEUE_NAME = "kassa"
JOB_FUNCTION = "workers.jobs.run_outbox_row"
JOB_TIMEOUT_SECONDS = 300
"""Longer than the worst in-process retry of a Stripe call (three 10 s tries, SDK retries)."""

RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600

_RQ_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def job_id_for(dedupe_key: str) -> str:
    """The row's dedupe key, which fulfilment builds from [A-Za-z0-9_-]; anything else
    (RQ refuses it) becomes a stable hash of the key."""
    if _RQ_SAFE_ID.fullmatch(dedupe_key):
        return dedupe_key
    return "outbox-" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]


def outbox_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def enqueue_rows(
    queue: Queue, rows: Sequence[OutboxRow], settings: Settings, pipeline: Pipeline | None = None
) -> list[Job]:
    """One job per row in one Redis transaction (all or none). RQ does not deduplicate job
    ids, so a row enqueued twice runs twice; the worker's row lock makes the second a no-op."""
    if not rows:
        return []
    unique = {job_id_for(r.dedupe_key): r for r in rows}
    jobs: list[Job] = queue.enqueue_many(
        [
            Queue.prepare_data(
                JOB_FUNCTION,
                args=(row.id,),
                job_id=job_id,
                timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=RESULT_TTL_SECONDS,
                failure_ttl=FAILURE_TTL_SECONDS,
                description=f"outbox {row.id} {row.kind}",
                retry=retry_for(settings),
            )
            for job_id, row in unique.items()
        ],
        pipeline=pipeline,
    )
    return jobs


def live_job_ids(queue: Queue, rows: Iterable[OutboxRow]) -> set[str]:
    """The rows' job ids that Redis will still run by itself: waiting in the queue, or
    scheduled for a retry. Anything else (lost with Redis, popped by a worker that died,
    failed for good) needs enqueueing again. The job's status alone cannot tell: a job
    popped by a worker killed a moment later still says ``queued``."""
    ids = [job_id_for(r.dedupe_key) for r in rows]
    if not ids:
        return set()
    scheduled = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
    pipe = queue.connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.lpos(queue.key, job_id)
        pipe.zscore(scheduled.key, job_id)
    found = pipe.execute()
    return {
        job_id
        for i, job_id in enumerate(ids)
        if found[2 * i] is not None or found[2 * i + 1] is not None
    }
