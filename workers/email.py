"""The order confirmation email: plain text, read from Postgres when it is sent, delivered
over SMTP or, in development (``smtp_port == 0``), written as an .eml file."""

from __future__ import annotations

import os
import smtplib
import tempfile
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

from checkout.money import format_amount
from schemas.records import OrderLineRecord, OrderRecord, Shop
from schemas.settings import Settings

SMTP_TIMEOUT_SECONDS = 10


def confirmation(
    shop: Shop,
    order: OrderRecord,
    lines: list[OrderLineRecord],
    exponent: int,
    settings: Settings,
    message_key: str,
) -> EmailMessage:
    """The message for one order. Its Message-ID comes from the outbox dedupe key, so a
    resend after a crash is recognisably the same message to the receiving side."""
    assert order.customer_email is not None

    def money(value: int) -> str:
        return format_amount(value, order.currency, exponent)

    body = [f"Hello {order.customer_name}," if order.customer_name else "Hello,", ""]
    body += [f"Thank you for your order {order.reference} at {shop.name}.", ""]
    body += [f"  {ln.quantity} x {ln.name} ({ln.sku})  {money(ln.line_total)}" for ln in lines]
    body += ["", f"Subtotal: {money(order.subtotal)}"]
    if order.discount:
        body.append(f"Discount: -{money(order.discount)}")
    body += [f"Shipping: {money(order.shipping)}", f"Total: {money(order.total)}", ""]
    link = f"{shop.storefront_url.rstrip('/')}/orders/{order.reference}"
    body += [f"Your order: {link}", ""]

    msg = EmailMessage()
    msg["From"] = formataddr((shop.name, settings.mail_from))
    msg["To"] = order.customer_email
    msg["Subject"] = f"Your order {order.reference}"
    msg["Date"] = formatdate(localtime=False)
    domain = settings.mail_from.rpartition("@")[2] or "kassa.local"
    msg["Message-ID"] = f"<{message_key}@{domain}>"
    msg.set_content("\n".join(body))
    return msg


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
