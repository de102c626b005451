"""Cart use cases. The cart stores what and how many; every read reprices from the catalog."""

from __future__ import annotations

from checkout.errors import InvalidRequest, UnknownLine, UnknownSku
from checkout.ports import Services
from checkout.pricing import price_cart, total_quantities, variant_of
from schemas.cart import (
    CartQuote,
    CartView,
    HydratedLine,
    InventoryItemResult,
    InventoryRequest,
    InventoryResult,
    ProductList,
    ProductView,
)
from schemas.records import Product, Shop


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


def quote_cart(
    services: Services,
    shop: Shop,
    cart_id: str | None,
    shipping_option_id: str | None,
    coupon: str | None,
) -> CartQuote:
    """Shipping, discount and total before the payment page. An unknown shipping option falls
    back to the first one offered; an unknown coupon is priced without and flagged."""
    lines = services.carts.lines(shop.id, cart_id) if cart_id else []
    wanted = total_quantities((line.sku, line.quantity) for line in lines)
    with services.uow() as uow:
        options = uow.catalog.shipping_options(shop.id)
        found = uow.catalog.coupon(shop.id, coupon) if coupon else None
        products = uow.catalog.products(shop.id, sorted(wanted)) if wanted else {}
    shipping = next((o for o in options if o.id == shipping_option_id), None)
    priced = price_cart(
        shop.currency,
        {sku: qty for sku, qty in wanted.items() if sku in products},  # delisted: not sold
        products,
        shipping or (options[0] if options else None),
        found,
    )
    return CartQuote(
        priced=priced, shipping_options=options, coupon_rejected=bool(coupon) and found is None
    )


def add_item(services: Services, shop: Shop, cart_id: str, sku: str, quantity: int) -> Product:
    """Returns the product added, so the shopper can be told what went in."""
    with services.uow() as uow:
        product = uow.catalog.products(shop.id, [sku]).get(sku)
    if product is None:
        raise UnknownSku(details={"sku": sku})
    if not services.carts.add(shop.id, cart_id, sku, variant_of(product), quantity):
        raise InvalidRequest("A cart line can hold at most 999 units.")
    return product


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
