"""The outbox: every side effect is first a row here, written in the transaction that
caused it, so nothing is lost when Redis, a worker or the relay dies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from repos.base import Repository
from schemas.outbox import Message
from schemas.records import OutboxRow, OutboxState

Queued = tuple[Message, str, datetime | None]
"""A message to queue, its dedupe key, and when it becomes due (None: now)."""


class OutboxRepository(Repository):
    def add_message(
        self, message: Message, dedupe_key: str, available_at: datetime | None = None
    ) -> bool:
        """Queue a typed message once (its ``kind`` and shop come from the message itself);
        the same dedupe key twice is a no-op (returns False). This and ``add_messages`` are
        the only ways in: every payload is a validated ``schemas.outbox`` message, never a
        free-form dict."""
        payload = message.model_dump(mode="json")
        row = self.conn.execute(
            """
            INSERT INTO outbox (shop_id, kind, payload, dedupe_key, available_at)
            VALUES (%s, %s, %s, %s, COALESCE(%s, now()))
            ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
            """,
            (message.shop_id, payload["kind"], Jsonb(payload), dedupe_key, available_at),
        ).fetchone()
        return row is not None

    def add_messages(self, entries: Sequence[Queued]) -> None:
        """Queue several typed messages in one statement, each once (a dedupe key already
        there is skipped). Nothing is read back, so a pipelined transaction does not wait."""
        if not entries:
            return
        rows: list[object] = []
        for message, dedupe_key, available_at in entries:
            payload = message.model_dump(mode="json")
            rows += [message.shop_id, payload["kind"], Jsonb(payload), dedupe_key, available_at]
        values = ", ".join(["(%s, %s, %s, %s, COALESCE(%s::timestamptz, now()))"] * len(entries))
        self.conn.execute(
            "INSERT INTO outbox (shop_id, kind, payload, dedupe_key, available_at)"  # noqa: S608
            f" VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING",
            rows,
        )

    def claim_due(self, limit: int) -> list[OutboxRow]:
        """Pending rows whose time has come, marked enqueued; other relays skip them."""
        return self._all(
            OutboxRow,
            """
            UPDATE outbox SET state = 'enqueued', enqueued_at = now()
            WHERE id IN (
                SELECT id FROM outbox WHERE state = 'pending' AND available_at <= now()
                ORDER BY available_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING *
            """,
            (limit,),
        )

    def stale_enqueued(self, older_than_seconds: float, limit: int) -> list[OutboxRow]:
        """Rows handed to Redis long ago and never finished (Redis may have lost the job)."""
        return self._all(
            OutboxRow,
            """
            UPDATE outbox SET enqueued_at = now()
            WHERE id IN (
                SELECT id FROM outbox WHERE state = 'enqueued'
                AND enqueued_at < now() - make_interval(secs => %s)
                ORDER BY enqueued_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING *
            """,
            (older_than_seconds, limit),
        )

    def requeue_enqueued(self) -> int:
        """Every enqueued row back to pending, to be enqueued again now: Redis lost its jobs.
        A job that survived anyway finds its row done (or locked) and skips."""
        cur = self.conn.execute(
            "UPDATE outbox SET state = 'pending', enqueued_at = NULL WHERE state = 'enqueued'"
        )
        return cur.rowcount

    def refunds_requested(self, order_id: UUID, payment_intent_id: str | None = None) -> int:
        """Every refund ever queued for the order (or for one of its payments), whatever
        its state (a dead one may be replayed, so it still counts)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM((payload->>'amount')::bigint), 0)::bigint AS n FROM outbox"
            " WHERE kind = 'stripe.refund' AND payload->>'order_id' = %s"
            " AND (%s::text IS NULL OR payload->>'payment_intent_id' = %s)",
            (str(order_id), payment_intent_id, payment_intent_id),
        ).fetchone()
        return int(row["n"]) if row else 0

    def lock(self, row_id: int) -> OutboxRow | None:
        return self._one(OutboxRow, "SELECT * FROM outbox WHERE id = %s FOR UPDATE", (row_id,))

    def lock_of_kinds(self, row_ids: list[int], kinds: list[str]) -> list[OutboxRow]:
        """Lock those of the rows that are of one of ``kinds``, in id order (so two jobs
        holding overlapping groups never deadlock); the others are not touched."""
        return self._all(
            OutboxRow,
            "SELECT * FROM outbox WHERE id = ANY(%s) AND kind = ANY(%s) ORDER BY id FOR UPDATE",
            (row_ids, kinds),
        )

    def get(self, row_id: int) -> OutboxRow | None:
        return self._one(OutboxRow, "SELECT * FROM outbox WHERE id = %s", (row_id,))

    def mark_done(self, row_id: int) -> None:
        self.mark_many_done([row_id])

    def mark_many_done(self, row_ids: list[int]) -> None:
        """``done_at`` is the moment the effect was done (``clock_timestamp()``), not the
        start of its transaction (``now()``), which came before the Stripe or SMTP call."""
        if row_ids:
            self.conn.execute(
                "UPDATE outbox SET state = 'done', done_at = clock_timestamp(),"
                " attempts = attempts + 1,"
                " last_error = NULL WHERE id = ANY(%s)",
                (row_ids,),
            )

    def record_failure(self, row_id: int, error: str, *, dead: bool) -> None:
        """Count a failed attempt; the row stays enqueued (RQ retries it) or becomes dead."""
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s,"
            " state = CASE WHEN %s THEN 'dead' ELSE state END WHERE id = %s",
            (error[:500], dead, row_id),
        )

    def by_state(
        self,
        state: OutboxState,
        kind: str | None = None,
        limit: int = 500,
        shop_id: str | None = None,
    ) -> list[OutboxRow]:
        return self._all(
            OutboxRow,
            "SELECT * FROM outbox WHERE state = %s AND (%s::text IS NULL OR kind = %s)"
            " AND (%s::text IS NULL OR shop_id = %s) ORDER BY id LIMIT %s",
            (state, kind, kind, shop_id, shop_id, limit),
        )

    def for_shop(self, shop_id: str, kind: str | None = None) -> list[OutboxRow]:
        return self._all(
            OutboxRow,
            "SELECT * FROM outbox WHERE shop_id = %s AND (%s::text IS NULL OR kind = %s) ORDER BY id",
            (shop_id, kind, kind),
        )

    def replay(
        self, ids: list[int] | None, kind: str | None = None, shop_id: str | None = None
    ) -> list[int]:
        """Dead rows back to pending with a fresh attempt budget; None means every dead row
        (of every shop, unless ``shop_id`` names one)."""
        rows = self.conn.execute(
            """
            UPDATE outbox SET state = 'pending', attempts = 0, available_at = now(),
                enqueued_at = NULL
            WHERE state = 'dead' AND (%s::bigint[] IS NULL OR id = ANY(%s))
              AND (%s::text IS NULL OR kind = %s) AND (%s::text IS NULL OR shop_id = %s)
            RETURNING id
            """,
            (ids, ids, kind, kind, shop_id, shop_id),
        ).fetchall()
        return sorted(r["id"] for r in rows)

    def stats(self, shop_id: str | None = None) -> tuple[dict[str, int], float]:
        """Rows by state, and the age in seconds of the oldest pending row that is due (0 when
        none is): one pass over the table (or one shop's rows), for the metrics scrape and
        the merchant console."""
        rows = self.conn.execute(
            """
            SELECT state, count(*) AS n,
                   EXTRACT(EPOCH FROM now() - min(available_at)
                           FILTER (WHERE available_at <= now()))::float8 AS oldest
            FROM outbox WHERE (%s::text IS NULL OR shop_id = %s) GROUP BY state
            """,
            (shop_id, shop_id),
        ).fetchall()
        oldest = next((r["oldest"] for r in rows if r["state"] == "pending"), None)
        return {r["state"]: int(r["n"]) for r in rows}, max(0.0, float(oldest or 0.0))


class OutboxListener:
    """A dedicated autocommit connection that LISTENs on the ``outbox`` channel.

    Pooled connections are reset between borrowers, so the relay keeps this one apart;
    the trigger in 0001.schema.sql notifies whenever a row becomes pending.
    """

    CHANNEL = "outbox"

    def __init__(self, url: str, connect_timeout: int = 5) -> None:
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        self.conn.execute(f"LISTEN {self.CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a notification; True if any arrived (all
        pending ones are drained, since one pass of the relay serves them all)."""
        woke = False
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            woke = True
        if woke:  # psycopg hands over every notification already received at once, so
            for _ in self.conn.notifies(timeout=0):  # this catches only a straggler:
                pass  # pragma: no cover - one arriving in the microseconds after the first
        return woke

    def close(self) -> None:
        self.conn.close()
