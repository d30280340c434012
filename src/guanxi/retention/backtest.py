"""Does the warning work? Replay it at a past date and check who really did not come back.

At ``as_of`` we use only purchases up to that day: per customer the summary (x, t_x, T, own
gaps), P(alive) from a BG/NBD fitted on those purchases, and the rhythm rule of
``guanxi.analytics.rhythm`` with the same settings as the daily run. The truth is who made no
purchase in the following ``horizon`` days. The population is the repeat buyers at ``as_of``
(at least ``min_intervals`` gaps): the only customers with a rhythm to be late against, and the
ones a rep would call (one-time buyers get the care calendar's thank-you instead).

Compared with two flat rules: "more than 90 days since the last purchase" (a common rule of
thumb), and "more than N days" with N chosen so the flat rule raises *as many* alerts as the
rhythm rule (the fair comparison: same calling budget, who picks better?). Value-weighted
recall weighs each customer who did not come back by their spend before ``as_of`` (their past
value; CLV would need a model fitted on the future we are testing).

The same function runs on the database (``purchase_days``) and on a file such as CDNOW
(``guanxi.value.files.read_transactions``), so both figures come from one code path.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from guanxi.analytics import BGNBD, summarize_transactions
from guanxi.analytics.errors import AnalyticsError, ConvergenceWarning
from guanxi.analytics.rhythm import RhythmModel
from guanxi.core.errors import ValidationFailed
from guanxi.retention.conf import RetentionSettings
from guanxi.retention.errors import RetentionErrorCode

FLAT_DAYS = 90


def frequency_band(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Pooling groups for the rhythm prior: 1, 2-3, 4-7 and 8+ gaps between purchases."""
    return np.digitize(np.nan_to_num(x), [2, 4, 8]).astype(np.int64)


def _metrics(flagged: npt.NDArray[np.bool_], churned: npt.NDArray[np.bool_],
             value: npt.NDArray[np.float64]) -> dict[str, Any]:
    hits = flagged & churned
    n_flagged, n_churned, n_hits = int(flagged.sum()), int(churned.sum()), int(hits.sum())
    precision = n_hits / n_flagged if n_flagged else None
    recall = n_hits / n_churned if n_churned else None
    lost_value = float(value[churned].sum())
    f1 = (2 * precision * recall / (precision + recall)
          if precision and recall else None)
    return {
        "flagged": n_flagged, "correct": n_hits,
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "value_recall": round(float(value[hits].sum()) / lost_value, 4) if lost_value else None,
    }


