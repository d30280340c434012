"""How long ``guanxi daily`` takes on a large database: first run, same day again, next day.

    python benchmarks/daily_bench.py --customers 1000000 --db postgres
    python benchmarks/daily_bench.py --customers 100000 --db postgres

Fills a fresh database (``guanxi_bench_alerts`` on PostgreSQL at ``--pg-url``) with N customers
and about 10·N orders with ``score_bench``'s loader (BG/NBD purchases, fixed seed), then times:

1. the first daily run the morning after the as-of date, step by step (a full scoring, churn
   alerts, replenishments, care tasks);
2. the same run again the same day (idempotent: scoring is skipped, nothing is created);
3. the next day's run with no new orders ("nothing but the date changed"; scoring included).

Targets (issue #6): 1M customers / 10M orders under 2 minutes, and under 30 s the next day.
The fresh bench data have no order lines, so the replenishment step measures its read only.
``--reuse URL`` runs on a database filled before — e.g. ``segments_bench.py``'s, with profiles,
order lines and saved segments, whose snapshot the scoring then writes — and takes the day
after its latest run as the first run's date.
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

AS_OF = score_bench.AS_OF


def _timed(label: str, fn: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    result = fn(**kwargs)
    print(f"  {label:<16} {time.perf_counter() - started:7.1f} s  {_short(result)}", flush=True)
    return result


def _short(result: Any) -> str:
    if isinstance(result, dict):
        return str({k: v for k, v in result.items() if not isinstance(v, dict)} or
                   {k: v for k, v in list(result.items())[:4]})
    return str(getattr(result, "pk", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="guanxi_bench_alerts")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", metavar="DATABASE_URL",
                        help="use an already filled database (alerts and runs are kept); the "
                             "first run is then a full scoring of the day after its latest run")
    args = parser.parse_args()

    os.environ["GUANXI_DATABASE_URL"] = args.reuse or score_bench._prepare_database(
        args.db, args.pg_url, args.pg_db)
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-bench-data-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if args.reuse:
        from guanxi.customers.models import Customer
        from guanxi.sales.models import Order

        args.customers, n_orders = Customer.objects.count(), Order.objects.count()
    else:
        n_orders = score_bench._fill(args.customers, args.seed)

    import time_machine

    from guanxi.retention import services
    from guanxi.value.selectors import latest_run_as_of
    from guanxi.value.services import score_all

    as_of = AS_OF
    latest = latest_run_as_of() if args.reuse else None
    if latest is not None and latest >= as_of:
        as_of = latest + dt.timedelta(days=1)  # a new day of a database that ran before
    load = os.getloadavg()
    print(f"{args.db}: {args.customers:,} customers / {n_orders:,} orders; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    morning = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(1, 0), tzinfo=dt.UTC)
    with time_machine.travel(morning, tick=True):
        print(f"first run as of {as_of} (full scoring), step by step:")
        started = time.perf_counter()
        run = _timed("score", score_all, as_of=as_of, full=True)
        print(f"    {run.path} run; seconds per phase:",
              {k: round(v, 1) for k, v in run.timings.items()}, flush=True)
        _timed("churn alerts", services.alerts_refresh, as_of=as_of)
        _timed("replenishments", services.replenishments_refresh, as_of=as_of)
        try:
            from guanxi.care.services import care_tasks_create
        except ImportError:
            pass
        else:
            _timed("care tasks", care_tasks_create, as_of=as_of)
        print(f"first run total {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        report = services.daily_run(as_of=as_of)
        created = sum(c.get("created", 0) for k, c in report.items() if k != "milliseconds")
        print(f"same day again: {time.perf_counter() - started:.1f} s  created {created}  "
              f"{report['milliseconds']} ms", flush=True)
    with time_machine.travel(morning + dt.timedelta(days=1), tick=True):
        started = time.perf_counter()
        report = services.daily_run(as_of=as_of + dt.timedelta(days=1))
        print(f"next day, nothing changed: {time.perf_counter() - started:.1f} s  "
              f"{ {k: v.get('created') for k, v in report.items() if k != 'milliseconds'} }",
              flush=True)
        print("  seconds per step:",
              {k: round(v / 1000, 1) for k, v in report["milliseconds"].items()}, flush=True)
        from guanxi.value.selectors import latest_run

        run = latest_run()
        if run is not None:
            print(f"  scoring ({run.path}) seconds per phase:",
                  {k: round(v, 1) for k, v in run.timings.items()}, flush=True)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
