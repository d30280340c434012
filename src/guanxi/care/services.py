"""Writes of the care domain: the daily care calendar and what people do with tasks.

``care_tasks_create`` is idempotent: every task it makes has a key
``kind:customer:occasion:year`` (unique in the database), so a second run on the same day — or
the next day, whose 14-day horizon overlaps — creates nothing it already made, and two runs at
once cannot both insert the same task (the loser's rows are skipped by the unique key).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import CharField, Exists, Min, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat, TruncDate
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from guanxi.accounts.models import User
from guanxi.care import calendar
from guanxi.care.conf import CareSettings, care_settings
from guanxi.care.errors import CareErrorCode
from guanxi.care.messages import draft
from guanxi.care.models import PENDING, Task, TaskKind, TaskStatus
from guanxi.core import clock
from guanxi.core.arrays import read_columns
from guanxi.core.errors import ValidationFailed
from guanxi.core.planner import planner_setting
from guanxi.customers.models import (
    Consent,
    ConsentPurpose,
    Customer,
    DateKind,
    ImportantDate,
    MemoryNote,
    NoteCategory,
)
from guanxi.sales.models import NOT_A_PURCHASE, Order
from guanxi.value.models import CustomerValue
from guanxi.value.selectors import latest_run

# Rows per query / insert batch when drafting many tasks (a festival for every customer).
CHUNK = 5000
# A missed daily run still creates the thank-you of a first purchase up to this many days late.
THANK_YOU_LOOKBACK_DAYS = 7
CHINESE_COUNTRIES = frozenset({"CN", "HK", "MO", "TW", "SG"})

Counts = dict[str, dict[str, int]]


@dataclasses.dataclass
class _Candidate:
    key: str
    kind: TaskKind
    customer_id: int
    due_on: dt.date
    # What the occasion is called, in English and Chinese (titles and messages).
    occasion: str
    occasion_zh: str
    years: int | None = None
    # Words that, found in a taboo note, cancel the task ("birthday", "生日"...).
    taboo_words: tuple[str, ...] = ()
    # The occasion in a title the rep reads, when the message's wording (to the customer) does
    # not fit there.
    label: str = ""
    label_zh: str = ""


def _key(kind: TaskKind, customer_id: int, occasion: str, year: int) -> str:
    return f"{kind.value}:{customer_id}:{occasion}:{year}"


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _month_day_filter(field: str, days: Iterable[dt.date]) -> Q:
    """``field`` falls on one of ``days``' month/day (any year); 29 Feb joins 28 Feb."""
    pairs = {(d.month, d.day) for d in days}
    if (2, 28) in pairs:
        pairs.add((2, 29))  # a 29 February date falls on the 28th in common years
    q = Q()
    for month, day in sorted(pairs):
        q |= Q(**{f"{field}__month": month, f"{field}__day": day})
    return q


def _lunar_month_day_filter(days: Iterable[dt.date]) -> Q:
    """Lunar dates (stored as month/day) whose occurrence may fall on one of ``days``."""
    pairs: set[tuple[int, int]] = set()
    for d in days:
        _year, month, day, leap = calendar.lunar_of(d)
        if leap:
            continue  # dates are kept in the regular month (see care.calendar)
        pairs.add((month, day))
        if day == 29 and calendar.lunar_of(d + dt.timedelta(days=1))[2] == 1:
            pairs.add((month, 30))  # the 30th of a 29-day month falls on the 29th
    q = Q(pk__in=[])
    for month, day in sorted(pairs):
        q |= Q(date__month=month, date__day=day)
    return q


BIRTHDAY_WORDS = ("birthday", "生日")
ANNIVERSARY_WORDS = ("anniversary", "纪念")


