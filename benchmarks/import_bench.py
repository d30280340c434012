"""How fast does ``guanxi import orders`` go, and how much memory does it take?

    python benchmarks/import_bench.py --rows 1000000 --db sqlite
    python benchmarks/import_bench.py --rows 1000000 --db postgres

Generates a customer list and an orders CSV the way a Chinese shop exports them (Chinese
headers, ``¥1,234.50`` amounts, some refunds), imports them into a fresh database (SQLite in a
temporary directory; PostgreSQL: a fresh database ``guanxi_bench_import``), then imports the
orders again (every row unchanged), and prints rows/s and the peak RSS of the process.

Targets (issue #2): 1,000,000 order rows at >= 50,000 rows/s into PostgreSQL and >= 20,000
rows/s into SQLite on a 2-core machine, peak memory under 500 MB; re-import at least as fast.

Each line also gives the CPU seconds of this process (the import's writing and, for SQLite,
the database engine), of the order import's parsing process (forked: it reads and parses
the next chunk while this process writes the current one), for PostgreSQL the CPU seconds of
the server process serving the import (read from ``/proc`` when the server runs on this
machine), and the load average: on a shared machine the wall-clock rate says as much about
the neighbours as about the import, while the CPU seconds say what the import costs. The
parsing runs beside the writing; the writing process and the server mostly take turns, so a
quiet machine's wall clock is close to the sum of those two. Memory: the peak RSS of each
process, and the peak of the two processes' PSS together (the parsing process's RSS counts
the pages it still shares with this one).

What the figures looked like (200,000 rows, 10,000 customers, a shared 2-core machine with
load 6-10, so the wall clock was far above the CPU; ``docs/import.md`` has the table):
PostgreSQL first import 6.1 s Python + 4.8 s server CPU (before foreign keys were checked per
chunk, last purchases moved once per import and ids reserved with one ``setval``: 6.7 s +
10.1 s); re-import 6.0 s + 0.7 s; SQLite first import 9.7 s CPU (10.6 s), re-import 5.8 s.
A second round (order-number LIKE index and two event indexes dropped, array literals for
``= ANY``, a lighter parsing loop), before and after back to back at load 1.5-3: PostgreSQL
first import 7.1 + 5.8 s -> 6.2 + 4.6 s and 6.9 + 5.6 s -> 4.9 + 3.2 s (two rounds), re-import
Python 7.3 -> 6.0 s and 7.7 -> 5.1 s; SQLite first import 11.5 -> 9.3 s and 9.0 -> 9.1 s
(within the noise of this machine). A third round (column-by-column parsing, Python's cycle
collector paused during the import, events written by ``INSERT ... SELECT``), back to back,
twice, at load 4-5.5: PostgreSQL first import 5.3 + 3.9 s -> 2.7 + 3.8 s and 5.6 + 3.9 s ->
2.5 + 3.3 s, re-import Python 5.6 -> 3.0 s and 5.2 -> 2.6 s; SQLite first import 8.0 -> 6.0 s
and 7.8 -> 5.2 s, re-import 5.8 -> 3.0 s and 5.2 -> 2.9 s. The PostgreSQL server is now the
larger figure; at load 1.9 the first import ran at 42,000 rows/s, the re-import at 67,000.
Since 2026-11-24 a PostgreSQL import of this file takes the fast lane (Arrow blocks, binary
COPY from two writer connections; ``docs/import.md``, fifth round): the server CPU printed is
the whole server's, both writers' backends included, and the first line prints a machine
reference (ten million Python additions) to compare runs on shared machines by.
``GUANXI_BENCH_PG_DB`` names the PostgreSQL database (default ``guanxi_bench_import``) so
that two runs on one server do not collide.
The 1,000,000-row figures of issue #2 need a quiet machine: run the two commands above.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

PG_SERVER = os.environ.get("GUANXI_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("GUANXI_BENCH_PG_DB", "guanxi_bench_import")


def generate(directory: Path, rows: int, customers: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    customer_file = directory / "customers.csv"
    with customer_file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客户编号", "客户名称", "城市"])
        cities = ["上海", "北京", "杭州", "广州", "深圳", "成都"]
        for i in range(customers):
            writer.writerow([f"C{i:07d}", f"客户{i}", cities[i % len(cities)]])
    order_file = directory / "orders.csv"
    with order_file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["订单号", "客户编号", "下单时间", "实付金额", "数量", "商品"])
        for i in range(rows):
            day = rng.randrange(730)
            month, mday = 1 + (day // 61) % 12, 1 + day % 28
            year = 2023 + day // 366
            amount = rng.randrange(100, 500000) / 100
            if rng.random() < 0.02:
                amount = -amount
            writer.writerow([
                f"O{i:08d}", f"C{rng.randrange(customers):07d}",
                f"{year}-{month:02d}-{mday:02d} {rng.randrange(24):02d}:{rng.randrange(60):02d}",
                f"¥{amount:,.2f}", rng.randrange(1, 4), f"SKU-{rng.randrange(200):03d}",
            ])
    return customer_file, order_file


def load() -> str:
    """The 1-minute load average: on a 2-core machine anything above 2 means waiting for CPU."""
    return f"{os.getloadavg()[0]:.1f}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_rss_mb() -> float:
    """The peak RSS of the largest finished child: the order import's parsing process."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _pss_mb(pid: int | str) -> float:
    """Proportional set size: a page shared by the two processes counts half in each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass  # not Linux, or the child has just ended
    return 0.0


class MemoryPeak(threading.Thread):
    """The peak of this process's and its children's memory together, sampled every 0.1 s.

    The order import forks a parsing process, whose RSS counts every page it still shares
    with this one; the sum of the two processes' PSS is what they take together.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        children = Path(f"/proc/{me}/task/{me}/children")
        while not self._done.wait(0.1):
            try:
                pids = children.read_text().split()
            except OSError:
                pids = []
            self.peak = max(self.peak, _pss_mb(me) + sum(map(_pss_mb, pids)))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def machine_reference() -> float:
    """Seconds this machine takes for a fixed piece of Python (ten million additions): shared
    machines of one kind differ from each other and from hour to hour by half again, so the
    figures of two runs compare only with this next to them."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def server_cpu() -> float | None:
    """CPU seconds of the whole PostgreSQL server, if it runs on this machine: its processes
    (backends, WAL writer, checkpointer...) and those that ended meanwhile (the import's
    second writing connection), which the postmaster has counted as its children's."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        postmaster = int(stat(pid)[1])
        fields = stat(postmaster)
        total = sum(int(f) for f in fields[11:15])  # its own time and its ended children's
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:
        return None  # a server elsewhere
    for child in children:
        try:
            fields = stat(int(child))
        except OSError:
            continue  # ended meanwhile: counted by the postmaster from now on
        total += int(fields[11]) + int(fields[12])
    return total / tick


