"""Customer-value pipeline at scale: summaries, model fits and scoring for a million customers.

Prints figures, not pass/fail: the median of ``--repeat`` runs per phase, the peak memory of the
process, and, when lifetimes 0.11.3 is installed in a separate virtual environment, the same
fits and scores by lifetimes on the same summaries, with speed ratios and parameter agreement.

    .venv/bin/python benchmarks/value_bench.py                      # 1,000,000 customers
    .venv/bin/python benchmarks/value_bench.py --customers 100000 --repeat 5
    .venv/bin/python benchmarks/value_bench.py --lifetimes-python /path/to/python

The data are simulated from the BG/NBD (``simulate_bgnbd_transactions``) with spend from the
Gamma-Gamma model: customers acquired over 2023, observed to 2024-12-31, about ten
transaction lines each. Dates are whole days, so summaries look like a real shop's.

``run_lifetimes`` is the hook for other benchmarks (Pareto/NBD): it runs named lifetimes
models in the peer environment on summaries passed through an .npz file.
"""

from __future__ import annotations

import os

# One BLAS thread unless the caller chose otherwise, set before numpy loads. The analytics
# core never needs BLAS parallelism (its sums are single-threaded einsum), and on a shared
# two-core machine an idle-spinning OpenBLAS pool only steals CPU from the work; lifetimes
# runs in a subprocess with the same setting, so the comparison stays fair.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from guanxi.analytics import (  # noqa: E402
    BGNBD,
    GammaGamma,
    PartialSummary,
    customer_lifetime_value,
    simulate_bgnbd_transactions,
    summarize_transactions,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LIFETIMES_PYTHON = REPO / ".bench-venv" / "bin" / "python"

TRUE_BGNBD = {"r": 1.2, "alpha": 6.0, "a": 0.6, "b": 8.0}  # weeks; ~10 lines per customer
TRUE_SPEND = {"p": 6.0, "q": 4.0, "gamma": 15.0}
START = np.datetime64("2023-01-01")
CALIBRATION_END = np.datetime64("2024-12-31")
HORIZON_WEEKS = 52.0  # 12-month CLV
PURCHASE_DAYS = 90
ANNUAL_DISCOUNT = 0.10
MARGIN = 0.3

# Runs in the lifetimes environment: argv = npz path, JSON output path, comma-separated models.
LIFETIMES_HELPER = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
data = np.load(sys.argv[1])
models = sys.argv[3].split(",")
x, t_x, T, m = (pd.Series(data[k]) for k in ("x", "t_x", "T", "monetary"))
horizon = float(data["purchase_horizon"])
out = {"versions": {"numpy": np.__version__, "pandas": pd.__version__}}
def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, [time.perf_counter() - wall, time.process_time() - cpu]
if "bgnbd" in models or "gammagamma" in models:
    bgf, out["bgnbd_fit_s"] = timed(lambda: BetaGeoFitter().fit(x, t_x, T))
    out["bgnbd_params"] = {k: float(v) for k, v in bgf.params_.items()}
    def score():
        alive = bgf.conditional_probability_alive(x, t_x, T)
        buys = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T)
        return np.asarray(alive), np.asarray(buys)
    (alive, buys), out["bgnbd_score_s"] = timed(score)
    out["bgnbd_p_alive_head"] = alive[: int(data["n_check"])].tolist()
    out["bgnbd_expected_head"] = buys[: int(data["n_check"])].tolist()
if "gammagamma" in models:
    rep = x > 0
    ggf, out["gammagamma_fit_s"] = timed(lambda: GammaGammaFitter().fit(x[rep], m[rep]))
    out["gammagamma_params"] = {k: float(v) for k, v in ggf.params_.items()}
    monthly = (1.0 + float(data["annual_discount"])) ** (1.0 / 12.0) - 1.0
    clv, out["clv_s"] = timed(lambda: ggf.customer_lifetime_value(
        bgf, x, t_x, T, m, time=12, discount_rate=monthly, freq="W"))
    out["clv_sum"] = float(np.sum(clv))
if "paretonbd" in models:
    pnbd, out["paretonbd_fit_s"] = timed(lambda: ParetoNBDFitter().fit(x, t_x, T))
    out["paretonbd_params"] = {k: float(v) for k, v in pnbd.params_.items()}
    alive, out["paretonbd_score_s"] = timed(
        lambda: np.asarray(pnbd.conditional_probability_alive(x, t_x, T)))
    out["paretonbd_nan_share"] = float(np.mean(~np.isfinite(alive)))
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh)
"""


def simulate_transactions(
    n_customers: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transaction lines (customer id, day, amount) of BG/NBD customers with Gamma-Gamma spend."""
    start_offset = rng.integers(0, 365, n_customers)  # acquired during 2023
    observed_weeks = (CALIBRATION_END - START - start_offset).astype(np.float64) / 7.0
    sim = simulate_bgnbd_transactions(n_customers, TRUE_BGNBD, T=observed_weeks, rng=rng)
    day = START + start_offset[sim.customer] + np.floor(sim.time * 7.0).astype("timedelta64[D]")
    # Spend: each customer's scale nu ~ Gamma(q, gamma); each line ~ Gamma(p, nu).
    nu = rng.gamma(TRUE_SPEND["q"], 1.0 / TRUE_SPEND["gamma"], n_customers)
    amount = np.round(rng.gamma(TRUE_SPEND["p"], 1.0 / nu[sim.customer]), 2)
    # Shuffle the lines: real extracts are not sorted by customer.
    order = rng.permutation(sim.customer.size)
    return sim.customer[order], day[order], amount[order]


