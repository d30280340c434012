"""The branch-by-branch search page is exactly the page of the single OR query."""

from __future__ import annotations

import random

import pytest

from guanxi.accounts.models import User
from guanxi.api.pagination import keyset_page_any, or_branches
from guanxi.core.pagination import keyset_page
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_list, customer_search_filter
from guanxi.customers.services import customer_create

NAMES = ["张伟", "张伟明", "王芳", "李娜", "Zhang Wei", "Alice Zhang", "赵敏", "周杰"]


@pytest.fixture
def crowd(rep1: User, rep2: User) -> None:
    rng = random.Random(3)
    for i in range(60):
        customer = customer_create(
            actor=None, name=rng.choice(NAMES), owner=rng.choice([rep1, rep2]),
            phone=f"1380013{i:04d}", email=f"p{i % 7}@example.cn",
            external_id=f"E-{i % 9}" if i % 4 else None, source_system=f"s{i}",
        )
        if i % 5 == 0:
            # A second external id, so the join on external ids can repeat a customer.
            customer.external_ids.create(source=f"other{i}", value=f"E-{i % 9}")


TERMS = ["张", "zhang", "zw", "13800130012", "0013", "p3@example.cn", "E-4", "wei", "nobody"]


@pytest.mark.usefixtures("crowd")
def test_pages_match_the_single_query_page_for_page(rep1: User, manager: User) -> None:
    # One crowd, every term, page sizes from one to all, for a rep and for their manager.
    for user in (rep1, manager):
        for term in TERMS:
            for limit in (1, 4, 50):
                walk_both(user, term, limit)


def walk_both(user: User, term: str, limit: int) -> None:
    single = customer_list(user=user, search=term)
    branches = or_branches(customer_search_filter(term))
    base = customer_list(user=user)
    after: int | None = None
    walked: list[int] = []
    while True:
        expected = keyset_page(single, after=after, limit=limit)
        got = keyset_page_any(base, branches, after=after, limit=limit)
        assert [c.pk for c in got.items] == [c.pk for c in expected.items]
        assert got.next_cursor == expected.next_cursor
        walked.extend(c.pk for c in got.items)
        after = got.next_cursor
        if after is None:
            break
    assert walked == sorted(set(walked))
    assert len(walked) == single.count()


def test_a_single_condition_is_one_branch() -> None:
    from django.db.models import Q

    assert len(or_branches(Q(name="x"))) == 1
    assert len(or_branches(Q(name="x") | Q(email="y") | Q(phone="z"))) == 3
    assert len(or_branches(~(Q(name="x") | Q(email="y")))) == 1


def test_search_results_respect_visibility(crowd: None, rep1: User) -> None:
    branches = or_branches(customer_search_filter("E-4"))
    page = keyset_page_any(customer_list(user=rep1), branches, after=None, limit=200)
    assert page.items
    assert {c.owner_id for c in page.items} == {rep1.pk}
    assert Customer.objects.filter(external_ids__value="E-4").exclude(owner=rep1).exists()
