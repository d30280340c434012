"""Writes of the retention domain: raise and close churn alerts, replenishments, the daily run.

Everything here is set-based: the scores and order lines are read in a few queries into numpy
arrays, judged by ``guanxi.analytics.rhythm`` / ``replenish``, and written with bulk inserts
and updates — never a query per customer. Each refresh runs in one transaction, so an
interrupted run leaves the previous state, and a second run on the same day finds every episode
already recorded and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from django.db import connection, connections, models, transaction
from django.db.models import FloatField
from django.db.models.functions import Cast, TruncDate

from guanxi.accounts.models import User
from guanxi.analytics.replenish import replenishment_schedule
from guanxi.analytics.rhythm import REASON_LATE, SEVERITIES, RhythmAssessment, RhythmModel
from guanxi.core import clock
from guanxi.core.arrays import read_columns
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers import events
from guanxi.customers.models import Customer
from guanxi.retention.backtest import frequency_band
from guanxi.retention.conf import retention_settings
from guanxi.retention.errors import RetentionErrorCode
from guanxi.retention.models import (
    AlertReason,
    AlertStatus,
    ChurnAlert,
    Replenishment,
    ReplenishmentStatus,
)
from guanxi.retention.selectors import STALE_DAYS
from guanxi.sales.models import NOT_A_PURCHASE, OrderLine, Product

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class Counts(TypedDict):
    created: int
    closed: int
    unchanged: int


def _serialize(name: str) -> None:
    """One refresh at a time (a transaction-scoped lock on PostgreSQL; SQLite has one writer).

    Cheaper than locking every open row with SELECT ... FOR UPDATE, which on PostgreSQL writes
    each locked row.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def _ms_since(started: float) -> int:
    return round(1000 * (time.perf_counter() - started))


def _plain(counts: Counts) -> dict[str, int]:
    return {"created": counts["created"], "closed": counts["closed"],
            "unchanged": counts["unchanged"]}


def _no_counts() -> Counts:
    return {"created": 0, "closed": 0, "unchanged": 0}


# --- churn alerts ---------------------------------------------------------------------------


class _Scored(TypedDict):
    customer: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    p_alive: npt.NDArray[np.float64]
    clv: npt.NDArray[np.float64]
    segment: npt.NDArray[np.int64]
    last_day: npt.NDArray[np.datetime64]


def _inactive_ids() -> npt.NDArray[np.int64]:
    """Ids of merged (inactive) customers: few, and found by their index."""
    return read_columns(Customer.objects.filter(is_active=False).values_list("pk"),
                        ("int",))[0]


def _scored_buyers() -> _Scored | None:
    """Latest values of every active repeat-or-one-time buyer, as arrays sorted by customer id.

    Reads ``CustomerValue`` (the latest complete run). The last purchase day is the run's
    as-of date minus ``recency_days`` (company-time days, as the value engine counts them), so
    the daily run scores first and judges on the same data, with no datetimes to convert.
    Read as packed columns (``core.arrays``): a million rows without a Python object each, and
    without a join to the customers (half the read): merged customers are dropped by id, and
    the owners are looked up for the few customers who get a new alert (``_owners``).
    """
    from guanxi.value.models import CustomerValue
    from guanxi.value.selectors import latest_run

    run = latest_run()
    if run is None:
        return None
    qs = (
        CustomerValue.objects.filter(x__isnull=False, recency_days__isnull=False)
        .values_list("customer_id", "x", "interval_mean_days", "interval_sd_days", "p_alive",
                     Cast("clv", FloatField()), "recency_days")
    )
    cols = read_columns(qs, ("int", "int", "float", "float", "float", "float", "int"),
                        groups=4)
    active = ~np.isin(cols[0], _inactive_ids())
    if not active.all():
        cols = [c[active] for c in cols]
    if not cols[0].size:
        return None
    order = np.argsort(cols[0])
    customer, x, mean, sd, p_alive, clv, recency = (c[order] for c in cols)
    x_values = x.astype(np.float64)
    return {
        "customer": customer,
        "x": x_values, "mean": mean, "sd": sd, "p_alive": p_alive, "clv": clv,
        "segment": frequency_band(x_values),
        "last_day": np.datetime64(run.as_of, "D") - recency.astype("timedelta64[D]"),
    }


