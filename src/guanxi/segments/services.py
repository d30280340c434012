"""Writes of the segments domain: create, change, freeze, add/remove customers, snapshots.

Each function is one transaction. Membership is always written set-based (``INSERT ... SELECT``
in the database), never by loading customers into Python: a rule segment may hold a million.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customers_visible
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine, Product
from guanxi.segments.errors import SegmentErrorCode
from guanxi.segments.models import (
    ORDER_WINDOWS,
    CategoryStats,
    OrderStats,
    OrderStatsRun,
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentMembership,
)
from guanxi.segments.rules import compile_rule, validate_rule
from guanxi.segments.selectors import can_create_segments, segment_customers
from guanxi.value.models import RunPath, ScoreRun
from guanxi.value.selectors import latest_run

MAX_NAME = 200


def _person(user: User) -> User | None:
    """Who to record as author: nobody for the command line's unsaved system administrator."""
    return user if user.pk is not None else None


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed(SegmentErrorCode.INVALID_FIELD, "A segment needs a name.",
                               field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed(SegmentErrorCode.INVALID_FIELD,
                               f"A segment name has at most {MAX_NAME} characters.",
                               field="name")
    return name


def _check_name_free(name: str, *, exclude: int | None = None) -> None:
    """Rule and list segments are picked by name (CLI, campaigns): one active segment per name.

    Statistical segments are not checked: a new build may suggest a name a list already has.
    """
    taken = Segment.objects.filter(name=name, is_active=True).exclude(
        kind=SegmentKind.STATISTICAL)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise Conflict(SegmentErrorCode.NAME_TAKEN, f"There is already a segment named {name!r}.",
                       field="name")


def segment_create(*, user: User, name: str, kind: str = SegmentKind.DYNAMIC,
                   definition: Any = None, description: str = "",
                   customer_ids: Iterable[int] = ()) -> Segment:
    """A new dynamic (rule) or static (list) segment; statistical ones come from a build."""
    if not can_create_segments(user):
        raise PermissionDenied(SegmentErrorCode.READ_ONLY, "You may not create segments.")
    name = _clean_name(name)
    if kind == SegmentKind.DYNAMIC:
        if definition is None:
            raise ValidationFailed(SegmentErrorCode.INVALID_RULE,
                                   "A dynamic segment needs a rule.", field="definition")
        validate_rule(definition)
    elif kind == SegmentKind.STATIC:
        if definition:
            raise ValidationFailed(SegmentErrorCode.INVALID_FIELD,
                                   "A static segment is a list of customers, it has no rule.",
                                   field="definition")
        definition = {}
    else:
        raise ValidationFailed(SegmentErrorCode.WRONG_KIND,
                               "Segments are created dynamic or static; statistical segments "
                               "come from a statistical build.", field="kind")
    now = clock.now()
    with transaction.atomic():
        _check_name_free(name)
        segment = Segment.objects.create(name=name, kind=kind, definition=definition,
                                         description=description, created_by=_person(user),
                                         created_at=now, updated_at=now)
        ids = list(customer_ids)
        if ids:
            if kind != SegmentKind.STATIC:
                raise ValidationFailed(SegmentErrorCode.WRONG_KIND,
                                       "Only a static segment takes a list of customers.",
                                       field="customer_ids")
            segment_add_customers(user=user, segment=segment, customer_ids=ids)
    return segment


def segment_update(*, user: User, segment: Segment, name: str | None = None,
                   description: str | None = None, definition: Any = None,
                   is_active: bool | None = None) -> Segment:
    """Change what the caller gives (the edge checked ``can_change_segment``)."""
    with transaction.atomic():
        if name is not None:
            name = _clean_name(name)
            if segment.kind != SegmentKind.STATISTICAL:
                _check_name_free(name, exclude=segment.pk)
            else:
                segment.renamed = True  # a person chose it: re-runs keep it
            segment.name = name
        if description is not None:
            segment.description = description
        if definition is not None:
            if segment.kind != SegmentKind.DYNAMIC:
                raise ValidationFailed(SegmentErrorCode.WRONG_KIND,
                                       "Only a dynamic segment has a rule.", field="definition")
            validate_rule(definition)
            segment.definition = definition
        if is_active is not None:
            if is_active and not segment.is_active and segment.kind != SegmentKind.STATISTICAL:
                _check_name_free(segment.name, exclude=segment.pk)
            segment.is_active = is_active
        segment.updated_at = clock.now()
        segment.save()
    return segment


def segment_delete(*, user: User, segment: Segment) -> None:
    """Delete the segment with its list and its snapshots (the edge checked the right)."""
    with transaction.atomic():
        segment.delete()


def _require_static(segment: Segment) -> None:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationFailed(SegmentErrorCode.WRONG_KIND,
                               f"{segment.name!r} is a {segment.kind} segment: only a static "
                               "segment's customers are added or removed by hand.",
                               field="segment")


def _visible_ids(user: User, customer_ids: list[int]) -> list[int]:
    ids = sorted(set(customer_ids))
    found = set(customers_visible(user=user).filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in found]
    if missing:
        shown = ", ".join(str(pk) for pk in missing[:10])
        raise NotFound(SegmentErrorCode.CUSTOMER_NOT_FOUND,
                       f"Customer(s) {shown} do not exist.", field="customer_ids")
    return ids


def segment_add_customers(*, user: User, segment: Segment, customer_ids: Iterable[int]) -> int:
    """Add customers the user may see to a static segment; returns how many were new."""
    _require_static(segment)
    ids = _visible_ids(user, list(customer_ids))
    now = clock.now()
    with transaction.atomic():
        before = SegmentMember.objects.filter(segment=segment).count()
        SegmentMember.objects.bulk_create(
            [SegmentMember(segment=segment, customer_id=pk, added_at=now,
                           added_by=_person(user)) for pk in ids],
            ignore_conflicts=True, batch_size=1000,
        )
        added = SegmentMember.objects.filter(segment=segment).count() - before
        Segment.objects.filter(pk=segment.pk).update(updated_at=now)
    return added


def segment_remove_customers(*, user: User, segment: Segment,
                             customer_ids: Iterable[int]) -> int:
    """Remove customers (that the user may see) from a static segment; returns how many."""
    _require_static(segment)
    ids = _visible_ids(user, list(customer_ids))
    with transaction.atomic():
        removed, _ = SegmentMember.objects.filter(segment=segment, customer_id__in=ids).delete()
        Segment.objects.filter(pk=segment.pk).update(updated_at=clock.now())
    return removed


def _ids(customers: QuerySet[Customer]) -> QuerySet[Any]:
    """The customers' ids as one column named ``member_id`` (Django names it ``id`` or ``pk``)."""
    return customers.order_by().annotate(member_id=F("pk")).values_list("member_id")


def _insert_select(table_columns: str, select: QuerySet[Any], constants: list[Any],
                   select_columns: str) -> int:
    """``INSERT INTO <table_columns> SELECT <constants>, <select_columns> FROM (<select>)``.

    On PostgreSQL the select goes into a temporary table first: an ``INSERT ... SELECT`` runs
    its select in one process, a ``CREATE TABLE ... AS`` may use parallel workers, and a
    segment's rule reads every customer while its members are few (the daily snapshot of nine
    segments over a million customers: 7.0 s -> 5.7 s).
    """
    sql, params = select.query.sql_with_params()
    holders = ", ".join(["%s"] * len(constants))
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMPORARY TABLE segments_selected ON COMMIT DROP AS "
                           f"SELECT * FROM ({sql}) m", params)
            sql, params = "SELECT * FROM segments_selected", ()
        cursor.execute(
            f"INSERT INTO {table_columns} SELECT {holders}, {select_columns} FROM ({sql}) m",
            [*constants, *params],
        )
        count = int(cursor.rowcount)
        if connection.vendor == "postgresql":
            cursor.execute("DROP TABLE segments_selected")
        return count


