"""Reads and access checks of the insights domain.

Who sees what (the customers' visibility rules of ``guanxi.customers.selectors`` underneath):

- **aggregates** (the traits report, the strategy report): admins, managers and analysts. The
  traits model learns from every scored customer — a trait's lift says nothing about a person —
  while the strategy report covers the customers the user may see (a manager: the team's).
- **look-alike prospects**: everyone who may see customers ranks the prospects *they* may see
  (a rep their own); the model behind the score is the company-wide traits model. Analysts get
  the ranking without names or contact details.
- **key accounts**: the organizations the user may see; plans are changed by whoever may change
  the account (``can_change_customer``).

Every read here streams columns with ``values_list`` in chunks into numpy arrays: never a model
object per customer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum
from django.utils.translation import gettext as _

from guanxi.accounts.models import Role, User
from guanxi.core import clock
from guanxi.core.arrays import Kind as ColumnKind
from guanxi.core.arrays import read_columns
from guanxi.core.errors import NotFound, PermissionDenied
from guanxi.customers.models import (
    Consent,
    ConsentPurpose,
    Customer,
    Kind,
)
from guanxi.customers.selectors import access_customer, customers_visible
from guanxi.insights.cities import city_tier
from guanxi.insights.errors import InsightsErrorCode
from guanxi.insights.models import KeyAccountPlan
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine, OrderStatus, Product

CHUNK = 50_000

#: Profile traits known when a customer is acquired (before any purchase).
PROFILE_TRAITS = ("source", "industry", "company_size", "city_tier", "income_band", "kind")
#: Traits of the first order: known at acquisition for buyers, not for prospects.
FIRST_ORDER_CATEGORICAL = ("first_category",)
FIRST_ORDER_NUMERIC = ("first_order_size",)
#: Value tiers that count as "best customers" by default.
DEFAULT_TOP_TIERS = ("vip", "key")


def can_see_aggregates(user: User) -> bool:
    return user.is_admin_role or user.role in (Role.MANAGER, Role.ANALYST)


def require_aggregates(user: User) -> None:
    if not can_see_aggregates(user):
        raise PermissionDenied(InsightsErrorCode.AGGREGATES_ONLY,
                               _("Only managers, analysts and administrators see this report."))


@dataclasses.dataclass
class TraitFrame:
    """Traits of many customers as columns (``ids`` sorted ascending)."""

    ids: npt.NDArray[np.int64]
    columns: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.ids)


def _chunks(qs: QuerySet[Customer], fields: Sequence[str]) -> Iterable[list[tuple[Any, ...]]]:
    """Rows of ``fields`` (``pk`` first) by keyset pages on the primary key."""
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last).order_by("pk").values_list(*fields)[:CHUNK])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _city_tiers(cities: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    """Map every distinct city once (there are few), not every customer."""
    if not len(cities):
        return np.asarray([], dtype=str)
    uniq, inverse = np.unique(cities.astype(str), return_inverse=True)
    tiers = np.asarray([city_tier(c).value for c in uniq.tolist()], dtype=str)
    return tiers[inverse.ravel()]


def profile_traits(qs: QuerySet[Customer], *, extra: Sequence[str] = ()) -> TraitFrame:
    """The profile traits (``PROFILE_TRAITS``) of every customer in ``qs``, plus the ``extra``
    fields (e.g. ``value__value_tier``, read in the same query; None becomes "")."""
    fields = ("source", "industry", "company_size", "city", "income_band", "kind", *extra)
    # Packed columns, the text ones as codes of their few distinct values (``core.arrays``).
    texts: list[ColumnKind] = ["text"] * len(fields)
    kinds: list[ColumnKind] = ["int", *texts]
    ids, *values = read_columns(qs.order_by().values_list("pk", *fields), kinds, groups=4)
    order = np.argsort(ids, kind="stable")
    columns = {name: column[order] for name, column in zip(fields, values, strict=True)}
    columns["city_tier"] = _city_tiers(columns.pop("city"))
    return TraitFrame(ids=ids[order], columns=columns)


def first_order_traits(ids: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[Any]]:
    """Per customer in ``ids`` (sorted): the first purchase's total and the category it spent
    most on ("" and NaN for a customer without a purchase).

    Customers are taken in ranges of ids (no list of ids in the SQL); the first order is found
    per customer by a subquery on the (customer, placed_at) index, and the lines of a whole
    range's first orders are read in one query.
    """
    n = len(ids)
    size = np.full(n, np.nan)
    category = np.full(n, "", dtype=object)
    first = (Order.objects.filter(customer=OuterRef("pk")).exclude(status__in=NOT_A_PURCHASE)
             .order_by("placed_at", "pk"))
    for start in range(0, n, CHUNK):
        lo, hi = int(ids[start]), int(ids[min(start + CHUNK, n) - 1])
        chunk = Customer.objects.filter(pk__gte=lo, pk__lte=hi).annotate(
            first_id=Subquery(first.values("pk")[:1]))
        rows = list(chunk.annotate(first_total=Subquery(first.values("total")[:1]))
                    .values_list("pk", "first_id", "first_total"))
        order_of = {oid: cid for cid, oid, _t in rows if oid is not None}
        best: dict[int, tuple[float, str]] = {}
        lines = OrderLine.objects.filter(order_id__in=chunk.values("first_id"))
        for oid, cat, amount in lines.values_list("order_id", "product__category", "amount"):
            cid = order_of.get(oid)
            if cid is not None and (cid not in best or float(amount) > best[cid][0]):
                best[cid] = (float(amount), cat or "")
        got = np.asarray([r[0] for r in rows], dtype=np.int64)
        pos = np.clip(np.searchsorted(ids, got), 0, max(n - 1, 0))
        keep = ids[pos] == got
        size[pos[keep]] = np.asarray([float(t) if t is not None else np.nan
                                      for _c, _o, t in rows])[keep]
        category[pos[keep]] = np.asarray([best.get(c, (0.0, ""))[1] for c, _o, _t in rows],
                                         dtype=object)[keep]
    return {"first_category": category.astype(str), "first_order_size": size}


def buyers_with_tiers() -> QuerySet[Customer]:
    """Customers scored with a value tier in the latest complete run (the traits' learners)."""
    return Customer.objects.filter(is_active=True, value__isnull=False).exclude(
        value__value_tier="")


def prospects_visible(*, user: User) -> QuerySet[Customer]:
    """Prospects the user may rank for outreach: active customers without any purchase yet.

    Service agents see every customer to find the one behind a ticket, not to prospect: an
    outreach list is not theirs to see.
    """
    if user.role == Role.AGENT and not user.is_admin_role:
        raise PermissionDenied(InsightsErrorCode.NO_OUTREACH,
                               _("Service agents do not rank prospects for outreach."))
    return customers_visible(user=user).filter(last_purchase_at__isnull=True)


@dataclasses.dataclass
class ConsentState:
    """Per prospect (aligned with the ids given), the lawful-basis verdict."""

    ids: npt.NDArray[np.int64]
    marketing_granted: npt.NDArray[np.bool_]
    marketing_recorded: npt.NDArray[np.bool_]
    profiling_refused: npt.NDArray[np.bool_]


def consent_state(ids: npt.NDArray[np.int64]) -> ConsentState:
    """Which of ``ids`` (sorted) granted marketing on some channel, withdrew it, or objected to
    profiling. Reads the consent rows once, not per customer."""
    granted = np.zeros(len(ids), dtype=bool)
    recorded = np.zeros(len(ids), dtype=bool)
    refused = np.zeros(len(ids), dtype=bool)
    if len(ids):
        consents = Consent.objects.filter(purpose__in=[ConsentPurpose.MARKETING,
                                                       ConsentPurpose.PROFILING])
        if len(ids) <= 20_000:
            # A rep's few prospects: ask for theirs, not for everyone's in the id range.
            consents = consents.filter(customer_id__in=ids.tolist())
        else:
            consents = consents.filter(customer_id__gte=int(ids[0]),
                                       customer_id__lte=int(ids[-1]))
        cid, marketing, ok = _consent_rows(consents)
        if len(cid):
            pos = np.clip(np.searchsorted(ids, cid), 0, len(ids) - 1)
            hit = ids[pos] == cid
            recorded[pos[hit & marketing]] = True
            granted[pos[hit & marketing & ok]] = True
            refused[pos[hit & ~marketing & ~ok]] = True
    return ConsentState(ids=ids, marketing_granted=granted, marketing_recorded=recorded,
                        profiling_refused=refused)


_CONSENT_RECORD = np.dtype([("customer", ">i8"), ("marketing", ">i4"), ("granted", ">i4")])


def _consent_rows(consents: QuerySet[Consent]) -> tuple[npt.NDArray[np.int64],
                                                        npt.NDArray[np.bool_],
                                                        npt.NDArray[np.bool_]]:
    """(customer id, is marketing, granted) of each consent row, as arrays.

    On PostgreSQL the rows come back as one bytea of fixed-width records (a million consents
    through a cursor would cost seconds of per-row Python).
    """
    if connection.vendor == "postgresql":
        inner, params = consents.order_by().values_list(
            "customer_id", "purpose", "granted").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT string_agg(int8send(t.c::int8) || int4send((t.p = %s)::int4)"
                " || int4send(t.g::int4), ''::bytea) FROM (" + inner + ") AS t(c, p, g)",
                [ConsentPurpose.MARKETING.value, *params])
            payload = cursor.fetchone()[0]
        rec = (np.frombuffer(bytes(payload), dtype=_CONSENT_RECORD) if payload
               else np.empty(0, dtype=_CONSENT_RECORD))
        return (rec["customer"].astype(np.int64), rec["marketing"].astype(bool),
                rec["granted"].astype(bool))
    rows = list(consents.values_list("customer_id", "purpose", "granted"))
    return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((r[1] == ConsentPurpose.MARKETING for r in rows), dtype=bool,
                        count=len(rows)),
            np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=len(rows)))


