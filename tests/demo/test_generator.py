"""Stories about the demo company: reproducible, believable, and safe to run again."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from guanxi.accounts.models import Role, User
from guanxi.customers.models import (
    Customer,
    CustomerEvent,
    EventType,
    ExternalId,
    ImportantDate,
    MemoryNote,
)
from guanxi.customers.services import customer_create
from guanxi.demo import (
    DEMO_SOURCE,
    DemoAlreadyPresent,
    demo_present,
    demo_reset,
    demo_users_ensure,
    generate,
)
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine

AS_OF = dt.date(2026, 6, 30)


def fingerprint() -> str:
    """A hash of who the customers are and what they bought, independent of database ids."""
    h = hashlib.sha256()
    for row in (Customer.objects.order_by("external_ids__value")
                .values_list("external_ids__value", "name", "phone", "email", "city", "source",
                             "income_band", "birthday", "owner__username")):
        h.update(repr(row).encode())
    for row in (Order.objects.order_by("external_id")
                .values_list("external_id", "customer__external_ids__value", "placed_at",
                             "total", "status")):
        h.update(repr(row).encode())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_company_and_another_seed_another(db: None) -> None:
    # Given a company generated from seed 7
    generate(customers=300, seed=7, as_of=AS_OF)
    first = fingerprint()
    # When it is wiped and generated again from the same seed
    demo_reset()
    generate(customers=300, seed=7, as_of=AS_OF)
    # Then it is the same company, to the cent and the second
    assert fingerprint() == first
    # And seed 8 gives a different one
    demo_reset()
    generate(customers=300, seed=8, as_of=AS_OF)
    assert fingerprint() != first


def test_a_small_company_has_the_asked_size_and_consistent_orders(db: None) -> None:
    summary = generate(customers=300, seed=1, as_of=AS_OF)

    assert summary.customers == Customer.objects.count() == 300
    assert ExternalId.objects.filter(source=DEMO_SOURCE).count() == 300
    assert summary.orders == Order.objects.count() > 300
    assert summary.order_lines == OrderLine.objects.count() >= summary.orders
    assert summary.organizations == Customer.objects.filter(kind="organization").count() > 0
    assert Customer.objects.filter(organization__isnull=False).count() == summary.contacts
    # Every order's lines add up to its total, in whole cents.
    for order in Order.objects.annotate(lines_total=Sum("lines__amount"))[:400]:
        assert order.lines_total == order.total, order.external_id
    # Two years of history, all of it before the day the company is generated for.
    first = Order.objects.earliest("placed_at").placed_at.date()
    last = Order.objects.latest("placed_at").placed_at.date()
    assert AS_OF - dt.timedelta(days=731) <= first
    assert last < AS_OF
    # Some orders were refunded or cancelled, most were completed.
    statuses = Counter(Order.objects.values_list("status", flat=True))
    assert statuses["completed"] > 0.8 * summary.orders
    # The memory of the relationship is there too.
    assert MemoryNote.objects.count() == summary.notes > 0
    assert MemoryNote.objects.filter(pinned=True).exists()
    assert ImportantDate.objects.filter(kind="birthday").exists()
    assert summary.interactions > 0
    assert summary.consents > 0


def test_prospects_have_no_orders_and_buyers_know_their_last_purchase(db: None) -> None:
    summary = generate(customers=400, seed=2, as_of=AS_OF)

    prospects = Customer.objects.filter(acquired_on__isnull=True)
    assert not prospects.filter(orders__isnull=False).exists()
    accounts = summary.customers - summary.contacts
    assert 0.08 * accounts <= summary.prospects <= 0.25 * accounts
    for customer in Customer.objects.filter(orders__isnull=False).distinct()[:200]:
        purchases = customer.orders.exclude(status__in=NOT_A_PURCHASE)
        expected = max((o.placed_at for o in purchases), default=None)
        assert customer.last_purchase_at == expected
        assert customer.acquired_on is not None


def test_pinyin_is_set_for_chinese_names(db: None) -> None:
    generate(customers=100, seed=3, as_of=AS_OF)
    person = Customer.objects.filter(kind="person").first()
    assert person is not None
    assert re.fullmatch(r"[a-z]+", person.name_pinyin)
    assert person.name_initials
    assert person.name_initials[0] == person.name_pinyin[0]


def test_english_locale_gives_english_names(db: None) -> None:
    generate(customers=100, seed=3, locale="en", as_of=AS_OF)
    names = list(Customer.objects.filter(kind="person").values_list("name", flat=True))
    assert all(re.fullmatch(r"[A-Za-z .'\-]+", n) for n in names), names[:5]
    assert Customer.objects.filter(city="Shanghai").exists() or Customer.objects.filter(
        city="Beijing").exists()


def test_planted_duplicates_wait_to_be_merged(db: None) -> None:
    summary = generate(customers=600, seed=4, as_of=AS_OF)
    assert summary.duplicates >= 3

    # The same phone (stored normalized, once imported as "138-0013-8000")...
    same_phone = (Customer.objects.exclude(phone="").values("phone")
                  .annotate(n=Count("id")).filter(n__gt=1))
    assert same_phone.exists()
    # ...the same e-mail (imported in another case)...
    same_email = (Customer.objects.exclude(email="").values("email")
                  .annotate(n=Count("id")).filter(n__gt=1))
    assert same_email.exists()
    twin = Customer.objects.filter(attributes__imported_as__email__isnull=False).first()
    assert twin is not None
    assert twin.attributes["imported_as"]["email"].lower() == twin.email
    # ...and the same person typed with a homophone (张伟/张玮), in the same city.
    people = list(Customer.objects.filter(kind="person").values_list("name", "city",
                                                                     "name_pinyin"))
    by_pinyin = Counter((p, c) for n, c, p in people)
    names_per_key: dict[tuple[str, str], set[str]] = {}
    for n, c, p in people:
        names_per_key.setdefault((p, c), set()).add(n)
    assert any(len(names) > 1 for key, names in names_per_key.items() if by_pinyin[key] > 1)


def test_every_change_is_on_the_timeline(db: None) -> None:
    summary = generate(customers=200, seed=5, as_of=AS_OF)

    events = Counter(CustomerEvent.objects.values_list("type", flat=True))
    assert events[EventType.CREATED] == summary.customers
    assert events[EventType.ORDER_PLACED] == summary.orders
    assert events[EventType.ORDER_REFUNDED] == Order.objects.filter(status="refunded").count()
    assert events[EventType.NOTE_ADDED] == summary.notes
    assert events[EventType.INTERACTION_LOGGED] == summary.interactions
    assert events[EventType.CONSENT_CHANGED] == summary.consents
    assert sum(events.values()) == summary.events
    # The created event is dated when the customer joined, not when the demo ran.
    customer = Customer.objects.filter(acquired_on__isnull=False).first()
    assert customer is not None
    created = customer.events.get(type=EventType.CREATED)
    assert created.occurred_at.date() <= AS_OF


def test_running_again_without_reset_changes_nothing(db: None) -> None:
    generate(customers=200, seed=6, as_of=AS_OF)
    before = (Customer.objects.count(), Order.objects.count(), CustomerEvent.objects.count())

    with pytest.raises(DemoAlreadyPresent) as caught:
        generate(customers=200, seed=9, as_of=AS_OF)

    assert "--reset" in caught.value.message
    assert (Customer.objects.count(), Order.objects.count(),
            CustomerEvent.objects.count()) == before


def test_reset_removes_only_the_demo_company(rep1: User) -> None:
    # Given a real customer of Li's next to the demo company
    mine = customer_create(actor=rep1, name="真实客户", owner=rep1)
    generate(customers=200, seed=6, as_of=AS_OF)
    assert demo_present()

    removed = demo_reset()

    assert removed == 200
    assert not demo_present()
    assert list(Customer.objects.all()) == [mine]
    assert not Order.objects.exists()


def test_demo_users_exist_with_roles_and_fresh_passwords(db: None) -> None:
    first = {u.username: u for u in demo_users_ensure()}
    assert set(first) == {"admin", "manager", "rep1", "rep2", "agent", "analyst"}
    assert all(u.created for u in first.values())
    users = {u.username: u for u in User.objects.all()}
    assert users["admin"].role == Role.ADMIN
    assert users["admin"].is_superuser
    assert users["agent"].role == Role.AGENT
    assert users["rep1"].manager == users["manager"] == users["rep2"].manager
    assert users["rep1"].check_password(first["rep1"].password)

    # Running the demo again gives everybody a new password, printed again.
    second = {u.username: u for u in demo_users_ensure()}
    assert not any(u.created for u in second.values())
    rep1 = User.objects.get(username="rep1")
    assert rep1.check_password(second["rep1"].password)
    assert not rep1.check_password(first["rep1"].password)


def test_traits_relate_to_value_and_reps_own_realistic_shares(db: None) -> None:
    # Given the demo users and a company of 2,000
    demo_users_ensure()
    generate(customers=2000, seed=11, as_of=AS_OF)

    # Then referral customers are worth more than the others (spend per buyer)...
    spend = dict(Order.objects.exclude(status__in=NOT_A_PURCHASE).values("customer")
                 .annotate(s=Sum("total")).values_list("customer", "s"))
    people = Customer.objects.filter(kind="person", pk__in=spend.keys())

    def mean_spend(ids: list[int]) -> Decimal:
        assert len(ids) > 30
        return sum((spend[i] for i in ids), Decimal(0)) / len(ids)

    referral = mean_spend(list(people.filter(source="referral").values_list("pk", flat=True)))
    others = mean_spend(list(people.exclude(source="referral").values_list("pk", flat=True)))
    assert referral > Decimal("1.25") * others
    # ...and affluent customers in first-tier cities outspend basic-income ones elsewhere.
    rich = mean_spend(list(people.filter(income_band="affluent",
                                         city__in=["北京", "上海", "广州", "深圳"])
                           .values_list("pk", flat=True)))
    basic = mean_spend(list(people.filter(income_band="basic").exclude(
        city__in=["北京", "上海", "广州", "深圳"]).values_list("pk", flat=True)))
    assert rich > 2 * basic

    # And the reps own most customers, the manager some, a few are unassigned.
    shares = Counter(Customer.objects.values_list("owner__username", flat=True))
    total = sum(shares.values())
    assert abs(shares["rep1"] / total - 0.45) < 0.06
    assert abs(shares["rep2"] / total - 0.40) < 0.06
    assert abs(shares["manager"] / total - 0.10) < 0.04
    assert abs(shares[None] / total - 0.05) < 0.03
    assert shares["agent"] == 0