def segment_freeze(*, user: User, segment: Segment, name: str,
                   description: str = "") -> Segment:
    """A static copy of a segment's current members (those the user may see)."""
    if not can_create_segments(user):
        raise PermissionDenied(SegmentErrorCode.READ_ONLY, "You may not create segments.")
    name = _clean_name(name)
    now = clock.now()
    q = connection.ops.quote_name
    with transaction.atomic():
        _check_name_free(name)
        frozen = Segment.objects.create(
            name=name, kind=SegmentKind.STATIC, created_by=_person(user), created_at=now,
            updated_at=now,
            description=description or f"Frozen copy of {segment.name!r} on {now:%Y-%m-%d}.",
        )
        members = _ids(segment_customers(user=user, segment=segment))
        _insert_select(
            f"{q(SegmentMember._meta.db_table)} (segment_id, added_at, added_by_id, customer_id)",
            members, [frozen.pk, now, user.pk], "m.member_id",
        )
    return frozen


def _stats_shift_source(run: ScoreRun) -> ScoreRun | None:
    """The run the stored stats were computed for, when ``run`` saw exactly its orders.

    That is when ``run`` took the incremental path *from that run* (its fingerprint check found
    no order added, removed or changed up to that run's date and none placed since, and no
    customer added or removed): then only the windows' start dates have moved.
    """
    if run.path != RunPath.INCREMENTAL or connection.vendor != "postgresql":
        # The shift subtracts money in SQL: exact on PostgreSQL's numeric only.
        return None
    source_id = OrderStatsRun.objects.values_list("run_id", flat=True).first()
    if source_id is None:
        return None
    if (run.source or {}).get("from_run") != source_id or source_id == run.pk:
        return None
    source = ScoreRun.objects.filter(pk=source_id).first()
    if source is None or source.as_of > run.as_of:
        return None
    return source


