"""``guanxi value fit``: the value models on a transactions file, no database (issue #3 §5)."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from guanxi.value.conf import ValueSettings
from guanxi.value.files import FileFormat, read_transactions
from guanxi.value.scoring import FittedModels, describe_model, finish_scores, score_part

OUT_COLUMNS = (
    "customer", "x", "t_x", "T", "expected_purchases_90d", "p_alive", "p_purchase_30d",
    "next_purchase_on", "expected_spend", "clv", "value_tier", "rfm_r", "rfm_f", "rfm_m",
    "rfm_segment", "lifecycle_stage",
)


def _float(value: Any) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


def fit_file(
    path: Path,
    *,
    fmt: FileFormat | str,
    calibration_end: dt.date,
    holdout_end: dt.date | None = None,
    time_unit: str = "week",
    models: list[str] | None = None,
    out: Path | None = None,
    plot: Path | None = None,
) -> dict[str, Any]:
    """Fit the named models and return the report that ``--json`` prints."""
    from guanxi import analytics

    models = models or ["bgnbd", "gammagamma"]
    tx = read_transactions(path, fmt)  # type: ignore[arg-type]
    partial = analytics.PartialSummary.from_transactions(tx.customer, tx.day, tx.amount)
    summary = partial.finalize(calibration_end=calibration_end, holdout_end=holdout_end,
                               time_unit=time_unit)
    x = np.asarray(summary.x, dtype=np.float64)
    t_x = np.asarray(summary.t_x, dtype=np.float64)
    T = np.asarray(summary.T, dtype=np.float64)
    m = np.asarray(summary.monetary, dtype=np.float64)
    report: dict[str, Any] = {
        "file": str(path), "format": str(fmt), "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat() if holdout_end else None, "time_unit": time_unit,
        "summary": {"customers": int(x.size), "repeat_buyers": int((x > 0).sum()),
                    "repeat_purchases": int(x.sum())},
        "models": {},
    }
    holdout_actual: int | None = None
    if summary.x_holdout is not None:
        holdout_actual = int(np.sum(summary.x_holdout))
        report["summary"]["holdout_purchases"] = holdout_actual
    fitted: dict[str, Any] = {}
    for name in models:
        if name == "gammagamma":
            repeat = (x > 0) & (m > 0)
            model: Any = analytics.GammaGamma().fit(x[repeat], m[repeat])
        else:
            model = (analytics.BGNBD() if name == "bgnbd" else analytics.ParetoNBD()).fit(
                x, t_x, T)
        fitted[name] = model
        info = describe_model(model)
        if holdout_end is not None and name != "gammagamma":
            length = np.asarray(summary.holdout_length, dtype=np.float64)
            predicted = model.expected_purchases(length, x, t_x, T)
            info["holdout"] = {"actual": holdout_actual,
                               "predicted": _float(np.sum(predicted))}
        report["models"][name] = info
    transaction_name = next((n for n in models if n != "gammagamma"), None)
    if out is not None and transaction_name is not None:
        cfg = ValueSettings(time_unit="day" if time_unit == "day" else "week",
                            model="paretonbd" if transaction_name == "paretonbd" else "bgnbd")
        both = FittedModels(transaction_model=fitted[transaction_name],
                            spend_model=fitted.get("gammagamma"), info={})
        scores = finish_scores(score_part(summary, both, cfg, calibration_end), cfg,
                               calibration_end)
        _write_out(out, scores, tx.labels)
        report["out"] = str(out)
    if plot is not None and transaction_name is not None and holdout_end is not None:
        unit = 7 if time_unit == "week" else 1
        origin = tx.day.min()
        offsets, times = partial.tracking_inputs(origin=origin, end=holdout_end,
                                                 time_unit=time_unit)
        curve = analytics.tracking_curve(
            fitted[transaction_name], offsets, times,
            end=float((np.datetime64(holdout_end, "D") - origin).astype(int)) / unit,
            calibration_end=float((np.datetime64(calibration_end, "D") - origin).astype(int))
            / unit)
        analytics.plot_tracking(curve, plot)
        report["plot"] = str(plot)
    return report


def _write_out(path: Path, scores: Any, labels: np.ndarray[Any, Any]) -> None:
    def num(v: Any, digits: int = 6) -> str:
        f = float(v)
        return "" if not math.isfinite(f) else f"{round(f, digits)}"

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUT_COLUMNS)
        nxt = scores.next_purchase.astype(object)
        for i in range(len(scores)):
            writer.writerow([
                labels[scores.customer[i]], int(scores.x[i]), num(scores.t_x[i]),
                num(scores.T[i]), num(scores.expected_purchases[i]), num(scores.p_alive[i]),
                num(scores.p_purchase[i]), nxt[i].isoformat() if nxt[i] is not None else "",
                num(scores.expected_spend[i], 2), num(scores.clv[i], 2), scores.tier[i],
                int(scores.rfm_r[i]), int(scores.rfm_f[i]), int(scores.rfm_m[i]),
                scores.rfm_segment[i], scores.stage[i],
            ])
