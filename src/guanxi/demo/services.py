"""Write the demo company into the database, wipe it, and create the demo users."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import numpy as np
from django.db import models, transaction

from guanxi.accounts.models import Role, User
from guanxi.accounts.services import user_create
from guanxi.core import clock
from guanxi.core.errors import ValidationFailed
from guanxi.customers import events

# The per-item event functions save one row each; 150,000 demo events need bulk inserts, so
# rows are built by the same constructor the event functions use, keeping one event shape.
from guanxi.customers.events import _event as build_event
from guanxi.customers.models import (
    Consent,
    Customer,
    CustomerEvent,
    EventType,
    ExternalId,
    ImportantDate,
    Interaction,
    Kind,
    MemoryNote,
)
from guanxi.customers.normalize import name_pinyin
from guanxi.demo import catalog
from guanxi.demo.errors import DemoAlreadyPresent, DemoErrorCode
from guanxi.demo.selectors import DEMO_SOURCE, demo_present
from guanxi.demo.simulate import HISTORY_DAYS, Company, simulate
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine, Product

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: called as each generation phase advances."""

BATCH = 2000
CURRENCY = "CNY"
LOCALES = {"zh_cn": "zh_CN", "zh": "zh_CN", "en": "en", "en_us": "en"}

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    locale: str
    as_of: dt.date
    customers: int
    organizations: int
    contacts: int
    prospects: int
    duplicates: int
    products: int
    orders: int
    order_lines: int
    notes: int
    important_dates: int
    interactions: int
    consents: int
    events: int
    seconds: float


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    password: str
    created: bool


# username, role, manager's username, display name
DEMO_USERS: tuple[tuple[str, Role, str | None, str], ...] = (
    ("admin", Role.ADMIN, None, "Admin"),
    ("manager", Role.MANAGER, None, "Mei"),
    ("rep1", Role.REP, "manager", "Li"),
    ("rep2", Role.REP, "manager", "Wang"),
    ("agent", Role.AGENT, None, "Zhao"),
    ("analyst", Role.ANALYST, None, "Chen"),
)


def demo_users_ensure() -> list[DemoUser]:
    """Create the demo users, or give existing ones a fresh password; return the passwords."""
    result: list[DemoUser] = []
    by_name: dict[str, User] = {}
    for username, role, manager_name, first_name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        manager = by_name.get(manager_name) if manager_name else None
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(username=username, password=password, role=role,
                               manager=manager, first_name=first_name)
            created = True
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
            created = False
        by_name[username] = user
        result.append(DemoUser(username=username, role=str(role), password=password,
                               created=created))
    return result


def _batches(items: Sequence[M], size: int = BATCH) -> Iterator[Sequence[M]]:
    for k in range(0, len(items), size):
        yield items[k:k + size]