# Above this many customers, their owners are read for everyone as packed columns rather than
# looked up by id (the first run raises hundreds of thousands of alerts, a day after a few
# thousand).
_OWNER_LOOKUP_MAX = 20_000


def _owners(customers: npt.NDArray[np.int64]) -> dict[int, int | None]:
    """Each existing customer's owner (None: none); a customer missing from the answer no
    longer exists."""
    if customers.size > _OWNER_LOOKUP_MAX:
        people, owners = read_columns(Customer.objects.values_list("pk", "owner_id"),
                                      ("int", "int"), groups=4)
        keep = np.isin(people, customers)
        return {cid: (owner if owner >= 0 else None) for cid, owner in
                zip(people[keep].tolist(), owners[keep].tolist(), strict=True)}
    found: dict[int, int | None] = {}
    for chunk in _id_chunks(customers):
        found.update(Customer.objects.filter(pk__in=chunk).values_list("pk", "owner_id"))
    return found


def _id_chunks(ids: npt.NDArray[np.int64]) -> list[list[int]]:
    """``ids`` as ``__in`` lists of 5,000."""
    values = ids.tolist()
    return [values[i:i + 5000] for i in range(0, len(values), 5000)]


def alerts_refresh(*, as_of: dt.date | None = None,
                   overrides: dict[str, Any] | None = None) -> Counts:
    """Raise alerts for newly late customers and close those who bought again as won back.

    Judged on the latest complete score run. An alert is one *episode* of silence (keyed by the
    last purchase day): it is raised once; a purchase after that day closes it as won back; an
    alert closed by a person (lost, dismissed) is not raised again until the customer buys and
    falls silent anew. Returns counts: created, closed (won back), unchanged (still open).
    """
    cfg = retention_settings(overrides)
    day = as_of or clock.today()
    scored = _scored_buyers()
    counts = _no_counts()
    if scored is None:
        counts["unchanged"] = ChurnAlert.objects.filter(status=AlertStatus.OPEN).count()
        return counts
    model = RhythmModel(quantile=cfg.quantile, p_alive_threshold=cfg.p_alive_threshold,
                        min_intervals=cfg.min_intervals)
    try:
        model.fit(scored["x"], scored["mean"], scored["sd"], scored["segment"])
    except ValueError:
        # Nobody bought twice: nobody has a rhythm to be late against.
        counts["unchanged"] = ChurnAlert.objects.filter(status=AlertStatus.OPEN).count()
        return counts
    since = (np.datetime64(day, "D") - scored["last_day"]).astype(np.int64)
    since = np.maximum(since, 0)
    result = model.assess(scored["x"], scored["mean"], scored["sd"], since.astype(np.float64),
                          p_alive=scored["p_alive"], value=np.nan_to_num(scored["clv"]),
                          segment=scored["segment"], value_top=cfg.value_top,
                          value_mid=cfg.value_mid, max_lateness=cfg.max_lateness or None,
                          plausible_only=True)
    customers = scored["customer"]
    now = clock.now()

    with transaction.atomic():
        _serialize("retention.alerts_refresh")
        open_pk, open_cid, open_last = read_columns(
            ChurnAlert.objects.filter(status=AlertStatus.OPEN)
            .values_list("pk", "customer_id", "last_purchase_on"), ("int", "int", "day"))
        # Won back: the customer's last purchase is after the episode's (vectorized lookup of
        # each open alert's customer among the scored ones; sorted needles search several
        # times faster).
        by_customer = np.argsort(open_cid, kind="stable")
        pos = np.empty(open_cid.size, dtype=np.intp)
        pos[by_customer] = np.searchsorted(customers, open_cid[by_customer])
        pos = np.minimum(pos, max(customers.size - 1, 0))
        found = (customers[pos] == open_cid) if customers.size else np.zeros(0, dtype=bool)
        current = scored["last_day"][pos]
        won_mask = found & (current > open_last) & (current <= np.datetime64(day, "D"))
        won = [ChurnAlert(pk=int(open_pk[k]), customer_id=int(open_cid[k]),
                          status=AlertStatus.WON_BACK, closed_on=day,
                          outcome_note=str(current[k]))
               for k in np.flatnonzero(won_mask).tolist()]
        still_open = open_cid[~won_mask]
        ChurnAlert.objects.bulk_update(won, ["status", "closed_on", "outcome_note"],
                                       batch_size=1000)

        flagged = np.flatnonzero(result.flagged)
        # New episodes only: not a customer with an alert still open, and not an episode
        # (customer, last purchase day) already recorded — one int64 key per episode.
        fresh = flagged[~np.isin(customers[flagged], still_open)]
        known_cid, known_last = _episodes_of(customers[fresh])
        idx = fresh[~np.isin(_episode_key(customers[fresh], scored["last_day"][fresh]),
                             _episode_key(known_cid, known_last))]
        owners = _owners(customers[idx])
        # A customer deleted since the scoring gets no alert (as the join did before).
        idx = idx[np.isin(customers[idx], np.fromiter(owners, dtype=np.int64,
                                                      count=len(owners)))]
        last_days = scored["last_day"][idx].astype(dt.date).tolist()
        rows = _alert_rows(idx, scored=scored, result=result, since=since, day=day,
                           last_days=last_days, owners=owners)
        _write_rows(ChurnAlert, _ALERT_COLUMNS, rows)
        events.churn_alerts_raised_events_bulk(
            alerts=[(r[0], r[3], json.loads(r[4]), r[11]) for r in rows], occurred_at=now)
        events.churn_alerts_closed_events_bulk(
            alerts=[(a.customer_id, AlertStatus.WON_BACK.value, a.outcome_note) for a in won],
            actor=None, occurred_at=now)
    counts["created"] = len(rows)
    counts["closed"] = len(won)
    counts["unchanged"] = len(still_open)
    return counts


