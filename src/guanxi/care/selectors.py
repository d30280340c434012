"""Reads and access checks of the care domain: tasks, offers and every rep's work queue.

Who sees which tasks: a task belongs to its owner. A person sees (and works) their own tasks; a
manager also their team's; an admin everyone's. Nobody else sees a task — an analyst or a
service agent has a queue only of reminders they set themselves. A task someone may not see is
"not found", like a customer.

Offers come from ``guanxi.analytics.recommend`` fitted on the order lines of the last
``OFFER_HISTORY_DAYS`` days (of a sample of customers on a large base); the fit is kept in
memory and in the shared file cache for the day (and refitted when new orders arrive), so only
the first queue of the day anywhere pays for the fit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.db.models import F, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext

from guanxi.accounts.models import Role, User
from guanxi.analytics.recommend import CoPurchaseRecommender
from guanxi.care.errors import CareErrorCode
from guanxi.care.models import Task, TaskStatus
from guanxi.core import clock
from guanxi.core.errors import NotFound, PermissionDenied
from guanxi.customers.models import Customer, MemoryNote, NoteCategory
from guanxi.customers.selectors import access_customer
from guanxi.retention.selectors import alerts_open, replenishments_due
from guanxi.sales.models import NOT_A_PURCHASE, OrderLine, Product
from guanxi.value.models import CustomerValue

OFFER_HISTORY_DAYS = 730
SAMPLE_CUSTOMERS = 200_000
SHARED_KEY = "care-offer-model"
PINNED_NOTES = 3


def _owners_in_scope(user: User) -> list[int] | None:
    """Owner ids whose tasks ``user`` sees; None = everyone's (admin)."""
    if user.is_admin_role:
        return None
    owners = [user.pk]
    if user.role == Role.MANAGER:
        owners += list(User.objects.filter(manager=user).values_list("pk", flat=True))
    return owners


def tasks_visible(*, user: User) -> QuerySet[Task]:
    qs = Task.objects.select_related("customer", "owner")
    owners = _owners_in_scope(user)
    return qs if owners is None else qs.filter(owner_id__in=owners)


def access_task(*, user: User, task_id: int, write: bool = False) -> Task:
    """A task the user may see; with ``write``, one they may also work on.

    Seeing is working here: the owner, their manager and admins may complete, snooze or
    dismiss a task (a manager covers for an absent rep). A rep who lost the customer to
    another rep keeps the task until someone reassigns it.
    """
    try:
        task = tasks_visible(user=user).get(pk=task_id)
    except Task.DoesNotExist:
        raise NotFound(CareErrorCode.TASK_NOT_FOUND, f"Task {task_id} does not exist.") from None
    if write and task.owner_id is None and not user.is_admin_role:
        raise PermissionDenied(CareErrorCode.READ_ONLY, "Only an admin works unassigned tasks.")
    return task


def can_assign_task_to(user: User, owner: User) -> bool:
    owners = _owners_in_scope(user)
    return owners is None or owner.pk in owners


def task_list(*, user: User, start: dt.date | None = None, end: dt.date | None = None,
              status: str | None = None, owner_id: int | None = None,
              kind: str | None = None, customer_id: int | None = None) -> QuerySet[Task]:
    """Tasks the user may see, by due day; filters are optional."""
    qs = tasks_visible(user=user)
    if start is not None:
        qs = qs.filter(due_on__gte=start)
    if end is not None:
        qs = qs.filter(due_on__lte=end)
    if status:
        qs = qs.filter(status=status)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if kind:
        qs = qs.filter(kind=kind)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    return qs.order_by("due_on", "id")


def _due_q(as_of: dt.date) -> Q:
    """Pending and asking for attention on ``as_of``: open and due, or snoozed until then."""
    return (Q(status=TaskStatus.OPEN, due_on__lte=as_of)
            | Q(status=TaskStatus.SNOOZED, snoozed_until__lte=as_of))


