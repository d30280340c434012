"""Dates, times, amounts and quantities the way real exports write them.

Each parser takes a raw value (a string from a text file, or a typed workbook cell) and returns
the value or raises ``ValueError`` with a reason a person understands, which the import writes
into the error report next to the row.

Time zones: a time without an offset is a wall-clock time in the company's zone
(``settings.TIME_ZONE``, Asia/Shanghai by default) — that is what the shop's till printed.
A date without a time is the start of that day in the company's zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

__all__ = ["iso_datetime", "iso_naive", "iso_naive_column", "parse_amount", "parse_date",
           "parse_datetime", "parse_quantity", "plain_amount", "plain_amount_column", "text"]

# Excel counts days from 1899-12-30 (this base absorbs Lotus' phantom 1900-02-29 for every
# serial after February 1900, which is all that matter to a CRM).
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_MAX_SERIAL = 2958465  # 9999-12-31

_DATETIME = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})[:：](\d{2})(?:[:：](\d{2})(?:[.,](\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\s*(\d{1,2}):?(\d{2})(?::?(\d{2}))?)?")
_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
_AMOUNT_NOISE = re.compile(r"[\s\u00a0\u3000,，¥￥$€£]|RMB|CNY|USD|HKD|EUR|元|人民币",
                           re.IGNORECASE)
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# The fast paths: what most exports write, recognized by ASCII-only patterns; anything else
# goes through the full parsers above, with their error messages.
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?")
_PLAIN_ASCII = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Currency signs, thousands separators and spaces: a subset of ``_AMOUNT_NOISE``.
_AMOUNT_STRIP = str.maketrans("", "", " ,\u00a0\u3000，¥￥$€£")


def text(value: Any) -> str:
    """A cell as text: workbook numbers without a spurious ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _from_serial(value: float) -> dt.datetime:
    if not 1 <= value <= _MAX_SERIAL:
        raise ValueError(f"{value!r} is not a date")
    return _EXCEL_EPOCH + dt.timedelta(days=value)


def _offset(raw: str) -> dt.tzinfo:
    if raw == "Z":
        return dt.UTC
    sign = -1 if raw[0] == "-" else 1
    digits = raw[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


@lru_cache(maxsize=65536)
def _parse_datetime_text(raw: str, zone_name: str) -> dt.datetime:
    # Exports repeat the same dates over and over: the cache makes a million rows cheap.
    match = _DATETIME.fullmatch(raw)
    if match:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
    else:
        match = _COMPACT.fullmatch(raw)
        if match:
            year, month, day, hour, minute, second = match.groups()
            fraction = offset = None
        elif _SERIAL.fullmatch(raw):
            naive = _from_serial(float(raw))
            return naive.replace(tzinfo=ZoneInfo(zone_name))
        else:
            raise ValueError(f"{raw!r} is not a date; write it as YYYY-MM-DD (or "
                             "YYYY-MM-DD HH:MM)")
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                            int(second or 0), int((fraction or "0").ljust(6, "0")))
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not a valid date ({exc})") from None
    tz = _offset(offset) if offset else ZoneInfo(zone_name)
    return value.replace(tzinfo=tz)


def parse_datetime(value: Any, zone: str | None = None) -> dt.datetime:
    """Return an aware datetime from ISO text, ``2024/1/5``, ``20240105``, ``2024-01-05 13:45``,
    ``2024年1月5日``, an Excel serial (``45296`` or ``45296.5``) or a workbook date cell.

    ``zone`` (default ``settings.TIME_ZONE``) is where times without an offset are read; a
    caller parsing millions of rows passes it once rather than asking the settings each time.
    """
    if type(value) is str:
        raw = value.strip()
        if raw:
            return _parse_datetime_text(raw, zone or settings.TIME_ZONE)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_zone())
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.min, tzinfo=_zone())
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and 19000101 <= value <= 99991231:
            return _parse_datetime_text(str(value), settings.TIME_ZONE)
        return _from_serial(float(value)).replace(tzinfo=_zone())
    raw = text(value)
    if not raw:
        raise ValueError("the date is empty")
    return _parse_datetime_text(raw, settings.TIME_ZONE)