class Timing:
    """Median wall-clock and CPU seconds of a phase over several runs.

    CPU time (``time.process_time``) is printed beside wall time because shared machines are
    noisy: when other work competes for the cores, wall time grows and CPU time does not.
    """

    def __init__(self, wall: list[float], cpu: list[float]) -> None:
        self.wall, self.cpu = statistics.median(wall), statistics.median(cpu)

    def __str__(self) -> str:
        return f"{self.wall:7.2f} s ({self.cpu:5.2f} s cpu)"


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[Any, Timing]:
    walls, cpus, value = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return value, Timing(walls, cpus)


def peak_memory_gb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_lifetimes(
    python: Path, arrays: dict[str, np.ndarray], models: tuple[str, ...]
) -> dict[str, Any] | None:
    """Fit and score ``models`` ("bgnbd", "gammagamma", "paretonbd") with lifetimes in ``python``.

    The summaries go through an .npz file, so both libraries see the same numbers; the
    result is the helper's JSON (timings in seconds, parameters, a few scores), or None with
    a message when the environment is missing or the run fails.
    """
    if not python.exists():
        print(f"lifetimes: skipped, no interpreter at {python} (see benchmarks/README.md)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "summaries.npz", Path(tmp) / "lifetimes.json"
        np.savez(data, **arrays)
        run = subprocess.run(
            [str(python), "-c", LIFETIMES_HELPER, str(data), str(result), ",".join(models)],
            capture_output=True, text=True, check=False,
        )
        if run.returncode != 0:
            print(f"lifetimes: failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
            return None
        return dict(json.loads(result.read_text()))


def relative_differences(ours: dict[str, float], theirs: dict[str, float],
                         names: dict[str, str]) -> dict[str, float]:
    return {k: abs(ours[k] - theirs[names.get(k, k)]) / abs(theirs[names.get(k, k)])
            for k in ours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase (median printed)")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--lifetimes-python", type=Path, default=DEFAULT_LIFETIMES_PYTHON,
                        help="python of an environment with lifetimes 0.11.3")
    parser.add_argument("--no-lifetimes", action="store_true", help="skip the peer comparison")
    parser.add_argument("--chunks", type=int, default=10,
                        help="also summarize in this many chunks and merge (1: skip)")
    args = parser.parse_args()
    repeat = max(1, args.repeat)

    rng = np.random.default_rng(args.seed)
    customer, day, amount = simulate_transactions(args.customers, rng)
    print(f"data: {args.customers:,} customers, {customer.size:,} transaction lines "
          f"(simulated BG/NBD {TRUE_BGNBD}, spend {TRUE_SPEND}); median of {repeat} runs; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")

    summary, t_summary = median_time(lambda: summarize_transactions(
        customer, day, amount, calibration_end=CALIBRATION_END, time_unit="week"), repeat)
    x, t_x, T, m = summary.x, summary.t_x, summary.T, summary.monetary
    print(f"summaries          {t_summary}   target < 10 s   "
          f"({len(summary):,} customers, {int(x.sum()):,} repeat purchases)")
    if args.chunks > 1:
        def chunked() -> Any:
            bounds = np.linspace(0, customer.size, args.chunks + 1).astype(int)
            parts = [PartialSummary.from_transactions(customer[i:j], day[i:j], amount[i:j])
                     for i, j in itertools.pairwise(bounds)]
            return PartialSummary.merge(parts).finalize(calibration_end=CALIBRATION_END)
        merged, t_chunked = median_time(chunked, 1)
        same = all(np.array_equal(getattr(merged, k), getattr(summary, k), equal_nan=True)
                   for k in ("customer", "x", "t_x", "T", "monetary", "std_interval_days"))
        print(f"  in {args.chunks} chunks + merge {t_chunked}   (one run; identical to one "
              f"pass: {same})")

    bg, t_bg = median_time(lambda: BGNBD().fit(x, t_x, T), repeat)
    gg, t_gg = median_time(lambda: GammaGamma().fit(x, m), repeat)
    print(f"BG/NBD fit         {t_bg}   ({bg.n_iter_} iterations, converged "
          f"{bg.converged_}) {_fmt(bg.params_)}")
    print(f"Gamma-Gamma fit    {t_gg}   {_fmt(gg.params_)}")
    print(f"BG/NBD + GG fit    {t_bg.wall + t_gg.wall:7.2f} s ({t_bg.cpu + t_gg.cpu:5.2f} s cpu)"
          f"   target < 1 s")

    try:
        from guanxi.analytics import ParetoNBD
    except ImportError as exc:
        print(f"Pareto/NBD fit     skipped: {exc}")
    else:
        pnbd, t_pnbd = median_time(lambda: ParetoNBD().fit(x, t_x, T), repeat)
        print(f"Pareto/NBD fit     {t_pnbd}   target < 10 s   {_fmt(pnbd.params_)}")

    def score() -> dict[str, np.ndarray]:
        alive = bg.p_alive(x, t_x, T)
        buys = bg.expected_purchases(PURCHASE_DAYS / 7.0, x, t_x, T)
        clv = customer_lifetime_value(bg, gg, x, t_x, T, m, horizon=HORIZON_WEEKS,
                                      margin=MARGIN, annual_discount_rate=ANNUAL_DISCOUNT)
        wait = bg.expected_time_to_next_purchase(x, t_x, T)
        known = np.isfinite(wait)
        next_day = np.full(x.size, np.datetime64("NaT"), dtype="datetime64[D]")
        next_day[known] = CALIBRATION_END + np.ceil(wait[known] * 7.0).astype("timedelta64[D]")
        return {"p_alive": alive, "expected": buys, "clv": clv, "next": next_day}

    scores, t_score = median_time(score, repeat)
    print(f"scoring everyone   {t_score}   target < 3 s   (P(alive), E[purchases in "
          f"{PURCHASE_DAYS} days], 12-month CLV, next purchase date)")
    print(f"peak memory        {peak_memory_gb():7.2f} GB  target < 3 GB")
    print(f"  mean P(alive) {scores['p_alive'].mean():.4f}, total 12-month CLV "
          f"{scores['clv'].sum() / MARGIN:,.0f} (revenue), next date known for "
          f"{np.mean(~np.isnat(scores['next'])):.1%}")

    if args.no_lifetimes:
        return
    n_check = 1000
    peer = run_lifetimes(args.lifetimes_python, {
        "x": x.astype(np.float64), "t_x": t_x, "T": T, "monetary": m,
        "purchase_horizon": np.float64(PURCHASE_DAYS / 7.0),
        "annual_discount": np.float64(ANNUAL_DISCOUNT), "n_check": np.int64(n_check),
    }, ("bgnbd", "gammagamma"))
    if peer is None:
        return
    print(f"lifetimes 0.11.3 (one run; {peer['versions']}); ratios on wall (cpu) time:")
    peer_score = [a + b for a, b in zip(peer["bgnbd_score_s"], peer["clv_s"], strict=True)]
    for label, theirs, ours, note in [
        ("BG/NBD fit      ", peer["bgnbd_fit_s"], t_bg, "   target >= 20x"),
        ("Gamma-Gamma fit ", peer["gammagamma_fit_s"], t_gg, ""),
        ("P(alive)+E[X]+CLV", peer_score, t_score, "   ours also dates the next purchase"),
    ]:
        print(f"  {label} {theirs[0]:7.2f} s ({theirs[1]:5.2f} s cpu)   ours {ours}   "
              f"{theirs[0] / ours.wall:5.1f}x ({theirs[1] / ours.cpu:5.1f}x) faster{note}")
    bg_diff = relative_differences(bg.params_, peer["bgnbd_params"], {})
    gg_diff = relative_differences(gg.params_, peer["gammagamma_params"], {"gamma": "v"})
    print(f"  parameter agreement (relative, target <= 1e-3): BG/NBD {_fmt(bg_diff, 'e')}, "
          f"Gamma-Gamma {_fmt(gg_diff, 'e')}")
    head = slice(0, n_check)
    alive_diff = np.max(np.abs(scores["p_alive"][head] - np.array(peer["bgnbd_p_alive_head"])))
    buys_diff = np.max(np.abs(scores["expected"][head] / np.array(peer["bgnbd_expected_head"])
                              - 1.0))
    print(f"  first {n_check} customers: max |P(alive) diff| {alive_diff:.1e}, max relative "
          f"E[X] diff {buys_diff:.1e} (each with its own fitted parameters)")
    print(f"  12-month CLV sum: lifetimes {peer['clv_sum']:,.0f} (end-of-month discounting), "
          f"ours {scores['clv'].sum() / MARGIN:,.0f} (mid-period discounting)")


def _fmt(values: dict[str, float], style: str = "f") -> str:
    spec = ".4f" if style == "f" else ".1e"
    return "{" + ", ".join(f"{k}={v:{spec}}" for k, v in values.items()) + "}"


if __name__ == "__main__":
    main()
