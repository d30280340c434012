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
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum
from django.utils.translation import gettext as _

from guanxi.accounts.models import Role, User
from guanxi.core import clock
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
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine, Product

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


def profile_traits(qs: QuerySet[Customer]) -> TraitFrame:
    """The profile traits (``PROFILE_TRAITS``) of every customer in ``qs``."""
    fields = ("pk", "source", "industry", "company_size", "city", "income_band", "kind")
    ids: list[int] = []
    cols: dict[str, list[str]] = {f: [] for f in fields[1:]}
    for rows in _chunks(qs, fields):
        batch = list(zip(*rows, strict=True))
        ids.extend(batch[0])
        for i, name in enumerate(fields[1:], start=1):
            cols[name].extend(batch[i])
    columns: dict[str, npt.NDArray[Any]] = {
        name: np.asarray(values, dtype=object) for name, values in cols.items()}
    columns["city_tier"] = _city_tiers(columns.pop("city"))
    return TraitFrame(ids=np.asarray(ids, dtype=np.int64), columns=columns)


def first_order_traits(ids: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[Any]]:
    """Per customer in ``ids``: the first purchase's total and the category it spent most on.

    The first order is found per customer with a subquery on the (customer, placed_at) index;
    its lines are then read for whole chunks of orders at once.
    """
    n = len(ids)
    size = np.full(n, np.nan)
    category = np.full(n, "", dtype=object)
    first = (Order.objects.filter(customer=OuterRef("pk")).exclude(status__in=NOT_A_PURCHASE)
             .order_by("placed_at", "pk"))
    for start in range(0, n, CHUNK):
        chunk = ids[start:start + CHUNK].tolist()
        rows = list(Customer.objects.filter(pk__in=chunk)
                    .annotate(first_id=Subquery(first.values("pk")[:1]),
                              first_total=Subquery(first.values("total")[:1]))
                    .values_list("pk", "first_id", "first_total"))
        order_of = {oid: cid for cid, oid, _t in rows if oid is not None}
        best: dict[int, tuple[float, str]] = {}
        for oid, cat, amount in (OrderLine.objects.filter(order_id__in=list(order_of))
                                 .values_list("order_id", "product__category", "amount")):
            cid = order_of[oid]
            if cid not in best or float(amount) > best[cid][0]:
                best[cid] = (float(amount), cat or "")
        pos = np.searchsorted(ids, np.asarray([r[0] for r in rows], dtype=np.int64))
        size[pos] = [float(t) if t is not None else np.nan for _c, _o, t in rows]
        category[pos] = [best.get(c, (0.0, ""))[1] for c, _o, _t in rows]
    return {"first_category": category, "first_order_size": size}


def buyers_with_tiers() -> QuerySet[Customer]:
    """Customers scored with a value tier in the latest complete run (the traits' learners)."""
    return Customer.objects.filter(is_active=True, value__isnull=False).exclude(
        value__value_tier="")


def tiers_of(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """The latest value tier of each customer in ``ids`` (sorted), "" when not scored."""
    out = np.full(len(ids), "", dtype=object)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK].tolist()
        rows = list(Customer.objects.filter(pk__in=chunk)
                    .values_list("pk", "value__value_tier"))
        if rows:
            pos = np.searchsorted(ids, np.asarray([r[0] for r in rows], dtype=np.int64))
            out[pos] = [r[1] or "" for r in rows]
    return out.astype(str)


def prospects_visible(*, user: User) -> QuerySet[Customer]:
    """Prospects the user may see: active customers without any purchase yet."""
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
        lo, hi = int(ids[0]), int(ids[-1])
        rows = np.asarray(list(
            Consent.objects.filter(customer_id__gte=lo, customer_id__lte=hi,
                                   purpose__in=[ConsentPurpose.MARKETING,
                                                ConsentPurpose.PROFILING])
            .values_list("customer_id", "purpose", "granted")), dtype=object)
        if len(rows):
            cid = rows[:, 0].astype(np.int64)
            pos = np.clip(np.searchsorted(ids, cid), 0, len(ids) - 1)
            hit = ids[pos] == cid
            marketing = rows[:, 1] == ConsentPurpose.MARKETING.value
            ok = rows[:, 2].astype(bool)
            recorded[pos[hit & marketing]] = True
            granted[pos[hit & marketing & ok]] = True
            refused[pos[hit & ~marketing & ~ok]] = True
    return ConsentState(ids=ids, marketing_granted=granted, marketing_recorded=recorded,
                        profiling_refused=refused)


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


def account_lines(*, organization_ids: Sequence[int], n_periods: int,
                  period_days: int = 365, today: dt.date | None = None) -> AccountLines:
    """Purchase lines of the organizations and of their contacts, by period.

    Period ``n_periods - 1`` is the last ``period_days`` days up to today, the one before it the
    ``period_days`` before that, and so on (counted in the company's days).
    """
    today = today or clock.today()
    orgs = list(organization_ids)
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(orgs), 5000):
        part = orgs[start:start + 5000]
        base = OrderLine.objects.exclude(order__status__in=NOT_A_PURCHASE)
        rows += list(base.filter(order__customer_id__in=part).values_list(
            "order__customer_id", "order__customer_id", "product__category",
            "order__placed_at", "amount"))
        rows += list(base.filter(order__customer__organization_id__in=part).values_list(
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
    if statistical is not None:
        segmentations["statistical"] = statistical
    mix, price = _segment_aggregates(qs, "value__rfm_segment")
    return StrategyInputs(value=np.asarray(clv, dtype=np.float64), segmentations=segmentations,
                          category_counts={"rfm": mix}, price={"rfm": price})


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
    segs = sorted({r[0] for r in mix})
    cats = sorted({r[1] for r in mix})
    table = np.zeros((len(segs), len(cats)))
    si = {s: i for i, s in enumerate(segs)}
    ci = {c: i for i, c in enumerate(cats)}
    for s, c, n in mix:
        table[si[s], ci[c]] = n
    price_rows = list(lines.filter(product__unit_price__isnull=False, product__unit_price__gt=0)
                      .exclude(**{seg_field: ""}).exclude(**{f"{seg_field}__isnull": True})
                      .values_list(seg_field)
                      .annotate(paid=Sum("amount"),
                                listed=Sum(F("quantity") * F("product__unit_price"))))
    names = [str(r[0]) for r in price_rows]
    paid = np.asarray([float(r[1] or 0) for r in price_rows])
    listed = np.asarray([float(r[2] or 0) for r in price_rows])
    return (segs, cats, table), (names, paid, listed)
