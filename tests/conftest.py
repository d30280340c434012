"""Shared fixtures: the people in our stories.

- ``admin``: runs guanxi, sees and changes everything.
- ``manager`` (Mei): leads the sales team of ``rep1`` and ``rep2``.
- ``rep1`` (Li) and ``rep2`` (Wang): each owns their own customers and must not see the other's.
- ``agent`` (Zhao): service agent; finds any customer behind a ticket, changes no owner.
- ``analyst`` (Chen): sees aggregates and segments, never personal contact details.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from guanxi.accounts.models import Role, User
from testdata import REPO_ROOT, SHARED_DATA, shared_data_file

__all__ = ["REPO_ROOT", "SHARED_DATA", "shared_data_file"]


def _user(username: str, role: Role, manager: User | None = None) -> User:
    user = User.objects.create_user(username=username, password="correct horse battery",
                                    role=role, manager=manager,
                                    is_staff=role == Role.ADMIN,
                                    is_superuser=role == Role.ADMIN)
    return user


@pytest.fixture
def admin(db: None) -> User:
    return _user("admin", Role.ADMIN)


@pytest.fixture
def manager(db: None) -> User:
    return _user("mei", Role.MANAGER)


@pytest.fixture
def rep1(manager: User) -> User:
    return _user("li", Role.REP, manager)


@pytest.fixture
def rep2(manager: User) -> User:
    return _user("wang", Role.REP, manager)


@pytest.fixture
def agent(db: None) -> User:
    return _user("zhao", Role.AGENT)


@pytest.fixture
def analyst(db: None) -> User:
    return _user("chen", Role.ANALYST)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.5 s a persona; tests check behaviour, not the hasher's strength.

    (A web test asserts that production settings keep Argon2.)
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in English: a page rendered in Chinese must not leak into the next
    test on the same worker (role names printed by the CLI came out as 销售代表)."""
    translation.activate("en")
    yield
    translation.deactivate()
