"""Order emails: plain text, read from Postgres when they are sent, delivered over SMTP
or, in development (``smtp_port == 0``), written as .eml files.

Each carries the order's signed link: opening it on any device sets the order cookie and
lands on the order page without the token in the address bar."""

from __future__ import annotations

import os
import smtplib
import tempfile
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

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


def _summary(order: OrderRecord, lines: list[OrderLineRecord], exponent: int) -> list[str]:
    def money(value: int) -> str:
        return format_amount(value, order.currency, exponent)

    body = [f"  {ln.quantity} x {ln.name} ({ln.sku})  {money(ln.line_total)}" for ln in lines]
    body += ["", f"Subtotal: {money(order.subtotal)}"]
    if order.discount:
        body.append(f"Discount: -{money(order.discount)}")
    body += [f"Shipping: {money(order.shipping)}", f"Total: {money(order.total)}", ""]
    return body


def _message(
    shop: Shop,
    order: OrderRecord,
    settings: Settings,
    message_key: str,
    subject: str,
    body: list[str],
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
    msg.set_content("\n".join([greeting, "", *body, f"Your order: {link}", ""]))
    return msg


def confirmation(
    shop: Shop,
    order: OrderRecord,
    lines: list[OrderLineRecord],
    exponent: int,
    settings: Settings,
    message_key: str,
) -> EmailMessage:
    body = [f"Thank you for your order {order.reference} at {shop.name}.", ""]
    body += _summary(order, lines, exponent)
    if order.status in ("paid", "authorized"):
        minutes = shop.capture_window_seconds // 60
        body += [f"You can change or cancel it for {minutes} minutes after ordering.", ""]
    return _message(shop, order, settings, message_key, f"Your order {order.reference}", body)


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
    body = [text.format(ref=order.reference), ""]
    if what in ("quantity_changed", "items_added"):
        body += _summary(order, lines, exponent)
    if what == "shipped" and order.tracking_reference:
        body += [f"Tracking reference: {order.tracking_reference}", ""]
    return _message(shop, order, settings, message_key, subject.format(ref=order.reference), body)


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