def _cents(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def normalize_locale(locale: str) -> str:
    try:
        return LOCALES[locale.lower().replace("-", "_")]
    except KeyError:
        raise ValidationFailed(DemoErrorCode.UNKNOWN_LOCALE,
                               f"Unknown locale {locale!r}; use zh_CN or en.",
                               field="locale") from None


def generate(
    *,
    customers: int = 20000,
    seed: int = 0,
    locale: str = "zh_CN",
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Generate the demo company: the same ``seed`` always gives the same company.

    Raises ``DemoAlreadyPresent`` when a demo company is in the database already
    (``demo_reset`` wipes it first).
    """
    if customers < 20:
        raise ValidationFailed(DemoErrorCode.TOO_SMALL,
                               "The demo company needs at least 20 customers.",
                               field="customers")
    locale = normalize_locale(locale)
    if demo_present():
        raise DemoAlreadyPresent()
    started = time.perf_counter()
    as_of = as_of or clock.today()

    def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(phase, done, total)

    report("Drawing customers and purchases", 0, 1)
    company = simulate(customers=customers, seed=seed, locale=locale, as_of=as_of)
    report("Drawing customers and purchases", 1, 1)
    writer = _Writer(company, report)
    with transaction.atomic():
        writer.write()
    return DemoSummary(
        seed=seed, locale=locale, as_of=as_of, customers=company.n,
        organizations=int(company.is_org.sum()), contacts=int((company.org_of >= 0).sum()),
        prospects=int((company.is_prospect & (company.org_of < 0)
                       & (company.dup_of < 0)).sum()),
        duplicates=int((company.dup_of >= 0).sum()), products=len(catalog.PRODUCTS),
        orders=int(company.orders.customer.size), order_lines=int(company.lines.order.size),
        notes=len(company.notes), important_dates=len(company.dates),
        interactions=len(company.interactions), consents=len(company.consents),
        events=writer.events_written, seconds=time.perf_counter() - started,
    )


class _Writer:
    """Turns the drawn arrays into rows, in dependency order, with bulk inserts."""

    def __init__(self, company: Company, report: Progress) -> None:
        self.c = company
        self.report = report
        self.events_written = 0
        # Midnight of each day of the history, company time (aware).
        self.midnight = [clock.start_of_day(company.start + dt.timedelta(days=d))
                         for d in range(HISTORY_DAYS + 1)]
        self.customer_ids = np.zeros(company.n, dtype=np.int64)

    def at(self, day: int, second: int = 10 * 3600) -> dt.datetime:
        # Wall-clock arithmetic on an aware datetime: "14:30 on that day" in company time, which
        # is what a shop's till records (Asia/Shanghai has no DST to skip or repeat an hour).
        return self.midnight[int(day)] + dt.timedelta(seconds=int(second))

    def insert(self, phase: str, rows: Sequence[M]) -> None:
        done = 0
        for batch in _batches(rows):
            type(batch[0])._default_manager.bulk_create(list(batch))
            done += len(batch)
            self.report(phase, done, len(rows))
        if not rows:
            self.report(phase, 0, 0)

    def insert_events(self, phase: str, rows: Sequence[CustomerEvent]) -> None:
        self.insert(phase, rows)
        self.events_written += len(rows)

    def write(self) -> None:
        products = self.write_products()
        self.write_customers()
        self.write_orders(products)
        self.write_memory()

    def write_products(self) -> list[Product]:
        en = self.c.locale == "en"
        wanted = {p.sku: p for p in catalog.PRODUCTS}
        existing = {p.sku: p for p in Product.objects.filter(sku__in=wanted)}
        new = [Product(sku=p.sku, name=p.en if en else p.zh,
                       category=p.category_en if en else p.category_zh, unit_price=p.price,
                       currency=CURRENCY)
               for sku, p in wanted.items() if sku not in existing]
        Product.objects.bulk_create(new)
        existing.update({p.sku: p for p in new})
        return [existing[p.sku] for p in catalog.PRODUCTS]

    def write_customers(self) -> None:
        c = self.c
        owners = {u.username: u for u in User.objects.filter(username__in=["rep1", "rep2",
                                                                           "manager"])}
        # The last real purchase of each customer (refunds and cancellations do not count).
        o = c.orders
        valid = np.array([s not in NOT_A_PURCHASE for s in o.status], dtype=bool)
        last = np.full(c.n, -1, dtype=np.int64)
        np.maximum.at(last, o.customer[valid], (o.day * 86400 + o.second)[valid])
        rows: list[Customer] = []
        for i in range(c.n):
            pinyin, initials = name_pinyin(c.name[i])
            owner = owners.get(c.owner[i])
            rows.append(Customer(
                kind=Kind.ORGANIZATION if c.is_org[i] else Kind.PERSON,
                name=c.name[i], name_pinyin=pinyin, name_initials=initials,
                phone=c.phone[i], email=c.email[i], gender=c.gender[i],
                birthday=c.birthday[i], city=c.city[i], region=c.region[i], country="CN",
                industry=c.industry[i], company_size=c.company_size[i],
                occupation=c.occupation[i], income_band=c.income_band[i], source=c.source[i],
                acquired_on=(c.start + dt.timedelta(days=int(c.acquired_day[i]))
                             if not c.is_prospect[i] else None),
                owner_id=owner.pk if owner else None,
                attributes=c.attributes[i],
                last_purchase_at=(self.at(int(last[i]) // 86400, int(last[i]) % 86400)
                                  if last[i] >= 0 else None),
            ))
        # In dependency order: referrers and organizations first, then the customers they
        # referred (organizations among them), then the organizations' contacts.
        groups = (
            ("Customers", (c.org_of < 0) & (c.referred_by < 0)),
            ("Customers (referred)", (c.org_of < 0) & (c.referred_by >= 0)),
            ("Customers (contacts)", c.org_of >= 0),
        )
        for phase, mask in groups:
            members: list[int] = np.flatnonzero(mask).tolist()
            for i in members:
                if c.org_of[i] >= 0:
                    rows[i].organization_id = int(self.customer_ids[c.org_of[i]])
                if c.referred_by[i] >= 0:
                    rows[i].referred_by_id = int(self.customer_ids[c.referred_by[i]])
            self.insert(phase, [rows[i] for i in members])
            for i in members:
                self.customer_ids[i] = int(rows[i].pk)
        ids = self.customer_ids
        self.insert("External ids", [
            ExternalId(customer_id=int(ids[i]), source=DEMO_SOURCE, value=f"DEMO-C{i + 1:06d}")
            for i in range(c.n)
        ])
        self.insert_events("Events: customers created", [
            build_event(customer=int(ids[i]), type=EventType.CREATED, actor=None,
                        data={"source": c.source[i]},
                        occurred_at=self.at(int(c.acquired_day[i])))
            for i in range(c.n)
        ])

    def write_orders(self, products: list[Product]) -> None:
        o, ln = self.c.orders, self.c.lines
        ids = self.customer_ids
        rows = [
            Order(external_id=f"DEMO-O{j + 1:07d}", customer_id=int(ids[o.customer[j]]),
                  placed_at=self.at(int(o.day[j]), int(o.second[j])), channel=o.channel[j],
                  status=o.status[j], total=_cents(o.total_cents[j]), currency=CURRENCY)
            for j in range(o.customer.size)
        ]
        self.insert("Orders", rows)
        product_ids = [p.pk for p in products]
        self.insert("Order lines", [
            OrderLine(order_id=rows[int(ln.order[k])].pk,
                      product_id=product_ids[int(ln.product[k])],
                      quantity=Decimal(int(ln.quantity[k])),
                      amount=_cents(ln.amount_cents[k]))
            for k in range(ln.order.size)
        ])
        items: list[tuple[int, int, str, dt.datetime, Decimal, str, bool]] = []
        for order in rows:
            items.append((order.customer_id, order.pk, order.external_id, order.placed_at,
                          order.total, CURRENCY, False))
            if order.status == "refunded":
                items.append((order.customer_id, order.pk, order.external_id,
                              order.placed_at + dt.timedelta(days=5), order.total, CURRENCY,
                              True))
        self.report("Events: orders", 0, len(items))
        events.order_events_bulk(orders=items, batch_size=BATCH)
        self.events_written += len(items)
        self.report("Events: orders", len(items), len(items))

    def write_memory(self) -> None:
        c = self.c
        ids = self.customer_ids
        notes = [
            MemoryNote(customer_id=int(ids[i]), category=cat, text=text, pinned=pinned,
                       created_at=self.at(day, 11 * 3600))
            for i, cat, text, pinned, day in c.notes
        ]
        self.insert("Memory notes", notes)
        self.insert_events("Events: notes", [
            build_event(customer=n.customer_id, type=EventType.NOTE_ADDED, actor=None,
                        occurred_at=n.created_at,
                        data={"note_id": n.pk, "category": n.category, "text": n.text[:200],
                              "pinned": n.pinned})
            for n in notes
        ])
        self.insert("Important dates", [
            ImportantDate(customer_id=int(ids[i]), kind=kind, label=label, date=day,
                          is_lunar=lunar)
            for i, kind, label, day, lunar in c.dates
        ])
        owners = dict(Customer.objects.filter(pk__in=ids.tolist(), owner__isnull=False)
                      .values_list("pk", "owner_id"))
        interactions = [
            Interaction(customer_id=int(ids[i]), external_id=f"DEMO-I{k + 1:07d}",
                        channel=channel, direction=direction, subject=subject, outcome=outcome,
                        occurred_at=self.at(day, second), author_id=owners.get(int(ids[i])))
            for k, (i, channel, direction, subject, outcome, day, second)
            in enumerate(c.interactions)
        ]
        self.insert("Interactions", interactions)
        self.insert_events("Events: interactions", [
            build_event(customer=x.customer_id, type=EventType.INTERACTION_LOGGED,
                        actor=None, occurred_at=x.occurred_at,
                        data={"interaction_id": x.pk, "channel": x.channel,
                              "subject": x.subject})
            for x in interactions
        ])
        consents = [
            Consent(customer_id=int(ids[i]), channel=channel, purpose=purpose, granted=granted,
                    recorded_at=self.at(day, 12 * 3600), source=DEMO_SOURCE)
            for i, channel, purpose, granted, day in c.consents
        ]
        self.insert("Consents", consents)
        self.insert_events("Events: consents", [
            build_event(customer=x.customer_id, type=EventType.CONSENT_CHANGED, actor=None,
                        occurred_at=x.recorded_at,
                        data={"channel": x.channel, "purpose": x.purpose,
                              "granted": x.granted, "source": x.source})
            for x in consents
        ])


def demo_reset() -> int:
    """Delete the demo company (customers, orders, everything hanging off them).

    Returns the number of customers deleted. Demo users stay, so their passwords keep working.
    """
    with transaction.atomic():
        demo_customers = Customer.objects.filter(external_ids__source=DEMO_SOURCE)
        ids = list(demo_customers.values_list("pk", flat=True))
        for k in range(0, len(ids), 5000):
            chunk = ids[k:k + 5000]
            OrderLine.objects.filter(order__customer_id__in=chunk).delete()
            Order.objects.filter(customer_id__in=chunk).delete()
        deleted = 0
        for k in range(0, len(ids), 5000):
            chunk = ids[k:k + 5000]
            # Links between demo customers first, so deleting one chunk never waits on another.
            Customer.objects.filter(pk__in=chunk).update(organization=None, referred_by=None,
                                                         merged_into=None)
        for k in range(0, len(ids), 5000):
            chunk = ids[k:k + 5000]
            deleted += Customer.objects.filter(pk__in=chunk).delete()[1].get(
                "customers.Customer", 0)
        Product.objects.filter(sku__startswith="DEMO-", order_lines__isnull=True).delete()
    return deleted
