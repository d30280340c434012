"""``score_all``: score every customer and keep a dated snapshot (issue #3 §6).

The order of the steps is what makes a failure harmless:

1. a new ``ScoreRun`` is created in status *building* beside any complete run of the same date;
2. its ``CustomerScore`` rows are bulk-inserted (``COPY`` on PostgreSQL) — outside the swap
   transaction, so a million rows never hold a long write lock on the snapshot readers use;
3. one short transaction writes ``score_changed`` events (the new run joined with the previous
   latest run, set-based), marks the old run of that date *replaced* and the new one
   *complete*; the replaced run's rows are deleted after the commit.

Marking it complete is the whole swap: the customers' latest values (``customer.value``) are a
view over the latest complete run, so no customer row is written. Anything that fails before 3
commits leaves the previous snapshot untouched; the half-built run is removed and recorded as
*failed*. After the commit, ``signals.score_run_completed`` is sent.

**The daily re-score (path "incremental").** Before reading anything, the run takes a
fingerprint of its input (``selectors.source_fingerprint``): over the orders placed up to the
end of the as-of date, their count, largest id, sum of totals and id-mixed sums of customer,
refund/cancel status and placement time; the customers' count, id sum and largest id; and the
time zone. The latest complete run's summaries are reused instead of reading the orders when

- the engine is local and ``full=True`` was not asked for;
- that run is not later than the new as-of date and was made with the same settings;
- its stored fingerprint equals today's fingerprint over the *same* window (no order added,
  removed, moved, re-priced, refunded or re-dated; no customer added or removed), and the
  window up to the new as-of date holds the same orders (none placed in between).

Then only the clock has moved: T and recency grow by the days passed, while x, t_x, spend and
the purchase intervals stay. The stored first and last purchase days are recovered exactly (T
and recency are whole days), the summaries are rebuilt with the same expressions as
``analytics.summaries``, and the models are **fitted again** on them (seconds on the compressed
statistics) rather than reused: only that makes the result equal to a full run — reusing
yesterday's parameters would give slightly different numbers from a fresh run of the same day.
The run records ``path`` (``full``/``incremental``) and ``source`` (the run it started from and
the fingerprint it saw); the next run compares against that fingerprint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from guanxi.core import clock, pgcopy
from guanxi.core.errors import ValidationFailed
from guanxi.core.planner import planner_setting
from guanxi.customers import events
from guanxi.customers.models import LifecycleStage
from guanxi.value import partitions, selectors, signals
from guanxi.value.conf import ValueSettings, value_settings
from guanxi.value.errors import ValueErrorCode
from guanxi.value.models import CustomerScore, RunPath, RunStatus, ScoreRun
from guanxi.value.scoring import Scores, finish_scores, fit_models, score_part

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
Engine = Literal["local", "dask"]

# Column order of the bulk insert; ``_score_rows`` yields tuples in this order.
_COLUMNS = (
    "run_id", "customer_id", "lifecycle_stage", "x", "t_x", "T", "recency_days", "frequency",
    "monetary", "total_spend", "p_alive", "expected_purchases", "p_purchase", "expected_spend",
    "clv", "expected_next_purchase", "first_purchase_at", "last_purchase_at",
    "interval_mean_days", "interval_sd_days", "value_tier", "rfm_r", "rfm_f", "rfm_m",
    "rfm_segment",
)


def _nullable(values: npt.NDArray[Any], *, digits: int | None = None) -> list[Any]:
    """A float column as Python values with NaN → None (rounded for money columns)."""
    arr = np.asarray(values, dtype=np.float64)
    if digits is not None:
        arr = np.round(arr, digits)
    out: list[Any] = arr.tolist()
    if np.isnan(arr).any():
        for i in np.flatnonzero(np.isnan(arr)).tolist():
            out[i] = None
    return out


def _days(values: npt.NDArray[np.datetime64]) -> list[dt.date | None]:
    return list(np.asarray(values, dtype="datetime64[D]").astype(object).tolist())


def _timestamps(epoch: npt.NDArray[np.int64]) -> list[str]:
    # ISO text in UTC: both SQLite (which stores Django datetimes as UTC text) and PostgreSQL's
    # COPY read it, and it avoids building a million datetime objects.
    text = np.datetime_as_string(epoch.astype("datetime64[s]"), unit="s")
    return [t.replace("T", " ") for t in text.tolist()]


def _score_rows(run_id: int, scores: Scores, prospects: npt.NDArray[np.int64],
                first_epoch: npt.NDArray[np.int64],
                last_epoch: npt.NDArray[np.int64]) -> Iterator[tuple[Any, ...]]:
    n = len(scores)
    first = _timestamps(first_epoch)
    last = _timestamps(last_epoch)
    columns: list[Sequence[Any]] = [
        [run_id] * n, scores.customer.tolist(), scores.stage.tolist(),
        scores.x.astype(np.int64).tolist(), _nullable(scores.t_x), _nullable(scores.T),
        np.asarray(scores.recency_days).astype(np.int64).tolist(),
        np.asarray(scores.frequency).astype(np.int64).tolist(),
        _nullable(scores.monetary), _nullable(scores.total_spend, digits=2),
        _nullable(scores.p_alive), _nullable(scores.expected_purchases),
        _nullable(scores.p_purchase), _nullable(scores.expected_spend),
        _nullable(scores.clv, digits=2), _days(scores.next_purchase), first, last,
        _nullable(scores.mean_interval_days), _nullable(scores.std_interval_days),
        scores.tier.tolist(), scores.rfm_r.tolist(), scores.rfm_f.tolist(),
        scores.rfm_m.tolist(), scores.rfm_segment.tolist(),
    ]
    yield from zip(*columns, strict=True)
    empty = (None,) * 17  # x .. interval_sd_days
    for cid in prospects.tolist():
        yield (run_id, cid, LifecycleStage.PROSPECT.value, *empty, "", None, None, None, "")


def _insert_scores(run_id: int, scores: Scores, prospects: npt.NDArray[np.int64],
                   first_epoch: npt.NDArray[np.int64], last_epoch: npt.NDArray[np.int64], *,
                   chunk_size: int, progress: Progress | None) -> None:
    total = len(scores) + len(prospects)
    if connection.vendor == "postgresql":
        _copy_scores_postgres(run_id, scores, prospects, first_epoch, last_epoch)
        if progress:
            progress("write", total, total)
        return
    table = connection.ops.quote_name(CustomerScore._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
    done = 0
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for row in _score_rows(run_id, scores, prospects, first_epoch, last_epoch):
            batch.append(row)
            if len(batch) >= chunk_size:
                # One transaction per batch: autocommit would commit every single row.
                with transaction.atomic():
                    cursor.executemany(sql, batch)
                done += len(batch)
                batch.clear()
                if progress:
                    progress("write", done, total)
        if batch:
            with transaction.atomic():
                cursor.executemany(sql, batch)
            done += len(batch)
    if progress:
        progress("write", done, total)


def _codes(values: npt.NDArray[np.str_], extra: str,
           k: int) -> tuple[npt.NDArray[np.int16], list[str]]:
    """Small integer codes for a string column, then ``k`` codes of ``extra`` (prospects).

    The columns are labels (a dozen at most), so each is coded with one vectorized comparison
    from its first occurrence on: ``np.unique`` sorted a million strings per column (0.8 s).
    """
    arr = np.asarray(values, dtype=str)
    codes = np.empty(arr.size, dtype=np.int16)
    labels: list[str] = []
    uncoded = np.ones(arr.size, dtype=bool)
    while uncoded.any():
        first = int(np.argmax(uncoded))
        if len(labels) == 256:  # not labels after all: sort the rest
            rest, inverse = np.unique(arr[uncoded], return_inverse=True)
            codes[uncoded] = len(labels) + inverse.reshape(-1)
            labels += [str(v) for v in rest.tolist()]
            break
        hit = arr[first:] == arr[first]
        codes[first:][hit] = len(labels)
        uncoded[first:] &= ~hit
        labels.append(str(arr[first]))
    if extra not in labels:
        labels.append(extra)
    return np.concatenate([codes, np.full(k, labels.index(extra), dtype=np.int16)]), labels


def _copy_scores_postgres(run_id: int, scores: Scores, prospects: npt.NDArray[np.int64],
                          first_epoch: npt.NDArray[np.int64],
                          last_epoch: npt.NDArray[np.int64]) -> None:
    """Load the run's rows straight into its own partition with one binary COPY.

    The rows are encoded in the columns' own formats (``core.pgcopy``): a staging table and
    an ``INSERT ... SELECT`` to turn codes into texts and NaN into NULL cost the server three
    times the rows' load. Ids come from the parent's sequence as one block.
    """
    n, k = len(scores), len(prospects)
    customer = np.r_[scores.customer.astype(np.int64), prospects.astype(np.int64)]
    # In customer order (prospects were appended): the partition's heap then follows its
    # (run, customer) index, which joins on the customer read in that order.
    order = np.argsort(customer, kind="stable")
    prospect = (np.arange(n + k) >= n)[order]

    def ints(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        return np.concatenate([np.asarray(values).astype(np.int64),
                               np.zeros(k, dtype=np.int64)])[order]

    def floats(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        return np.concatenate([np.asarray(values, dtype=np.float64), np.full(k, np.nan)])[order]

    def money(values: npt.NDArray[Any], field: str) -> pgcopy.Column:
        amount = floats(values)
        missing = np.isnan(amount)
        cents = np.rint(np.where(missing, 0.0, amount) * 100).astype(np.int64)
        digits = CustomerScore._meta.get_field(field).max_digits  # type: ignore[union-attr]
        return pgcopy.numeric(cents, max_digits=int(digits), null=missing)

    def labels(values: npt.NDArray[np.str_], extra: str) -> pgcopy.Column:
        codes, names = _codes(values, extra, k)
        return pgcopy.text(codes[order], names)

    next_day = np.r_[scores.next_purchase.astype("datetime64[D]").astype(np.int64),
                     np.zeros(k, dtype=np.int64)][order]
    no_next = np.r_[np.isnat(scores.next_purchase), np.ones(k, dtype=bool)][order]
    with transaction.atomic(), connection.cursor() as cursor:
        # Inserts through the parent wait until this commits, so none draws an id in the block.
        cursor.execute(f"LOCK TABLE ONLY {partitions.PARENT} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("SELECT setval(%s::regclass, nextval(%s::regclass) + %s - 1)",
                       [partitions.SEQUENCE, partitions.SEQUENCE, n + k])
        last_id = int(cursor.fetchone()[0])
        # Columns: the never-NULL ones first, the texts last (fewer distinct row offsets).
        columns = {
            "id": pgcopy.int8(np.arange(last_id - n - k + 1, last_id + 1)),
            "run_id": pgcopy.int8(np.full(n + k, run_id)),
            "customer_id": pgcopy.int8(customer[order]),
            "x": pgcopy.int4(ints(scores.x), null=prospect),
            "t_x": pgcopy.float8(floats(scores.t_x)), "T": pgcopy.float8(floats(scores.T)),
            "recency_days": pgcopy.int4(ints(scores.recency_days), null=prospect),
            "frequency": pgcopy.int4(ints(scores.frequency), null=prospect),
            "monetary": pgcopy.float8(floats(scores.monetary)),
            "total_spend": money(scores.total_spend, "total_spend"),
            "p_alive": pgcopy.float8(floats(scores.p_alive)),
            "expected_purchases": pgcopy.float8(floats(scores.expected_purchases)),
            "p_purchase": pgcopy.float8(floats(scores.p_purchase)),
            "expected_spend": pgcopy.float8(floats(scores.expected_spend)),
            "clv": money(scores.clv, "clv"),
            "expected_next_purchase": pgcopy.date(next_day, null=no_next),
            "first_purchase_at": pgcopy.timestamptz(ints(first_epoch), null=prospect),
            "last_purchase_at": pgcopy.timestamptz(ints(last_epoch), null=prospect),
            "interval_mean_days": pgcopy.float8(floats(scores.mean_interval_days)),
            "interval_sd_days": pgcopy.float8(floats(scores.std_interval_days)),
            "rfm_r": pgcopy.int2(ints(scores.rfm_r), null=prospect),
            "rfm_f": pgcopy.int2(ints(scores.rfm_f), null=prospect),
            "rfm_m": pgcopy.int2(ints(scores.rfm_m), null=prospect),
            "lifecycle_stage": labels(scores.stage, LifecycleStage.PROSPECT.value),
            "value_tier": labels(scores.tier, ""),
            "rfm_segment": labels(scores.rfm_segment, ""),
        }
        # The run's own partition, loaded bare, then indexed and attached (``partitions``).
        table = partitions.create(cursor, run_id)
        pgcopy.copy(cursor.cursor, table, [connection.ops.quote_name(c) for c in columns],
                    list(columns.values()))
        partitions.attach(cursor, run_id)


def _swap_in(run: ScoreRun, *, cfg: ValueSettings, now: dt.datetime) -> None:
    """Make ``run`` the complete snapshot of its date, atomically.

    Marking it complete is the whole swap: the customers' latest values (``CustomerValue``) are
    a view over the latest complete run, so nothing is copied. Score-changed events compare the
    run with the previous latest run, set-based, before that run's rows can go away.
    """
    with transaction.atomic():
        # Lock the date's complete run(s): two runs of one date swap in one after the other.
        old = list(ScoreRun.objects.select_for_update()
                   .filter(as_of=run.as_of, status=RunStatus.COMPLETE)
                   .values_list("pk", flat=True))
        previous = selectors.latest_run()
        becomes_latest = previous is None or previous.as_of <= run.as_of
        if becomes_latest and previous is not None and cfg.events:
            _write_score_events(run, previous=previous, now=now)
        # The old run of the date only changes status here; its million rows are deleted after
        # the commit (``_drop_replaced``), so the swap stays one short transaction.
        ScoreRun.objects.filter(pk__in=old).update(status=RunStatus.REPLACED,
                                                   error=f"Replaced by run {run.pk}.")
        run.status = RunStatus.COMPLETE
        run.finished_at = clock.now()
        run.save()


def _write_score_events(run: ScoreRun, *, previous: ScoreRun, now: dt.datetime) -> None:
    """``score_changed`` where tier or stage moved between ``previous`` and ``run``.

    One join of the two runs' rows on the customer. A first score (no row in ``previous``)
    is not a change: it would be a million events on the first run.
    """
    table = connection.ops.quote_name(CustomerScore._meta.db_table)
    sql = (
        f"SELECT n.customer_id, o.lifecycle_stage, n.lifecycle_stage, o.value_tier,"
        f" n.value_tier FROM {table} n JOIN {table} o ON o.customer_id = n.customer_id"
        f" AND o.run_id = %s WHERE n.run_id = %s AND (o.lifecycle_stage <> n.lifecycle_stage"
        f" OR o.value_tier <> n.value_tier) ORDER BY n.customer_id"
    )

    def changes() -> Iterator[tuple[int, str, str, str, str]]:
        # The planner expects most rows to pass the filter and picks a million index probes;
        # both runs' rows lie in customer order, so a merge join is 0.5 s less.
        with planner_setting("enable_nestloop", "off"), connection.cursor() as cursor:
            cursor.execute(sql, [previous.pk, run.pk])
            while rows := cursor.fetchmany(5000):
                yield from rows

    # The rows are read in full before the events are written (one cursor at a time).
    events.score_changed_events_bulk(changes=list(changes()), as_of=run.as_of,
                                     occurred_at=now)


def _last_purchase_epoch(customer: npt.NDArray[np.int64],
                         last_epoch: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per customer (sorted input) the latest purchase instant."""
    if not len(customer):
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    return np.maximum.reduceat(last_epoch, starts)