def _stats_mark(run: ScoreRun) -> None:
    """Record that the order totals now end with ``run``'s date."""
    OrderStatsRun.objects.all().delete()
    OrderStatsRun.objects.create(run=run)


def _order_stats_shift(*, run: ScoreRun, source: ScoreRun) -> int:
    """Move ``source``'s stats to ``run``'s date: subtract the orders that left each window.

    Only the purchases between the old and the new start of each window are read (a day's worth
    for a daily run), and only the customers who made them are updated. The result equals a
    full rewrite because no order changed (``_stats_shift_source``); the last purchase of each
    category and the all-time totals do not move at all.
    """
    ops = connection.ops
    q = ops.quote_name
    table = q(OrderStats._meta.db_table)
    statuses = [str(s) for s in NOT_A_PURCHASE]
    with transaction.atomic(), connection.cursor() as cursor:
        if source.as_of < run.as_of:
            old = [clock.start_of_day(source.as_of - dt.timedelta(days=d))
                   for d in ORDER_WINDOWS]
            new = [clock.start_of_day(run.as_of - dt.timedelta(days=d)) for d in ORDER_WINDOWS]
            flat = [ops.adapt_datetimefield_value(v) for pair in zip(old, new, strict=True)
                    for v in pair]
            case = "SUM(CASE WHEN placed_at >= %s AND placed_at < %s THEN {} ELSE 0 END)"
            selects = [case.format("total") + f" AS s_{d}" for d in ORDER_WINDOWS] + [
                case.format("1") + f" AS n_{d}" for d in ORDER_WINDOWS]
            moved = ([f"spent_{d} = t.spent_{d} - x.s_{d}" for d in ORDER_WINDOWS]
                     + [f"orders_{d} = t.orders_{d} - x.n_{d}" for d in ORDER_WINDOWS])
            left = " OR ".join(["(placed_at >= %s AND placed_at < %s)"] * len(ORDER_WINDOWS))
            # Two statements: an UPDATE's own sub-select scans the orders in one process, a
            # CREATE TABLE AS may use parallel workers (1.9 -> 1.0 s over 11M orders).
            cursor.execute(
                f"CREATE TEMPORARY TABLE segments_shift ON COMMIT DROP AS"
                f" SELECT customer_id, {', '.join(selects)}"
                f" FROM {q(Order._meta.db_table)} WHERE ({left})"
                f" AND status NOT IN ({', '.join(['%s'] * len(statuses))})"
                f" GROUP BY customer_id", [*flat, *flat, *flat, *statuses])
            cursor.execute("ANALYZE segments_shift")
            cursor.execute(f"UPDATE {table} t SET {', '.join(moved)} FROM segments_shift x"
                           f" WHERE x.customer_id = t.customer_id")
            cursor.execute("DROP TABLE segments_shift")
        _stats_mark(run)
        return OrderStats.objects.count()


