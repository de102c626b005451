"""Orders in the merchant console: the list (filters, pages), the order page, and its forms
(refund a line, an amount or the rest; mark shipped; cancel), each through the merchant
use cases, once per form, audited; refusals are shown on the page and change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from integration.merchant.console_support import CSRF, FORM_KEY, captured, login, new_key
from support import db

from kassa.bootstrap import Container
from workers.jobs import perform_row

Bought = Callable[..., dict[str, Any]]


def sign_in(client: Any, container: Container, shop: str = "demo") -> None:
    key, _ = new_key(container, shop)
    assert login(client, key).status_code == 303


def order_form(client: Any, reference: str) -> tuple[str, dict[str, str]]:
    """The order page's HTML and the hidden fields its forms share."""
    resp = client.get(f"/console/orders/{reference}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    token = captured(CSRF, html)
    key = captured(FORM_KEY, html).rsplit("-", 2)[0]
    return html, {"csrf_token": token, "form": key}


def post(client: Any, path: str, hidden: dict[str, str], name: str, **fields: Any) -> Any:
    data = {"csrf_token": hidden["csrf_token"], "idempotency_key": f"{hidden['form']}-{name}"}
    return client.post(path, data={**data, **{k: str(v) for k, v in fields.items()}})


def refund_rows(container: Container) -> list[tuple[int, int]]:
    import psycopg

    with psycopg.connect(container.settings.database_url) as conn:
        rows = conn.execute(
            "SELECT id, (payload->>'amount')::int FROM outbox WHERE kind = 'stripe.refund'"
            " ORDER BY id"
        ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_the_list_filters_and_pages_newest_first(
    client: Any, container: Container, bought: Bought
) -> None:
    refs = [bought(key=f"k{i}", quantity=1)["reference"] for i in range(3)]
    sign_in(client, container)
    html = client.get("/console/orders").get_data(as_text=True)
    assert re.findall(r'data-reference="([^"]+)"', html) == refs[::-1]
    one = client.get(f"/console/orders?reference={refs[1]}").get_data(as_text=True)
    assert re.findall(r'data-reference="([^"]+)"', one) == [refs[1]]
    none = client.get("/console/orders?status=cancelled").get_data(as_text=True)
    assert 'data-testid="no-orders"' in none
    assert client.get("/console/orders?cursor=nonsense").status_code == 422


def test_a_full_page_links_to_the_older_orders(
    client: Any, container: Container, bought: Bought, monkeypatch: Any
) -> None:
    monkeypatch.setattr("web.console.ORDERS_PER_PAGE", 2)
    refs = [bought(key=f"k{i}", quantity=1)["reference"] for i in range(3)]
    sign_in(client, container)
    html = client.get("/console/orders").get_data(as_text=True)
    older = re.search(r'href="([^"]+)" rel="next"', html)
    assert older and re.findall(r'data-reference="([^"]+)"', html) == refs[:0:-1]
    rest = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'data-reference="([^"]+)"', rest) == [refs[0]]
    assert 'rel="next"' not in rest


def test_refund_a_line_then_ship(client: Any, container: Container, bought: Bought) -> None:
    ref = bought(sku="MUG-WHITE", quantity=2)["reference"]
    sign_in(client, container)
    html, hidden = order_form(client, ref)
    assert 'data-testid="order-status">paid<' in html
    line_id = int(captured(r'data-line-id="(\d+)"', html))
    unit = db(container, "SELECT unit_amount FROM order_lines WHERE id = %s", line_id)

    path = f"/console/orders/{ref}/refund"
    resp = post(client, path, hidden, f"line-{line_id}", line_id=line_id, quantity=1)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("done=refunded")
    # The same form sent again (a double click) refunds once.
    again = post(client, path, hidden, f"line-{line_id}", line_id=line_id, quantity=1)
    assert again.status_code == 303
    [(row_id, amount)] = refund_rows(container)
    assert amount == unit
    assert perform_row(container, row_id) == "done"

    page = client.get(f"/console/orders/{ref}?done=refunded").get_data(as_text=True)
    assert "refund is on its way" in page
    assert re.search(r'data-testid="refunded">\$\d+\.\d\d<', page)
    assert db(container, "SELECT refunded_amount FROM payments") == unit

    _, hidden = order_form(client, ref)
    resp = post(client, f"/console/orders/{ref}/ship", hidden, "ship", tracking_reference="TRK-1")
    assert resp.status_code == 303
    assert db(container, "SELECT status FROM orders") == "fulfilled"
    assert db(container, "SELECT tracking_reference FROM orders") == "TRK-1"
    page = client.get(f"/console/orders/{ref}").get_data(as_text=True)
    assert 'data-what="fulfilled"' in page and "tracking TRK-1" in page
    assert 'data-testid="cancel-order"' not in page  # shipped orders are not cancelled
    kinds = db(
        container,
        "SELECT string_agg(kind || ' ' || actor, ',' ORDER BY id) FROM audit_events"
        " WHERE kind LIKE 'merchant.order.%%'",
    )
    assert re.fullmatch(
        r"merchant\.order\.refund api_key:\w+,merchant\.order\.fulfil api_key:\w+", kinds
    )


def test_refusals_are_shown_and_change_nothing(
    client: Any, container: Container, bought: Bought
) -> None:
    ref = bought(sku="MUG-WHITE", quantity=1)["reference"]
    total = db(container, "SELECT total FROM orders")
    sign_in(client, container)
    _, hidden = order_form(client, ref)
    path = f"/console/orders/{ref}/refund"

    too_much = f"{(total + 1) // 100}.{(total + 1) % 100:02d}"
    resp = post(client, path, hidden, "amount", amount=too_much)
    assert resp.status_code == 409 and "refundable" in resp.get_data(as_text=True).lower()
    for typed in ["abc", "1.234", "0", "-5"]:
        assert post(client, path, hidden, "amount", amount=typed).status_code == 422
    assert post(client, path, hidden, "line", line_id=1, quantity="x").status_code == 422
    resp = post(client, f"/console/orders/{ref}/ship", hidden, "ship", tracking_reference=" ")
    assert resp.status_code == 422
    assert refund_rows(container) == []
    assert db(container, "SELECT status FROM orders") == "paid"

    resp = post(client, path, hidden, "amount", amount="1.50")
    assert resp.status_code == 303 and [a for _, a in refund_rows(container)] == [150]


def test_cancel_from_the_order_page(client: Any, container: Container, bought: Bought) -> None:
    ref = bought(sku="MUG-WHITE", quantity=1)["reference"]
    sign_in(client, container)
    _, hidden = order_form(client, ref)
    resp = post(client, f"/console/orders/{ref}/cancel", hidden, "cancel")
    assert resp.status_code == 303
    assert db(container, "SELECT status FROM orders") == "cancelled"
    page = client.get(f"/console/orders/{ref}").get_data(as_text=True)
    assert 'data-testid="mark-shipped"' not in page and 'data-what="cancelled"' in page


def test_another_shops_order_is_not_found(
    client: Any, container: Container, bought: Bought
) -> None:
    ref = bought()["reference"]
    sign_in(client, container, "tokyo")
    assert ref not in client.get("/console/orders").get_data(as_text=True)
    assert client.get(f"/console/orders/{ref}").status_code == 404
    html = client.get("/console/stock").get_data(as_text=True)
    token = captured(CSRF, html)
    resp = client.post(f"/console/orders/{ref}/cancel", data={"csrf_token": token})
    assert resp.status_code == 404
    assert db(container, "SELECT status FROM orders") == "paid"
