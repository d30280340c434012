"""From per-customer summaries to scores — numpy and ``guanxi.analytics`` only, no Django.

The same three steps run in one process (``services.score_all``) and on a Dask cluster
(``dask_engine``):

1. ``fit_models``: fit the purchase model and Gamma-Gamma once, on *compressed* statistics (one
   row per distinct ``(x, t_x, T)`` with a weight), which is what makes a million customers cheap;
2. ``score_part``: per-customer predictions, independent per customer, so partitions can be
   scored in parallel;
3. ``finish_scores``: what needs the whole population at once — RFM quintiles and value tiers
   (both are relative ranks) — plus the lifecycle stage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from guanxi.value.conf import ValueSettings

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DayArray = npt.NDArray[np.datetime64]
StrArray = npt.NDArray[np.str_]


@dataclasses.dataclass
class FittedModels:
    """The fitted purchase model and spend model, plus a JSON-able description of both."""

    transaction_model: Any
    spend_model: Any | None
    info: dict[str, Any]


@dataclasses.dataclass
class ModelScores:
    """Per-customer results of ``score_part``; arrays aligned on ``customer``."""

    customer: IntArray
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    recency_days: FloatArray
    frequency: FloatArray
    monetary: FloatArray
    total_spend: FloatArray
    first_purchase: DayArray
    last_purchase: DayArray
    p_alive: FloatArray
    expected_purchases: FloatArray
    p_purchase: FloatArray
    expected_spend: FloatArray
    clv: FloatArray
    next_purchase: DayArray
    mean_interval_days: FloatArray
    std_interval_days: FloatArray

    @classmethod
    def concatenate(cls, parts: list[ModelScores]) -> ModelScores:
        fields = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in fields})

    def __len__(self) -> int:
        return len(self.customer)


@dataclasses.dataclass
class Scores(ModelScores):
    """``ModelScores`` plus the population-relative and rule-based labels."""

    tier: StrArray = dataclasses.field(default_factory=lambda: np.array([], dtype=str))
    rfm_r: IntArray = dataclasses.field(default_factory=lambda: np.array([], dtype=np.int64))
    rfm_f: IntArray = dataclasses.field(default_factory=lambda: np.array([], dtype=np.int64))
    rfm_m: IntArray = dataclasses.field(default_factory=lambda: np.array([], dtype=np.int64))
    rfm_segment: StrArray = dataclasses.field(default_factory=lambda: np.array([], dtype=str))
    stage: StrArray = dataclasses.field(default_factory=lambda: np.array([], dtype=str))


def _transaction_model(cfg: ValueSettings) -> Any:
    from guanxi import analytics

    return analytics.BGNBD() if cfg.model == "bgnbd" else analytics.ParetoNBD()


def _plain(value: Any) -> Any:
    """numpy scalars and arrays → JSON-able Python values (NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if not np.isfinite(f) else f
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def describe_model(model: Any) -> dict[str, Any]:
    return {
        "params": _plain(dict(model.params_)),
        "log_likelihood": _plain(getattr(model, "log_likelihood_", None)),
        "standard_errors": _plain(getattr(model, "standard_errors_", None)),
        "converged": _plain(getattr(model, "converged_", None)),
    }


def _fit_quietly(fit: Any, name: str, info: dict[str, Any]) -> Any:
    """Run ``fit()``, turning the library's warnings into a record on the run (and the log).

    A nightly job must not die because an optimizer stopped early; the run says so instead
    (``models_info[name]["warnings"]``), and the scores are still the best estimate.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit()
    info[name] = describe_model(model)
    messages = [str(w.message) for w in caught]
    if messages:
        info[name]["warnings"] = messages
        for message in messages:
            logger.warning("%s: %s", name, message)
    return model


def fit_models(x: FloatArray, t_x: FloatArray, T: FloatArray, monetary: FloatArray,
               cfg: ValueSettings) -> FittedModels:
    """Fit the purchase model on all buyers and Gamma-Gamma on the repeat buyers."""
    from guanxi import analytics

    info: dict[str, Any] = {}
    # The models fit on distinct (x, t_x, T) rows with weights themselves: at a million
    # customers there are far fewer distinct rows than customers.
    model = _fit_quietly(lambda: _transaction_model(cfg).fit(x, t_x, T), cfg.model, info)
    repeat = (x > 0) & np.isfinite(monetary) & (monetary > 0)
    spend_model: Any | None = None
    if int(repeat.sum()) >= 10:
        spend_model = _fit_quietly(
            lambda: analytics.GammaGamma().fit(x[repeat], monetary[repeat]), "gammagamma", info)
    return FittedModels(transaction_model=model, spend_model=spend_model, info=info)


def score_part(summary: Any, fitted: FittedModels, cfg: ValueSettings,
               as_of: dt.date) -> ModelScores:
    """Per-customer predictions for one ``CustomerSummary`` (a partition or everyone)."""
    from guanxi import analytics

    model = fitted.transaction_model
    x = np.asarray(summary.x, dtype=np.float64)
    t_x = np.asarray(summary.t_x, dtype=np.float64)
    T = np.asarray(summary.T, dtype=np.float64)
    monetary = np.asarray(summary.monetary, dtype=np.float64)
    unit = cfg.days_per_unit
    p_alive = np.asarray(model.p_alive(x, t_x, T), dtype=np.float64)
    expected = np.asarray(model.expected_purchases(cfg.purchases_days / unit, x, t_x, T),
                          dtype=np.float64)
    p_purchase = np.asarray(model.p_purchase_within(cfg.purchase_within / unit, x, t_x, T),
                            dtype=np.float64)
    wait = np.asarray(model.expected_time_to_next_purchase(x, t_x, T), dtype=np.float64)
    as_of_day = np.datetime64(as_of, "D")
    next_purchase = np.full(len(x), np.datetime64("NaT"), dtype="datetime64[D]")
    # No date when the model has none (P(alive) < 0.5) or when the expected wait runs past
    # the CLV horizon: a one-time buyer's mean wait can be years — not a date to act on.
    horizon_days = cfg.horizon_months * 365.25 / 12
    known = np.isfinite(wait) & (wait * unit <= horizon_days)
    # Round up: "in 2.3 days" means the third day from now, never today.
    next_purchase[known] = as_of_day + np.ceil(wait[known] * unit).astype("timedelta64[D]")
    m_for_model = np.where(np.isfinite(monetary) & (monetary > 0), monetary, 0.0)
    if fitted.spend_model is not None:
        spend = np.asarray(fitted.spend_model.expected_spend(x, m_for_model), dtype=np.float64)
        clv = np.asarray(analytics.customer_lifetime_value(
            model, fitted.spend_model, x, t_x, T, m_for_model,
            horizon=cfg.horizon_months * (365.25 / 12) / unit, margin=cfg.margin,
            annual_discount_rate=cfg.annual_discount, time_unit=cfg.time_unit,
        ), dtype=np.float64)
    else:
        spend = np.full(len(x), np.nan)
        clv = np.full(len(x), np.nan)
    return ModelScores(
        customer=np.asarray(summary.customer, dtype=np.int64), x=x, t_x=t_x, T=T,
        recency_days=np.asarray(summary.recency_days, dtype=np.float64),
        frequency=np.asarray(summary.frequency, dtype=np.float64), monetary=monetary,
        total_spend=np.asarray(summary.total_spend, dtype=np.float64),
        first_purchase=np.asarray(summary.first_purchase).astype("datetime64[D]"),
        last_purchase=np.asarray(summary.last_purchase).astype("datetime64[D]"),
        p_alive=p_alive, expected_purchases=expected, p_purchase=p_purchase,
        expected_spend=spend, clv=clv, next_purchase=next_purchase,
        mean_interval_days=np.asarray(summary.mean_interval_days, dtype=np.float64),
        std_interval_days=np.asarray(summary.std_interval_days, dtype=np.float64),
    )


def lifecycle_stages(scores: ModelScores, cfg: ValueSettings, as_of: dt.date) -> StrArray:
    """new → lost → dormant → loyal → active, in that precedence (see ``conf``)."""
    as_of_day = np.datetime64(as_of, "D")
    age_days = (as_of_day - scores.first_purchase).astype(np.int64)
    p = np.nan_to_num(scores.p_alive, nan=1.0)
    stage = np.full(len(scores), "active", dtype="<U8")
    stage[(scores.x >= cfg.loyal_min_repeat) & (p >= cfg.loyal_min_p_alive)] = "loyal"
    stage[p < cfg.dormant_below] = "dormant"
    stage[p < cfg.lost_below] = "lost"
    stage[age_days <= cfg.new_days] = "new"
    return stage


def finish_scores(scores: ModelScores, cfg: ValueSettings, as_of: dt.date) -> Scores:
    """Add RFM, value tiers and lifecycle stages — these need the whole population."""
    from guanxi import analytics

    n = len(scores)
    if n:
        # M is the mean spend per purchase day, first purchase included, so one-time buyers
        # are ranked too (the model's ``monetary`` leaves the first purchase out).
        per_purchase = scores.total_spend / np.maximum(scores.frequency, 1)
        r, f, m = analytics.rfm_scores(scores.recency_days, scores.frequency, per_purchase)
        segment = np.asarray(analytics.rfm_segments(r, f, m)).astype(str)
        clv = np.nan_to_num(scores.clv, nan=0.0)
        tiers = (analytics.value_tiers(clv) if cfg.tier_cuts is None
                 else analytics.value_tiers(clv, cuts=cfg.tier_cuts))
        tier = np.asarray(tiers).astype(str)
    else:
        r = f = m = np.array([], dtype=np.int64)
        segment = tier = np.array([], dtype=str)
    base = {fld.name: getattr(scores, fld.name) for fld in dataclasses.fields(ModelScores)}
    return Scores(**base, tier=tier, rfm_r=np.asarray(r, dtype=np.int64),
                  rfm_f=np.asarray(f, dtype=np.int64), rfm_m=np.asarray(m, dtype=np.int64),
                  rfm_segment=segment, stage=lifecycle_stages(scores, cfg, as_of))