def order_stats_refresh(*, run: ScoreRun) -> int:
    """Rewrite ``OrderStats`` and ``CategoryStats`` from the purchases up to ``run``'s date.

    One grouped ``INSERT ... SELECT`` over the orders; windows are whole days of the company's
    time zone ending with the run's date (the same boundaries as the rules' periods).
    Refunded and cancelled orders are not purchases. Returns the customers with purchases.

    On PostgreSQL, when ``run`` is an incremental re-score of the run the stats are for (no
    order changed), the stats are moved to the new date instead (``_order_stats_shift``): the
    daily run then reads one day of orders, not all of them.
    """
    source = _stats_shift_source(run)
    if source is not None:
        return _order_stats_shift(run=run, source=source)
    ops = connection.ops
    q = ops.quote_name
    end = clock.start_of_day(run.as_of + dt.timedelta(days=1))
    starts = [clock.start_of_day(run.as_of - dt.timedelta(days=days)) for days in ORDER_WINDOWS]
    columns = [f"spent_{d}" for d in ORDER_WINDOWS] + ["spent_all"] + [
        f"orders_{d}" for d in ORDER_WINDOWS] + ["orders_all"]
    sums = ["SUM(CASE WHEN placed_at >= %s THEN total ELSE 0 END)" for _ in ORDER_WINDOWS]
    counts = ["SUM(CASE WHEN placed_at >= %s THEN 1 ELSE 0 END)" for _ in ORDER_WINDOWS]
    statuses = [str(s) for s in NOT_A_PURCHASE]
    sql = (
        f"INSERT INTO {q(OrderStats._meta.db_table)} (customer_id, {', '.join(columns)})"
        f" SELECT customer_id, {', '.join(sums)}, SUM(total), {', '.join(counts)}, COUNT(*)"
        f" FROM {q(Order._meta.db_table)}"
        f" WHERE placed_at < %s AND status NOT IN ({', '.join(['%s'] * len(statuses))})"
        f" GROUP BY customer_id"
    )
    times = [ops.adapt_datetimefield_value(t) for t in starts]
    params = [*times, *times, ops.adapt_datetimefield_value(end), *statuses]
    lines, products = q(OrderLine._meta.db_table), q(Product._meta.db_table)
    categories = (
        f"INSERT INTO {q(CategoryStats._meta.db_table)}"
        f" (customer_id, category, last_bought_at)"
        f" SELECT o.customer_id, p.category, MAX(o.placed_at)"
        f" FROM {q(Order._meta.db_table)} o JOIN {lines} l ON l.order_id = o.id"
        f" JOIN {products} p ON p.id = l.product_id"
        f" WHERE o.placed_at < %s AND o.status NOT IN ({', '.join(['%s'] * len(statuses))})"
        f" AND p.category <> '' GROUP BY o.customer_id, p.category"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A fresh file instead of a million dead rows for the insert to work around.
            cursor.execute(f"TRUNCATE {q(OrderStats._meta.db_table)},"
                           f" {q(CategoryStats._meta.db_table)}")
        else:
            cursor.execute(f"DELETE FROM {q(OrderStats._meta.db_table)}")
            cursor.execute(f"DELETE FROM {q(CategoryStats._meta.db_table)}")
        cursor.execute(sql, params)
        buyers = int(cursor.rowcount)
        cursor.execute(categories, [ops.adapt_datetimefield_value(end), *statuses])
        _stats_mark(run)
        return buyers


def snapshot_write(*, run: ScoreRun) -> dict[int, int]:
    """Store the members of every active dynamic and static segment in ``run``'s snapshot.

    Replaces what the run already had for those segments (statistical memberships are the
    statistical build's). Rules read the run's own values and dates, so a re-scored past date
    gets that date's members. Returns {segment id: members}.
    """
    latest = latest_run()
    if latest is not None and latest.pk == run.pk:
        # The rules' order-history windows read these; a past date sums the orders instead.
        order_stats_refresh(run=run)
    table = connection.ops.quote_name(SegmentMembership._meta.db_table)
    columns = f"{table} (run_id, segment_id, probability, is_primary, customer_id)"
    counts: dict[int, int] = {}
    segments = list(Segment.objects.filter(is_active=True,
                                           kind__in=[SegmentKind.DYNAMIC, SegmentKind.STATIC])
                    .order_by("pk"))
    with transaction.atomic():
        SegmentMembership.objects.filter(run=run, segment__in=[s.pk for s in segments]).delete()
        active = Customer.objects.filter(is_active=True)
        for segment in segments:
            if segment.kind == SegmentKind.DYNAMIC:
                flt: Q = compile_rule(segment.definition, today=run.as_of, run=run)
            else:
                flt = Q(pk__in=SegmentMember.objects.filter(segment=segment)
                        .values("customer_id"))
            members = _ids(active.filter(flt))
            # NULL and FALSE as SQL literals: a bound NULL in a SELECT list has no type.
            counts[segment.pk] = _insert_select(columns, members, [run.pk, segment.pk],
                                                "NULL, FALSE, m.member_id")
    return counts
