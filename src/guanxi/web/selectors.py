"""Page-specific reads for the web app, built on the access rules in ``customers.selectors``.

Nothing here decides who may see what: every query starts from ``customers_visible`` or from a
customer already fetched through ``access_customer``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.core import signing
from django.db.models import (
    BooleanField,
    Case,
    Count,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from guanxi.accounts.models import Role, User
from guanxi.core import clock
from guanxi.customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    Customer,
    CustomerEvent,
    EventType,
    ImportantDate,
    LifecycleStage,
    MemoryNote,
    ValueTier,
)
from guanxi.customers.selectors import (
    assignable_owners as assignable_owners,
)
from guanxi.customers.selectors import (
    can_add_customers,
    can_see_contact_details,
    customer_list,
    customers_visible,
)

# Who may write, and to whom customers may be given, is decided in customers.selectors.
may_change_some_customers = can_add_customers

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 30
# Counting stops here: a COUNT(*) over a million rows on every page is what we avoid.
COUNT_CAP = 1000

SortKey = Literal["name", "-clv", "-last_purchase_at", "-id"]
SORTS: tuple[SortKey, ...] = ("name", "-clv", "-last_purchase_at", "-id")
_CURSOR_SALT = "guanxi.web.customer-list"


# ---------------------------------------------------------------------------------------------
# Customer list: filters, sort and keyset pagination
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    search: str = ""
    owner_id: int | None = None
    lifecycle_stage: str = ""
    value_tier: str = ""
    segment: str = ""
    city: str = ""
    tag: str = ""
    purchased_since: dt.date | None = None
    purchased_before: dt.date | None = None
    sort: SortKey = "name"


@dataclass(frozen=True)
class CustomerPage:
    items: list[Customer]
    next_cursor: str | None
    # ``count`` is exact when below ``COUNT_CAP``; ``count_capped`` says "at least that many".
    count: int
    count_capped: bool


def _looks_like_contact(term: str) -> bool:
    return "@" in term or sum(ch.isdigit() for ch in term) >= 5


def customers_filtered(*, user: User, filters: ListFilters) -> QuerySet[Customer]:
    """The customers ``user`` may see that match ``filters`` (unordered).

    Someone who may not see contact details (the analyst) may not search by them either:
    finding "the customer with phone 138..." would tell them whose number it is. Their search
    for a phone or an e-mail matches names and external ids only.
    """
    search = filters.search.strip()
    restricted = bool(search) and not can_see_contact_details(user) and _looks_like_contact(search)
    qs = customer_list(
        user=user,
        search=(search or None) if not restricted else None,
        owner_id=filters.owner_id,
        lifecycle_stage=filters.lifecycle_stage or None,
        value_tier=filters.value_tier or None,
        city=filters.city or None,
        tag=filters.tag or None,
    )
    if restricted:
        qs = qs.filter(Q(name__icontains=search) | Q(external_ids__value=search)).distinct()
    if filters.segment:
        qs = qs.filter(value__rfm_segment=filters.segment)
    if filters.purchased_since:
        qs = qs.filter(last_purchase_at__gte=clock.start_of_day(filters.purchased_since))
    if filters.purchased_before:
        qs = qs.filter(last_purchase_at__lt=clock.start_of_day(filters.purchased_before))
    return qs


@dataclass(frozen=True)
class _Cursor:
    value: Any  # the sort value of the last row shown; None for an empty value or for "-id"
    pk: int
    # The first page's (capped) count, carried along so that paging on does not count again.
    count: int | None = None


def _encode(customer: Customer, sort: SortKey, count: int) -> str:
    value: str | None = None
    if sort == "name":
        value = customer.name
    elif sort == "-clv" and (clv := _clv(customer)) is not None:
        value = str(clv)
    elif sort == "-last_purchase_at" and customer.last_purchase_at is not None:
        value = customer.last_purchase_at.isoformat()
    return signing.dumps({"v": value, "pk": customer.pk, "n": count}, salt=_CURSOR_SALT,
                         compress=True)


def _clv(customer: Customer) -> Decimal | None:
    value = getattr(customer, "value", None)  # None when never scored
    return None if value is None else value.clv


# Sort key → the field it orders by: CLV is the latest score's, through the value view.
_SORT_FIELDS = {"-clv": "value__clv", "-last_purchase_at": "last_purchase_at"}


def _decode(cursor: str, sort: SortKey) -> _Cursor | None:
    """Read a cursor; a forged or stale one gives None (the first page), never a query."""
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
        pk = int(data["pk"])
        raw = data.get("v")
        value: Any = None
        if raw is not None:
            if sort == "-clv":
                value = Decimal(str(raw))
            elif sort == "-last_purchase_at":
                value = dt.datetime.fromisoformat(str(raw))
            else:
                value = str(raw)
        if sort == "name" and value is None:
            return None
        count = None if data.get("n") is None else int(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, InvalidOperation):
        return None
    return _Cursor(value=value, pk=pk, count=count)


def _fetch(qs: QuerySet[Customer], sort: SortKey, after: _Cursor | None,
           n: int) -> list[Customer]:
    """Up to ``n`` rows following ``after`` in the page order, by keyset (no OFFSET).

    The conditions are written as ``value >= v AND (value > v OR pk > p)`` rather than the
    plain OR so the database can start an index range scan at ``v``. Empty CLV or last-purchase
    values are read in a second query after the filled ones instead of ``NULLS LAST``, which
    PostgreSQL cannot serve from a plain b-tree index scanned backwards.
    """
    if sort == "-id":
        if after is not None:
            qs = qs.filter(pk__lt=after.pk)
        return list(qs.order_by("-pk")[:n])
    if sort == "name":
        if after is not None:
            qs = qs.filter(name__gte=after.value).filter(Q(name__gt=after.value)
                                                         | Q(pk__gt=after.pk))
        return list(qs.order_by("name", "pk")[:n])
    field = _SORT_FIELDS[sort]
    empty = qs.filter(**{f"{field}__isnull": True})
    rows: list[Customer] = []
    if after is None or after.value is not None:
        filled = qs.filter(**{f"{field}__isnull": False})
        if after is not None:
            filled = filled.filter(**{f"{field}__lte": after.value}).filter(
                Q(**{f"{field}__lt": after.value}) | Q(pk__lt=after.pk))
        rows = list(filled.order_by(f"-{field}", "-pk")[:n])
        if len(rows) == n:
            return rows
    else:
        empty = empty.filter(pk__lt=after.pk)
    return rows + list(empty.order_by("-pk")[: n - len(rows)])


# What a list row shows (``web/customers/_results.html``) and its cursor needs: a customer row
# has some thirty columns, a score row twenty-five, and building the unused ones cost more than
# the query. Anything else a caller touches is still loaded, one query per row.
_LIST_FIELDS = ("name", "phone", "email", "city", "last_purchase_at", "owner__username",
                "value__lifecycle_stage", "value__value_tier", "value__rfm_segment",
                "value__clv")


def customer_page(
    *, user: User, filters: ListFilters, cursor: str | None = None, limit: int = PAGE_SIZE,
    known_count: int | None = None,
) -> CustomerPage:
    """One page of the customer list, in keyset order; never counts the whole table.

    The count (capped at ``COUNT_CAP``) is taken on the first page only, and not even there
    when the whole list fits on it; the cursor carries it to the following pages.
    ``known_count`` is a count the caller had at hand (the dashboard's, as of the latest
    scoring run): trusted only when far above the cap, where the page says "more than
    1,000" whichever customers were added or merged since.
    """
    qs = customers_filtered(user=user, filters=filters)
    after = _decode(cursor, filters.sort) if cursor else None
    rows = _fetch(qs.select_related("owner", "value").only(*_LIST_FIELDS), filters.sort, after,
                  limit + 1)
    if after is None and len(rows) <= limit:
        counted = len(rows)
    elif after is None and known_count is not None and known_count >= 2 * COUNT_CAP:
        counted = known_count
    elif after is not None and after.count is not None:
        counted = after.count
    else:
        counted = qs.order_by()[: COUNT_CAP + 1].count()
    next_cursor = (_encode(rows[limit - 1], filters.sort, counted) if len(rows) > limit
                   else None)
    return CustomerPage(items=rows[:limit], next_cursor=next_cursor,
                        count=min(counted, COUNT_CAP), count_capped=counted > COUNT_CAP)


def owner_choices(*, user: User) -> QuerySet[User]:
    """Owners offered in the list filter: the people whose customers ``user`` can see."""
    qs = User.objects.filter(is_active=True).order_by("username")
    if user.is_admin_role or user.role in (Role.ANALYST, Role.AGENT):
        return qs.filter(role__in=[Role.ADMIN, Role.MANAGER, Role.REP])
    if user.role == Role.MANAGER:
        return qs.filter(Q(pk=user.pk) | Q(manager=user))
    return qs.filter(pk=user.pk)


# ---------------------------------------------------------------------------------------------
# Customer 360
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateDue:
    date: ImportantDate
    next_on: dt.date | None
    days_left: int | None


@dataclass(frozen=True)
class ConsentRow:
    channel: str
    label: str
    states: list[bool | None]


@dataclass
class Customer360:
    customer: Customer
    pinned_notes: list[MemoryNote]
    other_notes: list[MemoryNote]
    dates: list[DateDue]
    next_date: DateDue | None
    consent_purposes: list[str]
    consent_rows: list[ConsentRow]
    organization: Customer | None
    contacts: list[Customer]
    referred_by: Customer | None
    referrals: list[Customer]
    tags: list[str]
    score_trend: dict[str, Any] | None = None
    # The latest score (``CustomerValue``); None when the customer was never scored.
    value: Any = None


def next_occurrence(date: ImportantDate, *, today: dt.date) -> dt.date | None:
    """The next day ``date`` falls on, from ``today`` on; None when it cannot be computed.

    Lunar dates go through ``guanxi.care.calendar`` (day 30 of a short month → day 29, a leap
    month → the regular one); a yearly 29 February falls on 28 February in common years.
    """
    from guanxi.care.calendar import next_occurrence as next_day

    return next_day(date.date, is_lunar=date.is_lunar, yearly=date.yearly, on_or_after=today)


def customer_360(*, user: User, customer: Customer) -> Customer360:
    """Everything the 360 page shows about ``customer`` (already access-checked for ``user``).

    Related people the user may not see (another rep's customer who referred this one) are left
    out rather than named. One visibility filter serves every related-people query (building
    it costs a query).
    """
    from guanxi.value.models import CustomerValue

    today = clock.today()
    notes = list(MemoryNote.objects.filter(customer=customer).select_related("author")
                 .order_by("-pinned", "-created_at", "-pk")[:100])
    dates = [
        DateDue(date=d, next_on=(n := next_occurrence(d, today=today)),
                days_left=None if n is None else (n - today).days)
        for d in ImportantDate.objects.filter(customer=customer).order_by("date")
    ]
    upcoming = sorted((d for d in dates if d.days_left is not None),
                      key=lambda d: d.days_left or 0)
    consents = {(c.channel, c.purpose): c.granted
                for c in Consent.objects.filter(customer=customer)}
    purposes = list(ConsentPurpose.values)
    consent_rows = [
        ConsentRow(channel=str(value), label=str(label),
                   states=[consents.get((str(value), p)) for p in purposes])
        for value, label in ConsentChannel.choices
    ]
    visible = customers_visible(user=user).order_by("name")
    linked = [i for i in (customer.organization_id, customer.referred_by_id) if i]
    found = {c.pk: c for c in visible.filter(pk__in=linked)} if linked else {}
    contacts = list(visible.filter(organization=customer)[:50])
    referrals = list(visible.filter(referred_by=customer)[:50])
    # The latest score and its run (the "scored on" date) in one query.
    value = CustomerValue.objects.select_related("run").filter(customer_id=customer.pk).first()
    return Customer360(
        customer=customer,
        pinned_notes=[n for n in notes if n.pinned],
        other_notes=[n for n in notes if not n.pinned],
        dates=dates,
        next_date=upcoming[0] if upcoming else None,
        consent_purposes=purposes,
        consent_rows=consent_rows,
        organization=found.get(customer.organization_id or 0),
        contacts=contacts,
        referred_by=found.get(customer.referred_by_id or 0),
        referrals=referrals,
        tags=list(customer.tags.values_list("name", flat=True)),
        score_trend=score_trend(customer=customer, latest=value),
        value=value,
    )


_UNSET: Any = object()


def score_trend(*, customer: Customer, latest: Any = _UNSET) -> dict[str, Any] | None:
    """How CLV and P(alive) moved between the customer's last two complete value snapshots.

    Falls back to the latest ``score_changed`` event (``{"old": {"clv": ..}, "new": {..}}``)
    when there are fewer than two snapshots; None when there is nothing to compare.
    ``latest`` is the customer's ``CustomerValue`` when the caller already has it (None: not
    scored in the latest run); the trend then needs one query, not three.
    """
    from guanxi.value.models import CustomerScore, CustomerValue, RunStatus, ScoreRun

    if latest is _UNSET:
        latest = CustomerValue.objects.select_related("run").filter(
            customer_id=customer.pk).first()
    if latest is not None and latest.clv is not None:
        # The customer's row in the run before the latest complete one, through the
        # (run, customer) index: the run id is a subquery, so a history partitioned by run
        # reads one partition.
        previous = (ScoreRun.objects.filter(status=RunStatus.COMPLETE)
                    .order_by("-as_of", "-pk").values("pk")[1:2])
        old = (CustomerScore.objects.filter(customer=customer, run_id=Subquery(previous))
               .select_related("run").first())
        if old is not None and old.clv is not None:
            p_delta = (None if latest.p_alive is None or old.p_alive is None
                       else latest.p_alive - old.p_alive)
            return _trend(since=old.run.as_of, before=old.clv, after=latest.clv,
                          p_delta=p_delta)
    event = (CustomerEvent.objects.filter(customer=customer, type=EventType.SCORE_CHANGED)
             .order_by("-occurred_at", "-pk").first())
    if event is None or not isinstance(event.data, dict):
        return None
    old_data, new_data = event.data.get("old"), event.data.get("new")
    if not isinstance(old_data, dict) or not isinstance(new_data, dict):
        return None
    try:
        before = Decimal(str(old_data["clv"]))
        after = Decimal(str(new_data["clv"]))
    except (KeyError, InvalidOperation, TypeError):
        return None
    return _trend(since=timezone.localdate(event.occurred_at), before=before, after=after,
                  p_delta=None)


def _trend(*, since: dt.date, before: Decimal, after: Decimal,
           p_delta: float | None) -> dict[str, Any]:
    delta = after - before
    return {"since": since, "before": before, "after": after, "delta": delta,
            "p_alive_delta": p_delta,
            "direction": "up" if delta > 0 else "down" if delta < 0 else "flat"}


@dataclass(frozen=True)
class TimelinePage:
    events: list[CustomerEvent]
    next_cursor: str | None


def timeline_page(*, customer: Customer, cursor: str | None = None,
                  limit: int = TIMELINE_PAGE_SIZE) -> TimelinePage:
    """The customer's events, newest first, in pages keyed by (occurred_at, id)."""
    qs = CustomerEvent.objects.filter(customer=customer).select_related("actor")
    if cursor:
        try:
            data = signing.loads(cursor, salt=_CURSOR_SALT + ".timeline")
            at = dt.datetime.fromisoformat(str(data["at"]))
            pk = int(data["pk"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            pass
        else:
            qs = qs.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, pk__lt=pk))
    rows = list(qs.order_by("-occurred_at", "-pk")[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = signing.dumps({"at": last.occurred_at.isoformat(), "pk": last.pk},
                                    salt=_CURSOR_SALT + ".timeline")
    return TimelinePage(events=rows[:limit], next_cursor=next_cursor)


# ---------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    count: int
    share: float  # of the largest bar, 0..1, for the bar's width
    clv: Decimal | None = None


@dataclass(frozen=True)
class Dashboard:
    total: int
    equity: Decimal
    stages: list[Bar]
    tiers: list[Bar]
    segments: list[Bar]
    due_soon: int


def _bars(rows: list[tuple[str, str, int, Decimal | None]]) -> list[Bar]:
    top = max((r[2] for r in rows), default=0) or 1
    return [Bar(key=k, label=label, count=n, share=n / top, clv=clv) for k, label, n, clv in rows]


@dataclass(frozen=True)
class ValueCell:
    """One group of ``value_cells``: how many visible customers share these latest figures."""

    scored: bool  # has a score in the latest run (``customer.value``)
    stage: str  # the lifecycle stage; a customer never scored counts as a prospect
    tier: str  # "" when not scored
    rfm_r: int | None
    rfm_f: int | None
    segment: str
    due: bool  # expected to buy within the dashboard's horizon
    old_tier: str | None  # the tier in the run before (None: not in it, or not asked)
    count: int
    clv: Decimal | None


def value_cells(*, user: User, due_within_days: int = 14,
                previous_run: int | None = None) -> list[ValueCell]:
    """The customers ``user`` may see, grouped by their latest figures, in one pass.

    Every dashboard aggregate (stages, tiers and their value, RFM segments and grid, customers
    due, and with ``previous_run`` the tier migration from that run) is a sum over these
    cells, so the customer table and the latest scores are read once instead of once per
    chart: seven joins over a rep's 50,000 customers cost 8 s cold, this one about a seventh.
    There are at most a few thousand cells (stage × tier × R × F × segment, which go together).
    """
    from guanxi.value.models import CustomerScore

    today = clock.today()
    qs = customers_visible(user=user).order_by().annotate(
        due=Case(When(value__expected_next_purchase__gte=today,
                      value__expected_next_purchase__lte=today
                      + dt.timedelta(days=due_within_days), then=Value(True)),
                 default=Value(False), output_field=BooleanField()))
    fields = ["value__lifecycle_stage", "value__value_tier", "value__rfm_r", "value__rfm_f",
              "value__rfm_segment", "due"]
    if previous_run is not None:
        qs = qs.annotate(old_tier=Subquery(
            CustomerScore.objects.filter(run_id=previous_run, customer_id=OuterRef("pk"))
            .values("value_tier")[:1]))
        fields.append("old_tier")
    cells = []
    for r in qs.values(*fields).annotate(n=Count("pk"), clv=Sum("value__clv")):
        stage = r["value__lifecycle_stage"]
        scored = stage is not None
        cells.append(ValueCell(
            scored=scored, stage=stage or LifecycleStage.PROSPECT.value,
            tier=r["value__value_tier"] or "", rfm_r=r["value__rfm_r"], rfm_f=r["value__rfm_f"],
            segment=(r["value__rfm_segment"] or "") if scored else "",
            due=bool(r["due"]), old_tier=r.get("old_tier"), count=r["n"], clv=r["clv"]))
    return cells


def dashboard(*, user: User, due_within_days: int = 14) -> Dashboard:
    """Aggregates over the customers ``user`` may see, no personal data (see ``value_cells``).

    The CLV sum is the equity of the visible customers as last scored (undiscounted across
    customers: each CLV is already a present value).
    """
    return dashboard_from_cells(value_cells(user=user, due_within_days=due_within_days))


def dashboard_from_cells(cells: list[ValueCell]) -> Dashboard:
    # The figures are the latest score's (``customer.value``); a customer never scored yet
    # has none and counts as a prospect without a tier, as the value engine would put them.
    by_stage: dict[str, int] = {}
    by_tier: dict[str, tuple[int, Decimal | None]] = {}
    by_segment: dict[str, int] = {}
    due = 0
    for c in cells:
        by_stage[c.stage] = by_stage.get(c.stage, 0) + c.count
        n, clv = by_tier.get(c.tier, (0, None))
        by_tier[c.tier] = (n + c.count, clv if c.clv is None
                           else c.clv if clv is None else clv + c.clv)
        if c.segment:
            by_segment[c.segment] = by_segment.get(c.segment, 0) + c.count
        due += c.count if c.due else 0
    segments = sorted(by_segment.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    equity = sum((clv for _n, clv in by_tier.values() if clv is not None), Decimal(0))
    return Dashboard(
        total=sum(by_stage.values()),
        equity=equity,
        stages=_bars([(str(v), str(label), by_stage.get(v, 0), None)
                      for v, label in LifecycleStage.choices]),
        tiers=_bars([(str(v), str(label), *by_tier.get(v, (0, None)))
                     for v, label in ValueTier.choices]),
        segments=_bars([(k, k, n, None) for k, n in segments]),
        due_soon=due,
    )
