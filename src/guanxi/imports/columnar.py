"""The order import's fast lane: a UTF-8 CSV or TSV file read in blocks by Apache Arrow.

A million-row export parsed row by row in Python cost about 20 µs a row (reading, ``Decimal``,
``datetime``, an object per order), more than the database's own work. Here a block of whole
lines is parsed by Arrow's CSV reader and checked column by column with Arrow's compute
functions, and the writer gets arrays instead of objects (``OrderColumns``); PostgreSQL then
loads them with a binary COPY (``guanxi.core.pgcopy``).

The fast lane only takes what it reads exactly as the row-by-row path would:

- a block whose lines are its rows one for one (no blank line, no line break inside a quoted
  value, every line with the header's number of fields), so each row's line number is known;
- order numbers that are distinct within the block (an order of one line each, the common
  export);
- every value in the spellings ``group_columns`` reads column by column: times as
  ``YYYY-MM-DD[ HH:MM[:SS]]`` on days when the company's zone keeps one UTC offset, amounts
  such as ``¥1,234.50`` with at most two decimals, quantities and the other short columns
  through the very functions the row path uses (once per distinct value).

Anything else — another spelling, a value to reject, a multi-line order — sends that block
through the row path (``_OrderImport.group``) with its rows and line numbers, so the results
and the error report are the same whichever lane a block takes. The rows of one order never
straddle two blocks: the lines of a block's last order number are carried over to the next
block.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

__all__ = [
    "LineBlocks",
    "OrderColumns",
    "Rules",
    "chunk_end",
    "line_starts",
    "parse_block",
    "read_batch",
    "strip",
    "trailing_group",
]

# Arrow's own allocator (mimalloc) kept what the blocks had used, per thread: an import of
# 1,000,000 rows ended with some 110 MB more RSS than with the C library's, which gives back.
pa.set_memory_pool(pa.system_memory_pool())

# What ``str.strip()`` strips: every character ``str.isspace`` accepts.
WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
# ``parsing._ISO`` and ``parsing._PLAIN_ASCII`` as whole-value patterns.
_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?$"
_PLAIN = r"^-?[0-9]+(?:\.[0-9]+)?$"
# ``parsing._AMOUNT_STRIP``: what an amount may carry besides its number.
_AMOUNT_NOISE = (" ", ",", "\u00a0", "\u3000", "，", "¥", "￥", "$", "€", "£")
_DAY_US = 86_400_000_000
_NEWLINE, _QUOTE = 10, 34


class LineBlocks:
    """Whole lines of a file from a byte position on, a block at a time, never cut inside a
    quoted value. ``take(n)`` gives the next ``n`` lines (fewer at the end) without using
    them up; ``consume(k)`` uses up the first ``k`` bytes of what it gave."""

    def __init__(self, raw: BinaryIO, start: int, first_line: int,
                 read_size: int = 1 << 22) -> None:
        raw.seek(start)
        self._raw = raw
        self._buf = b""
        self._eof = False
        self._read_size = read_size
        self.line = first_line  # the line number of the first line not used up
        self.position = start  # the file position of the first byte not used up

    def _fill(self, newlines: int) -> None:
        while not self._eof and self._buf.count(b"\n") < newlines:
            more = self._raw.read(self._read_size)
            if not more:
                self._eof = True
            self._buf += more

    def take(self, lines: int) -> tuple[bytes, bool]:
        """``(block, at_end)``: the next ``lines`` lines (or the rest of the file), extended
        line by line while it holds an odd number of quotes."""
        self._fill(lines)
        buf = self._buf
        cut = 0
        for _ in range(lines):
            nl = buf.find(b"\n", cut)
            if nl < 0:
                cut = len(buf)
                break
            cut = nl + 1
        while buf.count(b'"', 0, cut) % 2:
            nl = buf.find(b"\n", cut)
            if nl < 0:
                self._fill(buf.count(b"\n") + 1_000)
                if len(self._buf) > len(buf):
                    buf = self._buf
                    continue
                cut = len(buf)
                break
            cut = nl + 1
        at_end = self._eof and cut >= len(self._buf)
        if at_end:
            cut = len(self._buf)
        return buf[:cut], at_end

    def consume(self, nbytes: int) -> None:
        used = self._buf[:nbytes]
        self._buf = self._buf[nbytes:]
        self.line += used.count(b"\n")
        self.position += nbytes


def line_starts(block: bytes) -> npt.NDArray[np.int64]:
    """The byte offset of each line's start in ``block`` (a last line without its line break
    included)."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == _NEWLINE) + 1
    starts = np.concatenate(([0], ends)).astype(np.int64)
    return starts if len(block) > starts[-1] else starts[:-1]


def read_batch(block: bytes, headers: Sequence[str], delimiter: str) -> pa.RecordBatch | None:
    """The block's rows as text columns named by ``headers``, or None if Arrow reads it other
    than one row per line (or cannot read it)."""
    if not block:
        return None
    try:
        table = pcsv.read_csv(
            pa.py_buffer(block),
            read_options=pcsv.ReadOptions(column_names=list(headers), use_threads=False,
                                          block_size=len(block) + 1),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char='"',
                                            double_quote=True, escape_char=False,
                                            newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in headers},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    return table.combine_chunks().to_batches()[0] if table.num_rows else None


