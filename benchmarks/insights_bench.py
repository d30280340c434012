"""How long learning the best-customer traits and ranking look-alike prospects take.

    python benchmarks/insights_bench.py --customers 1000000                # the issue's figure
    python benchmarks/insights_bench.py --customers 100000
    python benchmarks/insights_bench.py --customers 100000 --service       # also through Django

Pure analytics (always): simulates ``--customers`` scored buyers with eight acquisition traits
(seven categorical, one numeric) where a few planted traits raise the chance of becoming VIP,
trains ``guanxi.analytics.traits.TraitsModel`` (target, issue #4: under 60 s at 1M) and scores
as many prospects with their three driving traits (target: under 10 s at 1M). It also prints
the held-out AUC and whether the planted traits were found first.

``--service`` then fills a fresh PostgreSQL database (``guanxi_bench_insights``, dropped at the
end unless ``--keep``) with the same number of scored buyers and of prospects (half of them
with a marketing consent), and times ``guanxi.insights.reports.prospects_rank`` end to end: the
profile reads, the consent check, training and scoring.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # after the thread setting, on purpose

TRAITS = {
    "source": ["referral", "store", "online_ads", "wechat", "event", "partner"],
    "industry": ["", "retail", "finance", "education", "manufacturing", "it", "health"],
    "company_size": ["", "1-10", "11-50", "51-200", "201-1000", "1000+"],
    "city_tier": ["tier1", "new_tier1", "tier2", "other"],
    "income_band": ["", "affluent", "comfortable", "basic"],
    "kind": ["person", "organization"],
    "first_category": ["tea", "teaware", "gift", "snack", "books"],
}


def simulate(n: int, rng: np.random.Generator) -> tuple[dict[str, Any], np.ndarray]:
    traits: dict[str, Any] = {k: rng.choice(v, n) for k, v in TRAITS.items()}
    traits["first_order_size"] = rng.lognormal(5, 1, n)
    logit = (-2.6 + 1.2 * (traits["source"] == "referral")
             + 0.8 * (traits["city_tier"] == "tier1")
             + 0.6 * (traits["income_band"] == "affluent"))
    top = rng.random(n) < 1 / (1 + np.exp(-logit))
    return traits, top


def pure(n: int) -> None:
    from guanxi.analytics.traits import TraitsModel

    rng = np.random.default_rng(42)
    traits, top = simulate(n, rng)
    model = TraitsModel(categorical=list(TRAITS), numeric=["first_order_size"])
    t0 = time.perf_counter()
    model.fit(traits, top, rng=np.random.default_rng(1))
    fit_s = time.perf_counter() - t0
    found = [(t.feature, t.level) for t in model.distinguishing()[:3]]
    planted = {("source", "referral"), ("city_tier", "tier1"), ("income_band", "affluent")}
    prospects, _ = simulate(n, np.random.default_rng(7))
    prospects["first_order_size"] = np.full(n, np.nan)
    t0 = time.perf_counter()
    scores = model.score(prospects)
    order = np.argsort(-scores.probability, kind="stable")
    score_s = time.perf_counter() - t0
    print(f"analytics: {n:,} buyers, {int(top.sum()):,} VIP ({top.mean():.1%})")
    print(f"  train traits model          {fit_s:8.2f} s   (target < 60 s at 1M)"
          f"   held-out AUC {model.holdout_auc_:.3f}, top-decile lift "
          f"{model.top_decile_lift_:.2f}×")
    print(f"  planted traits found first  {set(found) == planted}  {found}")
    print(f"  score + rank {n:,} prospects {score_s:6.2f} s   (target < 10 s at 1M)"
          f"   best: {order[0]}")


def service(n: int, url: str, keep: bool) -> None:
    import tempfile

    import psycopg

    base = url.rsplit("/", 1)[0]
    name = "guanxi_bench_insights"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["GUANXI_DATABASE_URL"] = f"{base}/{name}"
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    try:
        _service_run(n)
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")


def _service_run(n: int) -> None:
    from django.db import connection

    from guanxi.accounts.models import Role, User
    from guanxi.core import clock
    from guanxi.insights.reports import lookalike_model, prospects_rank, traits_report
    from guanxi.value.models import RunStatus, ScoreRun

    rng = np.random.default_rng(3)
    cities = np.array(["上海", "北京", "成都", "杭州", "昆明", "拉萨"])
    t0 = time.perf_counter()
    buyers, top = simulate(n, rng)
    prospects, _ = simulate(n, rng)
    city_b = rng.choice(cities, n)
    city_p = rng.choice(cities, n)
    now = clock.now()
    with connection.cursor() as cur:
        # COPY is the only way to write 2M customers in seconds (bulk_create takes minutes).
        cols = ("kind, name, name_pinyin, name_initials, phone, email, gender, city, region, "
                "country, industry, company_size, occupation, income_band, source, attributes, "
                "is_active, created_at, updated_at, last_purchase_at")
        with cur.copy(f"COPY customers_customer ({cols}) FROM STDIN") as copy:
            for who, traits, city in (("b", buyers, city_b), ("p", prospects, city_p)):
                for i in range(n):
                    copy.write_row((traits["kind"][i], f"{who}{i}", "", "", "", "", "", city[i],
                                    "", "CN", traits["industry"][i], traits["company_size"][i],
                                    "", traits["income_band"][i], traits["source"][i], "{}",
                                    True, now, now, now if who == "b" else None))
        run = ScoreRun.objects.create(as_of=clock.today(), status=RunStatus.COMPLETE,
                                      created_at=now, finished_at=now)
        cur.execute("SELECT id FROM customers_customer WHERE last_purchase_at IS NOT NULL "
                    "ORDER BY id")
        buyer_ids = [r[0] for r in cur.fetchall()]
        with cur.copy("COPY value_customerscore (run_id, customer_id, lifecycle_stage, "
                      "value_tier, rfm_segment) FROM STDIN") as copy:
            for cid, is_top in zip(buyer_ids, top, strict=True):
                copy.write_row((run.pk, cid, "active", "vip" if is_top else "ordinary", ""))
        cur.execute("SELECT id FROM customers_customer WHERE last_purchase_at IS NULL "
                    "ORDER BY id")
        prospect_ids = [r[0] for r in cur.fetchall()]
        with cur.copy("COPY customers_consent (customer_id, channel, purpose, granted, "
                      "recorded_at, source, evidence) FROM STDIN") as copy:
            for k, cid in enumerate(prospect_ids):
                if k % 2 == 0:
                    copy.write_row((cid, "sms", "marketing", True, now, "bench", ""))
                elif k % 10 == 1:
                    copy.write_row((cid, "sms", "marketing", False, now, "bench", ""))
        cur.execute("ANALYZE")
    print(f"service: loaded {n:,} scored buyers and {n:,} prospects in "
          f"{time.perf_counter() - t0:.1f} s")
    admin = User(username="bench", role=Role.ADMIN, is_superuser=True)
    t0 = time.perf_counter()
    model = lookalike_model(top_tiers=["vip"])
    learn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ranking = prospects_rank(user=admin, top_tiers=["vip"], model=model)
    rank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    traits_report(user=admin, top_tiers=["vip"])
    traits_s = time.perf_counter() - t0
    print(f"  learn from {n:,} buyers (read + fit)           {learn_s:8.2f} s")
    print(f"  rank {n:,} prospects (read, consent, score)  {rank_s:8.2f} s   "
          f"ranked {len(ranking.ids):,}, excluded {ranking.excluded_counts}")
    print(f"  traits report (with first orders)            {traits_s:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--service", action="store_true",
                        help="Also time the ranking through Django on PostgreSQL.")
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server (a database guanxi_bench_insights is made).")
    parser.add_argument("--keep", action="store_true", help="Keep the bench database.")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    pure(args.customers)
    if args.service:
        service(args.customers, args.url, args.keep)


if __name__ == "__main__":
    sys.exit(main())
