"""A PostgreSQL planner setting for a few statements, put back after them.

Some reads know their data better than the planner's estimates can (an index by its second
column, rows laid out in index order). ``planner_setting`` changes one setting for the
statements inside the ``with`` block only: the change is transaction-local inside a savepoint,
so an error rolls it back with the savepoint, and the previous value is restored at the end.
On other databases it does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction

__all__ = ["planner_setting"]


@contextlib.contextmanager
def planner_setting(name: str, value: str) -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)",
                       [name, name, value])
        before = cursor.fetchone()[0]
        yield
        cursor.execute("SELECT set_config(%s, %s, true)", [name, before])
