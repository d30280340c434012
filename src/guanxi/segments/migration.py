"""Segment migration: who moved from which segment to which between two score snapshots.

A *scheme* says what a customer's segment is in a snapshot:

- ``stage``, ``tier``, ``rfm``: the lifecycle stage, value tier or RFM segment stored in the run's
  ``CustomerScore`` rows;
- ``statistical``: the customer's primary statistical segment in the run's ``SegmentMembership``;
- ``rules``: the first of a given list of rule (or list) segments the customer was in, in the
  run's snapshot.

A customer with no label in a snapshot (not a customer yet, no tier, in none of the segments) is
in ``none``. The transition matrix is one grouped SQL query over the two snapshots — a full
outer join of the runs' scores on the customer — giving per cell the number of customers and the
sum of their CLV at both ends ("value moved"). The customers behind a cell are read with the same
query, filtered, in keyset pages.

Everything is limited to the customers the person may see: a rep's matrix is of their own book.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from guanxi.accounts.models import User
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.core.pagination import MAX_PAGE_SIZE
from guanxi.customers.models import Customer, LifecycleStage, ValueTier
from guanxi.customers.selectors import customers_visible
from guanxi.segments.errors import SegmentErrorCode
from guanxi.segments.models import Segment, SegmentKind, SegmentMembership
from guanxi.segments.selectors import sees_every_customer
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

SCHEMES = ("stage", "tier", "rfm", "statistical", "rules")
NONE = "none"


@dataclasses.dataclass(frozen=True)
class Cell:
    source: str
    target: str
    count: int
    value_from: Decimal
    value_to: Decimal

    @property
    def value_change(self) -> Decimal:
        return self.value_to - self.value_from


@dataclasses.dataclass
class Migration:
    from_run: ScoreRun
    to_run: ScoreRun
    scheme: str
    # Label key -> display name, in display order; both sides share the keys.
    labels: dict[str, str]
    cells: list[Cell]

    def cell(self, source: str, target: str) -> Cell | None:
        return next((c for c in self.cells if c.source == source and c.target == target), None)

    def matrix(self) -> dict[str, dict[str, int]]:
        """{from label: {to label: customers}} (cells with nobody left out)."""
        out: dict[str, dict[str, int]] = {}
        for c in self.cells:
            out.setdefault(c.source, {})[c.target] = c.count
        return out

    def sankey(self) -> dict[str, Any]:
        """Nodes (each label on each side that has customers) and links between them."""
        used_from = {c.source for c in self.cells}
        used_to = {c.target for c in self.cells}
        nodes: list[dict[str, Any]] = []
        index: dict[tuple[str, str], int] = {}
        for side, used in (("from", used_from), ("to", used_to)):
            for key, name in self.labels.items():
                if key in used:
                    index[(side, key)] = len(nodes)
                    nodes.append({"id": f"{side}:{key}", "key": key, "label": name,
                                  "side": side})
        links = [{"source": index[("from", c.source)], "target": index[("to", c.target)],
                  "count": c.count, "value_from": str(c.value_from),
                  "value_to": str(c.value_to)} for c in self.cells]
        return {"nodes": nodes, "links": links}

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "from": {"run": self.from_run.pk, "as_of": self.from_run.as_of.isoformat()},
            "to": {"run": self.to_run.pk, "as_of": self.to_run.as_of.isoformat()},
            "labels": [{"key": k, "label": v} for k, v in self.labels.items()],
            "cells": [{"from": c.source, "to": c.target, "count": c.count,
                       "value_from": str(c.value_from), "value_to": str(c.value_to)}
                      for c in self.cells],
            "sankey": self.sankey(),
        }


def migration_runs(*, from_date: Any = None, to_date: Any = None) -> tuple[ScoreRun, ScoreRun]:
    """The two snapshots to compare: the given dates, by default the two latest complete runs."""
    complete = ScoreRun.objects.filter(status=RunStatus.COMPLETE).order_by("-as_of", "-id")

    def by_date(day: Any, field: str) -> ScoreRun:
        run = complete.filter(as_of=day).first()
        if run is None:
            raise NotFound(SegmentErrorCode.RUN_NOT_FOUND,
                           f"There is no complete scoring run for {day}.", field=field)
        return run

    to_run = by_date(to_date, "to") if to_date is not None else complete.first()
    if to_run is None:
        raise NotFound(SegmentErrorCode.NOT_ENOUGH_RUNS,
                       "Migration needs two scoring runs; there is none yet.")
    if from_date is not None:
        from_run = by_date(from_date, "from")
    else:
        earlier = complete.filter(as_of__lt=to_run.as_of).first()
        if earlier is None:
            raise NotFound(SegmentErrorCode.NOT_ENOUGH_RUNS,
                           f"Migration needs a scoring run before {to_run.as_of}; "
                           "score again on a later date.", field="from")
        from_run = earlier
    if from_run.as_of >= to_run.as_of:
        raise ValidationFailed(SegmentErrorCode.INVALID_SCHEME,
                               "The first snapshot must be older than the second.", field="from")
    return from_run, to_run


@dataclasses.dataclass
class _Query:
    sql: str
    params: list[Any]
    labels: dict[str, str]


def _check_scheme(scheme: str, segments: Sequence[Segment] | None) -> list[Segment]:
    if scheme not in SCHEMES:
        raise ValidationFailed(SegmentErrorCode.INVALID_SCHEME,
                               f"Unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}.",
                               field="scheme")
    if scheme == "rules":
        if not segments:
            raise ValidationFailed(SegmentErrorCode.INVALID_SCHEME,
                                   "The rules scheme needs a list of segments.",
                                   field="segments")
        wrong = [s.name for s in segments if s.kind == SegmentKind.STATISTICAL]
        if wrong:
            raise ValidationFailed(SegmentErrorCode.INVALID_SCHEME,
                                   f"{wrong[0]!r} is statistical: use the statistical scheme.",
                                   field="segments")
        return list(segments)
    return []


def _base_query(*, user: User, from_run: ScoreRun, to_run: ScoreRun, scheme: str,
                segments: Sequence[Segment] | None) -> _Query:
    """``SELECT cid, f, t, clv_from, clv_to FROM <both snapshots>``, visible customers only."""
    chosen = _check_scheme(scheme, segments)
    q = connection.ops.quote_name
    scores = q(CustomerScore._meta.db_table)
    members = q(SegmentMembership._meta.db_table)
    params: list[Any] = []
    labels: dict[str, str]
    joins = ""
    if scheme in ("stage", "tier", "rfm"):
        column = {"stage": "lifecycle_stage", "tier": "value_tier", "rfm": "rfm_segment"}[scheme]
        f_label = f"COALESCE(NULLIF(u.a_{column}, ''), '{NONE}')"
        t_label = f"COALESCE(NULLIF(u.b_{column}, ''), '{NONE}')"
        extra = f", {column}"
        if scheme == "stage":
            labels = {str(k): str(v) for k, v in LifecycleStage.choices}
        elif scheme == "tier":
            labels = {str(k): str(v) for k, v in ValueTier.choices if k}
        else:
            names = (CustomerScore.objects.filter(run__in=[from_run, to_run])
                     .exclude(rfm_segment="").order_by("rfm_segment")
                     .values_list("rfm_segment", flat=True).distinct())
            labels = {name: name for name in names}
    else:
        extra = ""
        if scheme == "statistical":
            label_sql = (f"SELECT customer_id, MIN(segment_id) AS label FROM {members}"
                         f" WHERE run_id = %s AND is_primary GROUP BY customer_id")
            segment_ids = (SegmentMembership.objects.filter(run__in=[from_run, to_run],
                                                            is_primary=True)
                           .values_list("segment_id", flat=True).distinct())
            labels = {str(s.pk): s.name for s in Segment.objects.filter(pk__in=segment_ids)
                      .order_by("name", "pk")}
            f_label = f"COALESCE(CAST(fl.label AS VARCHAR(20)), '{NONE}')"
            t_label = f"COALESCE(CAST(tl.label AS VARCHAR(20)), '{NONE}')"
        else:
            # First match wins: the position of the earliest listed segment the customer is in.
            ids = [int(s.pk) for s in chosen]
            case = " ".join(f"WHEN {pk} THEN {i}" for i, pk in enumerate(ids))
            label_sql = (f"SELECT customer_id, MIN(CASE segment_id {case} END) AS label"
                         f" FROM {members} WHERE run_id = %s"
                         f" AND segment_id IN ({', '.join(str(pk) for pk in ids)})"
                         f" GROUP BY customer_id")
            labels = {str(s.pk): s.name for s in chosen}
            whens = " ".join(f"WHEN {i} THEN '{pk}'" for i, pk in enumerate(ids))
            f_label = f"CASE fl.label {whens} ELSE '{NONE}' END"
            t_label = f"CASE tl.label {whens} ELSE '{NONE}' END"
        joins = (f" LEFT JOIN ({label_sql}) fl ON fl.customer_id = u.cid"
                 f" LEFT JOIN ({label_sql}) tl ON tl.customer_id = u.cid")
    labels[NONE] = _("Not scored") if scheme == "stage" else _("None")
    # The two snapshots side by side: a full outer join keeps who is only in one of them.
    sql = (
        f"SELECT u.cid AS cid, {f_label} AS f, {t_label} AS t,"
        f" u.a_clv AS clv_from, u.b_clv AS clv_to"
        f" FROM (SELECT COALESCE(a.customer_id, b.customer_id) AS cid,"
        f" a.clv AS a_clv, b.clv AS b_clv"
        + (f", a.{extra[2:]} AS a_{extra[2:]}, b.{extra[2:]} AS b_{extra[2:]}" if extra else "")
        + f" FROM (SELECT customer_id, clv{extra} FROM {scores} WHERE run_id = %s) a"
        f" FULL OUTER JOIN (SELECT customer_id, clv{extra} FROM {scores} WHERE run_id = %s) b"
        f" ON a.customer_id = b.customer_id) u"
        + joins
    )
    params += [from_run.pk, to_run.pk]
    if joins:
        params += [from_run.pk, to_run.pk]
    if not sees_every_customer(user):
        visible_sql, visible_params = (customers_visible(user=user).order_by()
                                       .values_list("pk").query.sql_with_params())
        sql += f" WHERE u.cid IN ({visible_sql})"
        params += list(visible_params)
    return _Query(sql=sql, params=params, labels=labels)


def segment_migration(*, user: User, from_run: ScoreRun, to_run: ScoreRun,
                      scheme: str = "stage",
                      segments: Sequence[Segment] | None = None) -> Migration:
    """The transition matrix between two snapshots, with counts and CLV at both ends."""
    base = _base_query(user=user, from_run=from_run, to_run=to_run, scheme=scheme,
                       segments=segments)
    sql = (f"SELECT m.f, m.t, COUNT(*), SUM(m.clv_from), SUM(m.clv_to) FROM ({base.sql}) m"
           f" GROUP BY m.f, m.t")
    with connection.cursor() as cursor:
        cursor.execute(sql, base.params)
        rows = cursor.fetchall()
    order = {key: i for i, key in enumerate(base.labels)}
    cells = []
    for source, target, count, value_from, value_to in rows:
        for key in (source, target):
            if key not in base.labels:  # a segment deleted since, or an unexpected code
                base.labels[key] = key
                order[key] = len(order)
        cells.append(Cell(source=source, target=target, count=int(count),
                          value_from=_money(value_from), value_to=_money(value_to)))
    cells.sort(key=lambda c: (order[c.source], order[c.target]))
    return Migration(from_run=from_run, to_run=to_run, scheme=scheme, labels=base.labels,
                     cells=cells)


def _money(value: Any) -> Decimal:
    # SQLite sums decimals as floats: back to cents.
    return Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else Decimal(
        "0.00")


@dataclasses.dataclass(frozen=True)
class CellCustomer:
    customer: Customer
    clv_from: Decimal | None
    clv_to: Decimal | None


@dataclasses.dataclass(frozen=True)
class CellPage:
    items: list[CellCustomer]
    next_cursor: int | None


def segment_migration_customers(
    *,
    user: User,
    from_run: ScoreRun,
    to_run: ScoreRun,
    source: str,
    target: str,
    scheme: str = "stage",
    segments: Sequence[Segment] | None = None,
    clv_min: Decimal | None = None,
    clv_max: Decimal | None = None,
    clv_at: str = "to",
    after: int | None = None,
    limit: int = 50,
) -> CellPage:
    """The customers behind one cell (e.g. loyal → dormant with CLV over 5,000), id order.

    ``clv_at`` says which end's CLV the filters test (``from`` or ``to``).
    """
    if clv_at not in ("from", "to"):
        raise ValidationFailed(SegmentErrorCode.INVALID_FIELD, "clv_at is 'from' or 'to'.",
                               field="clv_at")
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    base = _base_query(user=user, from_run=from_run, to_run=to_run, scheme=scheme,
                       segments=segments)
    column = "clv_from" if clv_at == "from" else "clv_to"
    where = ["m.f = %s", "m.t = %s"]
    params = [*base.params, source, target]
    if clv_min is not None:
        where.append(f"m.{column} >= %s")
        params.append(clv_min)
    if clv_max is not None:
        where.append(f"m.{column} <= %s")
        params.append(clv_max)
    if after is not None:
        where.append("m.cid > %s")
        params.append(after)
    sql = (f"SELECT m.cid, m.clv_from, m.clv_to FROM ({base.sql}) m WHERE {' AND '.join(where)}"
           f" ORDER BY m.cid LIMIT {limit + 1}")
    with connection.cursor() as cursor:
        # SQLite compares a float with its stored decimals; PostgreSQL keeps numeric exact.
        cursor.execute(sql, [float(p) if isinstance(p, Decimal) and connection.vendor == "sqlite"
                             else p for p in params])
        rows = cursor.fetchall()
    next_cursor = int(rows[limit - 1][0]) if len(rows) > limit else None
    rows = rows[:limit]
    customers = Customer.objects.in_bulk([row[0] for row in rows])
    items = [CellCustomer(customer=customers[row[0]],
                          clv_from=_money(row[1]) if row[1] is not None else None,
                          clv_to=_money(row[2]) if row[2] is not None else None)
             for row in rows if row[0] in customers]
    return CellPage(items=items, next_cursor=next_cursor)
