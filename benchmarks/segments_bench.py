"""How long counting rule segments, previews, snapshots and migration take on a large database.

    python benchmarks/segments_bench.py --customers 1000000            # the issue's figure
    python benchmarks/segments_bench.py --customers 100000
    python benchmarks/segments_bench.py --reuse postgres://.../guanxi_bench_segrule

Fills a fresh PostgreSQL database (``guanxi_bench_segrule``) with the customers and orders of
``score_bench.py`` (same generator, fixed seed), gives them a profile (city, source, income band,
birthday), tags, consents and order lines with product categories, scores them twice (a month
apart, so there are two snapshots), then prints per rule of 1 to 5 conditions the median time of
counting its customers — target (issue #4): under 1 s at 1M customers — and the time of a
preview (count and value share), of writing the snapshot of ten segments, and of the migration
matrix between the two runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import score_bench  # the data generator lives there

RULE_SETS: dict[str, list[dict[str, Any]]] = {
    "value": [
        {"field": "value_tier", "op": "in", "value": ["vip", "key"]},
        {"field": "city", "op": "in", "value": ["上海", "北京"]},
        {"field": "spent", "op": "gt", "value": 300, "period": {"days": 365}},
        {"not": {"field": "tag", "op": "has", "value": "投诉"}},
        {"field": "consent", "op": "granted", "value": {"channel": "sms",
                                                        "purpose": "marketing"}},
    ],
    "behaviour": [
        {"field": "city", "op": "eq", "value": "上海"},
        {"field": "clv", "op": "gt", "value": 200},
        {"field": "last_purchase", "op": "within_last_days", "value": 90},
        {"field": "orders", "op": "gte", "value": 5},
        {"field": "bought_category", "op": "in", "value": ["tea"]},
    ],
    "profile": [
        {"field": "lifecycle_stage", "op": "eq", "value": "dormant"},
        {"field": "source", "op": "eq", "value": "referral"},
        {"field": "income_band", "op": "ne", "value": "basic"},
        {"field": "birthday_month", "op": "in", "value": [3, 4, 5]},
        {"field": "p_alive", "op": "lt", "value": 0.3},
    ],
}
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "昆明"]
SOURCES = ["referral", "store", "online_ads", "wechat", "event"]
CATEGORIES = ["tea", "teaware", "gift", "snack"]


def _enrich(seed: int) -> None:
    """Profile, tags, consents and order lines, set-based in SQL (the generator gives names)."""
    from django.db import connection

    started = time.perf_counter()
    cities = "ARRAY[" + ", ".join(f"'{c}'" for c in CITIES) + "]"
    sources = "ARRAY[" + ", ".join(f"'{s}'" for s in SOURCES) + "]"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setseed({(seed % 1000) / 1000})")
        cursor.execute(
            f"UPDATE customers_customer SET city = ({cities})[1 + floor(random() * 8)::int],"
            f" source = ({sources})[1 + floor(random() * 5)::int],"
            " income_band = (ARRAY['', 'affluent', 'comfortable', 'basic'])"
            "[1 + floor(random() * 4)::int],"
            " birthday = DATE '1960-01-01' + floor(random() * 15000)::int")
        cursor.execute("INSERT INTO customers_tag (name) VALUES ('茶友'), ('投诉'), ('企业')")
        cursor.execute(
            "INSERT INTO customers_customer_tags (customer_id, tag_id)"
            " SELECT c.id, t.id FROM customers_customer c JOIN customers_tag t"
            " ON (t.name = '茶友' AND c.id % 5 = 0) OR (t.name = '投诉' AND c.id % 23 = 0)"
            " OR (t.name = '企业' AND c.id % 11 = 0)")
        cursor.execute(
            "INSERT INTO customers_consent (customer_id, channel, purpose, granted, recorded_at,"
            " source, evidence) SELECT id, 'sms', 'marketing', id % 7 <> 0, now(), 'bench', ''"
            " FROM customers_customer WHERE id % 3 = 0")
        for i, category in enumerate(CATEGORIES):
            cursor.execute(
                "INSERT INTO sales_product (sku, name, category, currency)"
                " VALUES (%s, %s, %s, 'CNY')", [f"sku-{i}", category, category])
        cursor.execute(
            "INSERT INTO sales_orderline (order_id, product_id, quantity, amount)"
            " SELECT o.id, p.id, 1, o.total FROM sales_order o JOIN sales_product p"
            " ON p.sku = 'sku-' || (o.id % 4)::text")
        _last_purchases(cursor)
        cursor.execute("ANALYZE")
    print(f"profiles, tags, consents and order lines in {time.perf_counter() - started:.1f} s",
          flush=True)


def _last_purchases(cursor: Any) -> None:
    """The customers' last purchase (an import keeps it; the generator's COPY does not)."""
    cursor.execute(
        "UPDATE customers_customer c SET last_purchase_at = o.last FROM (SELECT customer_id,"
        " max(placed_at) AS last FROM sales_order GROUP BY customer_id) o"
        " WHERE o.customer_id = c.id")


def _prepare_database(pg_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url.rsplit('/', 1)[0]}/{name}"


def _timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="guanxi_bench_segrule",
                        help="name of the PostgreSQL database to (re)create")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="timings per rule (median)")
    parser.add_argument("--reuse", metavar="DATABASE_URL",
                        help="an already filled and scored database (skips filling)")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()

    url = args.reuse or _prepare_database(args.pg_url, args.pg_db)
    os.environ["GUANXI_DATABASE_URL"] = url
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-bench-data-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.config.settings"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import django

    django.setup()
    import time_machine
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from guanxi.accounts.models import Role, User
    from guanxi.customers.models import Customer
    from guanxi.value.models import ScoreRun

    as_of = score_bench.AS_OF
    earlier = as_of - dt.timedelta(days=30)
    with time_machine.travel(dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC), tick=True):
        if not args.reuse:
            score_bench._fill(args.customers, args.seed)
            _enrich(args.seed)
        from guanxi.value.services import score_all

        for day in (earlier, as_of):
            if ScoreRun.objects.filter(as_of=day, status="complete").exists():
                continue  # a reused database scored before
            started = time.perf_counter()
            score_all(as_of=day)
            print(f"scored as of {day} in {time.perf_counter() - started:.1f} s", flush=True)
        _measure(args, Customer, User(username="bench", role=Role.ADMIN, is_superuser=True),
                 ScoreRun)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    if args.drop and not args.reuse:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')


def _measure(args: Any, Customer: Any, admin: Any, ScoreRun: Any) -> None:
    from django.db import connection

    from guanxi.segments.migration import migration_runs, segment_migration
    from guanxi.segments.models import OrderStats, Segment
    from guanxi.segments.rules import compile_rule
    from guanxi.segments.selectors import segment_preview
    from guanxi.segments.services import order_stats_refresh, segment_create, snapshot_write

    if not Customer.objects.filter(last_purchase_at__isnull=False).exists():
        with connection.cursor() as cursor:
            _last_purchases(cursor)
    latest = ScoreRun.objects.filter(status="complete").order_by("-as_of").first()
    if not OrderStats.objects.exists():  # scored before the totals existed
        started = time.perf_counter()
        order_stats_refresh(run=latest)
        print(f"order totals per customer: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    n = Customer.objects.count()
    print(f"\n{n:,} customers; counting rule segments (median of {args.repeat}):")
    worst = 0.0
    for name, conditions in RULE_SETS.items():
        for k in range(1, len(conditions) + 1):
            rule = {"all": conditions[:k]}
            q = compile_rule(rule)
            seconds, count = _timed(
                lambda q=q: Customer.objects.filter(is_active=True).filter(q).count(),
                args.repeat)
            worst = max(worst, seconds)
            print(f"  {name:<10} {k} condition(s): {count:>10,} customers  {seconds:6.3f} s",
                  flush=True)
    print(f"slowest count: {worst:.3f} s (target < 1 s at 1M)")
    rule = {"all": RULE_SETS["value"][:3]}
    seconds, preview = _timed(lambda: segment_preview(definition=rule, user=admin), args.repeat)
    print(f"preview (size and value share), 3 conditions: {seconds:.3f} s "
          f"({preview.size:,} customers, {preview.value_share or 0:.1%} of equity)")
    Segment.objects.filter(name__startswith="bench ").delete()
    for name, conditions in RULE_SETS.items():
        for k in (1, 3, 5):
            segment_create(user=admin, name=f"bench {name} {k}",
                           definition={"all": conditions[:k]})
    started = time.perf_counter()
    order_stats_refresh(run=latest)
    refresh = time.perf_counter() - started
    started = time.perf_counter()
    counts = snapshot_write(run=latest)
    print(f"order and category totals per customer: {refresh:.1f} s")
    print(f"snapshot of {len(counts)} segments ({sum(counts.values()):,} memberships), totals "
          f"included: {time.perf_counter() - started:.1f} s")
    try:
        from_run, to_run = migration_runs()
    except Exception as exc:  # fewer than two runs in a reused database
        print(f"migration skipped: {exc}")
        return
    for scheme in ("stage", "tier"):
        seconds, moved = _timed(lambda s=scheme: segment_migration(
            user=admin, from_run=from_run, to_run=to_run, scheme=s), 1)
        print(f"migration matrix by {scheme}: {seconds:.2f} s ({len(moved.cells)} cells)")


if __name__ == "__main__":
    main()