# --- offers ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Offer:
    product_id: int
    product: str
    because_id: int
    because: str
    confidence: float
    lift: float
    sequential: bool

    @property
    def reason(self) -> str:
        share = round(100 * self.confidence)
        if self.sequential:
            return gettext("bought %(a)s; %(share)d%% of %(a)s buyers then buy %(b)s") % {
                "a": self.because, "b": self.product, "share": share}
        return gettext("bought %(a)s; %(share)d%% of %(a)s buyers also buy %(b)s") % {
            "a": self.because, "b": self.product, "share": share}


@dataclasses.dataclass
class _Fitted:
    key: tuple[dt.date, int | None]
    model: CoPurchaseRecommender
    products: dict[int, tuple[str, str]]


_fit_lock = threading.Lock()
_fitted: dict[str, _Fitted] = {}


def _purchase_lines(since: dt.date, customer_ids: list[int] | None = None) -> QuerySet[Any]:
    qs = (OrderLine.objects.filter(product__isnull=False,
                                   order__placed_at__gte=clock.start_of_day(since))
          .exclude(order__status__in=NOT_A_PURCHASE))
    if customer_ids is not None:
        qs = qs.filter(order__customer_id__in=customer_ids)
    return qs


def _training_rows(since: dt.date) -> list[tuple[int, int, dt.date]]:
    """(customer, product, first purchase of it) for a sample of at most ``SAMPLE_CUSTOMERS``.

    The rules are shares of buyers, which a sample of 200,000 customers estimates well; taking
    every customer of a large base would cost minutes and gigabytes (pairs grow with the square
    of each customer's products). Customers are sampled by id (every k-th), so the sample is
    the same all day. Offers still reach every customer: rules are about products.
    """
    step = max(1, math.ceil(Customer.objects.count() / SAMPLE_CUSTOMERS))
    qs = _purchase_lines(since)
    if step > 1:
        qs = qs.annotate(bucket=F("order__customer_id") % step).filter(bucket=0)
    return list(qs.values("order__customer_id", "product_id")
                # The company's day, computed by the database: parsing a million aware
                # datetimes and converting each to local time took longer than the query.
                .annotate(first=Min(TruncDate("order__placed_at")))
                .values_list("order__customer_id", "product_id", "first"))


def _model() -> _Fitted:
    """The recommender fitted on recent order lines, refitted when the day or the orders change."""
    today = clock.today()
    since = today - dt.timedelta(days=OFFER_HISTORY_DAYS)
    key = (today, OrderLine.objects.aggregate(m=Max("pk"))["m"])
    with _fit_lock:
        cached = _fitted.get("model")
        if cached is not None and cached.key == key:
            return cached
        # Another process (a web worker, the CLI) may have fitted it today already.
        shared = _shared_cache().get(SHARED_KEY)
        if isinstance(shared, _Fitted) and shared.key == key:
            _fitted["model"] = shared
            return shared
        rows = _training_rows(since)
        if rows:
            cust = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            prod = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            day = np.fromiter((r[2].toordinal() for r in rows), dtype=np.int64,
                              count=len(rows))
        else:
            cust = prod = day = np.zeros(0, dtype=np.int64)
        model = CoPurchaseRecommender().fit(cust, prod, day)
        wanted = set(model.items_.tolist())
        products = {pk: (name, category) for pk, name, category in
                    Product.objects.filter(pk__in=wanted).values_list("pk", "name", "category")}
        cached = _Fitted(key=key, model=model, products=products)
        _fitted["model"] = cached
        _shared_cache().set(SHARED_KEY, cached, timeout=2 * 86400)
        return cached


def _shared_cache() -> BaseCache:
    """The cache every process shares (files in the data dir), else the default one."""
    return caches["dashboard"] if "dashboard" in settings.CACHES else caches["default"]


def offers_cache_clear() -> None:
    """Forget the fitted model (tests: ids repeat across rolled-back transactions)."""
    with _fit_lock:
        _fitted.clear()
        _shared_cache().delete(SHARED_KEY)