def names_of(ids: Sequence[int], *, fields: Sequence[str] = ("name",)
             ) -> dict[int, tuple[Any, ...]]:
    """Display fields of a page of customers (one query)."""
    return {row[0]: row[1:] for row in
            Customer.objects.filter(pk__in=list(ids)).values_list("pk", *fields)}


# -- key accounts ------------------------------------------------------------------------------


def organizations_visible(*, user: User) -> QuerySet[Customer]:
    return customers_visible(user=user).filter(kind=Kind.ORGANIZATION)


def access_organization(*, user: User, customer_id: int, write: bool = False) -> Customer:
    """An organization the user may see (and with ``write`` change); else not found / denied."""
    account = access_customer(user=user, customer_id=customer_id, write=write)
    if account.kind != Kind.ORGANIZATION:
        raise NotFound(InsightsErrorCode.NOT_AN_ORGANIZATION,
                       _("Customer %(id)s is not an organization; only organizations can be "
                         "key accounts.") % {"id": customer_id})
    return account


@dataclasses.dataclass
class AccountLines:
    organization: npt.NDArray[np.int64]
    buyer: npt.NDArray[np.int64]
    category: npt.NDArray[np.int64]
    period: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    categories: list[str]
    n_catalogue_categories: int


def account_lines(*, organizations: QuerySet[Customer], n_periods: int,
                  period_days: int = 365, today: dt.date | None = None) -> AccountLines:
    """Purchase lines of the organizations and of their contacts, by period.

    Period ``n_periods - 1`` is the last ``period_days`` days up to today, the one before it the
    ``period_days`` before that, and so on (counted in the company's days). The organizations
    enter the SQL as a subquery, never as a list of ids.
    """
    today = today or clock.today()
    org_ids = organizations.order_by().values("pk")
    base = OrderLine.objects.exclude(order__status__in=NOT_A_PURCHASE)
    rows: list[tuple[Any, ...]] = list(base.filter(order__customer_id__in=org_ids).values_list(
        "order__customer_id", "order__customer_id", "product__category",
        "order__placed_at", "amount"))
    rows += list(base.filter(order__customer__organization_id__in=org_ids).values_list(
        "order__customer__organization_id", "order__customer_id", "product__category",
        "order__placed_at", "amount"))
    categories = sorted({r[2] for r in rows if r[2]})
    code = {c: i for i, c in enumerate(categories)}
    end = clock.start_of_day(today + dt.timedelta(days=1))
    n = len(rows)
    org = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    buyer = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
    cat = np.fromiter((code.get(r[2] or "", -1) for r in rows), dtype=np.int64, count=n)
    age_days = np.fromiter(((end - r[3]).total_seconds() / 86400 for r in rows),
                           dtype=np.float64, count=n)
    period = (n_periods - 1 - np.floor(age_days / period_days)).astype(np.int64)
    amount = np.fromiter((float(r[4]) for r in rows), dtype=np.float64, count=n)
    n_catalogue = Product.objects.exclude(category="").values("category").distinct().count()
    return AccountLines(organization=org, buyer=buyer, category=cat, period=period,
                        amount=amount, categories=categories,
                        n_catalogue_categories=max(n_catalogue, len(categories)))


