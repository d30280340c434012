"""One small keyword-only function per customer event type.

Every customer-facing change goes through one of these, inside the same transaction as the
change, so the timeline never shows something that did not happen (or misses what did).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.customers.models import Customer, CustomerEvent, EventType


def _event(
    *,
    customer: Customer | int,
    type: EventType,
    actor: User | None,
    data: dict[str, Any],
    occurred_at: dt.datetime | None = None,
) -> CustomerEvent:
    customer_id = customer if isinstance(customer, int) else customer.pk
    return CustomerEvent(
        customer_id=customer_id,
        type=type,
        actor=actor,
        data=data,
        occurred_at=occurred_at or clock.now(),
    )


def customer_created_event(*, customer: Customer, actor: User | None, source: str = "") -> None:
    _event(customer=customer, type=EventType.CREATED, actor=actor,
           data={"source": source}).save()


def customer_updated_event(*, customer: Customer, actor: User | None,
                           changes: dict[str, tuple[Any, Any]]) -> None:
    data = {"changes": {k: [str(a), str(b)] for k, (a, b) in changes.items()}}
    _event(customer=customer, type=EventType.UPDATED, actor=actor, data=data).save()


def customer_merged_event(*, survivor: Customer, merged: Customer, actor: User | None,
                          moved: dict[str, int]) -> None:
    data = {"merged_id": merged.pk, "merged_name": merged.name, "moved": moved}
    _event(customer=survivor, type=EventType.MERGED, actor=actor, data=data).save()


def note_added_event(*, customer: Customer, actor: User | None, note_id: int, category: str,
                     text: str, pinned: bool) -> None:
    data = {"note_id": note_id, "category": category, "text": text[:200], "pinned": pinned}
    _event(customer=customer, type=EventType.NOTE_ADDED, actor=actor, data=data).save()


def interaction_logged_event(*, customer: Customer, actor: User | None, interaction_id: int,
                             channel: str, subject: str, occurred_at: dt.datetime) -> None:
    data = {"interaction_id": interaction_id, "channel": channel, "subject": subject}
    _event(customer=customer, type=EventType.INTERACTION_LOGGED, actor=actor, data=data,
           occurred_at=occurred_at).save()


def order_events_bulk(*, orders: Iterable[tuple[int, int, str, dt.datetime, Decimal, str, bool]],
                      actor: User | None = None, batch_size: int = 5000) -> None:
    """Write order-placed / order-refunded events for many orders at once (imports).

    Each item is ``(customer_id, order_id, external_id, placed_at, total, currency, refund)``.
    """
    events = [
        _event(customer=cid,
               type=EventType.ORDER_REFUNDED if refund else EventType.ORDER_PLACED,
               actor=actor, occurred_at=placed_at,
               data={"order_id": oid, "external_id": ext, "total": str(total),
                     "currency": currency})
        for cid, oid, ext, placed_at, total, currency, refund in orders
    ]
    CustomerEvent.objects.bulk_create(events, batch_size=batch_size)


def consent_changed_event(*, customer: Customer, actor: User | None, channel: str, purpose: str,
                          granted: bool, source: str) -> None:
    data = {"channel": channel, "purpose": purpose, "granted": granted, "source": source}
    _event(customer=customer, type=EventType.CONSENT_CHANGED, actor=actor, data=data).save()


def owner_changed_event(*, customer: Customer, actor: User | None, old_owner: User | None,
                        new_owner: User | None) -> None:
    data = {
        "old_owner": old_owner.username if old_owner else None,
        "new_owner": new_owner.username if new_owner else None,
    }
    _event(customer=customer, type=EventType.OWNER_CHANGED, actor=actor, data=data).save()
