"""One pooled connection, one transaction: everything a use case writes commits together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType

from psycopg import Connection, Pipeline, Transaction
from psycopg.rows import DictRow

from repos.api_keys import ApiKeyRepository
from repos.audit import AuditRepository
from repos.catalog import CatalogRepository
from repos.checkouts import CheckoutRepository
from repos.database import Database
from repos.events import StripeEventRepository
from repos.idempotency import IdempotencyRepository
from repos.inventory import InventoryRepository
from repos.merchant_events import MerchantEventRepository
from repos.order_events import OrderEventRepository
from repos.orders import OrderRepository
from repos.outbox import OutboxRepository
from repos.retention import RetentionRepository
from repos.secrets import SecretBox
from repos.shops import ShopRepository
from repos.stock_ledger import StockLedgerRepository


class UnitOfWork:
    """Commits when the block ends normally and rolls back when it raises.

    After a commit that wrote shops, ``shops_changed`` hears their ids (the composition
    root drops them from its shop cache).

    Repositories are bound to this unit's connection, so a use case cannot
    accidentally write outside the transaction it started.
    """

    shops: ShopRepository
    catalog: CatalogRepository
    inventory: InventoryRepository
    checkouts: CheckoutRepository
    orders: OrderRepository
    order_events: OrderEventRepository
    events: StripeEventRepository
    outbox: OutboxRepository
    audit: AuditRepository
    merchant_events: MerchantEventRepository
    api_keys: ApiKeyRepository
    idempotency: IdempotencyRepository
    stock_ledger: StockLedgerRepository
    retention: RetentionRepository

    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        shops_changed: Callable[[set[str]], None] | None = None,
    ) -> None:
        self._db = db
        self._secrets = secrets
        self._shops_changed = shops_changed
        self._conn_cm: AbstractContextManager[Connection[DictRow]] | None = None
        self._tx: AbstractContextManager[Transaction] | None = None

    def __enter__(self) -> UnitOfWork:
        self._conn_cm = self._db.pool.connection()
        conn = self._conn_cm.__enter__()
        self._tx = conn.transaction()
        self._tx.__enter__()
        self.conn = conn
        self.shops = ShopRepository(conn, self._secrets)
        self.catalog = CatalogRepository(conn)
        self.inventory = InventoryRepository(conn)
        self.checkouts = CheckoutRepository(conn)
        self.orders = OrderRepository(conn)
        self.order_events = OrderEventRepository(conn)
        self.events = StripeEventRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.audit = AuditRepository(conn)
        self.merchant_events = MerchantEventRepository(conn, self._secrets)
        self.api_keys = ApiKeyRepository(conn)
        self.idempotency = IdempotencyRepository(conn)
        self.stock_ledger = StockLedgerRepository(conn)
        self.retention = RetentionRepository(conn)
        return self

    def pipeline(self) -> AbstractContextManager[Pipeline]:
        """Writes inside this block are sent without waiting for each answer (psycopg's
        pipeline mode) and are all answered when it ends; a statement that is read back
        (``fetchone``) still waits for everything sent before it. An error surfaces at that
        point rather than at the statement that caused it, and rolls the whole unit back as
        usual, so only use it for writes whose failure nobody catches one by one."""
        return self.conn.pipeline()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tx is not None and self._conn_cm is not None
        try:
            self._tx.__exit__(exc_type, exc, tb)
        finally:
            self._conn_cm.__exit__(exc_type, exc, tb)
            self._tx = self._conn_cm = None
        if exc_type is None and self.shops.changed and self._shops_changed is not None:
            self._shops_changed(self.shops.changed)
