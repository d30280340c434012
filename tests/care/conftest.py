"""Customers the care stories share: Li's 张伟 and Wang's 刘洋, and a signed-in client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

from guanxi.accounts.models import User
from guanxi.care.selectors import offers_cache_clear
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create
from guanxi.sales.models import Order, OrderLine, Product

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def _fresh_offers() -> None:
    """The offer model is cached per day and last order line id; ids repeat across tests."""
    offers_cache_clear()


@pytest.fixture
def zhang_wei(rep1: User) -> Customer:
    """Li's customer 张伟."""
    return customer_create(actor=rep1, name="张伟", phone="138 0013 8000",
                           email="zhangwei@example.cn", city="上海", owner=rep1)


@pytest.fixture
def liu_yang(rep2: User) -> Customer:
    """Wang's customer 刘洋."""
    return customer_create(actor=rep2, name="刘洋", phone="139 0000 1111",
                           email="liuyang@example.cn", city="北京", owner=rep2)


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


_counter = {"n": 0}


def buy(customer: Customer, when: dt.datetime, *items: tuple[str, str],
        total: str = "100.00") -> Order:
    """An order of ``customer`` at ``when`` with one line per ``(sku, category)``."""
    _counter["n"] += 1
    order = Order.objects.create(external_id=f"T{_counter['n']}-{customer.pk}",
                                 customer=customer, placed_at=when, total=Decimal(total))
    for sku, category in items:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name": sku.replace("-", " ").title(), "category": category})
        OrderLine.objects.create(order=order, product=product, quantity=1,
                                 amount=Decimal(total) / max(len(items), 1))
    last = customer.last_purchase_at
    if last is None or when > last:
        Customer.objects.filter(pk=customer.pk).update(last_purchase_at=when)
        customer.last_purchase_at = when
    return order
