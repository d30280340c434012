"""The value engine's settings: defaults here, overridden by ``GUANXI_VALUE`` in Django settings.

    GUANXI_VALUE = {"model": "paretonbd", "dormant_below": 0.4}

=====================  =========  ============================================================
setting                default    meaning
=====================  =========  ============================================================
``time_unit``          ``week``   unit of t_x and T for the models (``week`` or ``day``); weeks
                                  follow the literature and keep the fit well conditioned
``model``              ``bgnbd``  the purchase model: ``bgnbd`` (fast, robust) or ``paretonbd``
``horizon_months``     12         how far ahead CLV looks; also the furthest expected next
                                  purchase date we store (a later one is left empty)
``margin``             0.30       share of revenue that is profit; CLV is a value of profit
``annual_discount``    0.10       yearly discount rate of future profit in CLV
``purchases_days``     90         period of the stored "expected purchases" figure
``purchase_within``    30         period of the stored "P(purchase within)" figure
``new_days``           90         a customer whose first purchase is at most this many days
                                  before the as-of date is **new**, whatever the model says
                                  (one purchase tells the model almost nothing yet)
``loyal_min_repeat``   4          **loyal** = at least this many repeat purchases ...
``loyal_min_p_alive``  0.70       ... and still very likely alive
``dormant_below``      0.50       P(alive) below this = **dormant**: lapsed against their own
                                  rhythm but worth a win-back (re-activation) campaign
``lost_below``         0.15       P(alive) below this = **lost**: at roughly 1 in 7 the expected
                                  return of a win-back contact is usually below its cost, so the
                                  customer leaves the work queues (they are kept and re-scored)
``tier_cuts``          None       CLV share cuts for vip/key/major/ordinary; ``None`` = the
                                  library's ``DEFAULT_TIERS``
``events``             True       write a ``score_changed`` event for customers whose tier or
                                  lifecycle stage changed since their previous score
``chunk_size``         50000      rows per fetch / insert batch
=====================  =========  ============================================================

Stage precedence: prospect (no purchase) → new → lost → dormant → loyal → active.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from guanxi.core.errors import ValidationFailed
from guanxi.value.errors import ValueErrorCode

TimeUnit = Literal["week", "day"]
ModelName = Literal["bgnbd", "paretonbd"]


@dataclasses.dataclass(frozen=True)
class ValueSettings:
    time_unit: TimeUnit = "week"
    model: ModelName = "bgnbd"
    horizon_months: int = 12
    margin: float = 0.30
    annual_discount: float = 0.10
    purchases_days: int = 90
    purchase_within: int = 30
    new_days: int = 90
    loyal_min_repeat: int = 4
    loyal_min_p_alive: float = 0.70
    dormant_below: float = 0.50
    lost_below: float = 0.15
    tier_cuts: Sequence[float] | None = None
    events: bool = True
    chunk_size: int = 50_000

    def __post_init__(self) -> None:
        if self.time_unit not in ("week", "day"):
            raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                                   "time_unit must be 'week' or 'day'.", field="time_unit")
        if self.model not in ("bgnbd", "paretonbd"):
            raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                                   "model must be 'bgnbd' or 'paretonbd'.", field="model")
        if not 0.0 <= self.lost_below <= self.dormant_below <= 1.0:
            raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                                   "Need 0 <= lost_below <= dormant_below <= 1.",
                                   field="lost_below")

    @property
    def days_per_unit(self) -> int:
        return 7 if self.time_unit == "week" else 1

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["tier_cuts"] is not None:
            data["tier_cuts"] = list(data["tier_cuts"])
        return data


def value_settings(overrides: Mapping[str, Any] | None = None) -> ValueSettings:
    """The defaults, then ``settings.GUANXI_VALUE``, then ``overrides``."""
    from django.conf import settings

    merged: dict[str, Any] = dict(getattr(settings, "GUANXI_VALUE", {}) or {})
    merged.update(overrides or {})
    known = {f.name for f in dataclasses.fields(ValueSettings)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                               f"Unknown GUANXI_VALUE setting {unknown[0]!r}.", field=unknown[0])
    return ValueSettings(**merged)
