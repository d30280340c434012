"""Dates of occasions: Gregorian and Chinese lunar anniversaries, and festivals.

Lunar dates
-----------
A lunar date (``ImportantDate.is_lunar``) is stored as a ``DateField`` whose month and day are
the *lunar* month and day (and whose year is the year of the original occasion). Its Gregorian
day in a given year comes from ``lunardate`` (the Hong Kong Observatory tables, 1900–2099).

Two lunar dates do not exist every year, and we fall back as people customarily do:

- **day 30** of a month that has only 29 days that year → the month's last day (day 29);
- a birthday that fell in a **leap month** is celebrated in the regular month of the same
  number (we cannot store the leap flag in a date, so every lunar date is a regular month).

A Gregorian 29 February falls on 28 February in common years.

Lunar years straddle Gregorian ones (lunar 11/20 of lunar year 2025 is 8 January 2026), so the
next occurrence after a day is searched in the lunar years ``day.year - 1 … day.year + 1``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache

import holidays
from lunardate import LunarDate

__all__ = [
    "festival_dates",
    "gregorian_in_year",
    "lunar_in_year",
    "lunar_of",
    "next_occurrence",
    "occurrence_in_window",
]


def gregorian_in_year(month: int, day: int, year: int) -> dt.date:
    """``month``/``day`` in ``year``; 29 February → 28 February in a common year."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        if month == 2 and day == 29:
            return dt.date(year, 2, 28)
        raise


@lru_cache(maxsize=4096)
def lunar_in_year(month: int, day: int, lunar_year: int) -> dt.date | None:
    """The Gregorian day of lunar ``month``/``day`` in ``lunar_year`` (None outside the tables).

    Day 30 of a 29-day month falls back to day 29 (see the module docstring).
    """
    for d in (day, 29) if day == 30 else (day,):
        try:
            return LunarDate(lunar_year, month, d).to_solar_date()  # type: ignore[no-any-return]  # untyped library
        except ValueError:
            continue
    return None


@lru_cache(maxsize=1024)
def lunar_of(day: dt.date) -> tuple[int, int, int, bool]:
    """``(lunar_year, month, day, is_leap_month)`` of a Gregorian day."""
    ld = LunarDate.from_solar_date(day.year, day.month, day.day)
    return int(ld.year), int(ld.month), int(ld.day), bool(ld.is_leap_month)


def _occurrences(date: dt.date, *, is_lunar: bool, yearly: bool,
                 around: int) -> Iterator[tuple[dt.date, int]]:
    """Occurrences ``(gregorian day, occurrence year)`` near the Gregorian year ``around``."""
    if not yearly:
        if is_lunar:
            when = lunar_in_year(date.month, date.day, date.year)
            if when is not None:
                yield when, date.year
        else:
            yield date, date.year
        return
    for year in (around - 1, around, around + 1):
        if is_lunar:
            when = lunar_in_year(date.month, date.day, year)
            if when is not None:
                yield when, year
        else:
            yield gregorian_in_year(date.month, date.day, year), year


def next_occurrence(date: dt.date, *, is_lunar: bool = False, yearly: bool = True,
                    on_or_after: dt.date) -> dt.date | None:
    """The next Gregorian day ``date`` falls on, from ``on_or_after`` on; None if none.

    >>> next_occurrence(dt.date(1990, 8, 15), is_lunar=True, on_or_after=dt.date(2026, 1, 1))
    datetime.date(2026, 9, 25)
    """
    days = sorted(d for d, _ in _occurrences(date, is_lunar=is_lunar, yearly=yearly,
                                             around=on_or_after.year) if d >= on_or_after)
    return days[0] if days else None


def occurrence_in_window(date: dt.date, *, is_lunar: bool, yearly: bool, start: dt.date,
                         end: dt.date) -> tuple[dt.date, int] | None:
    """The occurrence (day, year) of ``date`` between ``start`` and ``end`` inclusive, if any.

    The year is the lunar year for a lunar date, so each occurrence has its own key even when
    two of them fall in one Gregorian year.
    """
    for when, year in sorted(_occurrences(date, is_lunar=is_lunar, yearly=yearly,
                                          around=start.year)):
        if start <= when <= end:
            return when, year
    return None


@lru_cache(maxsize=64)
def _holiday_table(country: str, year: int) -> dict[dt.date, str]:
    table = holidays.country_holidays(country, years=year, language="en_US")
    return dict(table.items())


def holiday_date(name: str, *, country: str, year: int) -> dt.date | None:
    """The first day in ``year`` whose holiday name (English) is ``name``, per ``holidays``."""
    days = [d for d, n in _holiday_table(country, year).items()
            if name in (part.strip() for part in n.split(";"))]
    return min(days) if days else None


def festival_dates(spec: dict[str, object], *, country: str, start: dt.date,
                   end: dt.date) -> list[tuple[dt.date, int]]:
    """Days ``(day, year)`` in ``[start, end]`` of one festival described by ``spec``.

    ``spec`` has exactly one of ``{"holiday": "Mid-Autumn Festival"}`` (a name in the
    ``holidays`` package's table of ``country``), ``{"lunar": [8, 15]}`` or
    ``{"gregorian": [10, 1]}``.
    """
    found: list[tuple[dt.date, int]] = []
    for year in range(start.year - 1, end.year + 2):
        when: dt.date | None
        if "holiday" in spec:
            when = holiday_date(str(spec["holiday"]), country=country, year=year)
        elif "lunar" in spec:
            month, day = _pair(spec["lunar"])
            when = lunar_in_year(month, day, year)
        else:
            month, day = _pair(spec.get("gregorian"))
            when = gregorian_in_year(month, day, year)
        if when is not None and start <= when <= end:
            found.append((when, year))
    return found


def _pair(value: object) -> tuple[int, int]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"expected [month, day], got {value!r}")
    return int(value[0]), int(value[1])
