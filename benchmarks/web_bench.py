"""How fast do the pages answer under load? (issue #5, performance)

Targets with 1,000,000 customers and ~10 million orders in PostgreSQL, 20 concurrent users for
60 s: the customer 360 page p95 < 150 ms, the list page p95 < 300 ms, no errors; the dashboard
< 1 s (its aggregates are cached per scoring run, see ``guanxi.web.charts``).

The script uses a filled database (default ``guanxi_bench_web``: a copy of the value engine's
benchmark database, made with ``--clone-from guanxi_bench_score`` if it does not exist), adds
the benchmark's people (a manager and N reps sharing the customers round robin, unless the
customers already have owners), starts gunicorn on 127.0.0.1 at a free port (loopback only),
signs N simulated users in, and has each load the list, the 360 page of one of their own
customers at random, and the dashboard, for a bounded time. It prints the data size and
p50/p95/p99/max and errors per page, then the server's CPU time per request (the gunicorn
workers' and the database backends', read from ``/proc`` while the load runs) with the load
average, then stops the server.

On a machine shared with other work the latencies mostly measure the queue for the cores, so
compare changes by the CPU per request, in runs back to back at the same settings. Without think
time the users saturate the server: with 20 users the mean latency is about 20 / throughput,
so the p95 targets need roughly 100+ requests/s, i.e. well under 10 ms of CPU per request per
core; measure them with ``--think`` (users who read a page before the next click) or on more
cores than users' worth of load.

    python benchmarks/web_bench.py                              # 20 users, 60 s
    python benchmarks/web_bench.py --users 5 --duration 10 --warmup 5
    python benchmarks/web_bench.py --clone-from guanxi_bench_score

The client is the standard library (urllib in threads): no extra dependency. Signing in opens
the dashboard, so each user's cached aggregates (a file cache all workers share, in a fresh
data directory per run) are computed during sign-in, as ``dashboards_warm`` does after a scoring
run; a warm-up phase, not counted, fills the rest (the per-process caches, the database's).
``GUANXI_BENCH_PG`` overrides the server URL (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

PASSWORD = "bench web password 42"
PAGES = ("list", "360", "dashboard")
LIST_PATHS = ["/customers/", "/customers/?sort=-clv", "/customers/?stage=active",
              "/customers/?sort=-last_purchase_at"]
TARGETS_MS = {"list": 300.0, "360": 150.0, "dashboard": 1000.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="guanxi_bench_web")
    parser.add_argument("--clone-from", default="",
                        help="create --db as a copy of this database when it does not exist")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds not measured")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2),
                        help="gunicorn worker processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a user waits between pages (0: as fast as possible)")
    return parser.parse_args()


def _pg_url() -> str:
    return os.environ.get("GUANXI_BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")


def ensure_database(name: str, clone_from: str) -> None:
    import psycopg

    with psycopg.connect(f"{_pg_url()}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return
        if not clone_from:
            sys.exit(f"database {name} does not exist; pass --clone-from <filled database>")
        print(f"copying {clone_from} to {name} (file-level, needs no other session on it)…")
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{clone_from}"')


def prepare(users: int) -> tuple[dict[str, int], dict[str, list[int]], str]:
    """Migrate, create the people, give the reps customers; return sizes, samples, manager."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    from guanxi.accounts.models import Role, User

    manager, _created = User.objects.get_or_create(username="bench-web-manager",
                                                   defaults={"role": Role.MANAGER})
    manager.set_password(PASSWORD)
    manager.save()
    reps = []
    for i in range(users):
        rep, _created = User.objects.get_or_create(username=f"bench-web-rep{i}",
                                                   defaults={"role": Role.REP, "manager": manager})
        rep.manager = manager
        rep.set_password(PASSWORD)
        rep.save()
        reps.append(rep)
    with connection.cursor() as cur:
        ids = [r.pk for r in reps]
        # Every rep must own some customers (a run with fewer users may have shared them out).
        owning = 0
        for rep_id in ids:
            cur.execute("SELECT EXISTS (SELECT 1 FROM customers_customer WHERE owner_id = %s)",
                        [rep_id])
            owning += int(cur.fetchone()[0])
        if owning < len(ids):
            print(f"giving the customers to the {users} reps, round robin…", flush=True)
            cur.execute("UPDATE customers_customer SET owner_id = (%s::bigint[])[1 + id %% %s]",
                        [ids, len(ids)])
            cur.execute("ANALYZE customers_customer")
        samples: dict[str, list[int]] = {}
        for rep in reps:
            cur.execute("SELECT id FROM customers_customer WHERE owner_id = %s AND is_active "
                        "ORDER BY id LIMIT 5000", [rep.pk])
            samples[rep.username] = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT count(*) FROM customers_customer WHERE owner_id = %s", [ids[0]])
        per_rep = int(cur.fetchone()[0])
        sizes = {}
        for label, table in (("customers", "customers_customer"), ("orders", "sales_order"),
                             ("timeline events", "customers_customerevent"),
                             ("score runs", "value_scorerun"),
                             ("customer scores", "value_customerscore")):
            cur.execute(f"SELECT count(*) FROM {table}")  # fixed table names
            sizes[label] = int(cur.fetchone()[0])
    sizes["customers per rep"] = per_rep
    return sizes, samples, manager.username


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "guanxi.config.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "120",
               "--no-control-socket"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5).close()
            return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    sys.exit("gunicorn did not answer within 60 s")


