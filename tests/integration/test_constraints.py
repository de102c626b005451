"""The database itself refuses impossible rows, whatever a bug in our code might try."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from kassa.bootstrap import Container
from ops.seed import seed_shop_in

Conn = psycopg.Connection[TupleRow]


@pytest.fixture
def conn(container: Container) -> Iterator[Conn]:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)
    c = psycopg.connect(container.settings.database_url, autocommit=True)
    yield c
    c.close()


def insert_checkout(conn: Conn, key: str, state: str = "open") -> uuid.UUID:
    cid = uuid.uuid4()
    conn.execute(
        """INSERT INTO checkouts (id, shop_id, idempotency_key, cart_hash, lines, subtotal, total,
           currency, state, expires_at, nonce_hash, claims_intent)
           VALUES (%s, 'demo', %s, 'h', '[]', 100, 100, 'usd', %s, now(), 'n', %s)""",
        (cid, key, state, state not in ("failed", "expired", "refunded")),
    )
    return cid


@pytest.mark.parametrize("reserved, on_hand", [(-1, 5), (6, 5)])
def test_reserved_must_stay_within_on_hand(conn: Conn, reserved: int, on_hand: int) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "UPDATE inventory_levels SET on_hand = %s, reserved = %s WHERE shop_id = 'demo'"
            " AND sku = 'MUG-WHITE'",
            (on_hand, reserved),
        )


def test_one_live_checkout_per_idempotency_key(conn: Conn) -> None:
    insert_checkout(conn, "k1")
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_checkout(conn, "k1")
    insert_checkout(conn, "k2", state="failed")
    insert_checkout(conn, "k2")  # a failed attempt frees the intent


def test_a_late_payment_does_not_take_the_intent_back(conn: Conn) -> None:
    lapsed = insert_checkout(conn, "k3", state="expired")
    insert_checkout(conn, "k3")  # the customer tried again
    conn.execute("UPDATE checkouts SET state = 'fulfilled' WHERE id = %s", (lapsed,))


@pytest.mark.parametrize("state, claims", [("open", False), ("expired", True)])
def test_the_intent_claim_follows_the_state(
    conn: Conn,
    state: str,
    claims: bool,
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="checkouts_intent_claim"):
        conn.execute(
            """INSERT INTO checkouts (id, shop_id, idempotency_key, cart_hash, lines, subtotal,
               total, currency, state, expires_at, nonce_hash, claims_intent)
               VALUES (%s, 'demo', 'k4', 'h', '[]', 100, 100, 'usd', %s, now(), 'n', %s)""",
            (uuid.uuid4(), state, claims),
        )


def insert_order(conn: Conn, checkout_id: uuid.UUID, session: str, ref: str) -> None:
    conn.execute(
        """INSERT INTO orders (id, reference, shop_id, checkout_id, stripe_checkout_session_id,
           status, subtotal, discount, shipping, total, currency, token_hash)
           VALUES (%s, %s, 'demo', %s, %s, 'paid', 100, 0, 0, 100, 'usd', 't')""",
        (uuid.uuid4(), ref, checkout_id, session),
    )


def test_an_order_inserted_without_its_window_takes_the_shops(conn: Conn) -> None:
    """A node of the previous release inserts orders without ``window_seconds`` (0105)."""
    conn.execute("UPDATE shops SET capture_window_seconds = 5400 WHERE id = 'demo'")
    insert_order(conn, insert_checkout(conn, "a"), "cs_1", "R1")
    row = conn.execute("SELECT window_seconds FROM orders WHERE reference = 'R1'").fetchone()
    assert row is not None and row[0] == 5400


def test_one_order_per_checkout_and_per_session(conn: Conn) -> None:
    c1, c2 = insert_checkout(conn, "a"), insert_checkout(conn, "b")
    insert_order(conn, c1, "cs_1", "R1")
    with pytest.raises(psycopg.errors.UniqueViolation, match="orders_checkout_id_key"):
        insert_order(conn, c1, "cs_2", "R2")
    with pytest.raises(
        psycopg.errors.UniqueViolation, match="orders_stripe_checkout_session_id_key"
    ):
        insert_order(conn, c2, "cs_1", "R3")


def test_outbox_dedupe_key_and_event_id_are_unique(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO outbox (shop_id, kind, payload, dedupe_key) VALUES ('demo', 'k', '{}', 'd1')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO outbox (shop_id, kind, payload, dedupe_key) VALUES ('demo', 'k', '{}', 'd1')"
        )
    conn.execute(
        "INSERT INTO stripe_events (event_id, shop_id, type) VALUES ('evt_1', 'demo', 't')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO stripe_events (event_id, shop_id, type) VALUES ('evt_1', 'demo', 't')"
        )


def test_money_columns_are_bigint_and_refuse_negatives(conn: Conn) -> None:
    rows = conn.execute(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE column_name IN ('unit_amount', 'amount', 'subtotal', 'total', 'discount',
                                 'shipping', 'line_total', 'refunded_amount', 'amount_off')
           AND table_schema = 'public'"""
    ).fetchall()
    assert rows and {r[2] for r in rows} == {"bigint"}
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE products SET unit_amount = -1 WHERE shop_id = 'demo'")


def test_currency_exponents_are_data(conn: Conn) -> None:
    exps: dict[str, int] = dict(conn.execute("SELECT code, exponent FROM currencies").fetchall())
    assert exps["jpy"] == 0 and exps["usd"] == 2 and exps["kwd"] == 3
