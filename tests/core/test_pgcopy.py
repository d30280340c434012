"""The binary COPY encoder: what PostgreSQL reads back is what the columns held."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from guanxi.core import pgcopy

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY format"),
]


def _load(columns: list[pgcopy.Column], ddl: str, rows_per_block: int = 3) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE copy_probe ({ddl})")
        with cursor.cursor.copy("COPY copy_probe FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pgcopy.HEADER)
            for block in pgcopy.encode(columns, rows_per_block=rows_per_block):
                copy.write(block)
            copy.write(pgcopy.TRAILER)
        cursor.execute("SELECT * FROM copy_probe")
        rows = cursor.fetchall()
        cursor.execute("DROP TABLE copy_probe")
    return rows


def test_every_type_nulls_and_texts_of_different_lengths_read_back() -> None:
    n = 7
    ids = np.arange(1, n + 1) * 1_000_000_007
    small = np.array([0, 1, -1, 32767, -32768, 5, 9])
    missing = np.array([False, True, False, False, True, False, False])
    floats = np.array([0.5, np.nan, -1e300, 3.25, np.nan, 1e-9, 2.0])
    cents = np.array([0, 5, -12345, 99999999999999, 100, -1, 123456789012])
    days = np.array([0, 10957, 20000, -365, 19000, 1, 2])
    seconds = np.array([0, 946684800, 1700000000, 1, 86399, 1234567890, 2000000000])
    labels = ["", "new", "至尊客户", "at_risk"]
    codes = np.array([1, 0, 2, 3, 2, 1, 0])
    rows = _load(
        [pgcopy.int8(ids), pgcopy.int2(small, null=missing), pgcopy.int4(small * 3),
         pgcopy.float8(floats), pgcopy.numeric(cents, max_digits=16, null=missing),
         pgcopy.date(days, null=missing), pgcopy.timestamptz(seconds), pgcopy.text(codes, labels)],
        "a int8, b int2, c int4, d float8, e numeric(16, 2), f date, g timestamptz, h varchar(8)")
    utc = dt.UTC
    for k, row in enumerate(sorted(rows)):
        a, b, c, d, e, f, g, h = row
        assert a == ids[k]
        assert b == (None if missing[k] else small[k])
        assert c == small[k] * 3
        assert (d is None) if np.isnan(floats[k]) else d == floats[k]
        assert e == (None if missing[k] else Decimal(int(cents[k])) / 100)
        assert f == (None if missing[k] else dt.date(1970, 1, 1) + dt.timedelta(days=int(days[k])))
        assert g == dt.datetime(1970, 1, 1, tzinfo=utc) + dt.timedelta(seconds=int(seconds[k]))
        assert h == labels[codes[k]]


def test_a_numeric_too_wide_for_its_column_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="numeric"):
        pgcopy.numeric(np.array([10 ** 14 * 100]), max_digits=16)


def test_no_rows_encode_to_nothing() -> None:
    assert list(pgcopy.encode([pgcopy.int8(np.array([], dtype=np.int64))])) == []