@dataclass
class Rules:
    """What the row path knows, for the fast lane to read a block exactly like it."""

    columns: dict[str, str]  # field -> column of the file
    default_currency: str
    # The UTC offset of the company's zone all through a day, None if it changes that day.
    day_offset: Callable[[dt.date], dt.timedelta | None]
    quantity: Callable[[str], Any]  # raw text -> Decimal quantity (raises ValueError)
    status: Callable[[str], str]  # stripped text -> stored status (raises on an unknown one)
    rejected: type[Exception]  # what ``status`` raises for a value to reject


@dataclass
class OrderColumns:
    """A block of orders of one line each, as arrays (the fast lane's chunk)."""

    size: int  # rows of the file
    position: int  # the file position after the block (progress)
    first_line: int  # the rows are lines first_line, first_line + 1, ...
    rows: pa.RecordBatch  # the file's own values, for reports and the row path
    external_id: pa.StringArray
    customer: pa.StringArray
    utc_us: npt.NDArray[np.int64]  # naive UTC, microseconds since 1970-01-01
    status: pa.StringArray  # what the file says ("" when nothing)
    final_status: pa.StringArray  # what is stored: a negative total is a refund
    channel: pa.StringArray
    currency: pa.StringArray
    product: pa.StringArray
    quantity_milli: npt.NDArray[np.int64]  # thousandths
    amount_cents: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return self.size


def strip(column: pa.Array) -> pa.Array:
    return pc.utf8_trim(column, characters=WHITESPACE)


def _by_value(column: pa.Array, convert: Callable[[str], Any]) -> tuple[list[Any], pa.Array]:
    """``convert`` once per distinct value: the converted distinct values and each row's
    index into them."""
    encoded = pc.dictionary_encode(column)
    values = [convert(v) for v in encoded.dictionary.to_pylist()]
    return values, encoded.indices


def _mapped(column: pa.Array, convert: Callable[[str], str]) -> pa.Array:
    values, indices = _by_value(column, convert)
    return pa.array(values, type=pa.string()).take(indices)


def _digits(raw: pa.Array, lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The ASCII bytes of text values of at most 19 characters, one row each (zero-padded)."""
    _validity, offsets, data = raw.buffers()
    off = np.frombuffer(offsets, dtype=np.int32)[raw.offset:raw.offset + len(raw)].astype(
        np.int64)
    chars = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(
        0, dtype=np.uint8)
    out = np.full((len(raw), 19), ord("0"), dtype=np.int64)
    for width in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == width)
        out[rows, :width] = chars[off[rows, None] + np.arange(width)]
    return out - ord("0")


_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
                              dtype=np.int64)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _micros(raw: pa.Array) -> npt.NDArray[np.int64] | None:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` as microseconds since 1970 (wall clock), or None if a value
    has another shape or is no real time (2024-02-30, 25:00, 13:45:60, year 0).

    The shape is checked by the pattern; the fields are read from the characters' fixed
    places with numpy and checked as ``datetime`` checks them.
    """
    if not pc.all(pc.match_substring_regex(raw, _ISO)).as_py():
        return None
    lengths = pc.binary_length(raw).to_numpy(zero_copy_only=False).astype(np.int64)
    d = _digits(raw, lengths)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    hour = d[:, 11] * 10 + d[:, 12]
    minute = d[:, 14] * 10 + d[:, 15]
    second = d[:, 17] * 10 + d[:, 18]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not ((year >= 1).all() and ((month >= 1) & (month <= 12)).all()):
        return None
    month_days = _MONTH_DAYS[month] + ((month == 2) & leap)
    if not (((day >= 1) & (day <= month_days)).all() and (hour < 24).all()
            and (minute < 60).all() and (second < 60).all()):
        return None
    # Days since 1970-01-01 of the proleptic Gregorian calendar (as ``datetime`` counts).
    y = year - 1
    days = (y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month]
            + ((month > 2) & leap) + day - 1) - _EPOCH_ORDINAL
    micros: npt.NDArray[np.int64] = (days * 86_400 + hour * 3_600 + minute * 60
                                     + second) * 1_000_000
    return micros


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal() - 1  # days from 0001-01-01 to 1970-01-01


def _cents(raw: pa.Array) -> npt.NDArray[np.int64] | None:
    """``parsing.plain_amount`` for a column of at most two decimals, in hundredths."""
    cleaned = raw
    for noise in _AMOUNT_NOISE:
        cleaned = pc.replace_substring(cleaned, noise, "")
    if not pc.all(pc.match_substring_regex(cleaned, _PLAIN)).as_py():
        return None
    dot = pc.find_substring(cleaned, ".")
    decimals = pc.if_else(pc.less(dot, 0), 0,
                          pc.subtract(pc.subtract(pc.utf8_length(cleaned), dot), 1))
    if pc.max(decimals).as_py() > 2:
        return None  # rounded by the row path
    digits = pc.replace_substring(cleaned, ".", "")
    padded = pc.if_else(pc.equal(decimals, 2), digits,
                        pc.if_else(pc.equal(decimals, 1),
                                   pc.binary_join_element_wise(digits, "0", ""),
                                   pc.binary_join_element_wise(digits, "00", "")))
    if pc.max(pc.utf8_length(padded)).as_py() > 17:
        return None  # far beyond an order's total; the row path says so
    cents: npt.NDArray[np.int64] = padded.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return cents


