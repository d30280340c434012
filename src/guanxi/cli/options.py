"""Parsing shared by the command groups: dates typed on the command line, and JSON output."""

from __future__ import annotations

import datetime as dt
from typing import Any

from guanxi.core.errors import ValidationFailed


def parse_date(value: str | None, field: str) -> dt.date | None:
    """``2026-06-30`` as a date (None stays None); anything else is one clear error."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("invalid_date", f"{value!r} is not a date like 2026-06-30.",
                               field=field) from None


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for dates and Decimals: ISO dates, numbers as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
