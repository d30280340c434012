"""On PostgreSQL every score run's rows are a partition of their own (``LIST (run_id)``).

Why: a run is a million rows written at once and, later, dropped at once. Written into one big
table they went through its indexes row by row (16 s of a 1M-customer run's write, 6 of them
for the CLV index alone) and were deleted row by row. As a partition they are loaded into a
bare table, indexed with one sort per index, and attached; a replaced or failed run is a
``DROP TABLE``. Readers do not change: ``value_customerscore`` is the partitioned parent, and a
query for one run (``run_id = …``, also the latest-values view's sub-select) reads one partition.

The parent has a default partition for rows written through the ORM (tests, one-off fixes), so
an insert never fails for lack of a partition. There is no primary-key constraint on the parent
(PostgreSQL would require the partition key in it); ``id`` comes from an owned sequence and the
unique (run, customer) constraint holds per run. SQLite keeps the plain table.
"""

from __future__ import annotations

from django.db import connection
from django.db.backends.utils import CursorWrapper

PARENT = "value_customerscore"
DEFAULT = "value_customerscore_default"
SEQUENCE = "value_customerscore_id_seq"
UNIQUE = "customer_score_unique"
CLV_INDEX = "customer_score_run_clv"


def enabled() -> bool:
    return connection.vendor == "postgresql"


def name(run_id: int) -> str:
    return f"{PARENT}_r{int(run_id)}"


def create(cursor: CursorWrapper, run_id: int) -> str:
    """A bare table shaped like the parent for ``run_id``'s rows (no index yet); its name.

    The CHECK constraint lets ``attach`` skip scanning the rows for the partition bound.
    """
    table = name(run_id)
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(f"CREATE TABLE {table} (LIKE {PARENT} INCLUDING DEFAULTS"
                   f" INCLUDING CONSTRAINTS)")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_run CHECK (run_id = {int(run_id)})")
    return table


def attach(cursor: CursorWrapper, run_id: int) -> None:
    """Index the loaded table (one sort per index), analyse it and make it the run's partition.

    The unique constraint and the CLV index match the parent's, so attaching adopts them
    instead of building them again.
    """
    table = name(run_id)
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_unique"
                   f" UNIQUE (run_id, customer_id)")
    cursor.execute(f"CREATE INDEX {table}_clv ON {table} (run_id, clv, customer_id)")
    cursor.execute(f"ANALYZE {table}")
    cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {table}"
                   f" FOR VALUES IN ({int(run_id)})")


def drop(cursor: CursorWrapper, run_id: int) -> None:
    """Remove every row of ``run_id``: its partition, and any rows in the default one."""
    if enabled():
        cursor.execute(f"DROP TABLE IF EXISTS {name(run_id)}")
    cursor.execute(f"DELETE FROM {PARENT} WHERE run_id = %s", [run_id])


def partition_existing(cursor: CursorWrapper) -> None:
    """Turn the plain scores table into the partitioned one, moving each run into its own
    partition (migration 0009; the latest-values view must be dropped around it)."""
    old = f"{PARENT}_plain"
    cursor.execute(f"ALTER TABLE {PARENT} RENAME TO {old}")
    # Index and constraint names are per schema: free them for the parent's.
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {UNIQUE} TO {old}_unique")
    cursor.execute(f"ALTER INDEX {CLV_INDEX} RENAME TO {old}_clv")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {PARENT}_pkey TO {old}_pkey")
    cursor.execute(f"CREATE SEQUENCE {SEQUENCE}_p")
    cursor.execute(f"CREATE TABLE {PARENT} (LIKE {old} INCLUDING CONSTRAINTS)"
                   f" PARTITION BY LIST (run_id)")
    cursor.execute(f"ALTER TABLE {PARENT} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}_p')")
    cursor.execute(f"ALTER SEQUENCE {SEQUENCE}_p OWNED BY {PARENT}.id")
    cursor.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT {UNIQUE} UNIQUE (run_id, customer_id)")
    cursor.execute(f"CREATE INDEX {CLV_INDEX} ON {PARENT} (run_id, clv, customer_id)")
    cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT")
    cursor.execute(f"SELECT setval('{SEQUENCE}_p', coalesce(max(id), 0) + 1, false) FROM {old}")
    cursor.execute(f"SELECT DISTINCT run_id FROM {old} ORDER BY run_id")
    for (run_id,) in cursor.fetchall():
        table = create(cursor, run_id)
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {old} WHERE run_id = %s"
                       f" ORDER BY customer_id", [run_id])
        attach(cursor, run_id)
    cursor.execute(f"DROP TABLE {old}")
    # The old identity sequence went with the old table; take its name back.
    cursor.execute(f"ALTER SEQUENCE {SEQUENCE}_p RENAME TO {SEQUENCE}")


def unpartition(cursor: CursorWrapper) -> None:
    """The reverse of ``partition_existing``: one plain table with the same rows."""
    plain = f"{PARENT}_plain"
    cursor.execute(f"CREATE TABLE {plain} (LIKE {PARENT} INCLUDING CONSTRAINTS)")
    cursor.execute(f"INSERT INTO {plain} SELECT * FROM {PARENT} ORDER BY run_id, customer_id")
    cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {plain}")
    (start,) = cursor.fetchone()
    cursor.execute(f"DROP TABLE {PARENT} CASCADE")
    cursor.execute(f"ALTER TABLE {plain} RENAME TO {PARENT}")
    cursor.execute(f"ALTER TABLE {PARENT} ADD PRIMARY KEY (id)")
    cursor.execute(f"ALTER TABLE {PARENT} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY"
                   f" (START WITH {int(start)})")
    cursor.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT {UNIQUE} UNIQUE (run_id, customer_id)")
    cursor.execute(f"CREATE INDEX {CLV_INDEX} ON {PARENT} (run_id, clv, customer_id)")
