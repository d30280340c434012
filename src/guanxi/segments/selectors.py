"""Reads and access checks for segments.

Who may do what:

- Everyone signed in may list segments and read their rules and profiles: a segment describes
  customers in general, it is not a customer.
- Members are always read through ``customers.selectors.customers_visible``: a rep sees only their
  own customers inside any segment, a manager the team's; counts and value shares are of what the
  person may see.
- Admins, managers, reps and analysts create segments; service agents do not.
- A segment is changed (renamed, rule edited, customers added or removed, deleted) by an admin,
  by whoever created it, or by the creator's manager. Statistical segments are renamed by admins,
  managers and analysts; their members come from the statistical build only.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from guanxi.accounts.models import Role, User
from guanxi.core.errors import NotFound, PermissionDenied
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customers_visible
from guanxi.segments.errors import SegmentErrorCode
from guanxi.segments.models import Segment, SegmentKind, SegmentMember, SegmentMembership
from guanxi.segments.rules import compile_rule
from guanxi.value.models import RunStatus, ScoreRun
from guanxi.value.selectors import latest_run


def can_create_segments(user: User) -> bool:
    return user.is_admin_role or user.role in (Role.MANAGER, Role.REP, Role.ANALYST)


def can_change_segment(user: User, segment: Segment) -> bool:
    if user.is_admin_role:
        return True
    if segment.kind == SegmentKind.STATISTICAL:
        return user.role in (Role.MANAGER, Role.ANALYST)
    if not can_create_segments(user) or segment.created_by_id is None:
        return False
    if segment.created_by_id == user.pk:
        return True
    return (user.role == Role.MANAGER
            and User.objects.filter(pk=segment.created_by_id, manager=user).exists())


def segment_list(*, user: User, kind: str | None = None,
                 include_inactive: bool = False) -> QuerySet[Segment]:
    qs = Segment.objects.select_related("created_by")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "name", "id")


def access_segment(*, user: User, segment_id: int, write: bool = False) -> Segment:
    try:
        segment = Segment.objects.select_related("created_by").get(pk=segment_id)
    except Segment.DoesNotExist:
        raise NotFound(SegmentErrorCode.NOT_FOUND,
                       f"Segment {segment_id} does not exist.") from None
    if write and not can_change_segment(user, segment):
        raise PermissionDenied(SegmentErrorCode.READ_ONLY,
                               "You may view this segment but not change it.")
    return segment


def run_by_date(as_of: Any) -> ScoreRun:
    """The complete score run of a date (``datetime.date``)."""
    run = ScoreRun.objects.filter(as_of=as_of, status=RunStatus.COMPLETE).first()
    if run is None:
        raise NotFound(SegmentErrorCode.RUN_NOT_FOUND,
                       f"There is no complete scoring run for {as_of}.")
    return run


def segment_filter(segment: Segment, *, run: ScoreRun | None = None) -> Q:
    """The ``Q`` over customers that selects the segment's members.

    Without ``run``: now — a dynamic segment's rule on the latest values, a static segment's
    list, a statistical segment's members in its latest snapshot. With ``run``: the members
    stored in that run's snapshot.
    """
    if run is not None:
        return Q(pk__in=SegmentMembership.objects.filter(run=run, segment=segment)
                 .values("customer_id"))
    if segment.kind == SegmentKind.DYNAMIC:
        return compile_rule(segment.definition)
    if segment.kind == SegmentKind.STATIC:
        return Q(pk__in=SegmentMember.objects.filter(segment=segment).values("customer_id"))
    snapshot = _latest_snapshot(segment)
    if snapshot is None:
        return Q(pk__in=[])
    return Q(pk__in=SegmentMembership.objects.filter(run_id=snapshot, segment=segment)
             .values("customer_id"))


def _latest_snapshot(segment: Segment) -> int | None:
    """The latest complete run that stored members of ``segment``.

    Probed run by run, newest first, through the (run, segment, customer) index: asking the
    memberships table for the segment's runs would read millions of rows (it has no index on
    the segment alone).
    """
    runs = (ScoreRun.objects.filter(status=RunStatus.COMPLETE).order_by("-as_of", "-id")
            .values_list("pk", flat=True))
    for run_id in runs.iterator():
        if SegmentMembership.objects.filter(run_id=run_id, segment=segment).exists():
            return int(run_id)
    return None


def segment_customers(*, user: User, segment: Segment,
                      run: ScoreRun | None = None) -> QuerySet[Customer]:
    """The segment's members that ``user`` may see (a rep: only their own)."""
    return customers_visible(user=user).filter(segment_filter(segment, run=run))


@dataclasses.dataclass(frozen=True)
class Preview:
    """Size and value of a set of customers, against everything the person may see."""

    size: int
    value: Decimal
    # Sum of CLV of every customer the person may see (the whole book for an admin).
    equity: Decimal
    customers: int

    @property
    def value_share(self) -> float | None:
        return float(self.value / self.equity) if self.equity else None

    @property
    def size_share(self) -> float | None:
        return self.size / self.customers if self.customers else None

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "value": str(self.value), "equity": str(self.equity),
                "customers": self.customers, "value_share": self.value_share,
                "size_share": self.size_share}


