"""Does the model predict? Holdout comparisons and tracking curves, as in the literature.

Fader, Hardie & Lee (2005, *Marketing Science* 24(2)) validate the BG/NBD in two ways that
we reproduce: the conditional expectation of holdout purchases by calibration frequency
(their Figure 4) and the cumulative repeat transactions week by week against the model's
unconditional expectation (their Figure 2, the "tracking plot").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypedDict

import numpy as np
import numpy.typing as npt

from . import _validation as v
from ._validation import FloatArray, IntArray
from .errors import InvalidInputError
from .summaries import CustomerSummary

__all__ = [
    "HoldoutReport",
    "HoldoutRow",
    "TrackingCurve",
    "holdout_report",
    "plot_tracking",
    "tracking_curve",
]


class PurchaseModel(Protocol):
    """What the checks need of a fitted purchase model (``BGNBD``, ``ParetoNBD``)."""

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray: ...

    def expected_purchases_new(self, t: npt.ArrayLike) -> FloatArray: ...


class HoldoutRow(TypedDict):
    group: str
    n_customers: int
    actual_mean: float
    predicted_mean: float
    actual_total: float
    predicted_total: float
    error: float


@dataclass(frozen=True, eq=False)
class HoldoutReport:
    """Actual vs predicted holdout purchases per calibration-frequency group.

    Attributes
    ----------
    group : tuple of str
        ``"0"``, ``"1"``, ..., and the open last group such as ``"7+"``.
    n_customers : ndarray of int64
        Customers in each group.
    actual_mean, predicted_mean : ndarray of float64
        Mean holdout purchases per customer, observed and expected (NaN for empty groups).
    actual_total, predicted_total : ndarray of float64
        The same, summed over the group.
    error : ndarray of float64
        ``predicted_mean - actual_mean``.
    actual, predicted : float
        Totals over all customers.
    holdout_length : float
        Length of the holdout period in the model's time unit.
    """

    group: tuple[str, ...]
    n_customers: IntArray
    actual_mean: FloatArray
    predicted_mean: FloatArray
    actual_total: FloatArray
    predicted_total: FloatArray
    error: FloatArray
    actual: float
    predicted: float
    holdout_length: float

    @property
    def relative_error(self) -> float:
        """(predicted - actual) / actual over all customers."""
        return (self.predicted - self.actual) / self.actual if self.actual else float("nan")

    def rows(self) -> list[HoldoutRow]:
        """One plain dict per group, for templates and JSON."""
        return [
            HoldoutRow(
                group=g,
                n_customers=int(self.n_customers[i]),
                actual_mean=float(self.actual_mean[i]),
                predicted_mean=float(self.predicted_mean[i]),
                actual_total=float(self.actual_total[i]),
                predicted_total=float(self.predicted_total[i]),
                error=float(self.error[i]),
            )
            for i, g in enumerate(self.group)
        ]


def holdout_report(
    model: PurchaseModel, summary: CustomerSummary, *, max_group: int = 7
) -> HoldoutReport:
    """Compare the model's conditional expectations with what happened in the holdout period.

    Customers are grouped by their calibration repeat purchases x = 0, 1, ...,
    ``max_group``+ (FHL 2005, Figure 4). For each group: customers, mean and total holdout
    purchases observed, the same predicted by ``model.expected_purchases(holdout_length, x,
    t_x, T)``, and the error of the means.

    Raises
    ------
    InvalidInputError
        The summary has no holdout period (build it with ``holdout_end``).
    """
    if summary.x_holdout is None or summary.holdout_length is None:
        raise InvalidInputError("holdout_report() needs a summary built with holdout_end.")
    if max_group < 1:
        raise InvalidInputError("max_group must be >= 1.")
    predicted = np.asarray(
        model.expected_purchases(summary.holdout_length, summary.x, summary.t_x, summary.T),
        dtype=np.float64,
    )
    actual = summary.x_holdout.astype(np.float64)
    group = np.minimum(summary.x, max_group)
    n_groups = max_group + 1
    counts = np.bincount(group, minlength=n_groups).astype(np.int64)
    actual_total = np.bincount(group, weights=actual, minlength=n_groups).astype(np.float64)
    predicted_total = np.bincount(group, weights=predicted, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        actual_mean = np.where(counts > 0, actual_total / np.maximum(counts, 1), np.nan)
        predicted_mean = np.where(counts > 0, predicted_total / np.maximum(counts, 1), np.nan)
    labels = (*(str(k) for k in range(max_group)), f"{max_group}+")
    length = float(summary.holdout_length[0]) if len(summary) else 0.0
    return HoldoutReport(
        group=labels,
        n_customers=counts,
        actual_mean=actual_mean,
        predicted_mean=predicted_mean,
        actual_total=actual_total,
        predicted_total=predicted_total,
        error=predicted_mean - actual_mean,
        actual=float(actual.sum()),
        predicted=float(predicted.sum()),
        holdout_length=length,
    )


@dataclass(frozen=True, eq=False)
class TrackingCurve:
    """Cumulative repeat transactions of a cohort, actual and expected, on a time grid.

    Attributes
    ----------
    time : ndarray of float64
        Grid points (ends of periods), in the model's time unit since the origin.
    actual, expected : ndarray of float64
        Cumulative repeat transactions up to each grid point.
    calibration_end : float or None
        End of the calibration period on the same axis, if given (drawn as a line).
    """

    time: FloatArray
    actual: FloatArray
    expected: FloatArray
    calibration_end: float | None = None

    @property
    def actual_per_period(self) -> FloatArray:
        """Repeat transactions in each period (the incremental tracking plot)."""
        return np.diff(self.actual, prepend=0.0)

    @property
    def expected_per_period(self) -> FloatArray:
        return np.diff(self.expected, prepend=0.0)


def tracking_curve(
    model: PurchaseModel,
    first_purchase_offsets: npt.ArrayLike,
    transaction_times: npt.ArrayLike,
    *,
    end: float | None = None,
    step: float = 1.0,
    calibration_end: float | None = None,
) -> TrackingCurve:
    """Cumulative repeat transactions, actual vs expected, every ``step`` up to ``end``.

    The expectation at time tau sums, over customers, the unconditional expectation of a
    new customer (FHL 2005 eq. 9) over the time since their first purchase:
    ``sum_i E[X(tau - s_i)]`` for ``s_i < tau``. It is evaluated once per distinct
    first-purchase time (weighted by how many customers share it), so a cohort of millions
    acquired over a quarter costs a grid of 13 x (weeks) values.

    Parameters
    ----------
    model : PurchaseModel
        Fitted model with ``expected_purchases_new(t)``.
    first_purchase_offsets : array_like
        Each customer's first purchase time since the origin (``PartialSummary.
        tracking_inputs`` gives both arrays from transaction data).
    transaction_times : array_like
        Times of all repeat transactions (first purchases excluded), same origin and unit.
    end : float, optional
        Last grid point; by default the latest time seen, rounded up to a whole step.
    step : float, default 1.0
        Grid spacing (1 = weekly for a model in weeks).
    calibration_end : float, optional
        Calibration end on the same axis, kept for the plot.
    """
    offsets = v.as_float("first_purchase_offsets", first_purchase_offsets).ravel()
    times = np.sort(v.as_float("transaction_times", transaction_times).ravel())
    if not (np.isfinite(step) and step > 0):
        raise InvalidInputError("step must be > 0.")
    if end is None:
        latest = max(float(offsets.max(initial=0.0)), float(times.max(initial=0.0)))
        end = step * max(1.0, np.ceil(latest / step))
    grid = (np.arange(1, int(np.floor(end / step + 1e-9)) + 1) * step).astype(np.float64)
    actual = np.searchsorted(times, grid, side="right").astype(np.float64)
    starts, counts = np.unique(offsets, return_counts=True)
    elapsed = np.maximum(grid[:, None] - starts[None, :], 0.0)
    per_start = np.asarray(model.expected_purchases_new(elapsed), dtype=np.float64)
    expected = np.einsum("ks,s->k", per_start, counts.astype(np.float64))
    return TrackingCurve(time=grid, actual=actual, expected=expected,
                         calibration_end=calibration_end)


def plot_tracking(curve: TrackingCurve, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the tracking plot (cumulative and per period) to a PNG file and return its path.

    matplotlib is imported here, not at module import, so that ``guanxi.analytics`` stays
    cheap to import; the figure is drawn on an Agg canvas without ``pyplot``, so no global
    backend is switched and nothing needs a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = Path(path)
    figure = Figure(figsize=(8, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    cumulative, incremental = figure.subplots(2, 1, sharex=True)
    cumulative.plot(curve.time, curve.actual, color="black", label="actual")
    cumulative.plot(curve.time, curve.expected, color="tab:blue", linestyle="--",
                    label="model")
    cumulative.set_ylabel("cumulative repeat transactions")
    incremental.plot(curve.time, curve.actual_per_period, color="black", label="actual")
    incremental.plot(curve.time, curve.expected_per_period, color="tab:blue", linestyle="--",
                     label="model")
    incremental.set_ylabel("repeat transactions per period")
    incremental.set_xlabel("time since origin")
    for axes in (cumulative, incremental):
        if curve.calibration_end is not None:
            axes.axvline(curve.calibration_end, color="grey", linewidth=0.8, linestyle=":")
        axes.grid(alpha=0.3)
    cumulative.legend(loc="upper left")
    if title:
        cumulative.set_title(title)
    figure.savefig(target, dpi=100)
    return target
