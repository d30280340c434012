"""How fast does ``GET /api/v1/customers`` answer with 1,000,000 customers stored?

Target (issue #2 §7): p95 under 100 ms.

The script builds a fresh database ``guanxi_bench_api`` (PostgreSQL by default; ``--sqlite``
for a file in a temporary directory), bulk-loads N customers with one external id each
(COPY on PostgreSQL, ``executemany`` on SQLite), then sends requests through Django's test
client with a bearer token, exactly as a program would, and prints p50/p95/p99 in ms for:

- a rep (owns 1/20 of the customers) and an admin (sees everyone),
- without a search term (first page, and a page at a random cursor), and with one (a name,
  a surname, pinyin, initials, a phone number, an e-mail, an external id: unique terms make
  the database look at every row, common ones stop at the first page).

    python benchmarks/api_bench.py                       # PostgreSQL at 127.0.0.1, 1M customers
    python benchmarks/api_bench.py --sqlite
    python benchmarks/api_bench.py --customers 100000 --requests 200
    python benchmarks/api_bench.py --reuse               # skip the load, time again

``GUANXI_BENCH_PG`` overrides the server URL (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DB_NAME = "guanxi_bench_api"
ONLY = [""]
LAST_KIND = [""]
REPS = 20

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉健斌宇浩凯俊帆博文"
LATIN = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack"]
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆",
          "Hong Kong", "Singapore"]
STAGES = ["prospect", "new", "active", "active", "loyal", "dormant", "lost"]
TIERS = ["", "vip", "key", "major", "ordinary", "ordinary"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--indexes", choices=["proposed", "none"], default="proposed",
                        help="add (or drop) the search indexes proposed for the customers app")
    parser.add_argument("--only", default="", help="time only the lines containing this text")
    return parser.parse_args()


def configure(args: argparse.Namespace) -> None:
    """Point guanxi at the benchmark database before Django starts."""
    data_dir = Path(tempfile.gettempdir()) / DB_NAME
    (data_dir / "static").mkdir(parents=True, exist_ok=True)  # (or WhiteNoise warns per request)
    os.environ["GUANXI_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.config.settings"
    if args.sqlite:
        path = data_dir / f"{DB_NAME}.sqlite3"
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["GUANXI_DATABASE_URL"] = f"sqlite:///{path}"
        return
    server = os.environ.get("GUANXI_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [DB_NAME]).fetchone()
        if not args.reuse or not exists:  # --reuse of nothing loads it first
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["GUANXI_DATABASE_URL"] = f"{server}/{DB_NAME}"


def customer_rows(n: int, rep_ids: list[int], rng: random.Random) -> Iterator[dict[str, Any]]:
    from guanxi.customers.normalize import name_pinyin

    # A pool of names, pinyin computed once: 1M calls to pypinyin would dominate the load.
    pool: list[tuple[str, str, str]] = []
    for _ in range(5000):
        if rng.random() < 0.9:
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        else:
            name = f"{rng.choice(LATIN)} {rng.choice(LATIN)}son"
        pool.append((name, *name_pinyin(name)))
    now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    for i in range(1, n + 1):
        name, pinyin, initials = rng.choice(pool)
        yield {
            "id": i,
            "name": name,
            "name_pinyin": pinyin,
            "name_initials": initials,
            "phone": f"+86138{i:08d}",
            "email": f"c{i}@example.cn" if i % 3 else "",
            "city": rng.choice(CITIES),
            "owner_id": rep_ids[i % len(rep_ids)],
            "created_at": now,
            "updated_at": now,
        }


def load(n: int, rep_ids: list[int], rng: random.Random) -> None:
    """Insert ``n`` customers and one external id each, as fast as the database takes them."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    from guanxi.customers.models import Customer

    # Every column of the model (whatever colleagues add): ours, or the field's default.
    fields = list(Customer._meta.concrete_fields)
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.has_default():
            value = f.get_default()
        elif f.null:
            value = None
        elif f.default is NOT_PROVIDED and f.get_internal_type() == "BooleanField":
            value = False
        else:
            value = ""
        if isinstance(value, dict | list):
            value = json.dumps(value)
        defaults[f.column] = value
    defaults["is_active"] = True
    columns = [f.column for f in fields]
    sqlite = connection.vendor == "sqlite"

    def row(values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for col in columns:
            value = values.get(col, defaults[col])
            if sqlite and isinstance(value, dt.datetime):
                value = value.strftime("%Y-%m-%d %H:%M:%S")
            out.append(value)
        return tuple(out)

    rows = (row(r) for r in customer_rows(n, rep_ids, rng))
    ext_rows = ((i, "erp", f"ERP-{i:07d}", False) for i in range(1, n + 1))
    table = Customer._meta.db_table
    col_list = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if sqlite:
            raw = connection.connection
            marks = ", ".join("?" * len(columns))
            raw.executemany(f"INSERT INTO {table} ({col_list}) VALUES ({marks})", rows)
            raw.executemany("INSERT INTO customers_externalid (customer_id, source, value, "
                            "is_alias) VALUES (?, ?, ?, ?)", ext_rows)
            raw.commit()
            raw.execute("ANALYZE")
        else:
            pg = cursor.cursor
            with pg.copy(f"COPY {table} ({col_list}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            with pg.copy("COPY customers_externalid (customer_id, source, value, is_alias) "
                         "FROM STDIN") as copy:
                for r in ext_rows:
                    copy.write_row(r)
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
            pg.execute("SELECT setval(pg_get_serial_sequence('customers_externalid', 'id'), "
                       f"{n})")
            connection.commit() if not connection.get_autocommit() else None
            pg.execute("ANALYZE")
    load_scores()


def _case(expr: str, values: list[str]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE {expr} %% {len(values)} {whens} END"


def load_scores() -> None:
    """One complete score run giving every customer a stage and a tier (the list filters).

    The latest values live in the value app (``customer.value``, a view over the latest
    complete run's ``CustomerScore`` rows), not on the customer.
    """
    from django.db import connection, transaction

    from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

    now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with transaction.atomic():
        run = ScoreRun.objects.create(as_of=now.date(), status=RunStatus.COMPLETE,
                                      created_at=now, finished_at=now)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {CustomerScore._meta.db_table} (run_id, customer_id,"
                " lifecycle_stage, value_tier, rfm_segment)"
                f" SELECT %s, id, {_case('id', STAGES)}, {_case('id', TIERS)}, ''"
                " FROM customers_customer", [run.pk])
            cursor.execute("ANALYZE")


# The search indexes are part of the customers app now (migration 0002: trigram indexes on
# name and phone on PostgreSQL, external ids by value). ``--indexes none`` drops them to show
# what they buy; databases loaded by older versions of this script had them under other names.
PROPOSED_PG: list[str] = []
PROPOSED_SQLITE: list[str] = []
DROP = [
    "DROP INDEX IF EXISTS customer_name_trgm",
    "DROP INDEX IF EXISTS customer_phone_trgm",
    "DROP INDEX IF EXISTS external_id_value",
]


def set_indexes(which: str) -> None:
    from django.db import connection

    if which == "proposed":
        statements = PROPOSED_SQLITE if connection.vendor == "sqlite" else PROPOSED_PG
    else:
        statements = DROP
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("ANALYZE")
    print(f"indexes: {which} ({time.perf_counter() - start:.1f} s)", flush=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(name: str, requests: int, make_url: Callable[[], str], token: str) -> list[float]:
    from django.test import Client

    if ONLY[0] and ONLY[0] not in name:
        return []

    client = Client(headers={"Authorization": f"Bearer {token}"})
    for _ in range(10):  # warm caches and the connection
        client.get(make_url())
    samples = []
    by_kind: dict[str, list[float]] = {}
    for _ in range(requests):
        LAST_KIND[0] = ""
        url = make_url()
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {response.content[:200]!r}")
        samples.append(elapsed)
        if LAST_KIND[0]:
            by_kind.setdefault(LAST_KIND[0], []).append(elapsed)
    p50, p95, p99 = (percentile(samples, q) for q in (0.5, 0.95, 0.99))
    verdict = "ok" if p95 < 100 else "OVER TARGET"
    print(f"{name:<34} p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f}  max "
          f"{max(samples):7.1f} ms  [{verdict}]", flush=True)
    for kind, values in sorted(by_kind.items()):
        print(f"    {kind:<14} n={len(values):<4} p50 {percentile(values, 0.5):7.1f}  "
              f"p95 {percentile(values, 0.95):7.1f} ms", flush=True)
    return samples


def main() -> None:
    args = parse_args()
    ONLY[0] = args.only
    configure(args)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from guanxi.accounts.models import Role, User
    from guanxi.accounts.services import api_token_create
    from guanxi.customers.models import Customer

    rng = random.Random(args.seed)
    call_command("migrate", interactive=False, verbosity=0)
    if not args.reuse or not Customer.objects.exists():
        admin = User.objects.create(username="bench-admin", role=Role.ADMIN, is_superuser=True)
        reps = [User.objects.create(username=f"bench-rep{i}", role=Role.REP)
                for i in range(REPS)]
        start = time.perf_counter()
        load(args.customers, [r.pk for r in reps], rng)
        print(f"loaded {args.customers:,} customers into {connection.vendor} in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    set_indexes(args.indexes)
    admin = User.objects.get(username="bench-admin")
    rep = User.objects.get(username="bench-rep3")
    n = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    print(f"{n:,} customers, {args.requests} timed requests per line, "
          f"database {connection.vendor} {DB_NAME}", flush=True)

    kinds = ["full name", "surname", "pinyin", "initials", "phone", "e-mail", "external id"]

    def term() -> str:
        i = rng.randint(1, n)
        kind = rng.randrange(len(kinds))
        LAST_KIND[0] = kinds[kind]
        if kind == 0:
            return rng.choice(SURNAMES) + rng.choice(GIVEN)  # a full name: many matches
        if kind == 1:
            return rng.choice(SURNAMES)  # a surname: very many
        if kind == 2:
            return rng.choice(["zhang", "wang", "li", "chen", "liu"])  # pinyin prefix
        if kind == 3:
            return "zw"  # initials
        if kind == 4:
            return f"138{i:08d}"  # a phone number: one match
        if kind == 5:
            return f"c{i - i % 3 + 1}@example.cn"  # an e-mail: one match
        return f"ERP-{i:07d}"  # an external id: one match

    results: dict[str, list[float]] = {}
    for who, user in (("rep", rep), ("admin", admin)):
        _token, raw = api_token_create(user=user, name="bench")
        results[f"{who} first page"] = measure(f"{who}: first page", args.requests,
                                               lambda: "/api/v1/customers", raw)
        results[f"{who} random cursor"] = measure(
            f"{who}: page at a random cursor", args.requests,
            lambda: f"/api/v1/customers?after={rng.randint(1, n)}", raw)
        results[f"{who} search"] = measure(
            f"{who}: search", args.requests,
            lambda: f"/api/v1/customers?search={term()}", raw)
        results[f"{who} filters"] = measure(
            f"{who}: city + stage filters", args.requests,
            lambda: f"/api/v1/customers?city={rng.choice(CITIES)}&lifecycle_stage=loyal", raw)
    worst = max(percentile(s, 0.95) for s in results.values() if s)
    print(f"worst p95: {worst:.1f} ms (target < 100 ms): "
          f"{'met' if worst < 100 else 'NOT met'}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