def parse_block(batch: pa.RecordBatch, rules: Rules, *, first_line: int,
                position: int) -> OrderColumns | None:
    """The block's orders as ``OrderColumns``, or None when a row needs the row path."""
    col = rules.columns.get
    names = batch.schema.names

    def column(field: str) -> pa.Array | None:
        name = col(field)
        return None if name is None else batch.column(names.index(name))

    n = batch.num_rows
    raw_ext, raw_customer = column("external_id"), column("customer_external_id")
    raw_at, raw_amount = column("placed_at"), column("amount")
    if raw_ext is None or raw_customer is None or raw_at is None or raw_amount is None:
        return None
    ext = strip(raw_ext)
    lengths = pc.utf8_length(ext)
    if pc.min(lengths).as_py() == 0 or pc.max(lengths).as_py() > 128:
        return None
    if pc.count_distinct(ext).as_py() != n:
        return None  # an order of several lines: the row path groups them
    customer = strip(raw_customer)
    if pc.min(pc.utf8_length(customer)).as_py() == 0:
        return None
    wall = _micros(raw_at)
    cents = _cents(raw_amount)
    if wall is None or cents is None or int(np.abs(cents).max()) >= 10 ** 14:
        return None
    # Each day's UTC offset, looked up once; a day on which the zone changes its clocks goes
    # the row path's way.
    days, day_index = np.unique(wall // _DAY_US, return_inverse=True)
    offsets = np.empty(len(days), dtype=np.int64)
    epoch = dt.date(1970, 1, 1)
    for i, day in enumerate(days.tolist()):
        offset = rules.day_offset(epoch + dt.timedelta(days=day))
        if offset is None:
            return None
        offsets[i] = offset // dt.timedelta(microseconds=1)
    utc_us = wall - offsets[day_index]
    try:
        quantity = np.full(n, 1000, dtype=np.int64)
        raw_qty = column("quantity")
        if raw_qty is not None:
            values, indices = _by_value(raw_qty, rules.quantity)
            milli = [int(v.scaleb(3)) for v in values]
            if any(abs(m) >= 10 ** 12 for m in milli):
                return None
            quantity = np.asarray(milli, dtype=np.int64)[
                indices.to_numpy(zero_copy_only=False)]
        empty = pa.array([""] * n, type=pa.string())
        product = empty
        raw_product = column("product")
        if raw_product is not None:
            product = strip(raw_product)
            if n and pc.max(pc.utf8_length(product)).as_py() > 64:
                return None
        status = empty
        raw_status = column("status")
        if raw_status is not None:
            status = _mapped(strip(raw_status), lambda s: rules.status(s) if s else "")
        channel = empty
        raw_channel = column("channel")
        if raw_channel is not None:
            channel = _mapped(raw_channel, lambda s: s.strip()[:32])
        currency = pa.array([rules.default_currency] * n, type=pa.string())
        raw_currency = column("currency")
        if raw_currency is not None:
            currency = _mapped(raw_currency,
                               lambda s: s.strip().upper() or rules.default_currency)
            if any(len(c) != 3 or not c.isalpha()
                   for c in pc.unique(currency).to_pylist()):
                return None
    except (ValueError, rules.rejected):
        return None
    refund = pa.array(cents < 0)
    final_status = pc.if_else(refund, "refunded",
                              pc.if_else(pc.equal(status, ""), "completed", status))
    return OrderColumns(size=n, position=position, first_line=first_line, rows=batch,
                        external_id=ext, customer=customer, utc_us=utc_us, status=status,
                        final_status=final_status, channel=channel, currency=currency,
                        product=product, quantity_milli=quantity, amount_cents=cents)


def chunk_end(exts: Sequence[str], size: int, at_end: bool) -> int:
    """How many of a block's rows (their order numbers) make a chunk: ``size``, then the rows
    of the same order as the last (as ``_Import._chunks`` cuts); where the block has ``size``
    rows or fewer (blank lines, line breaks in values), up to its last order, which may go
    on. 0: the block ends inside one order, more lines are needed."""
    m = len(exts)
    if at_end:
        return m
    if m > size:
        end = size
        while end < m and exts[end] == exts[size - 1]:
            end += 1
        return end if end < m else 0
    return trailing_group(exts)


def trailing_group(exts: Sequence[str] | pa.Array) -> int:
    """Where the run of rows sharing the last row's order number begins."""
    values = exts.to_pylist() if isinstance(exts, pa.Array) else list(exts)
    if not values:
        return 0
    last = values[-1]
    k = len(values) - 1
    while k > 0 and values[k - 1] == last:
        k -= 1
    return k
