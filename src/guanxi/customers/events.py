"""One small keyword-only function per customer event type.

Every customer-facing change goes through one of these, inside the same transaction as the
change, so the timeline never shows something that did not happen (or misses what did).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.customers.models import Customer, CustomerEvent, EventType

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

T = TypeVar("T")


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


_PLAIN_TEXT = re.compile(r'[^"\\\x00-\x1f\x7f\u2028\u2029]*')


def _json_text(value: str) -> str:
    """A JSON string literal; the common plain text (an order number) without the encoder."""
    if _PLAIN_TEXT.fullmatch(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def order_event_rows(
    *, orders: Iterable[tuple[int, int, str, T, Decimal, str, bool]],
    actor_id: int | None = None,
) -> Iterator[tuple[int, str, T, int | None, str]]:
    """The events of ``order_events_bulk`` as plain rows, for writers that stream them.

    Each row is ``(customer_id, type, occurred_at, actor_id, data)`` with ``data`` as JSON
    text and ``occurred_at`` as given (the import passes it already as the database column
    wants it): the import writes millions of them with COPY (PostgreSQL) or ``executemany``
    (SQLite) instead of building model objects, and this keeps what an order event says in
    this one place. The JSON is what ``json.dumps(data, ensure_ascii=False)`` writes for the
    same data.
    """
    placed, refunded = EventType.ORDER_PLACED.value, EventType.ORDER_REFUNDED.value
    for cid, oid, ext, placed_at, total, currency, refund in orders:
        yield (cid, refunded if refund else placed, placed_at, actor_id,
               f'{{"order_id": {oid}, "external_id": {_json_text(ext)}, '
               f'"total": "{total}", "currency": {_json_text(currency)}}}')


def order_events_from_orders(*, first_order_id: int, last_order_id: int,
                             actor_id: int | None = None) -> None:
    """The events of ``order_event_rows`` for the just-written orders with ids in
    ``[first_order_id, last_order_id]``, built by the database from the stored orders.

    The order import reserves a block of order ids per chunk, so its new orders are one id
    range: one ``INSERT ... SELECT`` writes their events without sending them back over the
    wire (on PostgreSQL building the JSON there also spares the server parsing it). The data
    is the same as ``order_event_rows`` writes: the total as text with its two decimals
    (SQLite keeps it as a number, so ``printf`` writes the two decimals back), a refunded
    order's event is ``order_refunded``. Events are written in order-id order.
    """
    from django.db import connection

    from guanxi.sales.models import Order, OrderStatus  # sales builds on customers

    quote = connection.ops.quote_name
    events, orders = quote(CustomerEvent._meta.db_table), quote(Order._meta.db_table)
    if connection.vendor == "postgresql":
        data = ("jsonb_build_object('order_id', id, 'external_id', external_id, "
                "'total', total::text, 'currency', currency)")
        actor = "%s::bigint"
    else:
        # The text json.dumps writes for the same data (spaces included); json_quote escapes
        # like it, leaving non-ASCII text as it is (ensure_ascii=False).
        data = ("'{\"order_id\": ' || id || ', \"external_id\": ' || json_quote(external_id) "
                "|| ', \"total\": \"' || printf('%%.2f', total) || '\", \"currency\": ' "
                "|| json_quote(currency) || '}'")
        actor = "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} (customer_id, type, occurred_at, actor_id, data) "
            f"SELECT customer_id, CASE WHEN status = %s THEN %s ELSE %s END, placed_at, "
            f"{actor}, {data} FROM {orders} WHERE id BETWEEN %s AND %s ORDER BY id",
            [OrderStatus.REFUNDED.value, EventType.ORDER_REFUNDED.value,
             EventType.ORDER_PLACED.value, actor_id, first_order_id, last_order_id])


_JSON_UNSAFE = r'["\\\x00-\x1f]'  # what a JSON string would have to escape


def order_events_copy(*, customer_ids: npt.NDArray[np.int64], order_ids: npt.NDArray[np.int64],
                      external_ids: pa.Array, cents: npt.NDArray[np.int64],
                      currencies: pa.Array, refunded: npt.NDArray[np.bool_],
                      occurred_us: npt.NDArray[np.int64], actor_id: int | None) -> bool:
    """``order_events_from_orders`` for orders given as arrays (PostgreSQL, the order import's
    fast lane): the events are sent by binary COPY, their JSON made from the arrays, so the
    server neither reads the orders back nor builds the JSON (a fifth of its work for an
    event). The data is what ``order_event_rows`` writes. Returns False, writing nothing,
    when an order number or a currency would need escaping in JSON: the caller then writes
    them with ``order_events_from_orders``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from django.db import connection

    from guanxi.core import pgcopy

    for text in (external_ids, currencies):
        if len(text) and pc.any(pc.match_substring_regex(text, _JSON_UNSAFE)).as_py():
            return False
    n = len(order_ids)
    magnitude = np.abs(cents)
    # The total as ``numeric::text`` writes it: sign, whole part, "." and two decimals.
    total = pc.binary_join_element_wise(
        pa.array(np.where(cents < 0, "-", "")),
        pc.binary_join_element_wise(
            pa.array(magnitude // 100).cast(pa.string()),
            pc.utf8_lpad(pa.array(magnitude % 100).cast(pa.string()), width=2, padding="0"),
            "."), "")
    data = pc.binary_join_element_wise(
        "\x01{\"order_id\": ", pa.array(order_ids).cast(pa.string()), ", \"external_id\": \"",
        external_ids, "\", \"total\": \"", total, "\", \"currency\": \"", currencies, "\"}", "")
    columns = [
        pgcopy.int8(customer_ids), pgcopy.timestamptz_micros(occurred_us),
        pgcopy.int8(np.full(n, actor_id or 0, dtype=np.int64),
                    null=np.full(n, actor_id is None)),
        pgcopy.text(refunded.astype(np.intp),
                    [EventType.ORDER_PLACED.value, EventType.ORDER_REFUNDED.value]),
        pgcopy.arrow_strings(data),
    ]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        pgcopy.copy(cursor.cursor, quote(CustomerEvent._meta.db_table),
                    [quote(c) for c in ("customer_id", "occurred_at", "actor_id", "type", "data")],
                    columns)
    return True


def customers_created_events_bulk(*, customer_ids: Iterable[int], actor: User | None,
                                  source: str = "", batch_size: int = 5000) -> None:
    """``customer_created_event`` for many customers at once (imports)."""
    CustomerEvent.objects.bulk_create(
        [_event(customer=cid, type=EventType.CREATED, actor=actor, data={"source": source})
         for cid in customer_ids], batch_size=batch_size)


def interactions_logged_events_bulk(
    *, interactions: Iterable[tuple[int, int, str, str, dt.datetime]], actor: User | None,
    batch_size: int = 5000,
) -> None:
    """``interaction_logged_event`` for many interactions at once (imports).

    Each item is ``(customer_id, interaction_id, channel, subject, occurred_at)``.
    """
    CustomerEvent.objects.bulk_create(
        [_event(customer=cid, type=EventType.INTERACTION_LOGGED, actor=actor,
                occurred_at=occurred_at,
                data={"interaction_id": iid, "channel": channel, "subject": subject})
         for cid, iid, channel, subject, occurred_at in interactions], batch_size=batch_size)


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


def score_changed_events_bulk(*, changes: Iterable[tuple[int, str, str, str, str]],
                              as_of: dt.date, occurred_at: dt.datetime,
                              batch_size: int = 5000) -> None:
    """Write score-changed events for many customers at once (the value engine's runs).

    Each item is ``(customer_id, old_stage, new_stage, old_tier, new_tier)``.
    """
    batch: list[CustomerEvent] = []
    for cid, old_stage, new_stage, old_tier, new_tier in changes:
        batch.append(_event(customer=cid, type=EventType.SCORE_CHANGED, actor=None,
                            occurred_at=occurred_at,
                            data={"as_of": as_of.isoformat(),
                                  "lifecycle_stage": [old_stage, new_stage],
                                  "value_tier": [old_tier, new_tier]}))
        if len(batch) >= batch_size:
            CustomerEvent.objects.bulk_create(batch)
            batch.clear()
    if batch:
        CustomerEvent.objects.bulk_create(batch)


def churn_alerts_raised_events_bulk(
    *, alerts: Iterable[tuple[int, str, dict[str, Any], str]], occurred_at: dt.datetime,
) -> None:
    """Churn alerts raised by the daily run; each item ``(customer_id, reason, params, severity)``.

    Written as plain rows (COPY on PostgreSQL): the first run over a large base raises
    hundreds of thousands at once.
    """
    kind = EventType.CHURN_ALERT_RAISED.value
    _write_event_rows(
        (cid, kind, occurred_at, None,
         json.dumps({"reason": reason, "params": params, "severity": severity},
                    ensure_ascii=False))
        for cid, reason, params, severity in alerts)


def _write_event_rows(rows: Iterable[tuple[int, str, dt.datetime, int | None, str]]) -> None:
    """Insert ``(customer_id, type, occurred_at, actor_id, data JSON)`` rows without models."""
    from django.db import connection

    table = connection.ops.quote_name(CustomerEvent._meta.db_table)
    cols = "customer_id, type, occurred_at, actor_id, data"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES (%s, %s, %s, %s, %s)",
                           [(c, t, adapt(at), a, d) for c, t, at, a, d in rows])


def churn_alerts_closed_events_bulk(
    *, alerts: Iterable[tuple[int, str, str]], actor: User | None, occurred_at: dt.datetime,
    batch_size: int = 5000,
) -> None:
    """Churn alerts closed (won back by the daily run, lost / dismissed by a person);
    each item ``(customer_id, outcome, note)``."""
    CustomerEvent.objects.bulk_create(
        [_event(customer=cid, type=EventType.CHURN_ALERT_CLOSED, actor=actor,
                occurred_at=occurred_at, data={"outcome": outcome, "note": note[:200]})
         for cid, outcome, note in alerts], batch_size=batch_size)


def key_account_plan_changed(*, customer: Customer, actor: User | None, action: str,
                             plan: dict[str, Any], changes: dict[str, list[Any]]) -> None:
    """A key-account plan was created or changed (``action``); ``plan`` is its state after,
    ``changes`` maps each changed field to ``[before, after]``."""
    _event(customer=customer, type=EventType.KEY_ACCOUNT_PLAN_CHANGED, actor=actor,
           data={"action": action, "plan": plan, "changes": changes}).save()
