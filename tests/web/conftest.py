"""Customers the web stories share: Li's, Wang's, and a signed-in client per persona."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """Hash the personas' passwords cheaply: Argon2 costs ~0.5 s per user and a story here makes
    up to five. Production keeps Argon2 (checked in test_web_site.py)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
    def make(user: User, **defaults: str) -> Client:
        client = Client(**defaults)
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _empty_cache(settings: Settings) -> None:
    """The dashboard caches per (scoring run, user). In production that cache is a file every
    server process shares; here each test process keeps its own, empty at each test (ids
    repeat across tests, and parallel test processes must not read each other's entries)."""
    from django.core.cache import caches

    settings.CACHES = {**settings.CACHES, "dashboard": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dashboard"}}
    for alias in ("default", "dashboard"):
        caches[alias].clear()
