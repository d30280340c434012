"""Stories about finding the same customer twice (issue #2 §3)."""

from __future__ import annotations

import time

import pytest
from faker import Faker

from guanxi.accounts.models import User
from guanxi.customers.duplicates import DuplicatePair, find_duplicates
from guanxi.customers.merge import customer_merge
from guanxi.customers.models import Customer
from guanxi.customers.normalize import name_pinyin
from guanxi.customers.services import customer_create


def _pair_of(pairs: list[DuplicatePair], x: Customer, y: Customer) -> DuplicatePair | None:
    wanted = {x.pk, y.pk}
    return next((p for p in pairs if {p.a.pk, p.b.pk} == wanted), None)


def test_same_phone_written_differently_is_a_duplicate(rep1: User) -> None:
    # Given Li typed one customer's mobile with spaces and an import brought it in E.164
    first = customer_create(actor=rep1, name="王芳", phone="138 0013 8000", owner=rep1)
    second = customer_create(actor=rep1, name="Wang Fang", phone="+86 13800138000", owner=rep1)
    customer_create(actor=rep1, name="刘洋", phone="139 0000 0000", owner=rep1)

    # When Li looks for duplicates
    pairs = find_duplicates(user=rep1)

    # Then the two records are proposed, the older one first, for the phone
    pair = _pair_of(pairs, first, second)
    assert pair is not None
    assert (pair.a, pair.b) == (first, second)
    assert pair.reasons == ["same phone"]
    assert pair.score == 90
    assert len(pairs) == 1


def test_same_email_in_another_case_is_a_duplicate(rep1: User) -> None:
    first = customer_create(actor=rep1, name="Li Na", email="Li.Na@Example.com", owner=rep1)
    second = customer_create(actor=rep1, name="Nana Li", email="li.na@example.com", owner=rep1)

    pair = _pair_of(find_duplicates(user=rep1), first, second)

    assert pair is not None
    assert pair.reasons == ["same e-mail"]


def test_phone_and_email_together_weigh_more_than_either(rep1: User) -> None:
    a = customer_create(actor=rep1, name="赵敏", phone="13800138000", email="zm@example.com",
                        owner=rep1)
    b = customer_create(actor=rep1, name="Zhao Min", phone="+8613800138000",
                        email="ZM@example.com", owner=rep1)

    pair = _pair_of(find_duplicates(user=rep1), a, b)

    assert pair is not None
    assert set(pair.reasons) == {"same phone", "same e-mail"}
    assert pair.score == 99
    assert 0 <= pair.score <= 100


def test_similar_chinese_names_in_one_city_but_not_across_cities(rep1: User) -> None:
    # Given 张伟 and 张玮 in 杭州 (same pinyin, different characters) and another 张伟 in 北京
    hz1 = customer_create(actor=rep1, name="张伟", city="杭州", owner=rep1)
    hz2 = customer_create(actor=rep1, name="张玮", city="杭州市", owner=rep1)
    bj = customer_create(actor=rep1, name="张伟", city="北京", owner=rep1)
    customer_create(actor=rep1, name="李娜", city="杭州", owner=rep1)

    # When Li looks for duplicates
    pairs = find_duplicates(user=rep1)

    # Then the 杭州 pair is found, by pinyin, and the 北京 张伟 is paired with nobody
    pair = _pair_of(pairs, hz1, hz2)
    assert pair is not None
    assert pair.reasons == ["similar name in 杭州 (张伟 / 张玮, pinyin zhangwei)"]
    assert pair.score == 80
    assert _pair_of(pairs, hz1, bj) is None
    assert _pair_of(pairs, hz2, bj) is None
    assert len(pairs) == 1


def test_latin_names_match_in_any_word_order(rep1: User) -> None:
    a = customer_create(actor=rep1, name="John Smith", city="Boston", owner=rep1)
    b = customer_create(actor=rep1, name="smith, john", city="boston", owner=rep1)
    customer_create(actor=rep1, name="Jane Smythe", city="Boston", owner=rep1)

    pair = _pair_of(find_duplicates(user=rep1), a, b)

    assert pair is not None
    assert pair.reasons == ["similar name in Boston (John Smith / smith, john)"]


def test_min_score_and_limit(rep1: User) -> None:
    customer_create(actor=rep1, name="张伟", city="杭州", owner=rep1)
    customer_create(actor=rep1, name="张玮", city="杭州", owner=rep1)
    customer_create(actor=rep1, name="A", phone="13800138000", owner=rep1)
    customer_create(actor=rep1, name="B", phone="13800138000", owner=rep1)

    assert [p.score for p in find_duplicates(user=rep1)] == [90, 80]
    assert [p.score for p in find_duplicates(user=rep1, min_score=85)] == [90]
    assert len(find_duplicates(user=rep1, limit=1)) == 1


def test_a_rep_sees_only_duplicates_among_their_own_customers(
    rep1: User, rep2: User, manager: User
) -> None:
    # Given two records of one person, both Li's
    a = customer_create(actor=rep1, name="王芳", phone="13800138000", owner=rep1)
    b = customer_create(actor=rep1, name="王芳", phone="13800138000", owner=rep1)

    # Then Wang sees nothing of them, while their manager Mei does
    assert find_duplicates(user=rep2) == []
    assert _pair_of(find_duplicates(user=manager), a, b) is not None


def test_a_record_split_between_two_reps_is_a_pair_only_for_who_sees_both(
    rep1: User, rep2: User, admin: User
) -> None:
    a = customer_create(actor=rep1, name="王芳", phone="13800138000", owner=rep1)
    b = customer_create(actor=rep2, name="王芳", phone="13800138000", owner=rep2)

    assert find_duplicates(user=rep1) == []
    assert find_duplicates(user=rep2) == []
    assert _pair_of(find_duplicates(user=admin), a, b) is not None


def test_merged_customers_are_not_proposed_again(admin: User) -> None:
    a = customer_create(actor=admin, name="王芳", phone="13800138000")
    b = customer_create(actor=admin, name="王芳", phone="13800138000")

    customer_merge(actor=admin, survivor=a, merged=b)

    assert find_duplicates(user=admin) == []


@pytest.fixture
def twenty_thousand(admin: User) -> None:
    """20,000 customers with realistic Chinese names in ten cities; 1,000 pairs share a phone
    and 500 pairs an e-mail. (A fixture, so ``--durations`` shows the search time apart.)"""
    fake = Faker("zh_CN")
    fake.seed_instance(7)
    cities = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
    rows = []
    for i in range(20_000):
        name = fake.name()
        full, initials = name_pinyin(name)
        rows.append(Customer(
            name=name, name_pinyin=full, name_initials=initials, city=cities[i % 10],
            phone=f"+86138{(i % 19_000):08d}", email=f"c{i % 19_500}@example.com",
        ))
    Customer.objects.bulk_create(rows, batch_size=2000)


@pytest.mark.slow
@pytest.mark.usefixtures("twenty_thousand")
def test_twenty_thousand_customers_take_a_few_seconds(admin: User) -> None:
    # When the admin looks for duplicates among 20,000 customers
    started = time.perf_counter()
    pairs = find_duplicates(user=admin, limit=100_000)
    elapsed = time.perf_counter() - started

    # Then the 1,000 shared phones and 500 shared e-mails are all among the answers, in seconds
    assert sum("same phone" in p.reasons for p in pairs) == 1_000
    assert sum("same e-mail" in p.reasons for p in pairs) == 500
    assert elapsed < 10, f"find_duplicates took {elapsed:.1f}s for 20,000 customers"
