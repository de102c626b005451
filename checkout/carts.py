"""Cart use cases. The cart stores what and how many; every read reprices from the catalog."""

from __future__ import annotations

from checkout.errors import InvalidRequest, UnknownLine, UnknownSku
from checkout.ports import Services
from checkout.pricing import total_quantities, variant_of
from schemas.cart import (
    CartView,
    HydratedLine,
    InventoryItemResult,
    InventoryRequest,
    InventoryResult,
    ProductList,
    ProductView,
)
from schemas.records import Shop


def list_products(services: Services, shop: Shop) -> ProductList:
    with services.uow() as uow:
        rows = uow.catalog.products_with_availability(shop.id)
    return ProductList(
        products=[
            ProductView(
                sku=p.sku,
                name=p.name,
                unit_amount=p.unit_amount,
                currency=p.currency,
                attributes=p.attributes,
                available=max(available, 0),
            )
            for p, available in rows
        ]
    )


def view_cart(services: Services, shop: Shop, cart_id: str | None) -> CartView:
    lines = services.carts.lines(shop.id, cart_id) if cart_id else []
    skus = sorted({line.sku for line in lines})
    with services.uow() as uow:
        products = uow.catalog.products(shop.id, skus) if skus else {}
        available = uow.inventory.availability(shop.id, skus) if skus else {}
    hydrated = []
    for line in lines:
        product = products.get(line.sku)
        if product is None:  # delisted since it was added: it can no longer be bought
            continue
        hydrated.append(
            HydratedLine(
                line_key=line.line_key,
                sku=line.sku,
                name=product.name,
                variant=line.variant,
                attributes=product.attributes,
                quantity=line.quantity,
                unit_amount=product.unit_amount,
                line_total=product.unit_amount * line.quantity,
                available=max(available.get(line.sku, 0), 0),
            )
        )
    return CartView(
        cart_id=cart_id,
        currency=shop.currency,
        lines=hydrated,
        subtotal=sum(line.line_total for line in hydrated),
        item_count=sum(line.quantity for line in hydrated),
    )


def add_item(services: Services, shop: Shop, cart_id: str, sku: str, quantity: int) -> None:
    with services.uow() as uow:
        product = uow.catalog.products(shop.id, [sku]).get(sku)
    if product is None:
        raise UnknownSku(details={"sku": sku})
    if not services.carts.add(shop.id, cart_id, sku, variant_of(product), quantity):
        raise InvalidRequest("A cart line can hold at most 999 units.")


def set_quantity(
    services: Services, shop: Shop, cart_id: str | None, line_key: str, quantity: int
) -> None:
    if cart_id is None or not services.carts.set_quantity(shop.id, cart_id, line_key, quantity):
        raise UnknownLine()


def remove_item(services: Services, shop: Shop, cart_id: str | None, line_key: str) -> None:
    if cart_id is None or not services.carts.remove(shop.id, cart_id, line_key):
        raise UnknownLine()


def validate_inventory(
    services: Services, shop: Shop, request: InventoryRequest
) -> InventoryResult:
    """One query for all items. Unknown SKUs count as zero available: never fail open."""
    wanted = total_quantities((item.sku, item.quantity) for item in request.items)
    with services.uow() as uow:
        available = uow.inventory.availability(shop.id, sorted(wanted))
    items = [
        InventoryItemResult(
            sku=sku,
            requested=qty,
            available=max(available.get(sku, 0), 0),
            ok=available.get(sku, 0) >= qty,
        )
        for sku, qty in wanted.items()
    ]
    return InventoryResult(ok=all(i.ok for i in items), items=items)