class Visitor:
    """One signed-in person with their own cookies."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.username = username

    def sign_in(self) -> None:
        html = self.opener.open(f"{self.base}/login/", timeout=30).read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, "no CSRF token on the sign-in page"
        data = urllib.parse.urlencode({"username": self.username, "password": PASSWORD,
                                       "csrfmiddlewaretoken": match.group(1), "next": "/"})
        request = urllib.request.Request(f"{self.base}/login/", data=data.encode(),
                                         headers={"Referer": f"{self.base}/login/"})
        with self.opener.open(request, timeout=30) as response:
            if response.geturl().rstrip("/") != self.base:
                sys.exit(f"{self.username} could not sign in")

    def get(self, path: str) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            with self.opener.open(f"{self.base}{path}", timeout=30) as response:
                response.read()
                ok = response.status == 200
        except (urllib.error.URLError, OSError):
            ok = False
        return (time.perf_counter() - started) * 1000, ok


def run_load(visitors: list[tuple[Visitor, list[int]]], seconds: float, seed: int,
             think: float = 0.0) -> dict[str, list[tuple[float, bool]]]:
    results: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work(i: int, visitor: Visitor, ids: list[int]) -> None:
        rng = random.Random(seed + i)
        mine: list[tuple[str, float, bool]] = []
        while time.monotonic() < deadline:
            page = rng.choices(PAGES, weights=(4, 4, 2))[0]
            if page == "list":
                path = rng.choice(LIST_PATHS)
            elif page == "360":
                path = f"/customers/{rng.choice(ids)}/"
            else:
                path = "/"
            ms, ok = visitor.get(path)
            mine.append((page, ms, ok))
            if think > 0:
                # Exponential pauses: users do not click in step with each other.
                time.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.monotonic())))
        with lock:
            for page, ms, ok in mine:
                results[page].append((ms, ok))

    threads = [threading.Thread(target=work, args=(i, v, ids))
               for i, (v, ids) in enumerate(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _cpu_ticks(pid: int) -> int | None:
    """User + system CPU of a process in clock ticks (Linux ``/proc``); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def _children(ppid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


class CpuMeter:
    """CPU seconds the server spent while the load ran: the gunicorn workers and the database's
    backends for this database, polled twice a second (a backend closed between two polls
    loses at most half a second).

    On a machine shared with other work the latencies mostly measure the queue for the cores;
    the CPU spent per request is what a change to the pages moves, so it is the figure to
    compare between runs.
    """

    def __init__(self, server_pid: int, db: str) -> None:
        self.server_pid, self.db = server_pid, db
        self.start: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, conn: object) -> None:
        pids = {pid: "gunicorn" for pid in _children(self.server_pid)}
        rows = conn.execute(  # type: ignore[attr-defined]  # a psycopg connection
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'", [self.db]).fetchall()
        pids.update({int(r[0]): "PostgreSQL" for r in rows})
        for pid, kind in pids.items():
            ticks = _cpu_ticks(pid)
            if ticks is not None:
                self.kind[pid] = kind
                self.start.setdefault(pid, ticks if self._thread is None else 0)
                self.last[pid] = ticks

    def __enter__(self) -> CpuMeter:
        import psycopg

        if not os.path.isdir("/proc/self"):
            return self
        conn = psycopg.connect(f"{_pg_url()}/{self.db}", autocommit=True)
        self._poll(conn)  # the baseline: what every live process had spent before

        def loop() -> None:
            with conn:
                while not self._stop.wait(0.5):
                    self._poll(conn)
                self._poll(conn)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def seconds(self) -> dict[str, float]:
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        out: dict[str, float] = {"gunicorn": 0.0, "PostgreSQL": 0.0}
        for pid, last in self.last.items():
            out[self.kind[pid]] += (last - self.start.get(pid, 0)) / tick
        return out


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    args = parse_args()
    ensure_database(args.db, args.clone_from)
    data_dir = tempfile.mkdtemp(prefix="guanxi-web-bench-")
    env = {**os.environ, "GUANXI_DATABASE_URL": f"{_pg_url()}/{args.db}",
           "GUANXI_DATA_DIR": data_dir, "GUANXI_SECRET_KEY": "web-bench-" + "x" * 40,
           "DJANGO_SETTINGS_MODULE": "guanxi.config.settings", "GUANXI_DEBUG": "0"}
    os.environ.update(env)
    sizes, samples, manager = prepare(args.users)
    print("data: " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()))
    port = free_port()
    server = start_server(port, args.workers, env)
    try:
        base = f"http://127.0.0.1:{port}"
        visitors = []
        for name, ids in samples.items():
            v = Visitor(base, name)
            v.sign_in()
            visitors.append((v, ids or [1]))
        print(f"{len(visitors)} users signed in; gunicorn {args.workers} workers on {base}; "
              f"{os.cpu_count()} CPUs", flush=True)
        if args.warmup > 0:
            run_load(visitors, args.warmup, args.seed + 1000, args.think)
        started = time.monotonic()
        load_before = os.getloadavg()[0]
        with CpuMeter(server.pid, args.db) as meter:
            results = run_load(visitors, args.duration, args.seed, args.think)
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    total = sum(len(r) for r in results.values())
    print(f"\n{args.users} users for {elapsed:.0f} s (after {args.warmup:.0f} s warm-up): "
          f"{total:,} requests, {total / elapsed:.1f}/s, think time {args.think:g} s")
    print(f"{'page':<10} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'errors':>7} {'target p95':>11}")
    for page in PAGES:
        rows = results.get(page, [])
        ms = [m for m, _ok in rows]
        errors = sum(1 for _m, ok in rows if not ok)
        p95 = pct(ms, 95)
        verdict = "ok" if p95 < TARGETS_MS[page] and errors == 0 else "MISSED"
        print(f"{page:<10} {len(rows):>7,} {pct(ms, 50):>8.1f} {p95:>8.1f} {pct(ms, 99):>8.1f} "
              f"{max(ms, default=float('nan')):>8.1f} {errors:>7} "
              f"{TARGETS_MS[page]:>7.0f} {verdict}")
    cpu = meter.seconds()
    if total and any(cpu.values()):
        print("server CPU per request (all pages): "
              + ", ".join(f"{k} {v * 1000 / total:.1f} ms" for k, v in cpu.items())
              + f"; load average {load_before:.1f} before, {load_after:.1f} after, "
              f"{os.cpu_count()} CPUs")
    print(f"(manager {manager} not loaded; the {args.users} users are reps, each owning about "
          f"{sizes['customers per rep']:,} customers)")


if __name__ == "__main__":
    main()