def _birthdays(start: dt.date, end: dt.date) -> Iterator[_Candidate]:
    days = _days(start, end)
    # Profile birthdays (Gregorian), unless an important date of kind birthday says better
    # (it may be the lunar one the family celebrates).
    profile = (Customer.objects.filter(is_active=True, birthday__isnull=False)
               .filter(_month_day_filter("birthday", days))
               .exclude(important_dates__kind=DateKind.BIRTHDAY)
               .values_list("pk", "birthday"))
    for cid, born in profile.iterator(chunk_size=CHUNK):
        if born is None:  # pragma: no cover - filtered out above
            continue
        hit = calendar.occurrence_in_window(born, is_lunar=False, yearly=True, start=start,
                                            end=end)
        if hit:
            yield _Candidate(key=_key(TaskKind.BIRTHDAY, cid, "profile", hit[1]),
                             kind=TaskKind.BIRTHDAY, customer_id=cid, due_on=hit[0],
                             occasion="Birthday", occasion_zh="生日", taboo_words=BIRTHDAY_WORDS)
    dates = (ImportantDate.objects.filter(customer__is_active=True)
             .filter((Q(is_lunar=False) & _month_day_filter("date", days))
                     | (Q(is_lunar=True) & _lunar_month_day_filter(days)))
             .values_list("pk", "customer_id", "kind", "label", "date", "is_lunar", "yearly"))
    for pk, cid, kind, label, date, is_lunar, yearly in dates.iterator(chunk_size=CHUNK):
        hit = calendar.occurrence_in_window(date, is_lunar=is_lunar, yearly=yearly,
                                            start=start, end=end)
        if not hit:
            continue
        if kind == DateKind.BIRTHDAY:
            yield _Candidate(key=_key(TaskKind.BIRTHDAY, cid, f"d{pk}", hit[1]),
                             kind=TaskKind.BIRTHDAY, customer_id=cid, due_on=hit[0],
                             occasion=label or "Birthday", occasion_zh=label or "生日",
                             taboo_words=BIRTHDAY_WORDS)
        else:
            years = hit[1] - date.year if yearly and date.year > 1 else None
            yield _Candidate(key=_key(TaskKind.ANNIVERSARY, cid, f"d{pk}", hit[1]),
                             kind=TaskKind.ANNIVERSARY, customer_id=cid, due_on=hit[0],
                             occasion=label or "Anniversary", occasion_zh=label or "纪念日",
                             years=years if years and years > 0 else None,
                             taboo_words=ANNIVERSARY_WORDS)


def _local_day(when: dt.datetime) -> dt.date:
    return timezone.localtime(when).date()


def _purchases() -> Any:
    return Order.objects.exclude(status__in=NOT_A_PURCHASE)


def _first_purchase_anniversaries(start: dt.date, end: dt.date) -> Iterator[_Candidate]:
    """Customers whose first purchase was on this window's month/day in an earlier year.

    Read from the latest scoring (``CustomerValue.first_purchase_at``: one pass over the
    customers, where the orders would be ten times as many rows; ``guanxi daily`` scores
    first, and a first purchase since the last scoring has no anniversary yet anyway). Before
    any scoring, from the orders: the customers with a purchase on those days of earlier years,
    then the first purchase of just those.
    """
    days = _days(start, end)
    before = clock.start_of_day(start - dt.timedelta(days=300))
    if latest_run() is not None:
        ids, first = _first_purchases_on(days, before)
    else:
        ids, first = _first_purchases_from_orders(days, before)
    when, year = _yearly_in_window(first, start, end)
    # Only from the first anniversary on (the first purchase itself is no anniversary).
    hit = np.flatnonzero(~np.isnat(when) & (year > first.astype("datetime64[Y]").astype(
        np.int64) + 1970))
    for cid, due, in_year, years in zip(
            ids[hit].tolist(), when[hit].astype(dt.date).tolist(), year[hit].tolist(),
            (year[hit] - first[hit].astype("datetime64[Y]").astype(np.int64) - 1970).tolist(),
            strict=True):
        yield _Candidate(
            key=_key(TaskKind.ANNIVERSARY, cid, "first_purchase", in_year),
            kind=TaskKind.ANNIVERSARY, customer_id=cid, due_on=due,
            occasion="the anniversary of your first purchase with us",
            occasion_zh="您第一次选购我们产品的纪念日", years=years,
            taboo_words=ANNIVERSARY_WORDS, label="first purchase anniversary",
            label_zh="首次购买纪念日")


