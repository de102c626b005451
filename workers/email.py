"""Order emails, read from Postgres when they are sent: an HTML part and a plain-text part
telling the same story as the order page (when, what, where to, how paid), delivered over
SMTP or, in development (``smtp_port == 0``), written as .eml files.

Each carries the order's signed link: opening it on any device sets the order cookie and
lands on the order page without the token in the address bar. Their text carries the
customer's name and address, so nothing here logs it.
"""

from __future__ import annotations

import os
import smtplib
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from pathlib import Path

from checkout import receipt
from checkout.money import format_amount
from checkout.orders import order_link_path
from schemas.records import OrderLineRecord, OrderRecord, Shop
from schemas.settings import Settings

SMTP_TIMEOUT_SECONDS = 10

CHANGE_TEXT = {
    "cancelled": (
        "Your order {ref} is cancelled",
        "Your order {ref} is cancelled. Any payment is released or refunded in full.",
    ),
    "capture_failed": (
        "Your order {ref} could not be completed",
        "We could not complete the payment for your order {ref}, so it is cancelled and "
        "nothing was charged.",
    ),
    "address_changed": (
        "Your order {ref}: new shipping address",
        "The shipping address of your order {ref} was changed.",
    ),
    "quantity_changed": ("Your order {ref} was changed", "Your order {ref} was changed."),
    "shipped": ("Your order {ref} is on its way", "Your order {ref} has been shipped."),
    "items_added": (
        "Your order {ref}: items added",
        "The items you added to your order {ref} are paid for and part of the order.",
    ),
}


@dataclass
class _Content:
    """One email's content, rendered twice (text and HTML) so the two parts never differ."""

    paragraphs: list[str]
    items: list[tuple[str, str]] = field(default_factory=list)
    totals: list[tuple[str, str]] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    payment: str | None = None


def _with_summary(
    content: _Content, order: OrderRecord, lines: list[OrderLineRecord], exponent: int
) -> _Content:
    def money(value: int) -> str:
        return format_amount(value, order.currency, exponent)

    content.items = [
        (f"{ln.quantity} x {ln.name} ({ln.sku})", money(ln.line_total)) for ln in lines
    ]
    content.totals = [("Subtotal", money(order.subtotal))]
    if order.discount:
        content.totals.append(("Discount", money(-order.discount)))
    content.totals += [("Shipping", money(order.shipping)), ("Total", money(order.total))]
    return content


def _text(greeting: str, c: _Content, link: str) -> str:
    body = [greeting, ""]
    for paragraph in c.paragraphs:
        body += [paragraph, ""]
    if c.items:
        body += [f"  {label}  {amount}" for label, amount in c.items]
        body += ["", *(f"{label}: {amount}" for label, amount in c.totals), ""]
    if c.address:
        body += ["Delivery to:", *(f"  {line}" for line in c.address), ""]
    if c.payment:
        body += [f"Payment: {c.payment}", ""]
    return "\n".join([*body, f"Your order: {link}", ""])


def _html(subject: str, greeting: str, c: _Content, link: str) -> str:
    """A simple table email, rendered alike by mail clients."""
    e = escape
    cell = 'style="padding:4px 12px 4px 0'
    parts = [f"<p>{e(greeting)}</p>", *(f"<p>{e(p)}</p>" for p in c.paragraphs)]
    if c.items:
        rows = "".join(
            f'<tr><td {cell}">{e(label)}</td><td {cell};text-align:right">{e(amount)}</td></tr>'
            for label, amount in c.items
        )
        sums = "".join(
            f'<tr><th scope="row" {cell};text-align:left">{e(label)}</th>'
            f'<td {cell};text-align:right">{e(amount)}</td></tr>'
            for label, amount in c.totals
        )
        parts.append(f'<h2>What you bought</h2><table role="presentation">{rows}</table>')
        parts.append(f"<table>{sums}</table>")
    if c.address:
        parts.append("<h2>Delivery to</h2><p>" + "<br>".join(e(ln) for ln in c.address) + "</p>")
    if c.payment:
        parts.append(f"<h2>Payment</h2><p>{e(c.payment)}</p>")
    parts.append(f'<p><a href="{e(link)}">View your order</a></p>')
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(subject)}</title>'
        '</head><body style="font-family:system-ui,sans-serif;color:#1d2330">'
        + "".join(parts)
        + "</body></html>"
    )


def _message(
    shop: Shop,
    order: OrderRecord,
    settings: Settings,
    message_key: str,
    subject: str,
    content: _Content,
) -> EmailMessage:
    """Its Message-ID comes from the outbox dedupe key, so a resend after a crash is
    recognisably the same message to the receiving side."""
    assert order.customer_email is not None
    greeting = f"Hello {order.customer_name}," if order.customer_name else "Hello,"
    link = shop.storefront_url.rstrip("/") + order_link_path(settings.secret_key, order)
    msg = EmailMessage()
    msg["From"] = formataddr((shop.name, settings.mail_from))
    msg["To"] = order.customer_email
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    domain = settings.mail_from.rpartition("@")[2] or "kassa.local"
    msg["Message-ID"] = f"<{message_key}@{domain}>"
    msg.set_content(_text(greeting, content, link))
    msg.add_alternative(_html(subject, greeting, content, link), "html")
    return msg


def confirmation(
    shop: Shop,
    order: OrderRecord,
    lines: list[OrderLineRecord],
    exponent: int,
    settings: Settings,
    message_key: str,
) -> EmailMessage:
    placed = receipt.placed_on(order.created_at, order.currency)
    paragraphs = [f"Thank you for your order {order.reference} at {shop.name}, placed on {placed}."]
    if order.status in ("paid", "authorized"):
        minutes = shop.capture_window_seconds // 60
        paragraphs.append(f"You can change or cancel it for {minutes} minutes after ordering.")
    content = _Content(
        paragraphs,
        address=receipt.address_lines(order.customer_name, order.shipping_address),
        payment=receipt.payment_note(order.status, 0),
    )
    _with_summary(content, order, lines, exponent)
    return _message(shop, order, settings, message_key, f"Your order {order.reference}", content)


def change(
    shop: Shop,
    order: OrderRecord,
    lines: list[OrderLineRecord],
    exponent: int,
    settings: Settings,
    message_key: str,
    what: str,
) -> EmailMessage:
    subject, text = CHANGE_TEXT[what]
    content = _Content([text.format(ref=order.reference)])
    if what in ("quantity_changed", "items_added"):
        _with_summary(content, order, lines, exponent)
    if what == "address_changed":
        content.address = receipt.address_lines(order.customer_name, order.shipping_address)
    if what == "shipped" and order.tracking_reference:
        content.paragraphs.append(f"Tracking reference: {order.tracking_reference}")
    return _message(
        shop, order, settings, message_key, subject.format(ref=order.reference), content
    )


def deliver(msg: EmailMessage, settings: Settings, file_name: str) -> None:
    """Send over SMTP, or write ``<mailbox_dir>/<file_name>.eml`` atomically (the same name
    twice overwrites, so the mailbox never shows a duplicate)."""
    if settings.smtp_port == 0:
        folder = Path(settings.mailbox_dir)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(msg))
        os.replace(tmp, folder / f"{file_name}.eml")
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        smtp.send_message(msg)