def fresh_database(db: str, data_dir: Path) -> None:
    os.environ["GUANXI_DATA_DIR"] = str(data_dir)
    if db == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        os.environ["GUANXI_DATABASE_URL"] = f"{PG_SERVER}/{PG_DB}"
    else:
        os.environ.pop("GUANXI_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=0,
                        help="default: one customer per 20 order rows")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    customers = args.customers or max(args.rows // 20, 1)

    with tempfile.TemporaryDirectory(prefix="guanxi-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        customer_file, order_file = generate(directory, args.rows, customers)
        size_mb = order_file.stat().st_size / 1e6
        print(f"generated {args.rows:,} order rows ({size_mb:,.0f} MB) and {customers:,} "
              f"customers in {time.perf_counter() - started:.1f} s")
        fresh_database(args.db, directory / "data")
        print(f"machine reference: ten million Python additions in {machine_reference():.2f} s")

        from guanxi.imports.services import ImportResult, import_customers, import_orders

        def report(label: str, run: Callable[[], ImportResult]) -> None:
            # CPU seconds of this process next to the wall clock: on a busy shared machine the
            # wall-clock rate says more about the neighbours than about the import.
            cpu, parser = time.process_time(), children_cpu()
            server = server_cpu()
            memory = MemoryPeak()
            memory.start()
            result = run()
            both = memory.stop()
            cpu, parser = time.process_time() - cpu, children_cpu() - parser
            server_after = server_cpu()
            server_text = (f"  server CPU {server_after - server:6.1f} s"
                           if server is not None and server_after is not None else "")
            print(f"{label:<22} {args.db:<8} rows {result.read:>9,}  created {result.created:>9,}"
                  f"  unchanged {result.unchanged:>9,}  rejected {result.rejected:>5,}  "
                  f"{result.seconds:7.1f} s  {result.rows_per_second:>9,.0f} rows/s  "
                  f"(python CPU {cpu:6.1f} s = {result.read / max(cpu, 1e-9):>9,.0f} rows/s, "
                  f"parsing process {parser:4.1f} s){server_text}  peak RSS "
                  f"{peak_rss_mb():,.0f} MB (parsing process {children_rss_mb():,.0f} MB, "
                  f"both together {both:,.0f} MB PSS)  load {load()}", flush=True)

        report("customers", lambda: import_customers(path=customer_file, actor=None))
        report("orders (first import)", lambda: import_orders(path=order_file, actor=None))
        report("orders (re-import)", lambda: import_orders(path=order_file, actor=None))
    if args.db == "postgres":
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