def _yearly_in_window(first: npt.NDArray[np.datetime64], start: dt.date, end: dt.date
                      ) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """The earliest yearly occurrence of each Gregorian day in ``[start, end]`` and its year
    (NaT where none): ``calendar.occurrence_in_window`` for a column of days at once.

    29 February falls on the 28th in common years (the last day of the month).
    """
    month = first.astype("datetime64[M]")
    month_of_year = month.astype(np.int64) % 12
    day_of_month = (first - month.astype("datetime64[D]")).astype(np.int64)
    when = np.full(first.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    year = np.zeros(first.shape, dtype=np.int64)
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    # Later years first, so the earliest occurrence in the window is the one that stays.
    for candidate in (start.year + 1, start.year, start.year - 1):
        in_month = np.datetime64(f"{candidate:04d}-01", "M") + month_of_year
        day = np.minimum(in_month.astype("datetime64[D]") + day_of_month,
                         (in_month + 1).astype("datetime64[D]") - 1)
        inside = ~np.isnat(first) & (day >= lo) & (day <= hi)
        when = np.where(inside, day, when)
        year = np.where(inside, candidate, year)
    return when, year


def _inactive_ids() -> npt.NDArray[np.int64]:
    """Ids of merged (inactive) customers, sorted: few, and found by their index, where a join
    of a million scores with the customers costs half a second."""
    return np.sort(read_columns(Customer.objects.filter(is_active=False)
                                .values_list("pk"), ("int",))[0])


def _first_purchases_on(days: list[dt.date], before: dt.datetime
                        ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    """Active scored buyers whose first purchase (company day) falls on one of ``days``'
    month/day, and that day.

    Every buyer's first purchase day is read as a packed column and matched in numpy: a month
    and day filter in SQL cannot use an index and cost more than reading them all. Merged
    customers are dropped by id rather than by a join (a deleted customer's scores go with it).
    """
    ids, first = read_columns(
        CustomerValue.objects.filter(first_purchase_at__lt=before)
        .values_list("customer_id", TruncDate("first_purchase_at")), ("int", "day"))
    pairs = {d.month * 100 + d.day for d in days}
    if 228 in pairs:
        pairs.add(229)  # a 29 February date falls on the 28th in common years
    month_start = first.astype("datetime64[M]")
    code = ((month_start.astype(np.int64) % 12 + 1) * 100
            + (first - month_start.astype("datetime64[D]")).astype(np.int64) + 1)
    hit = np.flatnonzero(np.isin(code, list(pairs)) & ~np.isnat(first))
    hit = hit[~np.isin(ids[hit], _inactive_ids())]
    order = np.argsort(ids[hit], kind="stable")
    return ids[hit][order], first[hit][order]


def _first_purchases_from_orders(days: list[dt.date], before: dt.datetime
                                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    candidates = set(_purchases().filter(placed_at__lt=before)
                     .filter(_month_day_filter("placed_at", days))
                     .values_list("customer_id", flat=True).distinct())
    ids = sorted(candidates)
    found: list[tuple[int, dt.date]] = []
    for i in range(0, len(ids), CHUNK):
        firsts = (_purchases().filter(customer_id__in=ids[i:i + CHUNK],
                                      customer__is_active=True)
                  .values("customer_id").annotate(first=Min("placed_at")))
        found += [(row["customer_id"], _local_day(row["first"])) for row in firsts]
    found.sort()
    return (np.array([cid for cid, _ in found], dtype=np.int64),
            np.array([day for _, day in found], dtype="datetime64[D]"))


def _partnership_anniversaries(start: dt.date, end: dt.date) -> Iterator[_Candidate]:
    """Key accounts: the anniversary of the day their key-account plan began (insights)."""
    from guanxi.insights.models import KeyAccountPlan

    plans = (KeyAccountPlan.objects.filter(account__is_active=True)
             .filter(_month_day_filter("created_at", _days(start, end)))
             .values_list("pk", "account_id", "created_at"))
    for pk, cid, created_at in plans.iterator(chunk_size=CHUNK):
        began = _local_day(created_at)
        hit = calendar.occurrence_in_window(began, is_lunar=False, yearly=True, start=start,
                                            end=end)
        if not hit or hit[1] <= began.year:
            continue
        yield _Candidate(key=_key(TaskKind.ANNIVERSARY, cid, f"partner{pk}", hit[1]),
                         kind=TaskKind.ANNIVERSARY, customer_id=cid, due_on=hit[0],
                         occasion="the anniversary of our partnership",
                         occasion_zh="我们合作的周年纪念日", years=hit[1] - began.year,
                         taboo_words=ANNIVERSARY_WORDS, label="partnership anniversary",
                         label_zh="合作周年纪念")


def _thank_yous(conf: CareSettings, as_of: dt.date, end: dt.date) -> Iterator[_Candidate]:
    """A thank-you the day(s) after a customer's first purchase."""
    after = conf.thank_you_after_days or 0
    since = clock.start_of_day(as_of - dt.timedelta(days=after + THANK_YOU_LOOKBACK_DAYS))
    # Buyers of the window with no purchase before it, in one statement (each buyer's earlier
    # purchase is one probe of the (customer, time) index), not a lookup query per chunk.
    earlier = _purchases().filter(customer_id=OuterRef("customer_id"), placed_at__lt=since)
    recent = (_purchases().filter(placed_at__gte=since,
                                  placed_at__lt=clock.start_of_day(as_of + dt.timedelta(days=1)),
                                  customer__is_active=True)
              .filter(~Exists(earlier))
              .values("customer_id").annotate(first=Min("placed_at"))
              .order_by("customer_id").values_list("customer_id", "first"))
    # No sequential scan: the orders have no index by time alone, and reading the whole
    # (customer, time) index for the window's days, a third of the table's size, in one
    # process took 0.3 s at 11 million orders, where the planner's choice, a parallel scan of
    # the table, took 0.8 s on three processes (it does not cost an index by its second
    # column that way).
    with planner_setting("enable_seqscan", "off"):
        rows = list(recent)
    for cid, first_at in rows:
        first = _local_day(first_at)
        due = first + dt.timedelta(days=after)
        if due > end:
            continue
        yield _Candidate(key=_key(TaskKind.THANK_YOU, cid, "first_order", first.year),
                         kind=TaskKind.THANK_YOU, customer_id=cid, due_on=due,
                         occasion="Thank you for the first order",
                         occasion_zh="感谢首次购买")


def _festivals(conf: CareSettings, start: dt.date, end: dt.date, *, known_from: dt.date,
               counts: Counts) -> Iterator[_Candidate]:
    """A greeting for every customer of the audience who has none yet for a festival in the
    window; those who have one (due from ``known_from`` on) are counted as unchanged.

    The audience (every buyer: a million on a large base) and the customers already greeted
    are integer arrays, so the day after a festival's first run costs two packed reads, not a
    candidate and a key per customer.
    """
    audience = Customer.objects.filter(is_active=True, last_purchase_at__isnull=False)
    if conf.festival_tiers is not None:
        audience = audience.filter(value__value_tier__in=conf.festival_tiers)
    ids: npt.NDArray[np.int64] | None = None
    for code, spec in conf.festivals.items():
        for when, year in calendar.festival_dates(spec, country=conf.country, start=start,
                                                  end=end):
            if ids is None:
                ids = np.unique(read_columns(audience.values_list("pk"), ("int",))[0])
            # The tasks whose key is this festival's for their own customer.
            greeted = Task.objects.filter(
                due_on__gte=known_from, due_on__lte=end,
                key=Concat(Value(f"{TaskKind.FESTIVAL.value}:"),
                           Cast("customer_id", CharField()), Value(f":{code}:{year}")))
            known = np.isin(ids, read_columns(greeted.values_list("customer_id"), ("int",))[0])
            counts[TaskKind.FESTIVAL]["unchanged"] += int(known.sum())
            label = str(spec.get("label", code))
            label_zh = str(spec.get("label_zh", label))
            words = tuple(w for w in (label.lower(), label_zh) if w)
            for cid in ids[~known].tolist():
                yield _Candidate(key=_key(TaskKind.FESTIVAL, cid, code, year),
                                 kind=TaskKind.FESTIVAL, customer_id=cid, due_on=when,
                                 occasion=label, occasion_zh=label_zh, taboo_words=words)


def _language(conf: CareSettings, country: str) -> str:
    if conf.language != "auto":
        return conf.language
    return "zh-hans" if (country or "CN").upper() in CHINESE_COUNTRIES else "en"


def _purpose(kind: TaskKind) -> str:
    # A thank-you for an order is service; greetings are (soft) marketing.
    return _SERVICE if kind is TaskKind.THANK_YOU else _MARKETING


_SERVICE, _MARKETING = ConsentPurpose.SERVICE.value, ConsentPurpose.MARKETING.value


@dataclasses.dataclass
class _Profile:
    name: str
    country: str
    owner_id: int | None
    preference: str = ""
    taboos: list[str] = dataclasses.field(default_factory=list)
    channels: dict[str, set[str]] = dataclasses.field(default_factory=lambda: defaultdict(set))


def _id_filter(field: str, ids: list[int]) -> Q:
    """``field`` among the sorted ``ids``: a range when they are dense (a festival's chunk of
    every customer), cheaper to plan and send than an IN list of 5,000 parameters; rows in the
    range but not in ``ids`` are dropped by the caller."""
    if ids and ids[-1] - ids[0] < 2 * len(ids):
        return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})
    return Q(**{f"{field}__in": ids})


def _profiles(ids: list[int]) -> dict[int, _Profile]:
    wanted = set(ids)
    profiles = {
        pk: _Profile(name=name, country=country, owner_id=owner_id)
        for pk, name, country, owner_id in Customer.objects.filter(_id_filter("pk", ids))
        .values_list("pk", "name", "country", "owner_id") if pk in wanted
    }
    notes = (MemoryNote.objects.filter(_id_filter("customer_id", ids))
             .filter(Q(category=NoteCategory.TABOO) | Q(category=NoteCategory.PREFERENCE,
                                                        pinned=True))
             .order_by("customer_id", "-created_at")
             .values_list("customer_id", "category", "text"))
    for cid, category, text in notes:
        profile = profiles.get(cid)
        if profile is None:
            continue
        if category == NoteCategory.TABOO:
            profile.taboos.append(text.lower())
        elif not profile.preference:
            profile.preference = text
    for cid, channel, purpose in (Consent.objects.filter(_id_filter("customer_id", ids),
                                                         granted=True)
                                  .values_list("customer_id", "channel", "purpose")):
        if cid in profiles:
            profiles[cid].channels[purpose].add(channel)
    return profiles


def _is_taboo(words: Iterable[str], taboos: list[str]) -> bool:
    return any(w and w.lower() in t for w in words for t in taboos)


# Stands for the customer's name while a message or title is rendered once for everyone with
# the same occasion, language and preference (a festival drafts a million of them).
NAME = "\ue000"

_Row = tuple[str, int, int | None, dt.date, str, str, str, str, dt.datetime, str]
ROW_COLUMNS = ("kind", "customer_id", "owner_id", "due_on", "title", "message", "channel",
               "status", "created_at", "key")


class _Drafter:
    """Messages and titles for one run, each rendered once per distinct input."""

    def __init__(self, conf: CareSettings) -> None:
        self.conf = conf
        self.messages: dict[tuple[Any, ...], str] = {}
        self.titles: dict[tuple[Any, ...], str] = {}

    def row(self, c: _Candidate, profile: _Profile, now: dt.datetime) -> _Row:
        conf = self.conf
        lang = _language(conf, profile.country)
        preference = profile.preference
        if preference and _is_taboo([preference], profile.taboos):
            preference = ""  # never quote something a taboo note mentions
        occasion = c.occasion_zh if lang == "zh-hans" else c.occasion
        key = (c.kind, lang, occasion, c.years, preference)
        message = self.messages.get(key)
        if message is None:
            message = draft(c.kind, lang, {"name": NAME, "occasion": occasion,
                                           "years": c.years, "preference": preference},
                            conf.templates)
            self.messages[key] = message
        title = self.titles.get(key[:4])
        if title is None:
            with translation.override(lang):
                title = _title(c, NAME)
            self.titles[key[:4]] = title
        channel = next((ch for ch in conf.channels
                        if ch in profile.channels[_purpose(c.kind)]), "")
        return (c.kind.value, c.customer_id, profile.owner_id, c.due_on,
                title.replace(NAME, profile.name)[:200], message.replace(NAME, profile.name),
                channel, TaskStatus.OPEN.value, now, c.key)


def _title(c: _Candidate, name: str) -> str:
    if translation.get_language() == "zh-hans":
        occasion = c.label_zh or c.occasion_zh
    else:
        occasion = c.label or c.occasion
    if c.kind == TaskKind.BIRTHDAY:
        return gettext("%(name)s: birthday") % {"name": name}
    if c.kind == TaskKind.THANK_YOU:
        return gettext("%(name)s: thank you for the first order") % {"name": name}
    if c.kind == TaskKind.ANNIVERSARY and c.years:
        return ngettext("%(name)s: %(occasion)s (%(n)d year)",
                        "%(name)s: %(occasion)s (%(n)d years)", c.years) % {
            "name": name, "occasion": occasion, "n": c.years}
    return f"{name}: {occasion}"


def care_tasks_create(*, as_of: dt.date, horizon_days: int = 14,
                      overrides: dict[str, Any] | None = None) -> Counts:
    """Create the care tasks due from ``as_of`` to ``as_of + horizon_days`` that do not exist.

    Returns ``{kind: {"created": n, "closed": 0, "unchanged": n, "skipped_taboo": n}}`` for
    every calendar kind (``closed`` is always 0: the calendar closes nothing; it is there so
    ``guanxi daily`` reports every kind alike). ``overrides`` replaces ``GUANXI_CARE`` (tests,
    one-off runs).
    """
    if horizon_days < 0 or horizon_days > 366:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD,
                               "The horizon is between 0 and 366 days.", field="horizon_days")
    conf = care_settings(overrides)
    end = as_of + dt.timedelta(days=horizon_days)
    counts: Counts = {k.value: {"created": 0, "closed": 0, "unchanged": 0, "skipped_taboo": 0}
                      for k in (TaskKind.BIRTHDAY, TaskKind.ANNIVERSARY, TaskKind.FESTIVAL,
                                TaskKind.THANK_YOU)}
    # Every key this run could produce is due in [earliest, end]: one indexed read of the keys
    # already there, instead of one lookup per candidate (festivals compare customer ids).
    earliest = as_of - dt.timedelta(days=(conf.thank_you_after_days or 0)
                                    + THANK_YOU_LOOKBACK_DAYS + 1)
    sources: list[Iterator[_Candidate]] = [
        _festivals(conf, as_of, end, known_from=earliest, counts=counts)]
    if conf.birthdays or conf.anniversaries:
        sources.append(_birthdays(as_of, end))
    if conf.anniversaries:
        sources.append(_first_purchase_anniversaries(as_of, end))
        sources.append(_partnership_anniversaries(as_of, end))
    if conf.thank_you_after_days is not None:
        sources.append(_thank_yous(conf, as_of, end))
    now = clock.now()
    # By kind (its index with the due date's): a festival's million tasks stay unread.
    existing = set(Task.objects.filter(due_on__gte=earliest, due_on__lte=end,
                                       key__isnull=False,
                                       kind__in=[TaskKind.BIRTHDAY, TaskKind.ANNIVERSARY,
                                                 TaskKind.THANK_YOU])
                   .values_list("key", flat=True))
    drafter = _Drafter(conf)
    batch: list[_Candidate] = []
    seen: set[str] = set()
    for source in sources:
        for candidate in source:
            if candidate.key in seen:
                continue
            if candidate.kind == TaskKind.BIRTHDAY and not conf.birthdays:
                continue
            if candidate.kind == TaskKind.ANNIVERSARY and not conf.anniversaries:
                continue
            seen.add(candidate.key)
            if candidate.kind != TaskKind.FESTIVAL and candidate.key in existing:
                counts[candidate.kind]["unchanged"] += 1
                continue
            batch.append(candidate)
            if len(batch) >= CHUNK:
                _write(batch, drafter, now, counts)
                batch = []
    if batch:
        _write(batch, drafter, now, counts)
    return counts


