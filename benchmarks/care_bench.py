"""How long the care calendar and a rep's work queue take on a large database.

    python benchmarks/care_bench.py --customers 100000            # PostgreSQL, guanxi_bench_care
    python benchmarks/care_bench.py --customers 1000000           # the full-scale figure

Fills a fresh database with ``score_bench``'s loader (N customers, about 10·N orders), adds one
order line per order over 500 products (with structure: customers of the same "taste" buy the
same products), gives every customer an owner among 50 reps, a Gregorian birthday to 30% of
them and a lunar birthday (important date) to 5%, scores them as of 2026-06-30, then times:

1. ``care_tasks_create`` for the 14 days from 2026-09-14 (birthdays, lunar birthdays,
   first-purchase anniversaries, the Mid-Autumn Festival for every buyer), first run;
2. the same again (idempotent: nothing created);
3. one rep's work queue: first call (fits the offer model on the order lines) and second call
   (model cached for the day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import score_bench  # noqa: E402  (a sibling script, importable once HERE is on the path)

CARE_DAY = dt.date(2026, 9, 14)
REPS = 50


def _timed(label: str, fn: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    result = fn(**kwargs)
    print(f"  {label:<28} {time.perf_counter() - started:7.1f} s", flush=True)
    return result


def _extras() -> None:
    """Reps, owners, birthdays, lunar dates, products and order lines (SQL, PostgreSQL)."""
    from django.db import connection

    from guanxi.accounts.models import Role, User

    boss = User.objects.create_user(username="boss", password="x", role=Role.MANAGER)
    User.objects.bulk_create([User(username=f"rep{i}", role=Role.REP, manager=boss,
                                   password="!") for i in range(REPS)])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM accounts_user WHERE username LIKE 'rep%%'")
        first_rep = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE customers_customer SET owner_id = %s + (id %% %s), "
            "birthday = CASE WHEN id %% 10 < 3 THEN DATE '1970-01-01' + (id * 7919 %% 12000)::int "
            "END", [first_rep, REPS])
        cursor.execute(
            "UPDATE customers_customer c SET last_purchase_at = o.last FROM "
            "(SELECT customer_id, max(placed_at) AS last FROM sales_order GROUP BY customer_id)"
            " o WHERE o.customer_id = c.id")
        cursor.execute(
            "INSERT INTO customers_importantdate (customer_id, kind, label, date, is_lunar,"
            " yearly) SELECT id, 'birthday', '', make_date((1980 + id % 20)::int,"
            " (1 + id % 12)::int, (1 + id % 28)::int), true, true FROM customers_customer"
            " WHERE id % 20 = 7")
        cursor.execute(
            "INSERT INTO sales_product (sku, name, category, currency) SELECT 'P' || g,"
            " 'Product ' || g, 'Category ' || (g % 25), 'CNY' FROM generate_series(0, 499) g")
        cursor.execute("SELECT min(id) FROM sales_product")
        first_product = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO sales_orderline (order_id, product_id, quantity, amount) "
            "SELECT o.id, %s + ((o.customer_id %% 50) * 10 + (o.id %% 10)) %% 500, 1, o.total"
            " FROM sales_order o", [first_product])
        cursor.execute("ANALYZE")
    print(f"extras (owners, dates, products, lines) in {time.perf_counter() - started:.1f} s",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="guanxi_bench_care")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the filled and scored database of a --keep run (its care "
                             "tasks are deleted first)")
    args = parser.parse_args()

    base = args.pg_url.rsplit("/", 1)[0]
    os.environ["GUANXI_DATABASE_URL"] = (f"{base}/{args.pg_db}" if args.reuse else
                                         score_bench._prepare_database("postgres", args.pg_url,
                                                                       args.pg_db))
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-bench-data-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if args.reuse:
        from guanxi.care.models import Task as _Task
        from guanxi.customers.models import Customer
        from guanxi.sales.models import Order

        _Task.objects.all().delete()
        args.customers, n_orders = Customer.objects.count(), Order.objects.count()
    else:
        n_orders = score_bench._fill(args.customers, args.seed)
        _extras()
        from guanxi.value.services import score_all

        _timed("score (setup)", score_all, as_of=score_bench.AS_OF)

    import time_machine

    from guanxi.accounts.models import User
    from guanxi.care.models import Task
    from guanxi.care.selectors import queue_for
    from guanxi.care.services import care_tasks_create

    print(f"care calendar and queue: {args.customers:,} customers, {n_orders:,} orders, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    with time_machine.travel(dt.datetime(2026, 9, 14, 6, tzinfo=dt.timezone(
            dt.timedelta(hours=8))), tick=True):
        first = _timed("calendar, first run", care_tasks_create, as_of=CARE_DAY)
        print(f"    {first}")
        again = _timed("calendar, same day again", care_tasks_create, as_of=CARE_DAY)
        print(f"    created again: {sum(c['created'] for c in again.values())}")
        rep = User.objects.get(username="rep7")
        items = _timed("queue rep7, first (fit)", queue_for, user=rep, as_of=CARE_DAY)
        _timed("queue rep7, cached model", queue_for, user=rep, as_of=CARE_DAY)
        offered = sum(1 for i in items if i.offer is not None)
        print(f"    {len(items)} items, {offered} with an offer; {Task.objects.count():,} tasks")
    if not args.keep:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')


if __name__ == "__main__":
    main()
