"""Retention settings: defaults here, overridden by ``GUANXI_RETENTION`` in Django settings.

    GUANXI_RETENTION = {"quantile": 0.95, "p_alive_threshold": 0.2}

===========================  =======  ===========================================================
setting                      default  meaning
===========================  =======  ===========================================================
``quantile``                 0.90     late = days since the last purchase beyond this quantile
                                      of the customer's own interval distribution
``min_intervals``            1        fewest own gaps between purchases for the lateness rule
                                      (one-time buyers get the care calendar's thank-you instead)
``p_alive_threshold``        0.30     also flag a repeat buyer whose P(alive) is below this
``max_lateness``             4.0      but not one silent for more than this many late
                                      thresholds: long gone, not late (win-back campaigns
                                      address the lost; 0 = no cap)
``value_top``                0.10     top share of customers by CLV at value level 2 (severity)
``value_mid``                0.40     the next share at value level 1
``replenish_min_purchases``  3        purchase days of an item before it counts as repeat-bought
``replenish_ahead_days``     7        open a replenishment reminder this many days before run-out
``replenish_lookback_days``  365      order lines read for replenishment (older habits are stale)
===========================  =======  ===========================================================

The worker runs the daily job at ``GUANXI_DAILY_AT`` (``"06:00"`` company time; a Django setting
or the environment variable of that name; unset = not scheduled by the worker).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from guanxi.core.errors import ValidationFailed
from guanxi.retention.errors import RetentionErrorCode


@dataclasses.dataclass(frozen=True)
class RetentionSettings:
    quantile: float = 0.90
    min_intervals: int = 1
    p_alive_threshold: float = 0.30
    max_lateness: float = 4.0
    value_top: float = 0.10
    value_mid: float = 0.40
    replenish_min_purchases: int = 3
    replenish_ahead_days: int = 7
    replenish_lookback_days: int = 365

    def __post_init__(self) -> None:
        if not 0.5 <= self.quantile < 1.0:
            raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                                   "quantile must be in [0.5, 1).", field="quantile")
        if not 0.0 <= self.p_alive_threshold <= 1.0:
            raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                                   "p_alive_threshold must be in [0, 1].",
                                   field="p_alive_threshold")
        if self.replenish_min_purchases < 2:
            raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                                   "replenish_min_purchases must be at least 2.",
                                   field="replenish_min_purchases")


def retention_settings(overrides: Mapping[str, Any] | None = None) -> RetentionSettings:
    """The defaults, then ``settings.GUANXI_RETENTION``, then ``overrides``."""
    from django.conf import settings

    merged: dict[str, Any] = dict(getattr(settings, "GUANXI_RETENTION", {}) or {})
    merged.update(overrides or {})
    known = {f.name for f in dataclasses.fields(RetentionSettings)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                               f"Unknown GUANXI_RETENTION setting {unknown[0]!r}.",
                               field=unknown[0])
    return RetentionSettings(**merged)


def daily_at() -> dt.time | None:
    """When the worker runs the daily job (company time), or None when it should not."""
    from django.conf import settings

    raw = getattr(settings, "GUANXI_DAILY_AT", None) or os.environ.get("GUANXI_DAILY_AT", "")
    if not raw:
        return None
    try:
        return dt.time.fromisoformat(str(raw))
    except ValueError:
        raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                               f"GUANXI_DAILY_AT must be a time like 06:00, not {raw!r}.",
                               field="GUANXI_DAILY_AT") from None
