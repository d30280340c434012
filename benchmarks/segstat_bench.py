"""Statistical segmentation at scale: time and peak memory for N simulated customers.

Prints figures, not pass/fail (issue #4's target: 1,000,000 customers in under 60 s and 2 GB).

    .venv/bin/python benchmarks/segstat_bench.py                         # 1,000,000 customers
    .venv/bin/python benchmarks/segstat_bench.py --customers 100000
    .venv/bin/python benchmarks/segstat_bench.py --customers 100000 --criterion silhouette
    .venv/bin/python benchmarks/segstat_bench.py --customers 100000 --db postgres

With ``--db postgres`` (or ``sqlite``) the same customers are written into a fresh database
(``guanxi_bench_segstat`` on PostgreSQL at ``--pg-url``, dropped at the end unless ``--keep``)
as customers and one complete score run, and the service ``segmentation_build`` is timed end to
end: reading the scores and profiles, fitting, and writing the segments and every membership.

The customers are drawn from eight latent kinds (VIP regulars to lapsed one-off buyers) with
log-normal spread, whole purchase counts (one-time buyers share one value, as in a real shop),
an interval CV only for customers with three or more purchases, and two profile traits (city
tier, acquisition source) whose mix depends on the kind. The mixture is fitted on a sample of
``--sample`` customers for every k in ``--k``; everyone is then assigned in chunks and the
segments are described. Peak memory is the process's maximum resident set size (it includes
Python, numpy and scikit-learn themselves, ~150 MB).
"""

from __future__ import annotations

import os

# One BLAS thread unless the caller chose otherwise, set before numpy loads (shared machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from guanxi.analytics.segmentation import SegmentationData, ValueSegmentation  # noqa: E402

#        clv    p_alive freq recency monetary tenure share  P(tier 1)  P(referral)
KINDS = [
    (12000.0, 0.95, 30.0, 10.0, 450.0, 700.0, 0.03, 0.70, 0.50),
    (4000.0, 0.90, 14.0, 20.0, 280.0, 650.0, 0.07, 0.45, 0.35),
    (1500.0, 0.85, 7.0, 35.0, 200.0, 600.0, 0.15, 0.30, 0.20),
    (700.0, 0.60, 4.0, 120.0, 160.0, 550.0, 0.15, 0.25, 0.15),
    (300.0, 0.90, 1.0, 15.0, 140.0, 20.0, 0.15, 0.20, 0.15),
    (150.0, 0.40, 2.0, 300.0, 90.0, 500.0, 0.15, 0.15, 0.10),
    (40.0, 0.10, 1.0, 500.0, 70.0, 500.0, 0.20, 0.12, 0.05),
    (900.0, 0.20, 6.0, 400.0, 220.0, 700.0, 0.10, 0.25, 0.15),
]


def simulate(n: int, rng: np.random.Generator) -> SegmentationData:
    params = np.array(KINDS)
    kind = rng.choice(len(KINDS), size=n, p=params[:, 6] / params[:, 6].sum())
    c = params[kind]

    def spread(col: int, sd: float = 0.35) -> np.ndarray:
        return c[:, col] * np.exp(rng.normal(0, sd, n))

    frequency = np.maximum(1.0, np.round(spread(2)))
    interval_cv = np.where(frequency >= 3, 0.9 / np.sqrt(frequency) * np.exp(
        rng.normal(0, 0.3, n)), np.nan)
    tier = np.where(rng.random(n) < c[:, 7], "1", rng.choice(["2", "3", "4"], size=n))
    source = np.where(rng.random(n) < c[:, 8], "referral",
                      rng.choice(["store", "online_ads", "wechat", ""], size=n))
    return SegmentationData(
        clv=spread(0, 0.5), p_alive=np.clip(c[:, 1] + rng.normal(0, 0.08, n), 0, 1),
        frequency=frequency, recency_days=spread(3, 0.5), monetary=spread(4),
        tenure_days=spread(5, 0.3), interval_cv=interval_cv,
        traits={"city_tier": tier, "source": source},
        rfm=rng.integers(1, 6, size=(n, 3)),
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


CITIES = {"1": ["上海", "北京"], "2": ["成都", "杭州"], "3": ["佛山", "昆明"],
          "4": ["洛阳", "大理"]}


def _database(kind: str, pg_url: str, name: str) -> str:
    if kind == "postgres":
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{pg_url.rsplit('/', 1)[0]}/{name}"
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='guanxi-segstat-')) / 'bench.sqlite3'}"