def key_account_plans(*, user: User) -> QuerySet[KeyAccountPlan]:
    visible = organizations_visible(user=user).values("pk")
    return (KeyAccountPlan.objects.filter(account_id__in=Subquery(visible))
            .select_related("account", "owner"))


def access_plan(*, user: User, account_id: int, write: bool = False) -> KeyAccountPlan:
    account = access_organization(user=user, customer_id=account_id, write=write)
    try:
        return KeyAccountPlan.objects.select_related("account", "owner").get(account=account)
    except KeyAccountPlan.DoesNotExist:
        raise NotFound(InsightsErrorCode.PLAN_NOT_FOUND,
                       _("%(name)s has no key-account plan yet.") % {"name": account.name}
                       ) from None


# -- strategy ----------------------------------------------------------------------------------


@dataclasses.dataclass
class StrategyInputs:
    value: npt.NDArray[np.float64]
    segmentations: dict[str, npt.NDArray[np.str_]]
    category_counts: dict[str, tuple[list[str], list[str], npt.NDArray[np.float64]]]
    price: dict[str, tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]]


def strategy_inputs(*, user: User) -> StrategyInputs:
    """CLV and segment of every visible scored buyer, and per segment the category mix and
    price level (paid against list price, where products have a list price).

    Segmentations: RFM segments and value tiers from the latest scores, and the statistical
    segments (each customer's primary one) when ``guanxi.segments`` has built some for the
    latest run. The category mix and price level are computed for RFM segments.
    """
    from guanxi.value.selectors import latest_run

    qs = customers_visible(user=user).filter(value__isnull=False).exclude(value__value_tier="")
    ids: list[int] = []
    clv: list[float] = []
    rfm: list[str] = []
    tier: list[str] = []
    for rows in _chunks(qs, ("pk", "value__clv", "value__rfm_segment", "value__value_tier")):
        for pk, value, segment, value_tier in rows:
            ids.append(pk)
            clv.append(float(value) if value is not None else 0.0)
            rfm.append(segment or "")
            tier.append(value_tier or "")
    id_array = np.asarray(ids, dtype=np.int64)
    segmentations: dict[str, npt.NDArray[np.str_]] = {
        "rfm": np.asarray(rfm, dtype=str), "tier": np.asarray(tier, dtype=str)}
    run = latest_run()
    statistical = _statistical_segments(run.pk, id_array) if run is not None else None
    mix, price = _segment_aggregates(qs, "value__rfm_segment")
    mixes = {"rfm": mix}
    prices = {"rfm": price}
    if statistical is not None and run is not None:
        segmentations["statistical"] = statistical
        mixes["statistical"], prices["statistical"] = _statistical_aggregates(run.pk, qs)
    return StrategyInputs(value=np.asarray(clv, dtype=np.float64), segmentations=segmentations,
                          category_counts=mixes, price=prices)