def iso_datetime(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """The fast path of ``parse_datetime`` for ``YYYY-MM-DD[ HH:MM[:SS]]`` text in ``zone``.

    Returns what ``parse_datetime`` returns for such a value, or ``None`` for anything else
    (other forms, surrounding spaces, impossible dates), which the caller then hands to
    ``parse_datetime`` for the full treatment and its error message.
    """
    naive = iso_naive(value)
    return None if naive is None else naive.replace(tzinfo=zone)


def iso_naive(value: Any) -> dt.datetime | None:
    """``iso_datetime`` before the zone is attached (the wall-clock time as written)."""
    if type(value) is str and _ISO.fullmatch(value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def plain_amount(value: Any) -> Decimal | None:
    """The fast path of ``parse_amount`` for text such as ``¥1,234.50`` or ``-88``.

    Returns the same Decimal ``parse_amount`` would, or ``None`` when the text needs the full
    parser (words such as RMB, brackets, a trailing minus, or something that is not a number).
    """
    if type(value) is str:
        cleaned = value.translate(_AMOUNT_STRIP)
        if _PLAIN_ASCII.fullmatch(cleaned):
            return Decimal(cleaned)
    return None


def iso_naive_column(values: Sequence[str]) -> list[dt.datetime] | None:
    """``iso_naive`` of a whole column of text at once, or None if any value needs more.

    The loop runs in C (``map`` over the pattern and ``fromisoformat``), not one Python call
    per value: a large file's columns are read this way, and a column with another spelling
    or an impossible date is read value by value with the full parser and its messages.
    """
    if not all(map(_ISO.fullmatch, values)):
        return None
    try:
        return list(map(dt.datetime.fromisoformat, values))
    except ValueError:  # the right shape, an impossible date (2024-02-30)
        return None


def plain_amount_column(values: Sequence[str]) -> list[Decimal] | None:
    """``plain_amount`` of a whole column of text at once (see ``iso_naive_column``), or None
    if any value needs the full parser."""
    cleaned = list(map(str.translate, values, repeat(_AMOUNT_STRIP)))
    if not all(map(_PLAIN_ASCII.fullmatch, cleaned)):
        return None
    return list(map(Decimal, cleaned))


def parse_date(value: Any) -> dt.date:
    """A calendar date (a birthday, a sign-up day), from the same forms as ``parse_datetime``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_datetime(value).date()


def _parse_number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {what}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr gives the shortest decimal that round-trips, i.e. what the cell showed.
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    if type(value) is str and _PLAIN.fullmatch(value):
        return Decimal(value)  # the common case, without the cleaning below
    raw = text(value)
    if not raw:
        raise ValueError(f"{what} is empty")
    cleaned = raw.replace("−", "-").replace("（", "(").replace("）", ")")
    cleaned = _AMOUNT_NOISE.sub("", cleaned)
    negative = False
    # Accountants write refunds as (88.00); some tools put the sign last: 88.00-
    if cleaned.startswith("(") and cleaned.endswith(")"):
        negative, cleaned = True, cleaned[1:-1]
    elif cleaned.endswith("-") and not cleaned.startswith("-"):
        negative, cleaned = True, cleaned[:-1]
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError(f"{raw!r} is not {what}")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not {what}") from None
    return -number if negative else number


def parse_amount(value: Any) -> Decimal:
    """Return a Decimal from ``¥1,234.50``, ``$12.00``, ``1 234,00``-free plain numbers, ``-88``,
    ``(88.00)`` or a workbook number. Negative amounts are refunds; rounding is the caller's."""
    return _parse_number(value, "an amount")


def parse_quantity(value: Any) -> Decimal:
    """A quantity; empty means one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal(1)
    return _parse_number(value, "a quantity")