def _fill(data: SegmentationData) -> int:
    """Customers and one complete score run holding ``data``; returns the run id."""
    from django.db import connection, transaction

    from guanxi.customers.models import Customer
    from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

    n = len(data)
    tier = np.asarray(data.traits["city_tier"])
    city = np.where(np.arange(n) % 2 == 0, [CITIES[t][0] for t in tier],
                    [CITIES[t][1] for t in tier])
    source = np.asarray(data.traits["source"])
    template = Customer(name="x")
    now = dt.datetime.now(dt.UTC)
    template.created_at = template.updated_at = now
    fields = [f for f in Customer._meta.concrete_fields if f.column != "id"]
    fixed = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
    cols = [f.column for f in fields]
    at = {c: cols.index(c) for c in ("name", "city", "source")}
    as_of = dt.date(2026, 6, 30)
    run = ScoreRun.objects.create(as_of=as_of, status=RunStatus.COMPLETE, created_at=now,
                                  finished_at=now, n_customers=n, n_buyers=n)
    with transaction.atomic(), connection.cursor() as cursor:
        rows = []
        for i in range(n):
            row = list(fixed)
            row[at["name"]], row[at["city"]], row[at["source"]] = f"C{i}", city[i], source[i]
            rows.append(row)
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY customers_customer ({', '.join(cols)}) FROM STDIN"
                                    ) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(cols))
            cursor.executemany(f"INSERT INTO customers_customer ({', '.join(cols)}) "
                               f"VALUES ({marks})", rows)
        cursor.execute("SELECT min(id) FROM customers_customer")
        first = int(cursor.fetchone()[0])
        end = dt.datetime(2026, 7, 1, tzinfo=dt.UTC).timestamp()
        rfm = np.asarray(data.rfm)
        mean_gap = np.asarray(data.tenure_days) / np.maximum(np.asarray(data.frequency), 1)
        sd_gap = np.asarray(data.interval_cv) * mean_gap
        score_cols = ["run_id", "customer_id", "lifecycle_stage", "value_tier", "rfm_segment",
                      "clv", "p_alive", "frequency", "recency_days", "monetary",
                      "first_purchase_at", "interval_mean_days", "interval_sd_days", "rfm_r",
                      "rfm_f", "rfm_m"]
        scores = []
        for i in range(n):
            first_at = dt.datetime.fromtimestamp(end - float(data.tenure_days[i]) * 86400,  # type: ignore[index]
                                                 dt.UTC)
            sd = float(sd_gap[i])
            scores.append((run.pk, first + i, "active", "", "", round(float(data.clv[i]), 2),  # type: ignore[index]
                           float(data.p_alive[i]), int(data.frequency[i]),  # type: ignore[index]
                           int(data.recency_days[i]), float(data.monetary[i]),  # type: ignore[index]
                           first_at, float(mean_gap[i]), None if np.isnan(sd) else sd,
                           int(rfm[i, 0]), int(rfm[i, 1]), int(rfm[i, 2])))
        table = CustomerScore._meta.db_table
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(score_cols)}) FROM STDIN") as copy:
                for score in scores:
                    copy.write_row(score)
            cursor.execute("ANALYZE")
        else:
            marks = ", ".join(["%s"] * len(score_cols))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(score_cols)}) "
                               f"VALUES ({marks})", scores)
    return int(run.pk)


def _service(args: argparse.Namespace, data: SegmentationData, k_range: tuple[int, int]) -> None:
    url = _database(args.db, args.pg_url, args.pg_db)
    os.environ["GUANXI_DATABASE_URL"] = url
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-segstat-data-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.config.settings"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    t0 = time.perf_counter()
    _fill(data)
    print(f"filled {len(data):,} customers and their scores in {time.perf_counter() - t0:.1f} s",
          flush=True)
    from guanxi.segments.statistical import segmentation_build

    t0 = time.perf_counter()
    seg = segmentation_build(k_range=k_range, criterion=args.criterion, seed=args.seed)
    total = time.perf_counter() - t0
    load = os.getloadavg()
    print(f"segmentation_build on {args.db}, {len(data):,} customers: {total:.1f} s "
          f"({', '.join(f'{k} {v}' for k, v in seg.timings.items())}); "
          f"{seg.n_segments} segments; peak RSS {peak_rss_mb():.0f} MB; "
          f"load average {load[0]:.2f}", flush=True)
    if args.db == "postgres" and not args.keep:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--k", default="6-10", help="range of segment counts, e.g. 6-10")
    parser.add_argument("--criterion", choices=["bic", "silhouette"], default="bic")
    parser.add_argument("--sample", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", choices=["postgres", "sqlite"],
                        help="time the service segmentation_build on a fresh database instead")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="guanxi_bench_segstat")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    low, _, high = args.k.partition("-")
    k_range = (int(low), int(high or low))
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    data = simulate(args.customers, rng)
    t_sim = time.perf_counter() - t0
    rss_data = peak_rss_mb()
    if args.db:
        _service(args, data, k_range)
        return

    seg = ValueSegmentation(k_range=k_range, criterion=args.criterion, sample_size=args.sample,
                            random_state=rng)
    t0, cpu0 = time.perf_counter(), time.process_time()
    seg.fit(data)
    t_fit, cpu_fit = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    described = seg.describe(data, trait_phrases={("city_tier", "1"): "first-tier cities",
                                                  ("source", "referral"): "referred"})
    t_describe = time.perf_counter() - t0

    load = os.getloadavg()
    print(f"statistical segmentation of {args.customers:,} customers "
          f"(k {k_range[0]}-{k_range[1]}, {args.criterion}, sample {args.sample:,}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(f"  simulate            {t_sim:8.2f} s")
    print(f"  fit + assign all    {t_fit:8.2f} s   (cpu {cpu_fit:.2f} s)")
    print(f"  describe            {t_describe:8.2f} s")
    print(f"  total (fit+describe){t_fit + t_describe:8.2f} s   target < 60 s at 1,000,000")
    print(f"  peak RSS            {peak_rss_mb():8.0f} MB  (after simulating: {rss_data:.0f} MB;"
          f" target < 2048 MB)")
    print(f"  segments chosen     {seg.n_segments_}  criterion "
          + ", ".join(f"{k}: {v:,.3f}" for k, v in seg.criterion_values_.items()))
    for d in described:
        print(f"   {d.index}  {d.share:6.1%} of customers  {d.equity_share:6.1%} of equity  "
              f"mean CLV {d.mean_clv:9,.0f}  {d.suggested_name}")


if __name__ == "__main__":
    main()