def _write(batch: list[_Candidate], drafter: _Drafter, now: dt.datetime,
           counts: Counts) -> None:
    profiles = _profiles(sorted({c.customer_id for c in batch}))
    rows: list[_Row] = []
    for c in batch:
        profile = profiles.get(c.customer_id)
        if profile is None:
            continue
        if _is_taboo(c.taboo_words, profile.taboos):
            counts[c.kind]["skipped_taboo"] += 1
            continue
        rows.append(drafter.row(c, profile, now))
        counts[c.kind]["created"] += 1
    _insert(rows)


def _insert(rows: list[_Row]) -> None:
    """Insert task rows, skipping keys that exist (a run started at the same time may have
    inserted some since we looked; the unique key keeps one of each).

    PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING (building
    thousands of model objects and a 70,000-parameter INSERT cost more than the drafting).
    """
    if not rows:
        return
    with transaction.atomic():
        if connection.vendor != "postgresql":
            Task.objects.bulk_create([Task(**dict(zip(ROW_COLUMNS, r, strict=True)))
                                      for r in rows], batch_size=500, ignore_conflicts=True)
            return
        cols = ", ".join(ROW_COLUMNS)
        table = Task._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE care_new_tasks ON COMMIT DROP AS "
                           f"SELECT {cols} FROM {table} WITH NO DATA")
            raw = cursor.cursor
            with raw.copy(f"COPY care_new_tasks ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM care_new_tasks "
                           "ON CONFLICT (key) DO NOTHING")
            # Dropped now, not only on commit: the caller's transaction may be longer (tests,
            # a daily run inside one) and the next chunk creates it again.
            cursor.execute("DROP TABLE care_new_tasks")