def _first_purchase_epoch(customer: npt.NDArray[np.int64],
                          first_epoch: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per customer (sorted input) the earliest purchase instant."""
    if not len(customer):
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    return np.minimum.reduceat(first_epoch, starts)


def score_all(
    *,
    as_of: dt.date | None = None,
    engine: Engine = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    overrides: dict[str, Any] | None = None,
    partitions: int | None = None,
    full: bool = False,
) -> ScoreRun:
    """Score every customer as of the end of ``as_of`` (default: today) and store the snapshot.

    ``engine="dask"`` computes the summaries and scores on the Dask cluster at ``scheduler``
    (a ``LocalCluster`` when None); the numbers are the same as the local engine's.
    When nothing changed since the latest run, the local engine moves that run's summaries
    to the new date instead of reading the orders (the module docstring has the rule);
    ``full=True`` reads them anyway. ``run.path`` says which path was taken.
    """
    cfg = value_settings(overrides)
    today = clock.today()
    as_of = as_of or today
    if as_of > today:
        raise ValidationFailed(ValueErrorCode.FUTURE_DATE,
                               f"Cannot score as of {as_of}: that is in the future.",
                               field="as_of")
    if engine not in ("local", "dask"):
        raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                               f"Unknown engine {engine!r}; use local or dask.", field="engine")
    now = clock.now()
    run = ScoreRun.objects.create(as_of=as_of, created_at=now, engine=engine,
                                  settings_used=cfg.as_dict())
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        previous = selectors.latest_run()
        reuse: ScoreRun | None = None
        fingerprint: dict[str, Any] | None = None
        # Taken before anything is read: an order arriving during the run changes the next
        # run's fingerprint, so that run reads everything again (never the other way round).
        if (not full and engine == "local" and previous is not None
                and previous.as_of <= as_of and previous.settings_used == cfg.as_dict()):
            seen = selectors.source_fingerprint(as_of=previous.as_of, through=as_of)
            placed_since = seen.pop("placed_since")
            if _same_input(previous, seen) and not placed_since:
                # The same orders up to the new date: the same fingerprint over its window.
                reuse = previous
                fingerprint = {**seen, "orders": {
                    as_of.isoformat(): seen["orders"][previous.as_of.isoformat()]}}
        if fingerprint is None:
            fingerprint = selectors.source_fingerprint(as_of=as_of)
        ids = selectors.customer_ids()
        timings["check"] = time.perf_counter() - started
        started = time.perf_counter()
        if reuse is not None:
            stored = selectors.stored_summary(run=reuse, days_per_unit=cfg.days_per_unit)
            timings["read"] = time.perf_counter() - started
            scores, info, phase = score_summary(_moved(stored, as_of, cfg), cfg=cfg,
                                                as_of=as_of, progress=progress)
            timings.update(phase)
            buyers, n_purchases = stored.customer, int(stored.frequency.sum())
            first_epoch, last_epoch = stored.first_epoch, stored.last_epoch
        else:
            days = selectors.purchase_days(as_of=as_of, chunk_size=cfg.chunk_size,
                                           progress=progress)
            timings["read"] = time.perf_counter() - started
            if not len(days):
                raise ValidationFailed(ValueErrorCode.NO_PURCHASES,
                                       f"No purchases up to {as_of}: nothing to learn from.")
            if engine == "dask":
                from guanxi.value import dask_engine

                scores, info, phase = dask_engine.score_partitions_dask(
                    dask_engine.split_by_customer(days.customer, days.day, days.amount,
                                                  partitions or 8),
                    cfg=cfg, as_of=as_of, scheduler=scheduler)
            else:
                scores, info, phase = score_transactions(days.customer, days.day, days.amount,
                                                         cfg=cfg, as_of=as_of,
                                                         progress=progress)
            timings.update(phase)
            buyers, n_purchases = np.unique(days.customer), len(days)
            last_epoch = _last_purchase_epoch(days.customer, days.last_epoch)
            first_epoch = _first_purchase_epoch(days.customer, days.first_epoch)
        started = time.perf_counter()
        if not np.array_equal(buyers, scores.customer):
            order = np.argsort(scores.customer)
            scores = _take(scores, order)
        prospects = np.setdiff1d(ids, buyers, assume_unique=True)
        total = len(scores) + len(prospects)
        _insert_scores(run.pk, scores, prospects, first_epoch, last_epoch,
                       chunk_size=cfg.chunk_size, progress=progress)
        # Equity is the sum of the stored (rounded) CLVs, so the two always add up.
        clv = np.round(np.nan_to_num(scores.clv, nan=0.0), 2)
        run.models_info = info
        run.n_customers = total
        run.n_buyers = len(scores)
        run.n_purchases = n_purchases
        run.equity = Decimal(str(round(float(clv.sum()), 2)))
        run.path = RunPath.INCREMENTAL if reuse is not None else RunPath.FULL
        run.source = {"from_run": reuse.pk if reuse is not None else None,
                      "fingerprint": fingerprint}
        timings["write"] = time.perf_counter() - started
        started = time.perf_counter()
        _swap_in(run, cfg=cfg, now=now)
        timings["swap"] = time.perf_counter() - started
        ScoreRun.objects.filter(pk=run.pk).update(timings=timings)
        run.timings = timings
    except BaseException as exc:
        _discard(run, exc)
        raise
    # The run is complete and committed (or will be with the caller's transaction): cleaning
    # up and what the listeners do cannot undo it any more.
    started = time.perf_counter()
    _drop_replaced()
    run.timings["cleanup"] = time.perf_counter() - started
    started = time.perf_counter()
    transaction.on_commit(lambda: _announce(run))
    if not connection.in_atomic_block:
        run.timings["listeners"] = time.perf_counter() - started
        ScoreRun.objects.filter(pk=run.pk).update(timings=run.timings)
    if progress:
        progress("done", total, total)
    return run


def _drop_replaced() -> None:
    """Delete the runs a newer run of their date replaced (and any left by a failed cleanup)."""
    for pk in ScoreRun.objects.filter(status=RunStatus.REPLACED).values_list("pk", flat=True):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Not the ORM cascade: it would load a million score objects first.
                partitions.drop(cursor, pk)
                ScoreRun.objects.filter(pk=pk).delete()
        except DatabaseError:
            logger.exception("Could not delete replaced score run %s; the next run retries", pk)


def _announce(run: ScoreRun) -> None:
    for receiver, result in signals.score_run_completed.send_robust(sender=ScoreRun, run=run):
        if isinstance(result, Exception):
            logger.error("score_run_completed listener %r failed for run %s", receiver, run.pk,
                         exc_info=result)


def _discard(run: ScoreRun, exc: BaseException) -> None:
    """Remove the half-built run's rows; keep the run itself as a failed record."""
    if connection.needs_rollback:
        return  # inside a broken caller's transaction: its rollback removes the run
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            partitions.drop(cursor, run.pk)
            ScoreRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=clock.now())
    except DatabaseError:
        pass  # the connection is unusable (e.g. PostgreSQL aborted the transaction)


