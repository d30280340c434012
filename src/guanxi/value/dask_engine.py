"""Scoring beyond one machine (issue #3 §7): numpy, ``guanxi.analytics`` and Dask — no Django.

The plan, for partitions that each hold *whole* customers (split by customer id range):

1. every worker turns its partition's transactions into a ``PartialSummary`` — per-customer
   sufficient statistics, far smaller than the transactions;
2. the partials come back to the client, are merged and finalized, and the models are fitted
   **once** on the merged, compressed statistics — the same fit as the single-process path;
3. the fitted models go out to the workers, which score their own partitions in parallel;
4. the client concatenates the per-customer scores and adds what needs the whole population
   (RFM quintiles, value tiers), so the numbers equal the local engine's.

A partition is ``(customer, day, amount)`` arrays, or a zero-argument callable returning them
(run on the worker, e.g. to read a Parquet file there instead of shipping the data).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from guanxi.core.errors import ValidationFailed
from guanxi.value.conf import ValueSettings
from guanxi.value.errors import ValueErrorCode
from guanxi.value.scoring import ModelScores, Scores, finish_scores, fit_models, score_part

Transactions = tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64], npt.NDArray[np.float64]]
Partition = Transactions | Callable[[], Transactions]

__all__ = ["Partition", "Transactions", "score_partitions_dask", "split_by_customer"]


def split_by_customer(customer: npt.NDArray[np.int64], day: npt.NDArray[np.datetime64],
                      amount: npt.NDArray[np.float64], n: int) -> list[Transactions]:
    """Cut transactions sorted by customer into ``n`` parts of whole customers (id ranges)."""
    if not len(customer):
        return []
    order = np.argsort(customer, kind="stable")
    customer, day, amount = customer[order], day[order], amount[order]
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    groups = np.array_split(starts, max(1, min(n, len(starts))))
    bounds = [int(g[0]) for g in groups if len(g)] + [len(customer)]
    return [(customer[a:b], day[a:b], amount[a:b]) for a, b in itertools.pairwise(bounds)]


def _load(partition: Partition) -> Transactions:
    return partition() if callable(partition) else partition


def _partial(partition: Partition) -> Any:
    from guanxi import analytics

    customer, day, amount = _load(partition)
    return analytics.PartialSummary.from_transactions(customer, day, amount)


def _score(partial: Any, fitted: Any, cfg: ValueSettings, as_of: dt.date) -> ModelScores:
    summary = partial.finalize(calibration_end=as_of, time_unit=cfg.time_unit)
    return score_part(summary, fitted, cfg, as_of)


def _client(scheduler: str | None) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValidationFailed(
            ValueErrorCode.ENGINE_UNAVAILABLE,
            "The dask engine needs Dask: pip install guanxi[dask]", field="engine",
        ) from None
    if scheduler:
        return Client(scheduler), None  # type: ignore[no-untyped-call]  # untyped library
    cluster = LocalCluster(  # type: ignore[no-untyped-call]  # untyped library
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster), cluster  # type: ignore[no-untyped-call]  # untyped library


def score_partitions_dask(
    partitions: Sequence[Partition],
    *,
    cfg: ValueSettings,
    as_of: dt.date,
    scheduler: str | None = None,
) -> tuple[Scores, dict[str, Any], dict[str, float]]:
    """Summarize, fit once and score on a Dask cluster; same results as the local path.

    Returns the scores (sorted by customer), the fitted models' description and seconds per
    phase. ``scheduler`` is a scheduler address; None starts a two-process ``LocalCluster``.
    """
    from guanxi import analytics

    client, cluster = _client(scheduler)
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        scattered = client.scatter(list(partitions)) if partitions else []
        partial_futures = client.map(_partial, scattered, pure=False)
        partials = client.gather(partial_futures)
        summary = analytics.PartialSummary.merge(partials).finalize(
            calibration_end=as_of, time_unit=cfg.time_unit)
        timings["summarize"] = time.perf_counter() - started
        started = time.perf_counter()
        fitted = fit_models(np.asarray(summary.x, dtype=np.float64),
                            np.asarray(summary.t_x, dtype=np.float64),
                            np.asarray(summary.T, dtype=np.float64),
                            np.asarray(summary.monetary, dtype=np.float64), cfg)
        timings["fit"] = time.perf_counter() - started
        started = time.perf_counter()
        fitted_future = client.scatter(fitted, broadcast=True)
        score_futures = client.map(_score, partial_futures, fitted=fitted_future, cfg=cfg,
                                   as_of=as_of, pure=False)
        parts: list[ModelScores] = [p for p in client.gather(score_futures) if len(p)]
        merged = ModelScores.concatenate(parts)
        order = np.argsort(merged.customer, kind="stable")
        merged = ModelScores.concatenate([_take(merged, order)])
        scores = finish_scores(merged, cfg, as_of)
        timings["score"] = time.perf_counter() - started
        return scores, fitted.info, timings
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _take(scores: ModelScores, order: npt.NDArray[np.intp]) -> ModelScores:
    import dataclasses

    return ModelScores(**{f.name: getattr(scores, f.name)[order]
                          for f in dataclasses.fields(ModelScores)})
