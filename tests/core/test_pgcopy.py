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


def test_strings_of_arrow_layout_read_back_from_a_slice() -> None:
    # Values packed as Apache Arrow packs a string column; the column is a slice of it, so its
    # offsets start past 0 (bytes before and after belong to other rows)
    values = ["skipped", "", "订单-001", "a", "", "𠀀 emoji 🎉", "x" * 300, "tail"]
    data = b"".join(v.encode() for v in values)
    offsets = np.cumsum([0, *(len(v.encode()) for v in values)])
    part = offsets[1:-1]  # rows 1..6: starts at 7, ends before "tail"
    rows = _load([pgcopy.int8(np.arange(6)), pgcopy.strings(part, data)], "k int8, s text")
    assert [s for _k, s in sorted(rows)] == values[1:7]
    # (bytes as well as an array, and every block size)
    for per_block in (1, 2, 7):
        rows = _load([pgcopy.int8(np.arange(6)), pgcopy.strings(part, np.frombuffer(
            data, dtype=np.uint8))], "k int8, s text", rows_per_block=per_block)
        assert [s for _k, s in sorted(rows)] == values[1:7]


def test_strings_all_empty() -> None:
    rows = _load([pgcopy.int8(np.arange(3)), pgcopy.strings(np.zeros(4, dtype=np.int64), b"")],
                 "k int8, s text")
    assert sorted(rows) == [(0, ""), (1, ""), (2, "")]


def test_numeric_thousandths_and_timestamps_to_the_microsecond() -> None:
    milli = np.array([0, 1, -1, 1500, -88_000, 999_999_999_999, -999_999_999_999, 10, 123])
    micros = np.array([0, 1, -1, 946_684_800_000_000, 946_684_799_999_999,
                       1_711_846_800_123_456, -62_135_596_800_000_000,
                       253_402_300_799_999_999, 1_700_000_000_000_001])
    rows = _load([pgcopy.int8(np.arange(len(milli))),
                  pgcopy.numeric(milli, max_digits=12, scale=3),
                  pgcopy.timestamptz_micros(micros)],
                 "k int8, q numeric(12, 3), t timestamptz")
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for k, q, t in sorted(rows):
        assert q == Decimal(int(milli[k])).scaleb(-3), k
        assert str(q) == str(Decimal(int(milli[k])).scaleb(-3).quantize(Decimal("0.001"))), k
        assert t == epoch + dt.timedelta(microseconds=int(micros[k])), k


def test_numeric_of_other_scales_and_widths() -> None:
    values = np.array([0, -5, 12_345_678, -99_999_999])
    for scale in (1, 2, 3, 4):
        rows = _load([pgcopy.int8(np.arange(4)),
                      pgcopy.numeric(values, max_digits=9, scale=scale)],
                     f"k int8, n numeric(9, {scale})")
        assert [n for _k, n in sorted(rows)] == [Decimal(int(v)).scaleb(-scale) for v in values]
    with pytest.raises(ValueError, match="numeric"):
        pgcopy.numeric(np.array([10 ** 12]), max_digits=12, scale=3)
    with pytest.raises(ValueError, match="scale"):
        pgcopy.numeric(np.array([1]), max_digits=12, scale=5)


def test_strings_and_texts_mixed_after_fixed_columns_with_nulls() -> None:
    n = 5
    missing = np.array([True, False, False, True, False])
    gone = np.array([False, False, True, True, False])
    names = ["张伟", "", "Li Na", "王芳芳芳", "o'neil \"q\""]
    data = b"".join(v.encode() for v in names)
    offsets = np.cumsum([0, *(len(v.encode()) for v in names)])
    skus = ["SKU-1", "", "茶"]
    sku_codes = np.array([2, 0, 1, 0, 2])
    rows = _load([pgcopy.int8(np.arange(n)),
                  pgcopy.numeric(np.array([-1500, 0, 2, 3, 999]), max_digits=12, scale=3,
                                 null=missing),
                  pgcopy.timestamptz_micros(np.array([0, 1, 2, 3, 4]) * 1_000_001, null=gone),
                  pgcopy.int4(np.array([7, 8, 9, 10, 11]), null=missing & gone),
                  pgcopy.strings(offsets, data), pgcopy.text(sku_codes, skus),
                  pgcopy.strings(offsets, data)],
                 "k int8, q numeric(12, 3), t timestamptz, i int4, a text, b varchar(8), "
                 "c text", rows_per_block=2)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    quantities = [-1500, 0, 2, 3, 999]
    for k, q, t, i, a, b, c in sorted(rows):
        assert q == (None if missing[k] else Decimal(quantities[k]).scaleb(-3))
        assert t == (None if gone[k] else epoch + dt.timedelta(microseconds=k * 1_000_001))
        assert i == (None if missing[k] and gone[k] else 7 + k)
        assert (a, b, c) == (names[k], skus[sku_codes[k]], names[k])


def test_strings_after_fixed_columns_only_at_the_end() -> None:
    with pytest.raises(ValueError, match="text columns go last"):
        list(pgcopy.encode([pgcopy.strings(np.array([0, 1]), b"a"), pgcopy.int8(np.array([1]))]))
    with pytest.raises(ValueError, match="different lengths"):
        list(pgcopy.encode([pgcopy.int8(np.array([1, 2])), pgcopy.strings(np.array([0, 1]),
                                                                           b"a")]))