def _taboo_exclusions(customer_ids: list[int],
                      products: dict[int, tuple[str, str]]) -> tuple[list[int], list[int]]:
    """(customer, product) pairs a taboo note rules out.

    A product is excluded for a customer when its name or its category appears (case-folded)
    in the text of one of the customer's taboo notes: "no alcohol" rules out the category
    "alcohol"; "不喝白酒" rules out a product named 白酒.
    """
    taboos: dict[int, list[str]] = defaultdict(list)
    for cid, text in (MemoryNote.objects.filter(customer_id__in=customer_ids,
                                                category=NoteCategory.TABOO)
                      .values_list("customer_id", "text")):
        taboos[cid].append(text.casefold())
    ex_c: list[int] = []
    ex_p: list[int] = []
    for cid, texts in taboos.items():
        for pk, (name, category) in products.items():
            words = [w.casefold() for w in (name, category) if w and len(w.strip()) > 1]
            if any(w in t for w in words for t in texts):
                ex_c.append(cid)
                ex_p.append(pk)
    return ex_c, ex_p


def offers_for_customers(*, customer_ids: list[int], top_k: int = 3) -> dict[int, list[Offer]]:
    """The best offers for each of ``customer_ids`` (already access-checked by the caller)."""
    if not customer_ids:
        return {}
    fitted = _model()
    since = clock.today() - dt.timedelta(days=OFFER_HISTORY_DAYS)
    owned = list(_purchase_lines(since, customer_ids)
                 .values_list("order__customer_id", "product_id").distinct())
    ex_c, ex_p = _taboo_exclusions(customer_ids, fitted.products)
    offers = fitted.model.recommend([c for c, _ in owned], [p for _, p in owned], top_k=top_k,
                                    exclude_customer=ex_c, exclude_item=ex_p)
    result: dict[int, list[Offer]] = defaultdict(list)
    for i in range(len(offers)):
        pid, because = int(offers.item[i]), int(offers.because[i])
        result[int(offers.customer[i])].append(Offer(
            product_id=pid, product=fitted.products.get(pid, ("?", ""))[0],
            because_id=because, because=fitted.products.get(because, ("?", ""))[0],
            confidence=float(offers.confidence[i]), lift=float(offers.lift[i]),
            sequential=bool(offers.sequential[i])))
    return dict(result)


def offers_for(*, user: User, customer_id: int, top_k: int = 3) -> list[Offer]:
    """Offers for one customer the user may see (others are "not found")."""
    customer = access_customer(user=user, customer_id=customer_id)
    return offers_for_customers(customer_ids=[customer.pk], top_k=top_k).get(customer.pk, [])


# --- the work queue ----------------------------------------------------------------------------

@dataclasses.dataclass
class QueueItem:
    """One thing to do today, with what the rep needs at hand."""

    source: str  # "task", "alert" or "replenishment"
    id: int
    kind: str
    kind_label: str
    customer_id: int
    customer_name: str
    title: str
    reason: str
    due_on: dt.date
    days_overdue: int
    value: Decimal
    owner: str
    message: str = ""
    channel: str = ""
    status: str = TaskStatus.OPEN
    notes: list[str] = dataclasses.field(default_factory=list)
    offer: Offer | None = None


def _clv(customer_ids: list[int]) -> dict[int, Decimal]:
    return {cid: clv for cid, clv in CustomerValue.objects.filter(customer_id__in=customer_ids)
            .values_list("customer_id", "clv") if clv is not None}


def _pinned_notes(customer_ids: list[int]) -> dict[int, list[str]]:
    notes: dict[int, list[str]] = defaultdict(list)
    for cid, text in (MemoryNote.objects.filter(customer_id__in=customer_ids, pinned=True)
                      .order_by("customer_id", "-created_at", "-pk")
                      .values_list("customer_id", "text")):
        if len(notes[cid]) < PINNED_NOTES:
            notes[cid].append(text)
    return notes


