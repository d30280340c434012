"""Writes to orders: each function is one atomic change plus its customer event."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.core.money import quantize
from guanxi.customers import events
from guanxi.customers.models import Customer
from guanxi.sales.errors import SalesErrorCode
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderStatus


def order_create(
    *,
    actor: User | None,
    customer: Customer,
    placed_at: dt.datetime,
    total: Decimal,
    currency: str | None = None,
    external_id: str | None = None,
    channel: str = "",
    status: OrderStatus | str = OrderStatus.COMPLETED,
) -> Order:
    """Record one order of ``customer`` with its timeline event.

    A purchase (not refunded or cancelled) moves ``Customer.last_purchase_at`` forward, never
    back: an order keyed in late must not make a regular look as if they had lapsed.
    Without ``external_id`` the order gets a generated number, so a client that has none can
    still post orders (but then cannot re-send one idempotently).
    """
    if placed_at.tzinfo is None or placed_at.utcoffset() is None:
        raise ValidationFailed(SalesErrorCode.NAIVE_TIME,
                               "placed_at needs a time zone offset, e.g. "
                               "2025-03-01T10:00:00+08:00.",
                               field="placed_at")
    if not isinstance(total, Decimal) or not total.is_finite():
        raise ValidationFailed(SalesErrorCode.INVALID_AMOUNT, "The total must be a number.",
                               field="total")
    if total < 0:
        raise ValidationFailed(SalesErrorCode.INVALID_AMOUNT,
                               "The total may not be negative; record a refund as its own status.",
                               field="total")
    currency = (currency or settings.GUANXI_DEFAULT_CURRENCY).upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise ValidationFailed(SalesErrorCode.INVALID_CURRENCY,
                               f"Not an ISO 4217 currency code: {currency!r}.", field="currency")
    if status not in OrderStatus.values:
        raise ValidationFailed(SalesErrorCode.INVALID_STATUS, f"Unknown order status {status!r}.",
                               field="status")
    if not customer.is_active:
        raise Conflict(SalesErrorCode.CUSTOMER_MERGED,
                       f"Customer {customer.pk} was merged into customer "
                       f"{customer.merged_into_id}; record the order there.",
                       field="customer_id")
    external_id = (external_id or "").strip() or f"api-{uuid.uuid4().hex}"
    if Order.objects.filter(external_id=external_id).exists():
        raise Conflict(SalesErrorCode.ORDER_EXISTS,
                       f"An order numbered {external_id!r} exists already.", field="external_id")
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer=customer, external_id=external_id, placed_at=placed_at,
                total=quantize(total), currency=currency, channel=channel, status=status,
            )
            if status not in NOT_A_PURCHASE:
                # One conditional UPDATE, not read-modify-write: two orders posted at once for
                # the same customer must both be able to move the date, whichever commits last.
                Customer.objects.filter(
                    Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=placed_at),
                    pk=customer.pk,
                ).update(last_purchase_at=placed_at)
            events.order_events_bulk(
                orders=[(customer.pk, order.pk, order.external_id, placed_at, order.total,
                         currency, status == OrderStatus.REFUNDED)],
                actor=actor,
            )
    except IntegrityError:
        # The same number posted twice at the same moment: the unique constraint decides.
        raise Conflict(SalesErrorCode.ORDER_EXISTS,
                       f"An order numbered {external_id!r} exists already.",
                       field="external_id") from None
    return order
