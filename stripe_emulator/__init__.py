"""A local, stateful Stripe for Kassa's development and tests; never for production.

The official SDK pointed at it cannot tell it apart from Stripe for the subset Kassa
uses, so idempotency, retry and webhook tests exercise real client behaviour.
"""

from stripe_emulator.server import EmulatorServer, serve

__all__ = ["EmulatorServer", "serve"]
