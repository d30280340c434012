"""Pareto/NBD at scale: fit and score time on simulated customers, and lifetimes on the same data.

Run from the repository root::

    .venv/bin/python benchmarks/paretonbd_bench.py                  # 1M customers, peer at 100k
    .venv/bin/python benchmarks/paretonbd_bench.py --setup-peer     # make the peer's venv first
    .venv/bin/python benchmarks/paretonbd_bench.py --continuous --no-peer

The customers are drawn from the Pareto/NBD itself (lambda ~ Gamma(r, alpha), an exponential
lifetime with mu ~ Gamma(s, beta), Poisson purchases while alive) with CDNOW-like parameters,
in a CDNOW-like design: first purchases spread over the first 12 weeks of a 39-week
calibration period. By default purchases are recorded by calendar day, as a transaction log
records them (t_x rounded up to a whole day, T a whole number of days, both then in weeks);
``--continuous`` keeps exact times, which makes every repeat buyer's (x, t_x) distinct.

The peer is lifetimes 0.11.3's ``ParetoNBDFitter`` run, per shared/BENCHMARKS.md, with scipy
1.14 (with scipy >= 1.16 its Pareto/NBD returns NaN for heavy buyers) in its own virtual
environment ``.bench-venv-pnbd``, in a subprocess that reads the same summaries from an .npz.
Its fit takes ~50 s at 100,000 customers and ~10 minutes at 1M, so it runs at
``--peer-customers`` (100,000 by default): both libraries fit and score those same customers
and the ratio is printed. Its reported likelihood is a mean on rescaled time, so we recompute
the log-likelihood at its parameters with our implementation, in weeks. NaNs in its output
are counted as its failures. Figures are medians over ``--repeats`` runs (the machines are
noisy), the peer's a single run.

``--single-thread-blas`` sets OPENBLAS_NUM_THREADS=1 (for both libraries) before numpy loads.
On these 2-core machines, under load, scipy's L-BFGS-B loses ~3 ms per iteration to OpenBLAS
waking its threads for 4-vector operations (a 4-parameter minimize: ~30 ms instead of 0.3 ms),
which is most of a 100,000-customer fit; the flag shows the figure without that overhead.

This script prints figures; it is not a test.
"""

from __future__ import annotations

import os
import sys

if "--single-thread-blas" in sys.argv:  # must happen before numpy is imported
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from guanxi.analytics.paretonbd import ParetoNBD

REPO_ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = REPO_ROOT / ".bench-venv-pnbd"
PEER_PINS = ["lifetimes==0.11.3", "scipy==1.14.*", "numpy<2.3", "pandas<3", "setuptools<82"]
TRUTH = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # CDNOW, weeks
HORIZON = 39.0  # weeks scored ahead: the CDNOW holdout length

Summary = tuple[np.ndarray, np.ndarray, np.ndarray]

PEER_SCRIPT = r'''
import json, sys, time, warnings
import numpy as np
from lifetimes import ParetoNBDFitter
warnings.simplefilter("ignore")
data = np.load(sys.argv[1])
x, t_x, T, horizon = data["x"], data["t_x"], data["T"], float(data["horizon"])
np.random.seed(0)  # lifetimes draws its starting point from the global generator
t0 = time.perf_counter()
model = ParetoNBDFitter().fit(x, t_x, T)
t1 = time.perf_counter()
alive = np.asarray(model.conditional_probability_alive(x, t_x, T), dtype=float)
expected = np.asarray(
    model.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T), dtype=float)
t2 = time.perf_counter()
np.savez(sys.argv[2], alive=alive, expected=expected)
import scipy, lifetimes
print(json.dumps({
    "fit": t1 - t0, "score": t2 - t1,
    "params": {k: float(model.params_[k]) for k in ("r", "alpha", "s", "beta")},
    "versions": {"lifetimes": lifetimes.__version__, "scipy": scipy.__version__,
                 "numpy": np.__version__},
}))
'''