def queue_for(*, user: User, as_of: dt.date | None = None, offers: bool = True,
              limit: int = 200) -> list[QueueItem]:
    """``user``'s work for ``as_of`` (default today), the most valuable first.

    Their pending tasks due by then (overdue included; snoozed ones from their wake-up day),
    the open churn alerts and the replenishments due of the customers they own. Value at stake:
    an alert's CLV at risk, a replenishment's expected purchase, the customer's CLV for a task.
    Ties: the most overdue first.
    """
    day = as_of or clock.today()
    items: list[QueueItem] = []
    tasks = (Task.objects.filter(owner=user).filter(_due_q(day))
             .select_related("customer").order_by("due_on", "id")[:limit])
    for t in tasks:
        due = t.snoozed_until if t.status == TaskStatus.SNOOZED and t.snoozed_until else t.due_on
        items.append(QueueItem(
            source="task", id=t.pk, kind=t.kind, kind_label=str(t.get_kind_display()),
            customer_id=t.customer_id, customer_name=t.customer.name, title=t.title,
            reason=t.message, due_on=due, days_overdue=max((day - t.due_on).days, 0),
            value=Decimal(0), owner=user.get_username(), message=t.message,
            channel=t.channel, status=t.status))
    for a in alerts_open(user=user, as_of=day).filter(customer__owner=user)[:limit]:
        items.append(QueueItem(
            source="alert", id=a.pk, kind="churn", kind_label=gettext("Churn alert"),
            customer_id=a.customer_id, customer_name=a.customer.name,
            title=gettext("%(name)s may be slipping away") % {"name": a.customer.name},
            reason=a.reason, due_on=a.raised_on, days_overdue=max((day - a.raised_on).days, 0),
            value=a.value_at_stake or Decimal(0), owner=user.get_username()))
    for r in replenishments_due(user=user, as_of=day).filter(customer__owner=user)[:limit]:
        items.append(QueueItem(
            source="replenishment", id=r.pk, kind="replenishment",
            kind_label=gettext("Replenishment"), customer_id=r.customer_id,
            customer_name=r.customer.name,
            title=gettext("%(name)s: %(item)s runs out") % {"name": r.customer.name,
                                                            "item": r.item_name},
            reason=r.reason, due_on=r.due_on, days_overdue=max((day - r.due_on).days, 0),
            value=r.value or Decimal(0), owner=user.get_username()))
    customer_ids = sorted({i.customer_id for i in items})
    clv = _clv(customer_ids)
    for i in items:
        if i.source == "task":
            i.value = clv.get(i.customer_id, Decimal(0))
    notes = _pinned_notes(customer_ids)
    found = offers_for_customers(customer_ids=customer_ids, top_k=1) if offers else {}
    for i in items:
        i.notes = notes.get(i.customer_id, [])
        offered = found.get(i.customer_id)
        i.offer = offered[0] if offered else None
    items.sort(key=lambda i: (-i.value, -i.days_overdue, i.due_on, i.source, i.id))
    return items[:limit]


@dataclasses.dataclass
class TeamRow:
    user_id: int
    username: str
    due_today: int
    overdue: int
    done_today: int


def team_overview(*, user: User, as_of: dt.date | None = None) -> list[TeamRow]:
    """For a manager (or admin): per person, tasks due, undone (overdue open) and done today.

    "Overdue" counts open tasks whose day has passed — the work that went undone.
    """
    day = as_of or clock.today()
    if user.is_admin_role:
        people = User.objects.filter(is_active=True, role__in=[Role.MANAGER, Role.REP])
    elif user.role == Role.MANAGER:
        people = User.objects.filter(Q(pk=user.pk) | Q(manager=user), is_active=True)
    else:
        raise PermissionDenied(CareErrorCode.READ_ONLY, "Only managers see their team's queues.")
    rows = []
    start = clock.start_of_day(day)
    end = clock.start_of_day(day + dt.timedelta(days=1))
    for person in people.order_by("username"):
        mine = Task.objects.filter(owner=person)
        rows.append(TeamRow(
            user_id=person.pk, username=person.get_username(),
            due_today=mine.filter(_due_q(day)).count(),
            overdue=mine.filter(status=TaskStatus.OPEN, due_on__lt=day).count(),
            done_today=mine.filter(status=TaskStatus.DONE, done_at__gte=start,
                                   done_at__lt=end).count()))
    return rows


def queue_user(*, user: User, username: str | None) -> User:
    """Whose queue ``user`` may open: their own, or a team member's for a manager."""
    if not username or username == user.get_username():
        return user
    try:
        person = User.objects.get(username=username)
    except User.DoesNotExist:
        raise NotFound(CareErrorCode.USER_NOT_FOUND, f"No user {username!r}.") from None
    if not can_assign_task_to(user, person):
        raise NotFound(CareErrorCode.USER_NOT_FOUND, f"No user {username!r}.")
    return person