def _episodes_of(customers: npt.NDArray[np.int64]
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    """The episodes (customer, last purchase day) recorded for ``customers``, any status.

    Looked up by customer for the few flagged customers without an open alert (the alerts of
    every past episode pile up over the years); read whole for many (the first run).
    """
    episodes = ChurnAlert.objects.values_list("customer_id", "last_purchase_on")
    if customers.size > _OWNER_LOOKUP_MAX:
        cid, last = read_columns(episodes, ("int", "day"))
        return cid, last
    rows: list[tuple[int, dt.date]] = []
    for chunk in _id_chunks(customers):
        rows += episodes.filter(customer_id__in=chunk)
    return (np.array([c for c, _ in rows], dtype=np.int64),
            np.array([d for _, d in rows], dtype="datetime64[D]"))


def _episode_key(customer: npt.NDArray[np.int64],
                 last_day: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    # Days since 1970 stay below 2**20 until the year 4840; ids below 2**43.
    return customer.astype(np.int64) * (1 << 20) + last_day.astype("datetime64[D]").astype(
        np.int64)


_ALERT_COLUMNS = (
    "customer_id", "owner_id", "raised_on", "reason_code", "reason_params",
    "expected_interval_days", "late_after_days", "last_purchase_on", "days_since_last",
    "p_alive", "value_at_stake", "severity", "priority", "status", "outcome_note",
)


def _alert_rows(idx: npt.NDArray[np.intp], *, scored: _Scored, result: RhythmAssessment,
                since: npt.NDArray[np.int64], day: dt.date, last_days: list[dt.date],
                owners: dict[int, int | None]) -> list[tuple[Any, ...]]:
    """New alerts as plain rows in ``_ALERT_COLUMNS`` order (no model objects: at a million
    customers the first run raises a few hundred thousand)."""
    interval = np.round(result.expected_interval[idx], 1).tolist()
    late_after = np.round(result.late_after[idx], 1).tolist()
    days = since[idx].tolist()
    p_alive = scored["p_alive"][idx]
    clv = scored["clv"][idx]
    reason = np.where(result.reason[idx] == REASON_LATE, AlertReason.LATE.value,
                      AlertReason.LOW_P_ALIVE.value).tolist()
    severity = [SEVERITIES[k] for k in result.severity[idx].tolist()]
    priority = result.priority[idx].tolist()
    p_text = [None if np.isnan(p) else round(p, 3) for p in p_alive.tolist()]
    clv_text = [None if np.isnan(c) else f"{c:.2f}" for c in clv.tolist()]
    today = day.isoformat()
    rows: list[tuple[Any, ...]] = []
    for k, cid in enumerate(scored["customer"][idx].tolist()):
        params = (f'{{"interval_days": {interval[k]}, "late_after_days": {late_after[k]}, '
                  f'"days_since_last": {days[k]}'
                  + (f', "p_alive": {p_text[k]}}}' if p_text[k] is not None else "}"))
        rows.append((cid, owners[cid] or None, today, reason[k], params, interval[k],
                     late_after[k], last_days[k].isoformat(), days[k], p_text[k],
                     clv_text[k], severity[k], priority[k], AlertStatus.OPEN.value, ""))
    return rows


def _write_rows(model: type[models.Model], columns: tuple[str, ...],
                rows: list[tuple[Any, ...]]) -> None:
    """Insert plain rows (dates and decimals as text, JSON as text): COPY on PostgreSQL."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def alert_close(*, alert: ChurnAlert, actor: User | None, outcome: str, note: str = "",
                on: dt.date | None = None) -> ChurnAlert:
    """A person closes an open alert as lost or dismissed; the outcome is on the timeline.

    ``actor`` None is the system (the CLI run by an administrator of the server).
    """
    if outcome not in (AlertStatus.LOST, AlertStatus.DISMISSED):
        raise ValidationFailed(RetentionErrorCode.INVALID_OUTCOME,
                               f"An alert is closed as lost or dismissed, not {outcome!r}.",
                               field="outcome")
    with transaction.atomic():
        locked = ChurnAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.status != AlertStatus.OPEN:
            raise Conflict(RetentionErrorCode.ALREADY_CLOSED,
                           f"Alert {alert.pk} is already closed ({locked.status}).")
        locked.status = outcome
        locked.closed_on = on or clock.today()
        locked.closed_by = actor
        locked.outcome_note = note.strip()
        locked.save(update_fields=["status", "closed_on", "closed_by", "outcome_note"])
        events.churn_alerts_closed_events_bulk(
            alerts=[(locked.customer_id, outcome, locked.outcome_note)], actor=actor,
            occurred_at=clock.now())
    alert.status, alert.closed_on = locked.status, locked.closed_on
    alert.closed_by, alert.outcome_note = actor, locked.outcome_note
    return alert


# --- replenishment --------------------------------------------------------------------------


def _purchase_lines(*, as_of: dt.date, lookback_days: int) -> dict[str, npt.NDArray[Any]]:
    """Order lines with a product of purchase orders in the window, as arrays.

    Read as packed columns (``core.arrays``: a year of a large company's lines is millions of
    rows); the day is the order's day in the company's time zone (``TruncDate``), merged
    customers are dropped by id (few, by their index) and categories come from the small
    product table, rather than with every line. Owners are looked up later, for the customers
    who get a reminder.
    """
    start = clock.start_of_day(as_of - dt.timedelta(days=lookback_days))
    end = clock.start_of_day(as_of + dt.timedelta(days=1))
    qs = (
        OrderLine.objects.filter(order__placed_at__gte=start, order__placed_at__lt=end,
                                 product__isnull=False)
        .exclude(order__status__in=NOT_A_PURCHASE)
        .values_list("order__customer_id", "product_id", TruncDate("order__placed_at"),
                     Cast("quantity", FloatField()), Cast("amount", FloatField()))
    )
    cid, products, days, qty, amount = read_columns(
        qs, ("int", "int", "day", "float", "float"), groups=8)
    # Active customers only (an order's customer exists: a foreign key).
    active = ~np.isin(cid, _inactive_ids())
    cid, products, days, qty, amount = (cid[active], products[active], days[active],
                                        qty[active], amount[active])
    # Categories as codes into a sorted name list ("" for none), by way of the few products.
    used = np.unique(products)
    category_of = dict(Product.objects.filter(pk__in=used.tolist())
                       .values_list("pk", "category"))
    categories, product_code = np.unique(
        np.array([category_of.get(p) or "" for p in used.tolist()] + [""], dtype=str),
        return_inverse=True)
    return {
        "customer": cid,
        "product": products,
        "category": product_code[np.searchsorted(used, products)].astype(np.int64),
        "categories": categories,
        "day": days,
        "quantity": np.nan_to_num(qty),
        "amount": np.nan_to_num(amount),
    }


def replenishments_refresh(*, as_of: dt.date | None = None,
                           overrides: dict[str, Any] | None = None) -> Counts:
    """Open reminders for repeat-bought items running out soon; close those bought again.

    Items are products, and categories where the customer rotates between products (no single
    product of the category is repeat-bought). A reminder is opened ``cfg.replenish_ahead_days``
    before the run-out day and not for items more than half an interval (at most
    ``STALE_DAYS``) overdue: that silence is the churn alert's business. One reminder per
    (customer, item, last purchase day).
    """
    cfg = retention_settings(overrides)
    day = as_of or clock.today()
    lines = _purchase_lines(as_of=day, lookback_days=cfg.replenish_lookback_days)
    counts = _no_counts()
    is_category, items, sched_cols = _schedules(lines, min_purchases=cfg.replenish_min_purchases)
    categories = lines["categories"].tolist()
    with transaction.atomic():
        _serialize("retention.replenishments_refresh")
        open_rows = list(Replenishment.objects.filter(status=ReplenishmentStatus.OPEN)
                         .values_list("pk", "customer_id", "item_key", "last_bought_on"))
        last_bought = _last_bought(lines, [(cid, key) for _, cid, key, _ in open_rows])
        bought: list[Replenishment] = []
        still_open: set[tuple[int, str]] = set()
        for (pk, cid, key, last_on), current in zip(open_rows, last_bought, strict=True):
            if current is not None and last_on < current <= day:
                bought.append(Replenishment(pk=pk, status=ReplenishmentStatus.BOUGHT,
                                            closed_on=day))
            else:
                still_open.add((cid, key))
        Replenishment.objects.bulk_update(bought, ["status", "closed_on"], batch_size=1000)

        # A reminder about an earlier purchase than the window's cannot match a schedule.
        window_start = day - dt.timedelta(days=cfg.replenish_lookback_days)
        known = set(Replenishment.objects.filter(last_bought_on__gte=window_start)
                    .values_list("customer_id", "item_key", "last_bought_on"))
        today = np.datetime64(day, "D")
        run_out, interval = sched_cols["run_out"], sched_cols["interval"]
        ahead = today + np.timedelta64(cfg.replenish_ahead_days, "D")
        overdue_days = (today - run_out).astype(np.float64)
        # Overdue by more than half a cycle (at most STALE_DAYS) is no longer "about to run
        # out": they bought elsewhere or stopped, and the churn alert speaks for that.
        due = np.flatnonzero((run_out <= ahead)
                             & (overdue_days <= np.minimum(interval / 2, STALE_DAYS)))
        fresh: list[tuple[int, int, int, str, dt.date]] = []
        for i in due.tolist():
            cid = int(sched_cols["customer"][i])
            item = int(items[i])
            key = f"c:{categories[item]}" if is_category[i] else f"p:{item}"
            last_on = sched_cols["last_day"][i].astype(dt.date)
            if (cid, key) in still_open or (cid, key, last_on) in known:
                continue
            fresh.append((i, cid, item, key, last_on))
        owners = _owners(np.array([f[1] for f in fresh], dtype=np.int64))
        new: list[Replenishment] = []
        for i, cid, item, key, last_on in fresh:
            product_id = None if is_category[i] else item
            new.append(Replenishment(
                customer_id=cid, owner_id=owners.get(cid) or None,
                product_id=product_id, category="" if product_id else key[2:],
                item_key=key, created_on=day, last_bought_on=last_on,
                due_on=run_out[i].astype(dt.date), interval_days=float(interval[i]),
                quantity_per_day=float(sched_cols["per_day"][i]) or None,
                last_quantity=Decimal(str(round(float(sched_cols["last_q"][i]), 3))),
                times_bought=int(sched_cols["n"][i]),
                value=Decimal(str(round(float(sched_cols["value"][i]), 2)))))
        Replenishment.objects.bulk_create(new, batch_size=5000)
    counts["created"] = len(new)
    counts["closed"] = len(bought)
    counts["unchanged"] = len(still_open)
    return counts


def _last_bought(lines: dict[str, npt.NDArray[Any]],
                 wanted: list[tuple[int, str]]) -> list[dt.date | None]:
    """Last purchase day in ``lines`` of each wanted (customer, item key), or None.

    Integer pair codes and one sort instead of a dictionary of every pair: the lines of a
    large company hold millions of pairs, the open reminders a few thousand.
    """
    out: list[dt.date | None] = [None] * len(wanted)
    if not lines["customer"].size or not wanted:
        return out
    categories = lines["categories"]
    for prefix, item_code in (("p:", lines["product"]), ("c:", lines["category"])):
        rows = [k for k, (_, key) in enumerate(wanted) if key.startswith(prefix)]
        if not rows:
            continue
        if prefix == "p:":
            want_item = np.array([int(wanted[k][1][2:]) for k in rows], dtype=np.int64)
        else:
            names = np.array([wanted[k][1][2:] for k in rows], dtype=str)
            pos = np.minimum(np.searchsorted(categories, names), max(categories.size - 1, 0))
            want_item = np.where(categories[pos] == names, pos, -1).astype(np.int64)
        want_cid = np.array([wanted[k][0] for k in rows], dtype=np.int64)
        # Last day per (customer, item) of the wanted customers' lines: sort them by pair then
        # day, keep each pair's last.
        sel = np.isin(lines["customer"], want_cid)
        c, it, d = lines["customer"][sel], item_code[sel], lines["day"][sel]
        order = np.lexsort((d, it, c))
        c, it, d = c[order], it[order], d[order]
        last = np.ones(c.size, dtype=bool)
        last[:-1] = (c[1:] != c[:-1]) | (it[1:] != it[:-1])
        c, it, d = c[last], it[last], d[last]
        # Look the wanted pairs up among the sorted (customer, item) pairs.
        # One int64 key per pair, ordered like the sort (ids stay far below 2**63 / span).
        span = int(max(it.max(initial=0), want_item.max(initial=0))) + 2
        pair_key = c * span + (it + 1)
        found = np.searchsorted(pair_key, want_cid * span + (want_item + 1))
        found = np.minimum(found, max(c.size - 1, 0))
        hit = (c[found] == want_cid) & (it[found] == want_item)
        days = d[found].astype(dt.date).tolist()
        for k, row in enumerate(rows):
            if hit[k]:
                out[row] = days[k]
    return out


def _schedules(lines: dict[str, npt.NDArray[Any]], *, min_purchases: int
               ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64],
                          dict[str, npt.NDArray[Any]]]:
    """Run-out schedules of repeat-bought products and rotated categories, concatenated.

    Returns whether each schedule is a category's, its item (product id or category code into
    ``lines["categories"]``) and its columns. All joins are sorted-array lookups: the lines of
    a large company are millions.
    """
    columns = ("customer", "run_out", "interval", "last_day", "per_day", "last_q", "n",
               "value")
    if not lines["customer"].size:
        empty: dict[str, npt.NDArray[Any]] = {
            k: np.empty(0) for k in ("interval", "per_day", "last_q", "value")}
        for k in ("customer", "n"):
            empty[k] = np.empty(0, dtype=np.int64)
        for k in ("run_out", "last_day"):
            empty[k] = np.empty(0, dtype="datetime64[D]")
        return np.empty(0, dtype=bool), np.empty(0, dtype=np.int64), empty
    products = replenishment_schedule(lines["customer"], lines["product"], lines["day"],
                                      lines["quantity"], lines["amount"],
                                      min_purchases=min_purchases)
    cat_code = lines["category"]
    by_cat = replenishment_schedule(lines["customer"], cat_code, lines["day"],
                                    lines["quantity"], lines["amount"],
                                    min_purchases=min_purchases)
    # Drop a category where one of its products is already repeat-bought by the customer,
    # and the no-category "category".
    known_products, at = np.unique(lines["product"], return_index=True)
    product_category = cat_code[at]
    span = int(lines["categories"].size) + 1
    covered = (products.customer * span
               + product_category[np.searchsorted(known_products, products.item)])
    named = lines["categories"][by_cat.item] != ""
    keep = named & ~np.isin(by_cat.customer * span + by_cat.item, covered)
    parts = []
    for sched, mask in ((products, np.ones(len(products), dtype=bool)), (by_cat, keep)):
        idx = np.flatnonzero(mask)
        parts.append({
            "customer": sched.customer[idx],
            "run_out": sched.run_out[idx], "interval": sched.interval_days[idx],
            "last_day": sched.last_day[idx], "per_day": sched.quantity_per_day[idx],
            "last_q": sched.last_quantity[idx], "n": sched.n_purchases[idx],
            "value": sched.mean_amount[idx], "item": sched.item[idx]})
    cols = {k: np.concatenate([parts[0][k], parts[1][k]]) for k in (*columns, "item")}
    is_category = np.r_[np.zeros(parts[0]["item"].size, dtype=bool),
                        np.ones(parts[1]["item"].size, dtype=bool)]
    return is_category, cols.pop("item").astype(np.int64), cols


# --- the daily run --------------------------------------------------------------------------


class _Beside:
    """A step of the daily run in a thread of its own, on its own database connection.

    ``join`` waits for it; ``result`` then gives its return value or raises its exception, and
    ``milliseconds`` is how long it took.
    """

    def __init__(self, step: Callable[[], dict[str, int]]) -> None:
        self.milliseconds = 0
        self._result: dict[str, int] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(step,),
                                        name="guanxi-daily-beside")
        self._thread.start()

    def _run(self, step: Callable[[], dict[str, int]]) -> None:
        started = time.perf_counter()
        try:
            self._result = step()
        except BaseException as exc:  # raised to the caller by ``result``
            self._error = exc
        finally:
            self.milliseconds = _ms_since(started)
            connections.close_all()  # this thread's connections only

    def join(self) -> None:
        self._thread.join()

    def result(self) -> dict[str, int]:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _can_run_beside() -> bool:
    """Steps may run at once on PostgreSQL, each committing on its own connection; not inside
    a caller's transaction (another connection would not see its rows), and not on SQLite
    (one writer at a time)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def daily_run(*, as_of: dt.date | None = None, rescore: bool = False,
              progress: Progress | None = None) -> dict[str, dict[str, int]]:
    """Score, refresh alerts and replenishments, and create the care tasks, for ``as_of``.

    Scoring is skipped when a complete run of that date exists already (running twice a day
    costs nothing; ``rescore`` forces it). Each step commits on its own and is idempotent, so
    an interrupted run is finished by running it again. Returns counts per kind, and the
    milliseconds each step took under ``"milliseconds"``.
    """
    from guanxi.value.errors import ValueErrorCode
    from guanxi.value.models import RunStatus, ScoreRun
    from guanxi.value.services import history_prune, score_all

    day = as_of or clock.today()
    report: dict[str, dict[str, int]] = {}
    # Milliseconds per step, for the log and the benchmark.
    timings: dict[str, int] = {}
    # The replenishments read orders, not scores: where steps may run at once they run beside
    # the scoring and the alerts, and the two cores share the work (a million customers with
    # a year of order lines, the next day: 30.4 s -> 23.5 s).
    beside = (_Beside(lambda: _plain(replenishments_refresh(as_of=day)))
              if _can_run_beside() else None)
    try:
        started = time.perf_counter()
        exists = ScoreRun.objects.filter(as_of=day, status=RunStatus.COMPLETE).exists()
        if rescore or not exists:
            try:
                run = score_all(as_of=day, progress=progress)
                report["scores"] = {"created": 1, "closed": 0, "unchanged": 0,
                                    "customers": run.n_customers}
            except ValidationFailed as exc:
                if exc.code != ValueErrorCode.NO_PURCHASES:
                    raise
                # No purchases yet: nothing to score, and nothing to warn about.
                log.info("daily run: scoring skipped: %s", exc.message)
                report["scores"] = {"created": 0, "closed": 0, "unchanged": 0, "customers": 0}
        else:
            report["scores"] = {"created": 0, "closed": 0, "unchanged": 1, "customers": 0}
        # Old daily snapshots go (month-ends and the recent days stay):
        # GUANXI_SCORE_HISTORY_DAYS.
        pruned = history_prune(today=day)
        report["score_history"] = {"created": 0, "closed": len(pruned), "unchanged": 0}
        timings["scores"] = _ms_since(started)
        started = time.perf_counter()
        report["churn_alerts"] = _plain(alerts_refresh(as_of=day))
        timings["churn_alerts"] = _ms_since(started)
    finally:
        if beside is not None:
            beside.join()  # a failing step above still waits for it to finish or fail
    if beside is not None:
        report["replenishments"] = beside.result()
        timings["replenishments"] = beside.milliseconds
    else:
        started = time.perf_counter()
        report["replenishments"] = _plain(replenishments_refresh(as_of=day))
        timings["replenishments"] = _ms_since(started)
    try:
        from guanxi.care.services import care_tasks_create
    except ImportError:  # the care app is optional to the daily run
        log.info("daily run: no care tasks (guanxi.care.services.care_tasks_create missing)")
    else:
        started = time.perf_counter()
        report.update(care_tasks_create(as_of=day))
        timings["care"] = _ms_since(started)
    report["milliseconds"] = timings
    log.info("daily run %s: %s", day, report)
    return report

