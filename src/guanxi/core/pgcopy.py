"""Columns of numpy arrays as PostgreSQL's binary COPY stream, without a Python object per row.

The value engine writes a million score rows per run. Sent as fixed-width records into a
staging table and converted by ``INSERT ... SELECT`` (texts from codes, NaN to NULL, numerics
rounded), the conversion cost the server more than the rows' own insert. Here the rows are
encoded in the target table's own binary formats — NULLs, texts and numerics included — so one
``COPY ... (FORMAT BINARY)`` loads the table directly.

A binary row is a field count, then per field its byte length (-1 for NULL) and its bytes; a
row's length varies with its NULLs and texts. Per block of rows, the fixed-width columns are
laid out as one structured array (each NULL as length -1 over unused bytes); the rows of each
NULL pattern are written, without those unused bytes, at their offsets in the stream — one
fancy-indexed assignment into a sliding-window view per pattern — and then each text column a
label at a time. Blocks of a few thousand rows keep the structured array in the CPU cache
(filling it column by column was three times slower with blocks of 100,000 rows).

Formats (PostgreSQL's ``*send`` functions): integers and float8 big-endian; date as days and
timestamptz as microseconds since 2000-01-01; text as its UTF-8 bytes; numeric as digit count,
weight, sign, display scale and base-10000 digits (leading zero digits are allowed: the server
strips them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["HEADER", "TRAILER", "Column", "arrow_strings", "copy", "date", "encode", "float8",
           "int2", "int4", "int8", "numeric", "strings", "text", "timestamptz",
           "timestamptz_micros"]

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
_PG_EPOCH_SECONDS = _PG_EPOCH_DAYS * 86_400

U8 = npt.NDArray[np.uint8]


@dataclasses.dataclass
class Column:
    """One column to encode: fixed-width ``values`` (already in the wire format) with a NULL
    mask, a text column as ``codes`` into ``labels``, or a text column of distinct values as
    UTF-8 ``data`` cut at ``offsets`` (value ``i`` is ``data[offsets[i]:offsets[i + 1]]``,
    Apache Arrow's layout of a string array)."""

    values: npt.NDArray[Any] | None = None
    null: npt.NDArray[np.bool_] | None = None
    codes: npt.NDArray[np.intp] | None = None
    labels: tuple[bytes, ...] = ()
    offsets: npt.NDArray[np.int64] | None = None
    data: U8 | None = None

    def __len__(self) -> int:
        if self.values is not None:
            return len(self.values)
        if self.codes is not None:
            return len(self.codes)
        assert self.offsets is not None
        return len(self.offsets) - 1


def _fixed(values: npt.NDArray[Any], fmt: str, null: npt.NDArray[np.bool_] | None) -> Column:
    if null is not None and not null.any():
        null = None
    return Column(values=np.asarray(values).astype(fmt, copy=False), null=null)


def int8(values: npt.ArrayLike, null: npt.NDArray[np.bool_] | None = None) -> Column:
    return _fixed(np.asarray(values), ">i8", null)


def int4(values: npt.ArrayLike, null: npt.NDArray[np.bool_] | None = None) -> Column:
    return _fixed(np.asarray(values), ">i4", null)


def int2(values: npt.ArrayLike, null: npt.NDArray[np.bool_] | None = None) -> Column:
    return _fixed(np.asarray(values), ">i2", null)


def float8(values: npt.ArrayLike) -> Column:
    """A double precision column; NaN is NULL."""
    arr = np.asarray(values, dtype=np.float64)
    return _fixed(arr, ">f8", np.isnan(arr))


def date(days: npt.ArrayLike, null: npt.NDArray[np.bool_] | None = None) -> Column:
    """A date column from days since 1970-01-01."""
    return _fixed(np.asarray(days, dtype=np.int64) - _PG_EPOCH_DAYS, ">i4", null)


def timestamptz(seconds: npt.ArrayLike, null: npt.NDArray[np.bool_] | None = None) -> Column:
    """A timestamptz column from whole seconds since 1970-01-01 UTC."""
    micros = (np.asarray(seconds, dtype=np.int64) - _PG_EPOCH_SECONDS) * 1_000_000
    return _fixed(micros, ">i8", null)


def timestamptz_micros(micros: npt.ArrayLike,
                       null: npt.NDArray[np.bool_] | None = None) -> Column:
    """A timestamptz column from microseconds since 1970-01-01 UTC."""
    return _fixed(np.asarray(micros, dtype=np.int64) - _PG_EPOCH_SECONDS * 1_000_000, ">i8",
                  null)


def numeric(cents: npt.ArrayLike, *, max_digits: int, scale: int = 2,
            null: npt.NDArray[np.bool_] | None = None) -> Column:
    """A ``numeric(max_digits, scale)`` column from whole units of the last decimal (hundredths
    for the default scale of 2; ``scale`` is at most 4).

    Fixed layout: the integer part in ``ceil((max_digits - scale) / 4)`` base-10000 digits,
    the decimals as one more. A value that does not fit raises ``ValueError`` (the server would
    refuse it as a numeric field overflow).
    """
    if not 0 < scale <= 4:
        raise ValueError("numeric: a scale of 1 to 4 decimals")
    c = np.asarray(cents, dtype=np.int64)
    groups = -(-(max_digits - scale) // 4)
    magnitude = np.abs(c)
    valid = magnitude if null is None else magnitude[~null]
    if valid.size and int(valid.max()) >= 10 ** max_digits:
        raise ValueError(f"a value does not fit numeric({max_digits}, {scale})")
    header = np.array([groups + 1, groups - 1, 0, scale], dtype=">u2")
    words = np.empty((len(c), 5 + groups), dtype=">u2")
    words[:, :4] = header
    words[:, 2] = np.where(c < 0, 0x4000, 0)
    rest, fraction = np.divmod(magnitude, 10 ** scale)
    words[:, 4 + groups] = fraction * 10 ** (4 - scale)
    for k in range(3 + groups, 3, -1):
        rest, words[:, k] = np.divmod(rest, 10_000)
    record = np.dtype((np.void, words.shape[1] * 2))
    return _fixed(words.view(record).reshape(-1), record.str, null)


def text(codes: npt.ArrayLike, labels: Sequence[str]) -> Column:
    """A text (or varchar) column of ``labels[code]`` per row; never NULL."""
    return Column(codes=np.asarray(codes, dtype=np.intp),
                  labels=tuple(label.encode() for label in labels))


def strings(offsets: npt.ArrayLike, data: npt.ArrayLike) -> Column:
    """A text column of UTF-8 ``data`` cut at ``offsets`` (``len(offsets) - 1`` values, Apache
    Arrow's string layout); never NULL. For columns of mostly distinct values, which ``text``
    would write a label at a time."""
    off = np.asarray(offsets, dtype=np.int64)
    return Column(offsets=off, data=np.frombuffer(data, dtype=np.uint8)  # type: ignore[call-overload]
                  if not isinstance(data, np.ndarray) else data)


def arrow_strings(values: Any) -> Column:
    """An Apache Arrow string array as a ``strings`` column, on its own buffers (no copy).

    (Any object with Arrow's ``buffers()`` and ``offset`` will do: this module does not load
    Arrow.)"""
    _validity, offsets, data = values.buffers()
    start = values.offset
    off = np.frombuffer(offsets, dtype=np.int32)[start:start + len(values) + 1]
    return strings(off.astype(np.int64), np.frombuffer(data, dtype=np.uint8)
                   if data is not None else np.zeros(0, dtype=np.uint8))


def copy(cursor: Any, table: str, names: Sequence[str], columns: Sequence[Column]) -> None:
    """Load ``columns`` into ``table``'s columns ``names`` (both quoted already) with one
    ``COPY ... (FORMAT BINARY)`` on a psycopg cursor (Django's ``cursor.cursor``)."""
    with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as out:
        out.write(HEADER)
        for block in encode(columns):
            out.write(block)
        out.write(TRAILER)


def _place_strings(out: U8, offset: npt.NDArray[np.int64], col: Column, lo: int,
                   hi: int) -> npt.NDArray[np.int64]:
    """Rows ``lo:hi`` of a ``strings`` column written at ``offset`` (length, then bytes); each
    row's size."""
    assert col.offsets is not None
    assert col.data is not None
    starts = col.offsets[lo:hi]
    lengths = col.offsets[lo + 1:hi + 1] - starts
    _windows(out)(4)[offset] = lengths.astype(">i4").view(np.uint8).reshape(-1, 4)
    first, last = int(col.offsets[lo]), int(col.offsets[hi])
    if last > first:
        # Each byte's place: its row's start in ``out`` plus its distance into the value.
        shift = np.repeat(offset + 4 - starts, lengths)
        out[np.arange(first, last, dtype=np.int64) + shift] = col.data[first:last]
    return lengths + 4


def _windows(out: U8) -> Any:
    """``window(width)[i]`` is ``out[i:i + width]``: rows of any width written at any offset
    in one fancy-indexed assignment."""
    def window(width: int) -> U8:
        return np.lib.stride_tricks.as_strided(out, shape=(len(out) - width + 1, width),
                                               strides=(1, 1))
    return window


def _fixed_block(columns: Sequence[Column], count: int, lo: int,
                 hi: int) -> tuple[U8, npt.NDArray[np.int64]]:
    """Rows ``lo:hi`` of the field count and the fixed-width columns, as if none were NULL
    (NULLs have length -1), and per row the bit pattern of its NULL columns."""
    fields: list[tuple[str, Any]] = [("n", ">i2")]
    for j, col in enumerate(columns):
        fields += [(f"l{j}", ">i4"), (f"v{j}", col.values.dtype)]  # type: ignore[union-attr]
    block = np.empty(hi - lo, dtype=np.dtype(fields))
    block["n"] = count
    pattern = np.zeros(hi - lo, dtype=np.int64)
    for j, col in enumerate(columns):
        assert col.values is not None
        block[f"v{j}"] = col.values[lo:hi]
        width = col.values.dtype.itemsize
        if col.null is None:
            block[f"l{j}"] = width
        else:
            null = col.null[lo:hi]
            block[f"l{j}"] = np.where(null, -1, width)
            pattern |= null.astype(np.int64) << j
    return block.view(np.uint8).reshape(hi - lo, block.dtype.itemsize), pattern


def encode(columns: Sequence[Column], *, rows_per_block: int = 8_192) -> Iterator[bytes]:
    """The rows of ``columns`` (all of one length; text columns last) as blocks of the binary
    COPY stream. The caller writes ``HEADER`` first and ``TRAILER`` last.

    Per block of rows: the fixed-width columns as one structured array; per NULL pattern, its
    rows' bytes without the NULL values' bytes; each row written at its offset in the stream,
    then each text column's values, a label at a time.
    """
    n = len(columns[0]) if columns else 0
    if any(len(col) != n for col in columns):
        raise ValueError("columns of different lengths")
    fixed = [col for col in columns if col.values is not None]
    texts = [col for col in columns if col.values is None]
    if list(columns[:len(fixed)]) != fixed:
        raise ValueError("text columns go last")
    # Byte positions of each fixed column's value inside a block row (after its length).
    starts, at = [], 2
    for col in fixed:
        starts.append(at + 4)
        at += 4 + col.values.dtype.itemsize  # type: ignore[union-attr]
    labels = [[np.frombuffer(len(lab).to_bytes(4, "big") + lab, dtype=np.uint8)
               for lab in col.labels] for col in texts]
    sizes = [np.array([len(cell) for cell in cells], dtype=np.int64) for cells in labels]
    for lo in range(0, n, rows_per_block):
        hi = min(lo + rows_per_block, n)
        raw, pattern = _fixed_block(fixed, len(columns), lo, hi)
        kinds = np.unique(pattern).tolist()
        keeps, widths = {}, np.zeros(len(kinds), dtype=np.int64)
        for k, p in enumerate(kinds):
            keep = np.ones(raw.shape[1], dtype=bool)
            for j, col in enumerate(fixed):
                if p >> j & 1:
                    keep[starts[j]:starts[j] + col.values.dtype.itemsize] = False  # type: ignore[union-attr]
            keeps[p] = np.flatnonzero(keep)
            widths[k] = len(keeps[p])
        kind = np.searchsorted(kinds, pattern)
        length = widths[kind]
        for col, size in zip(texts, sizes, strict=True):
            if col.offsets is not None:
                length = length + 4 + np.diff(col.offsets[lo:hi + 1])
            else:
                length = length + size[col.codes[lo:hi]]  # type: ignore[index]
        offset = np.cumsum(length) - length
        out = np.empty(int(length.sum()), dtype=np.uint8)
        window = _windows(out)
        for k, p in enumerate(kinds):
            rows = np.flatnonzero(kind == k) if len(kinds) > 1 else slice(None)
            part = raw[rows] if len(kinds) > 1 else raw
            if len(keeps[p]) < raw.shape[1]:
                part = part[:, keeps[p]]
            window(int(widths[k]))[offset[rows]] = part
        offset += widths[kind]
        for col, cells, size in zip(texts, labels, sizes, strict=True):
            if col.offsets is not None:
                offset += _place_strings(out, offset, col, lo, hi)
                continue
            codes = col.codes[lo:hi]  # type: ignore[index]
            for code in np.unique(codes).tolist():
                rows = np.flatnonzero(codes == code)
                window(len(cells[code]))[offset[rows]] = cells[code]
            offset += size[codes]
        yield out.tobytes()