def _statistical_segments(run_id: int, ids: npt.NDArray[np.int64]
                          ) -> npt.NDArray[np.str_] | None:
    """Each customer's primary statistical segment in the run, or None if none was built."""
    try:
        from guanxi.segments.models import SegmentMembership
    except ImportError:  # pragma: no cover - the segments app ships with guanxi
        return None
    rows = (SegmentMembership.objects.filter(run_id=run_id, is_primary=True,
                                             segment__kind="statistical")
            .values_list("customer_id", "segment__name"))
    pairs = list(rows)
    if not pairs or not len(ids):
        return None
    cid = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    names = np.asarray([p[1] for p in pairs], dtype=object)
    pos = np.clip(np.searchsorted(ids, cid), 0, len(ids) - 1)
    hit = ids[pos] == cid
    out = np.full(len(ids), "", dtype=object)
    out[pos[hit]] = names[hit]
    found = bool(hit.any())
    return out.astype(str) if found else None


def _statistical_aggregates(run_id: int, qs: QuerySet[Customer]
                            ) -> tuple[tuple[list[str], list[str], npt.NDArray[np.float64]],
                                       tuple[list[str], npt.NDArray[np.float64],
                                             npt.NDArray[np.float64]]]:
    """``_segment_aggregates`` for the primary statistical segments of the run.

    Read from the memberships towards the lines: each ``filter`` names every condition on the
    orders and lines in one call, so they all apply to the same joined line (a second call
    would join the orders again and pair any order's status with any other's lines).
    """
    from guanxi.segments.models import SegmentMembership

    purchase = [s for s in OrderStatus.values if s not in NOT_A_PURCHASE]
    members = SegmentMembership.objects.filter(run_id=run_id, is_primary=True,
                                               segment__kind="statistical",
                                               customer_id__in=qs.values("pk"))
    line = "customer__orders__lines"
    mix = list(members.filter(customer__orders__status__in=purchase,
                              **{f"{line}__product__category__gt": ""})
               .values_list("segment__name", f"{line}__product__category")
               .annotate(n=Count(line)))
    segs, cats, table = _pivot(mix)
    price_rows = list(
        members.filter(customer__orders__status__in=purchase,
                       **{f"{line}__product__unit_price__gt": 0})
        .values_list("segment__name")
        .annotate(paid=Sum(f"{line}__amount"),
                  listed=Sum(F(f"{line}__quantity") * F(f"{line}__product__unit_price"))))
    names = [str(r[0]) for r in price_rows]
    paid = np.asarray([float(r[1] or 0) for r in price_rows])
    listed = np.asarray([float(r[2] or 0) for r in price_rows])
    return (segs, cats, table), (names, paid, listed)


