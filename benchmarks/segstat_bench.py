"""Statistical segmentation at scale: time and peak memory for N simulated customers.

Prints figures, not pass/fail (issue #4's target: 1,000,000 customers in under 60 s and 2 GB).

    .venv/bin/python benchmarks/segstat_bench.py                         # 1,000,000 customers
    .venv/bin/python benchmarks/segstat_bench.py --customers 100000
    .venv/bin/python benchmarks/segstat_bench.py --customers 100000 --criterion silhouette

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
import resource  # noqa: E402
import time  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--k", default="6-10", help="range of segment counts, e.g. 6-10")
    parser.add_argument("--criterion", choices=["bic", "silhouette"], default="bic")
    parser.add_argument("--sample", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    low, _, high = args.k.partition("-")
    k_range = (int(low), int(high or low))
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    data = simulate(args.customers, rng)
    t_sim = time.perf_counter() - t0
    rss_data = peak_rss_mb()

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