# --- what people do with tasks -----------------------------------------------------------------

def _clean_text(value: str, *, field: str, required: bool, max_length: int) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD, f"The {field} is required.",
                               field=field)
    if len(text) > max_length:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD,
                               f"The {field} is at most {max_length} characters.", field=field)
    return text


def task_create(*, actor: User, customer: Customer, due_on: dt.date, title: str,
                kind: TaskKind | str = TaskKind.REMINDER, message: str = "",
                owner: User | None = None) -> Task:
    """A task a person sets (a reminder, a follow-up) for themselves or, as a manager, for
    someone in ``assignable`` scope; the caller has checked access to the customer."""
    if kind not in (TaskKind.REMINDER, TaskKind.FOLLOW_UP):
        raise ValidationFailed(CareErrorCode.INVALID_FIELD,
                               "People set reminders and follow-ups; the calendar makes the "
                               "other kinds.", field="kind")
    title = _clean_text(title, field="title", required=True, max_length=200)
    message = _clean_text(message, field="message", required=False, max_length=4000)
    return Task.objects.create(kind=kind, customer=customer, owner=owner or actor,
                               due_on=due_on, title=title, message=message, created_by=actor,
                               created_at=clock.now())


def task_done(*, actor: User, task: Task) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.status = TaskStatus.DONE
        task.done_at = clock.now()
        task.done_by = actor
        task.snoozed_until = None
        task.save(update_fields=["status", "done_at", "done_by", "snoozed_until"])
    return task


