"""``core.arrays.read_columns``: many rows as numpy columns, NULLs kept, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import FloatField
from django.db.models.functions import Cast

from guanxi.core.arrays import INT_NULL, read_columns
from guanxi.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_columns_come_back_with_their_types_and_nulls(admin: object) -> None:
    # Given three customers, one without an owner, birthday or acquisition date
    a = Customer.objects.create(name="甲", owner=admin, birthday=dt.date(1990, 2, 3))
    b = Customer.objects.create(name="乙", birthday=dt.date(1985, 12, 31))
    c = Customer.objects.create(name="丙", owner=admin)
    qs = Customer.objects.filter(pk__in=[a.pk, b.pk, c.pk]).values_list(
        "pk", "owner_id", "birthday", Cast(Decimal("1.5") * 1, FloatField()))
    for groups in (1, 3):
        # When they are read as columns (in blocks or not)
        ids, owners, born, half = read_columns(qs, ("int", "int", "day", "float"),
                                               groups=groups)
        order = np.argsort(ids)
        ids, owners, born, half = ids[order], owners[order], born[order], half[order]
        # Then every value and every NULL is there, typed
        assert ids.tolist() == sorted([a.pk, b.pk, c.pk])
        by_id = dict(zip(ids.tolist(), range(3), strict=True))
        assert owners[by_id[b.pk]] == INT_NULL
        assert owners[by_id[a.pk]] == admin.pk  # type: ignore[attr-defined]
        assert born.dtype == np.dtype("datetime64[D]")
        assert born[by_id[a.pk]] == np.datetime64("1990-02-03")
        assert born[by_id[b.pk]] == np.datetime64("1985-12-31")
        assert np.isnat(born[by_id[c.pk]])
        assert half.tolist() == [1.5, 1.5, 1.5]


def test_no_rows_give_empty_columns(db: None) -> None:
    ids, born = read_columns(Customer.objects.filter(pk=-1).values_list("pk", "birthday"),
                             ("int", "day"))
    assert ids.size == 0
    assert born.size == 0
    assert born.dtype == np.dtype("datetime64[D]")


def test_grouping_needs_an_int_first_column(db: None) -> None:
    with pytest.raises(ValueError, match="int first column"):
        read_columns(Customer.objects.values_list("birthday", "pk"), ("day", "int"), groups=2)


def test_text_columns_come_back_as_strings(db: None) -> None:
    # Given customers in two cities and one with none
    for name, city in (("甲", "上海"), ("乙", "北京"), ("丙", ""), ("丁", "上海")):
        Customer.objects.create(name=name, city=city)
    # When names and cities are read as text columns
    ids, names, cities = read_columns(Customer.objects.values_list("pk", "name", "city"),
                                      ("int", "text", "text"), groups=2)
    # Then each row has its own values
    got = {str(n): str(c) for n, c in zip(names.tolist(), cities.tolist(), strict=True)}
    assert got == {"甲": "上海", "乙": "北京", "丙": "", "丁": "上海"}
    assert ids.size == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner setting is PostgreSQL's")
def test_a_read_leaves_the_planner_as_it_was(db: None) -> None:
    # Given a connection whose parallel_tuple_cost is its own
    Customer.objects.create(name="甲")

    def cost() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW parallel_tuple_cost")
            return str(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("SET parallel_tuple_cost = 0.2")
    # When columns are read, and a read fails inside a transaction that goes on from a
    # savepoint
    assert read_columns(Customer.objects.values_list("pk"), ("int",))[0].size == 1
    after_read = cost()
    with pytest.raises(DatabaseError), transaction.atomic():
        read_columns(Customer.objects.extra(where=["1/0 = 1"]).values_list("pk"),
                     ("int",))
    # Then the later statements of the session are planned as before
    assert after_read == "0.2"
    assert cost() == "0.2"
