"""Reads for the value engine: one aggregate query per table, streamed into numpy arrays.

Never a query per customer: ``purchase_days`` asks the database for the per-customer, per-day sums
of the purchase orders in one ``GROUP BY``, and ``customer_ids`` reads the id column once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection

from guanxi.core import clock
from guanxi.core.arrays import read_columns
from guanxi.customers.models import Customer
from guanxi.sales.models import NOT_A_PURCHASE, Order

if TYPE_CHECKING:
    from guanxi.value.models import ScoreRun

Progress = Callable[[str, int, int], None]


@dataclasses.dataclass
class PurchaseDays:
    """One row per customer and purchase day (company time zone), sorted by customer and day."""

    customer: npt.NDArray[np.int64]
    day: npt.NDArray[np.datetime64]
    amount: npt.NDArray[np.float64]
    # Latest purchase instant of that day (seconds since the epoch, UTC): the customer's
    # ``last_purchase_at`` keeps the time, not just the day.
    last_epoch: npt.NDArray[np.int64]
    # Earliest purchase instant of that day: the customer's ``first_purchase_at``.
    first_epoch: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.customer)

    def slice(self, mask: npt.NDArray[np.bool_]) -> PurchaseDays:
        return PurchaseDays(self.customer[mask], self.day[mask], self.amount[mask],
                            self.last_epoch[mask], self.first_epoch[mask])


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _fixed_utc_offset_minutes(tz: ZoneInfo, as_of: dt.date) -> int | None:
    """The zone's UTC offset if it did not change over the last 30 years, else None.

    Asia/Shanghai has been UTC+8 all year since 1991; Europe/Berlin moves twice a year.
    """
    offsets = set()
    for year in range(as_of.year - 30, as_of.year + 1):
        for month in (1, 4, 7, 10):
            offset = dt.datetime(year, month, 1, 12, tzinfo=tz).utcoffset()
            assert offset is not None
            offsets.add(int(offset.total_seconds() // 60))
    return offsets.pop() if len(offsets) == 1 else None


def _not_purchase_sql() -> tuple[str, list[str]]:
    statuses = [str(s) for s in NOT_A_PURCHASE]
    return ", ".join(["%s"] * len(statuses)), statuses


def purchase_days(*, as_of: dt.date, chunk_size: int = 50_000,
                  progress: Progress | None = None) -> PurchaseDays:
    """Per customer and per day, the sum of purchase-order totals up to the end of ``as_of``.

    Refunded and cancelled orders are not purchases. Days are counted in the company's time zone
    (``settings.TIME_ZONE``), and that truncation happens in SQL: an order at 23:30 Shanghai time
    is stored as 15:30 UTC the same day, but one at 00:30 on the 2nd is stored as 16:30 UTC on the
    1st — truncating the stored UTC value would move it to the wrong day, merge it with the
    previous day's purchase, and shorten the customer's rhythm.
    """
    tz = ZoneInfo(settings.TIME_ZONE)
    end = clock.start_of_day(as_of + dt.timedelta(days=1))
    placeholders, statuses = _not_purchase_sql()
    orders = _table(Order)
    offset = _fixed_utc_offset_minutes(tz, as_of)
    if connection.vendor == "postgresql":
        if offset is not None:
            return _purchase_days_postgres_packed(orders, placeholders, statuses, end, offset,
                                                  progress)
        return _purchase_days_postgres(orders, placeholders, statuses, end, tz, progress)
    if offset is not None:
        # SQLite keeps UTC text. Shifting the Julian day by the zone's constant offset and
        # truncating gives the local day number, with plain arithmetic (several times faster
        # than date() per row). The 1e-9 day (86 µs) keeps an order at exactly local midnight
        # on its own day despite the float rounding of julianday(); days before 1970 would
        # truncate the wrong way, and no order book starts that early.
        day_sql = (f"CAST(julianday(placed_at) - 2440587.5 + {offset / 1440!r} + 1e-9"
                   f" AS INTEGER)")
    else:
        # A zone with daylight saving time: Django's own function converts each row (slower).
        day_sql = (f"CAST(julianday(django_datetime_cast_date(placed_at, '{settings.TIME_ZONE}',"
                   f" 'UTC')) - 2440587.5 AS INTEGER)")
    sql = (
        f"SELECT customer_id, {day_sql} AS local_day, SUM(total), MAX(julianday(placed_at)),"
        f" MIN(julianday(placed_at))"
        f" FROM {orders} WHERE placed_at < %s AND status NOT IN ({placeholders})"
        f" GROUP BY customer_id, local_day ORDER BY customer_id, local_day"
    )
    params: list[Any] = [connection.ops.adapt_datetimefield_value(end), *statuses]
    blocks: list[npt.NDArray[np.float64]] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        done = 0
        while rows := cursor.fetchmany(chunk_size):
            blocks.append(np.asarray(rows, dtype=np.float64))
            done += len(rows)
            if progress:
                progress("read", done, 0)
    data = np.concatenate(blocks) if blocks else np.empty((0, 5))
    return PurchaseDays(
        customer=data[:, 0].astype(np.int64),
        day=np.round(data[:, 1]).astype(np.int64).astype("datetime64[D]"),
        amount=data[:, 2].astype(np.float64),
        # Julian day → whole seconds since the epoch (the millisecond guards float rounding).
        last_epoch=np.floor((data[:, 3] - 2440587.5) * 86400 + 1e-3).astype(np.int64),
        first_epoch=np.floor((data[:, 4] - 2440587.5) * 86400 + 1e-3).astype(np.int64),
    )


# PostgreSQL's binary COPY: 19-byte header, then per row an int16 field count and, per field,
# an int32 length and the value in network byte order. Our four fields have fixed widths, so the
# whole stream is an array of identical records that numpy reads without a Python loop.
_COPY_HEADER = 19
_COPY_ROW = np.dtype([
    ("n", ">i2"),
    ("l1", ">i4"), ("customer", ">i8"),
    ("l2", ">i4"), ("day", ">i4"),
    ("l3", ">i4"), ("amount", ">f8"),
    ("l4", ">i4"), ("last_epoch", ">i8"),
    ("l5", ">i4"), ("first_epoch", ">i8"),
])
_PG_EPOCH = np.datetime64("2000-01-01", "D")


def _purchase_days_postgres(orders: str, placeholders: str, statuses: list[str],
                            end: dt.datetime, tz: ZoneInfo,
                            progress: Progress | None) -> PurchaseDays:
    # AT TIME ZONE turns the stored instant into the company's wall-clock time before ::date.
    day_sql = "(placed_at AT TIME ZONE %s)::date"
    inner = (
        f"SELECT customer_id::int8, {day_sql}, SUM(total)::float8,"
        f" EXTRACT(EPOCH FROM MAX(placed_at))::int8, EXTRACT(EPOCH FROM MIN(placed_at))::int8"
        f" FROM {orders} WHERE placed_at < %s AND status NOT IN ({placeholders})"
        f" GROUP BY customer_id, 2 ORDER BY customer_id, 2"
    )
    chunks: list[bytes] = []
    size = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        query = cursor.mogrify(inner, [str(tz), end, *statuses])
        if isinstance(query, bytes):
            query = query.decode()
        with raw.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                chunks.append(bytes(block))
                size += len(block)
                if progress:
                    progress("read", size // _COPY_ROW.itemsize, 0)
    payload = b"".join(chunks)
    body = payload[_COPY_HEADER:len(payload) - 2]  # the trailer is an int16 -1
    if len(body) % _COPY_ROW.itemsize:
        raise RuntimeError("unexpected COPY layout (a NULL in the purchase aggregate?)")
    rec = np.frombuffer(body, dtype=_COPY_ROW)
    if len(rec):
        (flags,) = struct.unpack(">i", payload[11:15])
        assert flags == 0, "COPY with OIDs is not expected"
    return PurchaseDays(
        customer=rec["customer"].astype(np.int64),
        day=_PG_EPOCH + rec["day"].astype(np.int64).astype("timedelta64[D]"),
        amount=rec["amount"].astype(np.float64),
        last_epoch=rec["last_epoch"].astype(np.int64),
        first_epoch=rec["first_epoch"].astype(np.int64),
    )


# One order as ``_purchase_days_postgres_packed`` receives it: customer id, the timestamptz's
# own binary form (microseconds since 2000-01-01 UTC) and the total as a float8.
_ORDER_RECORD = np.dtype([("customer", ">i8"), ("micros", ">i8"), ("total", ">f8")])
_PG_EPOCH_SECONDS = 946_684_800  # 2000-01-01T00:00:00Z


def _purchase_days_postgres_packed(orders: str, placeholders: str, statuses: list[str],
                                   end: dt.datetime, offset_minutes: int,
                                   progress: Progress | None,
                                   step: int = 1_000_000) -> PurchaseDays:
    """The orders, packed, then collapsed to customer-days in numpy (no GROUP BY).

    For a zone with a fixed UTC offset (Asia/Shanghai), the local day is plain arithmetic on
    the instant, so the database only has to hand over (customer, instant, total) per order.
    Each range of a million order ids comes back as *one* bytea of fixed-width records
    (``string_agg`` of the binary send functions): COPY or a cursor would cost one protocol
    message — and a Python call — per row, which was most of the reading time. The sums are
    taken in whole cents (exact), so they equal the database's ``SUM(total)``.
    """
    blocks: list[npt.NDArray[Any]] = []
    record = ("int8send(customer_id::int8) || timestamptz_send(placed_at)"
              " || float8send(total::float8)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {orders}")
        lo, hi = cursor.fetchone()
        start = int(lo or 0)
        done = 0
        while lo is not None and start <= int(hi):
            cursor.execute(
                f"SELECT string_agg({record}, ''::bytea) FROM {orders} WHERE id >= %s"
                f" AND id < %s AND placed_at < %s AND status NOT IN ({placeholders})",
                [start, start + step, end, *statuses])
            payload = cursor.fetchone()[0]
            if payload:
                block = np.frombuffer(bytes(payload), dtype=_ORDER_RECORD)
                blocks.append(block)
                done += len(block)
                if progress:
                    progress("read", done, 0)
            start += step
    rec = np.concatenate(blocks) if blocks else np.empty(0, dtype=_ORDER_RECORD)
    customer = rec["customer"].astype(np.int64)
    epoch = rec["micros"].astype(np.int64) // 1_000_000 + _PG_EPOCH_SECONDS
    cents = np.rint(rec["total"].astype(np.float64) * 100).astype(np.int64)
    del rec, blocks
    local_day = (epoch + offset_minutes * 60) // 86_400
    # One sort key: customer ids stay far below 2**42, days below 2**21.
    order = np.argsort(customer * (1 << 21) + local_day)
    customer, local_day, epoch, cents = (customer[order], local_day[order], epoch[order],
                                         cents[order])
    if not len(customer):
        return PurchaseDays(customer=customer, day=local_day.astype("datetime64[D]"),
                            amount=np.empty(0), last_epoch=epoch, first_epoch=epoch)
    starts = np.flatnonzero(np.r_[True, (customer[1:] != customer[:-1])
                                  | (local_day[1:] != local_day[:-1])])
    return PurchaseDays(
        customer=customer[starts],
        day=local_day[starts].astype("datetime64[D]"),
        amount=np.add.reduceat(cents, starts) / 100.0,
        last_epoch=np.maximum.reduceat(epoch, starts),
        first_epoch=np.minimum.reduceat(epoch, starts),
    )


def customer_ids() -> npt.NDArray[np.int64]:
    """Every customer id, sorted (prospects included), read as a packed column."""
    (ids,) = read_columns(Customer.objects.order_by().values_list("pk"), ("int",), groups=4)
    return np.sort(ids)


def iter_partitions(ids: npt.NDArray[np.int64], n: int) -> Iterator[tuple[int, int]]:
    """Split sorted customer ids into ``n`` contiguous id ranges ``[lo, hi]``."""
    if not len(ids):
        return
    for part in np.array_split(ids, max(1, n)):
        if len(part):
            yield int(part[0]), int(part[-1])


def latest_run() -> ScoreRun | None:
    """The complete run whose rows are the customers' latest values (``CustomerValue``).

    The same rule as the ``value_customervalue`` view: latest as-of date, newest on a tie.
    """
    from guanxi.value.models import RunStatus, ScoreRun

    return (ScoreRun.objects.filter(status=RunStatus.COMPLETE)
            .order_by("-as_of", "-id").first())


def latest_run_as_of() -> dt.date | None:
    run = latest_run()
    return run.as_of if run else None


def run_summary(run: Any) -> dict[str, Any]:
    """A JSON-able account of one score run: counts per stage and tier, models, timings."""
    from django.db.models import Count

    from guanxi.value.models import CustomerScore

    stages = dict(CustomerScore.objects.filter(run=run).values_list("lifecycle_stage")
                  .annotate(n=Count("id")).order_by("lifecycle_stage"))
    tiers = dict(CustomerScore.objects.filter(run=run).exclude(value_tier="")
                 .values_list("value_tier").annotate(n=Count("id")).order_by("value_tier"))
    return {
        "run": run.pk, "as_of": run.as_of, "status": run.status, "engine": run.engine,
        "customers": run.n_customers, "buyers": run.n_buyers, "purchase_days": run.n_purchases,
        "equity": str(run.equity) if run.equity is not None else None,
        "stages": stages, "tiers": tiers, "models": run.models_info, "timings": run.timings,
        "path": run.path, "from_run": (run.source or {}).get("from_run"),
    }


# ---------------------------------------------------------------------------------------------
# The daily re-score without reading orders (see ``services`` for the rule)
# ---------------------------------------------------------------------------------------------

# Multiplying by ``id % 9973`` mixes the order's id into the sums, so moving an order from one
# customer to another, or flipping its status, changes them; the factor keeps every sum inside
# int64 on SQLite (1e7 orders x 1e6 customer ids x 1e4).
_MIX = 9973


def source_fingerprint(*, as_of: dt.date, through: dt.date | None = None) -> dict[str, Any]:
    """Cheap aggregates that change whenever the scoring input up to ``as_of`` changes.

    Over the orders placed up to the end of ``as_of``: their count, largest id, sum of totals,
    and id-mixed sums of customer, refund/cancel status and placement time. Plus, for the
    customers, their count, sum and largest id, and the time zone days are counted in. One
    scan of the orders (no GROUP BY); equal fingerprints mean equal summaries (up to a
    collision of all six sums at once).

    With ``through`` (a later date), the same scan also counts the orders of any status placed
    after the end of ``as_of`` up to the end of ``through``, as ``"placed_since"``.
    """
    placeholders, statuses = _not_purchase_sql()
    orders = _table(Order)
    # Placement time in minutes modulo a prime near a million: with the id mix, every term
    # stays below 1e10, so ten million orders cannot overflow SQLite's int64 sum.
    if connection.vendor == "postgresql":
        epoch = "((date_part('epoch', placed_at)::int8 / 60) %% 1000003)"
        cust = "customer_id::int8"
    else:
        epoch = ("(CAST(round((julianday(placed_at) - 2440587.5) * 1440) AS INTEGER)"
                 " %% 1000003)")
        cust = "customer_id"
    end = connection.ops.adapt_datetimefield_value(
        clock.start_of_day(as_of + dt.timedelta(days=1)))
    later = connection.ops.adapt_datetimefield_value(
        clock.start_of_day(max(through or as_of, as_of) + dt.timedelta(days=1)))
    mine = "FILTER (WHERE placed_at < %s)"
    refunded = f"CASE WHEN status IN ({placeholders}) THEN id %% {_MIX} + 1 ELSE 0 END"
    sums = [f"coalesce(sum({term}) {mine}, 0)" for term in (
        "total", f"{cust} * (id %% {_MIX})", refunded, f"{epoch} * (id %% {_MIX} + 1)")]
    sql = (
        f"SELECT count(*) {mine}, coalesce(max(id) {mine}, 0), {', '.join(sums)},"
        f" count(*) FILTER (WHERE placed_at >= %s) FROM {orders} WHERE placed_at < %s"
    )
    params = [end, end, end, end, *statuses, end, end, end, later]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        *row, since = cursor.fetchone()
        cursor.execute(f"SELECT count(*), coalesce(sum(id), 0), coalesce(max(id), 0)"
                       f" FROM {_table(Customer)}")
        people = cursor.fetchone()
    found: dict[str, Any] = {"orders": {as_of.isoformat(): [str(v) for v in row]},
                             "customers": [str(v) for v in people],
                             "time_zone": str(settings.TIME_ZONE)}
    if through is not None:
        found["placed_since"] = int(since)
    return found


@dataclasses.dataclass
class StoredSummary:
    """A complete run's buyers as the summaries described them (one row per customer).

    ``first_day``/``last_day`` are the first and last purchase days (days since 1970-01-01,
    company time zone), recovered exactly from the stored T and recency.
    """

    customer: npt.NDArray[np.int64]
    x: npt.NDArray[np.int64]
    frequency: npt.NDArray[np.int64]
    monetary: npt.NDArray[np.float64]
    total_spend: npt.NDArray[np.float64]
    first_day: npt.NDArray[np.int64]
    last_day: npt.NDArray[np.int64]
    mean_interval_days: npt.NDArray[np.float64]
    std_interval_days: npt.NDArray[np.float64]
    first_epoch: npt.NDArray[np.int64]
    last_epoch: npt.NDArray[np.int64]


def _julian_to_epoch(jd: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Julian day → whole seconds since the epoch (the millisecond guards float rounding).
    return np.floor((jd - 2440587.5) * 86400 + 1e-3)


_STORED_ROW = np.dtype([
    ("customer", ">i8"), ("x", ">i8"), ("frequency", ">i8"), ("monetary", ">f8"),
    ("total_spend", ">f8"), ("T", ">f8"), ("recency", ">i8"), ("mean", ">f8"), ("sd", ">f8"),
    ("first_epoch", ">i8"), ("last_epoch", ">i8"),
])


def stored_summary(*, run: ScoreRun, days_per_unit: int,
                   chunk_customers: int = 250_000) -> StoredSummary:
    """Read the buyers' stored summaries of ``run`` (one indexed range scan per chunk).

    On PostgreSQL each chunk of customers comes back as *one* bytea of fixed-width records
    (``string_agg`` of ``int8send``/``float8send``): a COPY or a cursor would hand Python one
    message per row, which costs more than the whole computation.
    """
    from guanxi.value.models import CustomerScore

    table = _table(CustomerScore)
    if connection.vendor == "postgresql":
        record = (
            "int8send(customer_id::int8) || int8send(x::int8) || int8send(frequency::int8)"
            " || float8send(monetary) || float8send(total_spend::float8) || float8send(\"T\")"
            " || int8send(recency_days::int8) || float8send(coalesce(interval_mean_days, 'NaN'))"
            " || float8send(coalesce(interval_sd_days, 'NaN'))"
            " || int8send(date_part('epoch', first_purchase_at)::int8)"
            " || int8send(date_part('epoch', last_purchase_at)::int8)"
        )
        blocks: list[npt.NDArray[Any]] = []
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(customer_id), max(customer_id) FROM {table}"
                           f" WHERE run_id = %s", [run.pk])
            lo, hi = cursor.fetchone()
            start = int(lo or 0)
            while lo is not None and start <= int(hi):
                cursor.execute(
                    f"SELECT string_agg({record}, ''::bytea) FROM {table}"
                    f" WHERE run_id = %s AND customer_id >= %s AND customer_id < %s"
                    f" AND x IS NOT NULL", [run.pk, start, start + chunk_customers])
                payload = cursor.fetchone()[0]
                if payload:
                    blocks.append(np.frombuffer(bytes(payload), dtype=_STORED_ROW))
                start += chunk_customers
        rec = np.concatenate(blocks) if blocks else np.empty(0, dtype=_STORED_ROW)
        # Sorted here, not by the aggregate (an ORDER BY there sorts every chunk: half its
        # time). The range scans usually return customer order already.
        ids = rec["customer"]
        if ids.size and not bool(np.all(ids[1:] > ids[:-1])):
            rec = rec[np.argsort(ids, kind="stable")]
        cols = {name: rec[name] for name in _STORED_ROW.names or ()}
    else:
        sql = (f"SELECT customer_id, x, frequency, monetary, total_spend, \"T\", recency_days,"
               f" interval_mean_days, interval_sd_days, julianday(first_purchase_at),"
               f" julianday(last_purchase_at) FROM {table}"
               f" WHERE run_id = %s AND x IS NOT NULL ORDER BY customer_id")
        parts: list[npt.NDArray[np.float64]] = []
        with connection.cursor() as cursor:
            cursor.execute(sql, [run.pk])
            while rows := cursor.fetchmany(100_000):
                parts.append(np.array(rows, dtype=np.float64))  # None → NaN
        data = np.concatenate(parts) if parts else np.empty((0, 11))
        cols = {
            "customer": data[:, 0], "x": data[:, 1], "frequency": data[:, 2],
            "monetary": data[:, 3], "total_spend": data[:, 4], "T": data[:, 5],
            "recency": data[:, 6], "mean": data[:, 7], "sd": data[:, 8],
            "first_epoch": _julian_to_epoch(data[:, 9]),
            "last_epoch": _julian_to_epoch(data[:, 10]),
        }
    end_day = int(np.datetime64(run.as_of, "D").astype(np.int64))
    # T = (as-of day - first day) / days per unit, a whole number of days: rint recovers it.
    first_day = end_day - np.rint(np.asarray(cols["T"], dtype=np.float64)
                                  * days_per_unit).astype(np.int64)
    return StoredSummary(
        customer=np.asarray(cols["customer"]).astype(np.int64),
        x=np.asarray(cols["x"]).astype(np.int64),
        frequency=np.asarray(cols["frequency"]).astype(np.int64),
        monetary=np.asarray(cols["monetary"]).astype(np.float64),
        total_spend=np.asarray(cols["total_spend"]).astype(np.float64),
        first_day=first_day,
        last_day=end_day - np.asarray(cols["recency"]).astype(np.int64),
        mean_interval_days=np.asarray(cols["mean"]).astype(np.float64),
        std_interval_days=np.asarray(cols["sd"]).astype(np.float64),
        first_epoch=np.asarray(cols["first_epoch"]).astype(np.int64),
        last_epoch=np.asarray(cols["last_epoch"]).astype(np.int64),
    )
