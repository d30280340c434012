"""One place that says what time it is, so tests can freeze it and code never uses naive times."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def today() -> dt.date:
    """Today in the company's time zone (not UTC: a Shanghai shop's day starts at 00:00 CST)."""
    return timezone.localdate()


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the company's time zone, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