def _pivot(mix: Sequence[tuple[Any, Any, Any]]
           ) -> tuple[list[str], list[str], npt.NDArray[np.float64]]:
    """(segment, category, count) rows as sorted row and column names and a count table."""
    segs = sorted({r[0] for r in mix})
    cats = sorted({r[1] for r in mix})
    table = np.zeros((len(segs), len(cats)))
    si = {s: i for i, s in enumerate(segs)}
    ci = {c: i for i, c in enumerate(cats)}
    for seg, cat, n in mix:
        table[si[seg], ci[cat]] = n
    return segs, cats, table


def _segment_aggregates(qs: QuerySet[Customer], key: str
                        ) -> tuple[tuple[list[str], list[str], npt.NDArray[np.float64]],
                                   tuple[list[str], npt.NDArray[np.float64],
                                         npt.NDArray[np.float64]]]:
    """Line counts per (segment, category), and paid / list amounts per segment, in SQL."""
    lines = OrderLine.objects.exclude(order__status__in=NOT_A_PURCHASE).filter(
        order__customer__in=qs.values("pk"))
    seg_field = f"order__customer__{key}"
    mix = list(lines.exclude(product__category="").exclude(**{seg_field: ""})
               .exclude(**{f"{seg_field}__isnull": True})
               .values_list(seg_field, "product__category").annotate(n=Count("pk")))
    segs, cats, table = _pivot(mix)
    price_rows = list(lines.filter(product__unit_price__isnull=False, product__unit_price__gt=0)
                      .exclude(**{seg_field: ""}).exclude(**{f"{seg_field}__isnull": True})
                      .values_list(seg_field)
                      .annotate(paid=Sum("amount"),
                                listed=Sum(F("quantity") * F("product__unit_price"))))
    names = [str(r[0]) for r in price_rows]
    paid = np.asarray([float(r[1] or 0) for r in price_rows])
    listed = np.asarray([float(r[2] or 0) for r in price_rows])
    return (segs, cats, table), (names, paid, listed)