def task_snooze(*, actor: User, task: Task, until: dt.date) -> Task:
    """Put a task off until ``until`` (tomorrow, next week...); it comes back that day."""
    if until <= clock.today():
        raise ValidationFailed(CareErrorCode.INVALID_FIELD,
                               "Snooze until a day after today.", field="until")
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.status = TaskStatus.SNOOZED
        task.snoozed_until = until
        task.save(update_fields=["status", "snoozed_until"])
    return task


def task_dismiss(*, actor: User, task: Task) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.status = TaskStatus.DISMISSED
        task.done_by = actor
        task.done_at = clock.now()
        task.save(update_fields=["status", "done_by", "done_at"])
    return task


def task_reopen(*, actor: User, task: Task) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.status = TaskStatus.OPEN
        task.done_by = None
        task.done_at = None
        task.snoozed_until = None
        task.save(update_fields=["status", "done_by", "done_at", "snoozed_until"])
    return task


def task_update(*, actor: User, task: Task, title: str | None = None,
                due_on: dt.date | None = None, message: str | None = None) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        if title is not None:
            task.title = _clean_text(title, field="title", required=True, max_length=200)
        if message is not None:
            task.message = _clean_text(message, field="message", required=False,
                                       max_length=4000)
        if due_on is not None:
            task.due_on = due_on
        task.save()
    return task


def task_delete(*, actor: User, task: Task) -> None:
    """Delete a task a person set; the calendar's tasks are dismissed instead (their key stops
    the daily run from creating them again, a deleted one would come back)."""
    if task.key is not None:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD,
                               "A care calendar task is dismissed, not deleted.", field="kind")
    task.delete()


__all__ = ["PENDING", "care_tasks_create", "task_create", "task_delete", "task_dismiss",
           "task_done", "task_reopen", "task_snooze", "task_update"]