def sees_every_customer(user: User) -> bool:
    """True when the visibility rule does not limit ``user`` (admin, analyst, agent)."""
    return str(customers_visible(user=user).query) == str(
        Customer.objects.filter(is_active=True).query)


def _book(user: User) -> tuple[int, Decimal]:
    """Customers and equity the user may see: the run's totals for whoever sees everyone."""
    visible = customers_visible(user=user)
    # Someone who sees every customer: the run already summed the equity (saves a 1M-row sum).
    if sees_every_customer(user):
        run = latest_run()
        if run is not None and run.equity is not None:
            return visible.count(), run.equity
    totals = visible.aggregate(n=Count("pk"), equity=Sum("value__clv"))
    return totals["n"], totals["equity"] or Decimal(0)


def preview_customers(*, user: User, customers: QuerySet[Customer]) -> Preview:
    totals = customers.aggregate(n=Count("pk"), value=Sum("value__clv"))
    n, equity = _book(user)
    return Preview(size=totals["n"], value=totals["value"] or Decimal(0), equity=equity,
                   customers=n)


def segment_preview(*, definition: Any, user: User) -> Preview:
    """Size and value share of a rule being edited (validated first; one aggregate query)."""
    q = compile_rule(definition)
    return preview_customers(user=user, customers=customers_visible(user=user).filter(q))


def segment_summary(*, user: User, segment: Segment) -> Preview:
    return preview_customers(user=user, customers=segment_customers(user=user, segment=segment))


def segment_history(*, user: User, segment: Segment) -> list[dict[str, Any]]:
    """Members per snapshot (only those the user may see), oldest first."""
    memberships = SegmentMembership.objects.filter(segment=segment)
    if not (user.is_admin_role or user.role in (Role.ANALYST, Role.AGENT)):
        memberships = memberships.filter(customer__in=customers_visible(user=user))
    rows = (memberships.values("run_id", "run__as_of").annotate(n=Count("customer_id"))
            .order_by("run__as_of"))
    return [{"run": row["run_id"], "as_of": row["run__as_of"], "size": row["n"]}
            for row in rows]


def customer_segments(*, user: User, customer: Customer, runs: int = 6) -> list[dict[str, Any]]:
    """The segments ``customer`` was in at each of the latest ``runs`` snapshots, newest first.

    For the 360 page: ``[{"run": id, "as_of": date, "segments": [{"id", "name", "kind",
    "probability", "is_primary"}...]}]``. The caller has checked that ``user`` may see the
    customer (``user`` is taken for symmetry with the other selectors); inactive segments are
    left out. Reads through the (customer, run) index.
    """
    recent = list(ScoreRun.objects.filter(status=RunStatus.COMPLETE)
                  .order_by("-as_of", "-id").values_list("pk", "as_of")[:runs])
    rows = (SegmentMembership.objects
            .filter(customer=customer, run_id__in=[pk for pk, _ in recent],
                    segment__is_active=True)
            .order_by("segment__kind", "-probability", "segment__name")
            .values_list("run_id", "segment_id", "segment__name", "segment__kind",
                         "probability", "is_primary"))
    by_run: dict[int, list[dict[str, Any]]] = {pk: [] for pk, _ in recent}
    for run_id, segment_id, name, kind, probability, is_primary in rows:
        by_run[run_id].append({"id": segment_id, "name": name, "kind": kind,
                               "probability": probability, "is_primary": is_primary})
    return [{"run": pk, "as_of": as_of, "segments": by_run[pk]} for pk, as_of in recent]


def segment_counts(*, user: User, segments: list[Segment],
                   latest: ScoreRun | None) -> dict[int, tuple[int, Decimal]]:
    """Size and CLV of each segment in its snapshot (statistical ones: their build's run,
    primary members only; the others: the latest run), counted over what ``user`` may see."""
    run_of: dict[int, int | None] = {}
    for s in segments:
        if s.kind == SegmentKind.STATISTICAL:
            run_of[s.pk] = s.segmentation.run_id if s.segmentation else None
        else:
            run_of[s.pk] = latest.pk if latest else None
    runs = {r for r in run_of.values() if r is not None}
    counts: dict[tuple[int, int], tuple[int, Decimal]] = {}
    if runs:
        rows = SegmentMembership.objects.filter(run_id__in=runs, segment__in=segments).filter(
            Q(is_primary=True) | ~Q(segment__kind=SegmentKind.STATISTICAL))
        if not sees_every_customer(user):
            rows = rows.filter(customer_id__in=customers_visible(user=user).values("pk"))
        for row in (rows.values("run_id", "segment_id").order_by()
                    .annotate(n=Count("customer_id"), v=Sum("customer__value__clv"))):
            counts[(row["run_id"], row["segment_id"])] = (row["n"], Decimal(row["v"] or 0))
    out: dict[int, tuple[int, Decimal]] = {}
    for s in segments:
        run_id = run_of[s.pk]
        if run_id is not None and (run_id, s.pk) in counts:
            out[s.pk] = counts[(run_id, s.pk)]
    return out


def membership_probabilities(*, segment: Segment, run_id: int | None,
                             customer_ids: list[int]) -> dict[int, float | None]:
    """The listed customers' membership probability of ``segment`` in run ``run_id``."""
    return dict(SegmentMembership.objects.filter(
        segment=segment, run_id=run_id, customer_id__in=customer_ids)
        .values_list("customer_id", "probability"))