def _take(scores: Scores, order: npt.NDArray[np.intp]) -> Scores:
    import dataclasses

    return Scores(**{f.name: getattr(scores, f.name)[order] for f in dataclasses.fields(Scores)})


def score_transactions(
    customer: npt.NDArray[np.int64],
    day: npt.NDArray[np.datetime64],
    amount: npt.NDArray[np.float64],
    *,
    cfg: ValueSettings,
    as_of: dt.date,
    progress: Progress | None = None,
) -> tuple[Scores, dict[str, Any], dict[str, float]]:
    """The single-process path: summarize, fit once, score everyone."""
    from guanxi import analytics

    started = time.perf_counter()
    summary = analytics.summarize_transactions(customer, day, amount, calibration_end=as_of,
                                               time_unit=cfg.time_unit)
    summarized = time.perf_counter() - started
    if progress:
        progress("summarize", len(summary.x), len(summary.x))
    scores, info, timings = score_summary(summary, cfg=cfg, as_of=as_of, progress=progress)
    return scores, info, {"summarize": summarized, **timings}


def score_summary(summary: Any, *, cfg: ValueSettings, as_of: dt.date,
                  progress: Progress | None = None,
                  ) -> tuple[Scores, dict[str, Any], dict[str, float]]:
    """Fit once on per-customer summaries and score everyone (both paths end here)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    x = np.asarray(summary.x, dtype=np.float64)
    fitted = fit_models(x, np.asarray(summary.t_x, dtype=np.float64),
                        np.asarray(summary.T, dtype=np.float64),
                        np.asarray(summary.monetary, dtype=np.float64), cfg)
    timings["fit"] = time.perf_counter() - started
    if progress:
        progress("fit", 1, 1)
    started = time.perf_counter()
    scores = finish_scores(score_part(summary, fitted, cfg, as_of), cfg, as_of)
    timings["score"] = time.perf_counter() - started
    if progress:
        progress("score", len(scores), len(scores))
    return scores, fitted.info, timings


@dataclasses.dataclass
class _MovedSummary:
    """The fields of ``analytics.CustomerSummary`` that scoring reads."""

    customer: npt.NDArray[np.int64]
    x: npt.NDArray[np.int64]
    t_x: npt.NDArray[np.float64]
    T: npt.NDArray[np.float64]
    monetary: npt.NDArray[np.float64]
    recency_days: npt.NDArray[np.int64]
    frequency: npt.NDArray[np.int64]
    total_spend: npt.NDArray[np.float64]
    first_purchase: npt.NDArray[np.datetime64]
    last_purchase: npt.NDArray[np.datetime64]
    mean_interval_days: npt.NDArray[np.float64]
    std_interval_days: npt.NDArray[np.float64]


def _moved(stored: selectors.StoredSummary, as_of: dt.date,
           cfg: ValueSettings) -> _MovedSummary:
    """The summaries of ``stored`` as of a later date when no purchase happened in between.

    Only the clock moves: T and recency grow by the days passed; x, t_x, spend and the
    intervals stay. Computed from whole days with the same expressions as
    ``analytics.summaries``, so the result is identical to summarizing the orders again.
    """
    end = int(np.datetime64(as_of, "D").astype(np.int64))
    unit = cfg.days_per_unit
    return _MovedSummary(
        customer=stored.customer, x=stored.x,
        t_x=((stored.last_day - stored.first_day) / unit).astype(np.float64),
        T=((end - stored.first_day) / unit).astype(np.float64),
        monetary=stored.monetary, recency_days=(end - stored.last_day).astype(np.int64),
        frequency=stored.frequency, total_spend=stored.total_spend,
        first_purchase=stored.first_day.astype("datetime64[D]"),
        last_purchase=stored.last_day.astype("datetime64[D]"),
        mean_interval_days=stored.mean_interval_days,
        std_interval_days=stored.std_interval_days,
    )


def _same_input(previous: ScoreRun, fingerprint: dict[str, Any]) -> bool:
    """Does ``fingerprint`` (over ``previous``'s window) equal the one ``previous`` saw?"""
    seen = (previous.source or {}).get("fingerprint")
    day = previous.as_of.isoformat()
    return bool(
        isinstance(seen, dict)
        and seen.get("orders", {}).get(day) == fingerprint["orders"][day]
        and seen.get("customers") == fingerprint["customers"]
        and seen.get("time_zone") == fingerprint["time_zone"]
    )


DEFAULT_HISTORY_DAYS = 90


def history_days() -> int | None:
    """Days of daily snapshots kept (``GUANXI_SCORE_HISTORY_DAYS``; 0 or ``all`` keeps all)."""
    raw = getattr(settings, "GUANXI_SCORE_HISTORY_DAYS", None)
    if raw is None:
        raw = os.environ.get("GUANXI_SCORE_HISTORY_DAYS", "")
    text = str(raw).strip().lower()
    if text == "":
        return DEFAULT_HISTORY_DAYS
    if text == "all" or text == "0":
        return None
    if not text.isdigit():
        raise ValidationFailed(ValueErrorCode.INVALID_SETTING,
                               f"GUANXI_SCORE_HISTORY_DAYS must be a number of days or 'all',"
                               f" not {raw!r}.", field="GUANXI_SCORE_HISTORY_DAYS")
    return int(text)


def history_prune(*, today: dt.date | None = None, keep_days: int | None = -1) -> list[int]:
    """Delete daily snapshots older than ``keep_days`` (default: ``history_days()``).

    A daily run adds a million rows at a million customers; a year of them would be most of
    the database. Kept: every complete run of the last ``keep_days`` days, the last run of
    every month before that (segment migration month over month, the value trend), and the
    latest run. A deleted run takes its segment memberships with it. Returns the deleted ids.
    """
    keep = history_days() if keep_days == -1 else keep_days
    if keep is None:
        return []
    day = today or clock.today()
    cutoff = day - dt.timedelta(days=keep)
    runs = list(ScoreRun.objects.filter(status=RunStatus.COMPLETE)
                .order_by("as_of", "pk").values_list("pk", "as_of"))
    if not runs:
        return []
    month_last: dict[tuple[int, int], int] = {}
    for pk, as_of in runs:
        month_last[(as_of.year, as_of.month)] = pk  # ordered: the month's last wins
    kept = set(month_last.values()) | {runs[-1][0]}
    doomed = [pk for pk, as_of in runs if as_of < cutoff and pk not in kept]
    for pk in doomed:
        with transaction.atomic(), connection.cursor() as cursor:
            partitions.drop(cursor, pk)  # its rows, as one table (PostgreSQL)
            ScoreRun.objects.filter(pk=pk).delete()  # and what hangs on the run
    if doomed:
        logger.info("Score history: deleted %d run(s) before %s", len(doomed), cutoff)
    return doomed