def simulate(n: int, params: dict[str, float], rng: np.random.Generator, *,
             continuous: bool) -> Summary:
    """(x, t_x, T) in weeks of ``n`` Pareto/NBD customers, fully vectorized.

    Given a customer's observed lifetime L = min(death, T), x ~ Poisson(lambda L) and the
    last of x uniform purchase times on (0, L] is ``L U^(1/x)``: the summary is drawn
    without drawing every purchase.
    """
    first_day = rng.integers(0, 84, n)  # first purchases in weeks 1-12
    T_days = 273 - first_day  # to the end of week 39
    T = T_days / 7.0
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    death = rng.gamma(params["s"], 1.0 / params["beta"], n)
    observed = np.minimum(rng.exponential(1.0, n) / death, T)
    x = rng.poisson(rate * observed).astype(np.float64)
    t_x = np.where(x > 0, observed * rng.random(n) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    if not continuous:  # the calendar day of the last purchase, at least the day after the first
        t_x = np.where(x > 0, np.clip(np.ceil(t_x * 7.0), 1.0, T_days) / 7.0, 0.0)
    return x, t_x, T


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ours(data: Summary, repeats: int) -> dict[str, Any]:
    x, t_x, T = data
    fit_s, model = timed(lambda: ParetoNBD().fit(x, t_x, T), repeats)

    def score() -> tuple[np.ndarray, np.ndarray]:
        return model.p_alive(x, t_x, T), model.expected_purchases(HORIZON, x, t_x, T)

    score_s, (alive, expected) = timed(score, repeats)
    return {"fit": fit_s, "score": score_s, "model": model, "alive": alive,
            "expected": expected}


def setup_peer() -> None:
    print(f"creating {PEER_VENV} with {' '.join(PEER_PINS)} ...", flush=True)
    subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
    pip = str(PEER_VENV / "bin" / "pip")
    subprocess.run([pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([pip, "install", "-q", *PEER_PINS], check=True)


def run_peer(data: Summary) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    x, t_x, T = data
    with tempfile.TemporaryDirectory() as tmp:
        src, out, script = (Path(tmp) / name for name in ("in.npz", "out.npz", "peer.py"))
        np.savez(src, x=x, t_x=t_x, T=T, horizon=HORIZON)
        script.write_text(PEER_SCRIPT)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run([str(PEER_VENV / "bin" / "python"), str(script), str(src), str(out)],
                              check=True, capture_output=True, text=True, env=env)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        with np.load(out) as arrays:
            return report, {k: arrays[k] for k in arrays.files}


def log_likelihood(params: dict[str, float], data: Summary) -> float:
    """Total log-likelihood in weeks, by our implementation (checked against mpmath)."""
    return float(ParetoNBD.from_params(params).log_likelihood_individual(*data).sum())


def describe(model: ParetoNBD) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in model.params_.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--peer-customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--continuous", action="store_true",
                        help="exact purchase times instead of calendar days")
    parser.add_argument("--no-peer", action="store_true", help="skip lifetimes")
    parser.add_argument("--single-thread-blas", action="store_true",
                        help="OPENBLAS_NUM_THREADS=1 for both libraries (see the docstring)")
    parser.add_argument("--setup-peer", action="store_true",
                        help=f"create {PEER_VENV.name} (lifetimes with scipy 1.14) first")
    args = parser.parse_args()
    if args.setup_peer:
        setup_peer()

    rng = np.random.default_rng(args.seed)
    resolution = "exact times" if args.continuous else "calendar days"
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"Pareto/NBD benchmark: truth {TRUTH}, {resolution}, medians of {args.repeats} runs, "
          f"OpenBLAS threads: {blas}")
    start = time.perf_counter()
    data = simulate(args.customers, TRUTH, rng, continuous=args.continuous)
    print(f"simulated {args.customers:,} customers in {time.perf_counter() - start:.2f} s: "
          f"{np.mean(data[0] > 0):.1%} repeat buyers, max x {int(data[0].max())}, "
          f"{np.unique(np.stack(data, axis=1), axis=0).shape[0]:,} distinct (x, t_x, T)")

    big = ours(data, args.repeats)
    model = big["model"]
    print(f"guanxi  {args.customers:>9,}: fit {big['fit']:6.2f} s  score {big['score']:6.2f} s "
          f"(p_alive + expected purchases over {HORIZON:g} weeks)")
    print(f"         estimates {describe(model)}; converged {model.converged_}, "
          f"{model.n_iter_} iterations, LL {model.log_likelihood_:.1f}")
    se = model.standard_errors_
    note = "" if args.continuous else " (day rounding of t_x is a small misspecification)"
    print("         |estimate - truth| / SE: " + ", ".join(
        f"{k} {abs(model.params_[k] - TRUTH[k]) / se[k]:.2f}" for k in TRUTH) + note)
    finite = all(np.all(np.isfinite(big[k])) for k in ("alive", "expected"))
    print(f"         all predictions finite: {finite}")

    if args.no_peer:
        return
    if not (PEER_VENV / "bin" / "python").exists():
        print(f"peer skipped: {PEER_VENV} is missing; run with --setup-peer to create it")
        return
    n_peer = min(args.peer_customers, args.customers)
    peer_data = tuple(col[:n_peer] for col in data)
    small = ours(peer_data, args.repeats)
    print(f"guanxi  {n_peer:>9,}: fit {small['fit']:6.2f} s  score {small['score']:6.2f} s")
    report, peer_out = run_peer(peer_data)
    v = report["versions"]
    print(f"lifetimes {v['lifetimes']} (scipy {v['scipy']}, numpy {v['numpy']}) {n_peer:,}: "
          f"fit {report['fit']:6.2f} s  score {report['score']:6.2f} s")
    ratio_fit = report["fit"] / small["fit"]
    ratio_all = (report["fit"] + report["score"]) / (small["fit"] + small["score"])
    print(f"ratio lifetimes / guanxi: fit {ratio_fit:.0f}x, fit + score {ratio_all:.0f}x "
          f"(target >= 50x)")

    mine = small["model"].params_
    theirs = report["params"]
    rel = {k: abs(theirs[k] - mine[k]) / mine[k] for k in mine}
    print("parameters  guanxi: " + ", ".join(f"{k}={mine[k]:.5f}" for k in mine))
    print("         lifetimes: " + ", ".join(f"{k}={theirs[k]:.5f}" for k in mine))
    print("   relative differences: " + ", ".join(f"{k} {rel[k]:.1e}" for k in rel)
          + f"; max {max(rel.values()):.1e} (target <= 1e-3)")
    ll_mine, ll_theirs = log_likelihood(mine, peer_data), log_likelihood(theirs, peer_data)
    print(f"log-likelihood in weeks at each estimate: guanxi {ll_mine:.3f}, "
          f"lifetimes {ll_theirs:.3f} (difference {ll_mine - ll_theirs:.3f})")
    nan_alive = int(np.count_nonzero(~np.isfinite(peer_out["alive"])))
    nan_expected = int(np.count_nonzero(~np.isfinite(peer_out["expected"])))
    print(f"lifetimes non-finite predictions (its failures): P(alive) {nan_alive}, "
          f"expected purchases {nan_expected}")
    ok = np.isfinite(peer_out["alive"]) & np.isfinite(peer_out["expected"])
    print(f"max |difference| where lifetimes is finite: P(alive) "
          f"{np.max(np.abs(peer_out['alive'][ok] - small['alive'][ok])):.1e}, expected "
          f"purchases {np.max(np.abs(peer_out['expected'][ok] - small['expected'][ok])):.1e}")
    # The same predictions at lifetimes' own parameters isolate the arithmetic from the fit.
    at_theirs = ParetoNBD.from_params(theirs)
    x, t_x, T = peer_data
    alive_gap = np.abs(peer_out["alive"] - at_theirs.p_alive(x, t_x, T))[ok]
    expected_at_theirs = at_theirs.expected_purchases(HORIZON, x, t_x, T)
    expected_gap = np.abs(peer_out["expected"] - expected_at_theirs)[ok]
    print(f"  ... at lifetimes' parameters: P(alive) {np.max(alive_gap):.1e}, "
          f"expected purchases {np.max(expected_gap):.1e}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