def backtest_transactions(customer: npt.ArrayLike, day: npt.ArrayLike, amount: npt.ArrayLike,
                          *, as_of: dt.date, horizon_days: int, cfg: RetentionSettings,
                          flat_days: int = FLAT_DAYS) -> dict[str, Any]:
    """Precision and recall of the warning at ``as_of`` against ``horizon_days`` of truth."""
    if horizon_days < 1:
        raise ValidationFailed(RetentionErrorCode.INVALID_SETTING,
                               "The horizon is at least one day.", field="horizon")
    days = np.asarray(day, dtype="datetime64[D]")
    end = np.datetime64(as_of, "D") + np.timedelta64(horizon_days, "D")
    if days.size == 0 or days.max() < end:
        last = str(days.max()) if days.size else "none"
        raise ValidationFailed(RetentionErrorCode.NO_DATA,
                               f"The data end on {last}, before {as_of} + {horizon_days} days: "
                               f"the outcome is not known yet.", field="as_of")
    s = summarize_transactions(customer, days, amount, calibration_end=as_of,
                               holdout_end=end.astype(dt.date), time_unit="week")
    if s.x_holdout is None:  # pragma: no cover - holdout_end was given
        raise AssertionError("holdout missing")
    x = s.x.astype(np.float64)
    p_alive = np.full(x.size, np.nan)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BGNBD().fit(s.x, s.t_x, s.T)
        p_alive = model.p_alive(s.x, s.t_x, s.T)
    except AnalyticsError:
        pass  # too little data for the model: the rhythm rule alone
    population = x >= max(cfg.min_intervals, 1)
    if population.sum() < 2:
        raise ValidationFailed(RetentionErrorCode.NO_DATA,
                               f"Fewer than two repeat buyers before {as_of}.", field="as_of")
    x, mean, sd = x[population], s.mean_interval_days[population], s.std_interval_days[
        population]
    since = s.recency_days[population].astype(np.float64)
    value = s.total_spend[population]
    band = frequency_band(x)
    rhythm = RhythmModel(quantile=cfg.quantile, min_intervals=cfg.min_intervals,
                         p_alive_threshold=cfg.p_alive_threshold).fit(x, mean, sd, band)
    result = rhythm.assess(x, mean, sd, since, p_alive=p_alive[population], value=value,
                           segment=band)
    early = rhythm.assess(x, mean, sd, since, p_alive=p_alive[population], value=value,
                          segment=band, max_lateness=cfg.max_lateness or None).flagged
    churned = s.x_holdout[population] == 0
    flagged = result.flagged
    # The flat rule with the same number of alerts: the k longest silences.
    k = int(flagged.sum())
    order = np.argsort(-since, kind="stable")
    budget = np.zeros(since.size, dtype=bool)
    budget[order[:k]] = True
    budget_days = int(since[order[k - 1]]) if k else None
    p_alive_only = np.nan_to_num(p_alive[population], nan=1.0) < cfg.p_alive_threshold
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon_days,
        "customers": int(s.x.size),
        "repeat_buyers": int(population.sum()),
        "did_not_come_back": int(churned.sum()),
        "base_rate": round(float(churned.mean()), 4),
        "median_interval_days": round(float(np.median(result.expected_interval)), 1),
        "rules": {
            "rhythm": {"rule": f"late beyond the {cfg.quantile:.0%} quantile of the own "
                               f"rhythm, or P(alive) < {cfg.p_alive_threshold}",
                       **_metrics(flagged, churned, value)},
            "rhythm_early": {"rule": f"the same, but not customers silent for more than "
                                     f"{cfg.max_lateness:g} late thresholds (what the daily "
                                     f"run raises)",
                             **_metrics(early, churned, value)},
            "p_alive_only": {"rule": f"P(alive) < {cfg.p_alive_threshold} alone (BG/NBD)",
                             **_metrics(p_alive_only, churned, value)},
            f"flat_{flat_days}": {"rule": f"more than {flat_days} days since the last purchase",
                                  **_metrics(since > flat_days, churned, value)},
            "flat_same_budget": {"rule": f"the {k} longest silences (more than "
                                         f"{budget_days} days), as many alerts as the rhythm",
                                 **_metrics(budget, churned, value)},
        },
    }


def backtest_database(*, as_of: dt.date, horizon_days: int,
                      cfg: RetentionSettings) -> dict[str, Any]:
    """The backtest on the company's own orders (only orders up to ``as_of + horizon``)."""
    from guanxi.core import clock
    from guanxi.value.selectors import purchase_days

    if as_of + dt.timedelta(days=horizon_days) > clock.today():
        raise ValidationFailed(RetentionErrorCode.NO_DATA,
                               f"{as_of} + {horizon_days} days is in the future: the outcome "
                               f"is not known yet.", field="as_of")
    days = purchase_days(as_of=as_of + dt.timedelta(days=horizon_days))
    if not len(days):
        raise ValidationFailed(RetentionErrorCode.NO_DATA, "There are no purchases yet.",
                               field="as_of")
    # The outcome is known up to today; data ending earlier is fine when today is past it.
    day = np.asarray(days.day, dtype="datetime64[D]")
    padded_day = np.append(day, np.datetime64(as_of + dt.timedelta(days=horizon_days), "D"))
    # A sentinel purchase of a customer id nobody has keeps "the data end too early" honest
    # about the calendar rather than about the last order (a quiet last week is data too).
    customer = np.append(days.customer, -1)
    amount = np.append(days.amount, 0.0)
    return backtest_transactions(customer, padded_day, amount, as_of=as_of,
                                 horizon_days=horizon_days, cfg=cfg)
