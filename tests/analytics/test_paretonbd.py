"""The Pareto/NBD model: published CDNOW numbers, mpmath parity, invariants, recovery.

Stories:

* Given the 1/10th CDNOW sample in the papers' set-up, when we fit, then we get the estimates
  and log-likelihood that Fader, Hardie & Lee (2005) report for the Pareto/NBD.
* Given extreme but valid customers (x up to 10,000, T up to 20 years in days, t_x at 0 or at
  T, alpha below, above and equal to beta), the log-likelihood agrees with a 50-digit mpmath
  evaluation of the textbook formula, where other implementations return NaN.
* Whatever the parameters and customers, probabilities stay in [0, 1], expectations are
  finite, non-negative and grow with the horizon, and a scalar call equals an array call.
* Given customers simulated from known parameters, the fit recovers them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.analytics.errors import NotFittedError, NotIdentifiableError
from guanxi.analytics.paretonbd import ParetoNBD, _Data

REPO_ROOT = Path(__file__).resolve().parents[2]
CDNOW_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"
CDNOW_PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}

Summary = tuple[np.ndarray, np.ndarray, np.ndarray]


# --- the CDNOW sample, summarized here with numpy alone ------------------------------------


def cdnow_summary(path: Path, calibration_end: str = "1997-09-30") -> Summary:
    """(x, t_x, T) in weeks: same-day lines are one purchase, the first is not a repeat, and
    T runs from the first purchase day to the calibration end day (272/7 for 1 January)."""
    table = np.loadtxt(path, usecols=(1, 2), dtype=np.int64)
    ymd = table[:, 1]
    months = ((ymd // 10000 - 1970) * 12 + ymd // 100 % 100 - 1).astype("datetime64[M]")
    day = months.astype("datetime64[D]") + (ymd % 100 - 1).astype("timedelta64[D]")
    end = np.datetime64(calibration_end)
    days = (day - end).astype(np.int64)  # <= 0 inside the calibration period
    purchases = np.unique(np.stack([table[:, 0], days], axis=1), axis=0)  # one per day
    ids, first_row, n_days = np.unique(purchases[:, 0], return_index=True, return_counts=True)
    first = purchases[first_row, 1]
    customer = np.repeat(np.arange(ids.size), n_days)
    in_calibration = purchases[:, 1] <= 0
    x = np.bincount(customer[in_calibration], minlength=ids.size) - 1
    last = first.copy()
    np.maximum.at(last, customer[in_calibration], purchases[in_calibration, 1])
    return x.astype(np.float64), (last - first) / 7.0, -first / 7.0


@pytest.fixture(scope="module")
def cdnow() -> Summary:
    if not CDNOW_SAMPLE.exists():
        reason = f"CDNOW sample {CDNOW_SAMPLE} is missing (../shared/data/cdnow beside the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return cdnow_summary(CDNOW_SAMPLE)


@pytest.fixture(scope="module")
def cdnow_model(cdnow: Summary) -> ParetoNBD:
    return ParetoNBD().fit(*cdnow)


def test_cdnow_summary_matches_the_papers_counts(cdnow: Summary) -> None:
    x, t_x, T = cdnow
    assert x.size == 2357
    assert np.count_nonzero(x > 0) == 946
    assert x.sum() == 2457
    assert T.max() == 272 / 7
    assert np.all((t_x <= T) & (t_x >= 0))
    assert np.all(t_x[x == 0] == 0)


def test_cdnow_fit_reproduces_the_published_pareto_nbd_estimates(cdnow_model: ParetoNBD) -> None:
    # Given the CDNOW calibration sample, when we fit, then r, alpha, s, beta and the
    # log-likelihood agree with Fader, Hardie & Lee (2005) to the digits they publish.
    assert {k: round(v, 3) for k, v in cdnow_model.params_.items()} == CDNOW_PUBLISHED
    assert round(cdnow_model.log_likelihood_, 1) == -9595.0
    assert cdnow_model.converged_
    assert cdnow_model.n_customers_ == 2357
    assert cdnow_model.n_iter_ > 0
    assert all(0 < se < v for se, v in zip(cdnow_model.standard_errors_.values(),
                                           cdnow_model.params_.values(), strict=True))


def test_cdnow_individual_log_likelihoods_sum_to_the_total(
    cdnow: Summary, cdnow_model: ParetoNBD
) -> None:
    total = cdnow_model.log_likelihood_individual(*cdnow).sum()
    assert total == pytest.approx(cdnow_model.log_likelihood_, rel=1e-12)


def test_cdnow_predictions_are_sane(cdnow: Summary, cdnow_model: ParetoNBD) -> None:
    x, t_x, T = cdnow
    alive = cdnow_model.p_alive(x, t_x, T)
    # A customer who bought on the last day is more likely alive than one silent since.
    assert cdnow_model.p_alive(5, 38, 38) > cdnow_model.p_alive(5, 10, 38)
    # The population's expected repeat purchases in the 39-week holdout, a few thousand
    # (2,457 repeat purchases were made in the 39-week calibration period).
    holdout = cdnow_model.expected_purchases(39.0, x, t_x, T).sum()
    assert 1000 < holdout < 3000
    assert np.all((alive > 0) & (alive <= 1))


def test_fit_on_distinct_rows_with_weights_equals_fit_on_customers(cdnow: Summary) -> None:
    x, t_x, T = cdnow
    rows, counts = np.unique(np.stack(cdnow, axis=1), axis=0, return_counts=True)
    weighted = ParetoNBD().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    plain = ParetoNBD().fit(x, t_x, T)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-12)
    for name, value in plain.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)


def test_fit_in_days_is_the_fit_in_weeks_rescaled(cdnow: Summary, cdnow_model: ParetoNBD) -> None:
    # Given the same customers in days, when we fit, then the shapes are unchanged, the
    # scales are 7 times larger, and the log-likelihood differs by the Jacobian of the
    # purchase times, -sum(x) log 7 (the model has a density for each repeat purchase).
    x, t_x, T = cdnow
    days = ParetoNBD().fit(x, 7 * t_x, 7 * T)
    weeks = cdnow_model.params_
    assert days.params_["r"] == pytest.approx(weeks["r"], rel=1e-5)
    assert days.params_["s"] == pytest.approx(weeks["s"], rel=1e-5)
    assert days.params_["alpha"] == pytest.approx(7 * weeks["alpha"], rel=1e-5)
    assert days.params_["beta"] == pytest.approx(7 * weeks["beta"], rel=1e-5)
    expected = cdnow_model.log_likelihood_ - x.sum() * np.log(7.0)
    assert days.log_likelihood_ == pytest.approx(expected, rel=1e-9)


# --- parity with the textbook formula in 50-digit arithmetic -------------------------------


def mp_log_likelihood(r: float, a: float, s: float, b: float,
                      x: float, t_x: float, T: float) -> tuple[float, float]:
    """(log-likelihood, P(alive)) from the FH note's eqs. 22-25 with mpmath's hyp2f1."""
    with mp.workdps(50):
        r_, a_, s_, b_, x_, tx_, T_ = map(mp.mpf, (r, a, s, b, x, t_x, T))
        c = r_ + s_ + x_

        def term(tau: mp.mpf) -> mp.mpf:
            if a_ >= b_:
                return mp.hyp2f1(c, s_ + 1, c + 1, (a_ - b_) / (a_ + tau)) / (a_ + tau) ** c
            return mp.hyp2f1(c, r_ + x_, c + 1, (b_ - a_) / (b_ + tau)) / (b_ + tau) ** c

        alive_term = (a_ + T_) ** -(r_ + x_) * (b_ + T_) ** -s_
        bracket = alive_term + s_ / c * (term(tx_) - term(T_))
        log_l = mp.loggamma(r_ + x_) - mp.loggamma(r_) + r_ * mp.log(a_) + s_ * mp.log(b_)
        return float(log_l + mp.log(bracket)), float(alive_term / bracket)


PARITY_PARAMS = [
    (0.553, 10.578, 0.606, 11.669),  # CDNOW, weeks: alpha < beta, close
    (0.553, 74.05, 0.606, 81.68),  # the same in days
    (0.5, 10.0, 0.6, 10.0),  # alpha = beta
    (0.5, 10.0, 0.6, 10.0 * (1 + 1e-9)),  # alpha ~ beta
    (2.0, 0.01, 0.3, 50.0),  # alpha << beta: z near 1, the quadrature
    (0.2, 80.0, 3.0, 0.05),  # alpha >> beta
    (5.0, 1000.0, 0.1, 0.01),  # alpha >> beta, s small
    (10.0, 1e4, 0.02, 5.0),
]
PARITY_CUSTOMERS = [  # (x, t_x, T), T up to 7300 days
    (0, 0.0, 39.0),
    (0, 0.0, 7300.0),
    (0, 0.0, 1e-6),
    (1, 1e-8, 7300.0),
    (5, 30.0, 39.0),
    (100, 38.9, 39.0),
    (200, 7000.0, 7300.0),
    (1000, 1.0, 1.0001),
    (10000, 7300.0, 7300.0),  # heavy buyer, last purchase today
    (10000, 1e-6, 7300.0),  # heavy buyer, silent for 20 years
    (10000, 3650.0, 7300.0),
    (50, 7299.999, 7300.0),
]


@pytest.mark.parametrize("params", PARITY_PARAMS)
def test_log_likelihood_and_p_alive_match_mpmath_on_extreme_customers(
    params: tuple[float, float, float, float],
) -> None:
    model = ParetoNBD.from_params(dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    x, t_x, T = (np.array(col) for col in zip(*PARITY_CUSTOMERS, strict=True))
    ll = model.log_likelihood_individual(x, t_x, T)
    alive = model.p_alive(x, t_x, T)
    for i, customer in enumerate(PARITY_CUSTOMERS):
        ref_ll, ref_alive = mp_log_likelihood(*params, *customer)
        assert ll[i] == pytest.approx(ref_ll, rel=1e-8, abs=0), customer
        assert alive[i] == pytest.approx(ref_alive, rel=1e-8, abs=1e-300), customer


@pytest.mark.parametrize("params", [PARITY_PARAMS[0], PARITY_PARAMS[4], PARITY_PARAMS[5]])
@pytest.mark.parametrize(("x", "t_x", "T", "t"), [
    (0, 0.0, 39.0, 52.0),
    (3, 20.0, 39.0, 1e-7),  # a window of 1e-7 weeks: the probability must keep its digits
    (40, 38.0, 39.0, 400.0),
])
def test_conditional_predictions_match_mpmath_integrals(
    params: tuple[float, float, float, float], x: int, t_x: float, T: float, t: float
) -> None:
    # E[purchases in (T, T+t]] = P(alive) (r+x)/(alpha+T) int_0^t ((beta+T)/(beta+T+u))^s du
    # and P(purchase in (T, T+t]) = (r+x) int_0^t (alpha+T+u)^-(r+x+1) (beta+T+u)^-s du /
    # bracket, both integrated numerically here against the closed forms of the model.
    r, a, s, b = params
    model = ParetoNBD.from_params(dict(r=r, alpha=a, s=s, beta=b))
    _, alive = mp_log_likelihood(r, a, s, b, x, t_x, T)
    # Geometric breakpoints: the integrands fall steeply at first (like u^-41 for x = 40).
    cuts = [0.0, *np.geomspace(t * 1e-6, t, 25)]
    with mp.workdps(30):
        life = mp.quad(lambda u: ((b + T) / (b + T + u)) ** s, cuts)
        dens = mp.quad(lambda u: (a + T + u) ** -(r + x + 1) * (b + T + u) ** -s, cuts)
        expected = alive * (r + x) / (a + T) * life
        p_buy = alive * (r + x) * dens / ((a + T) ** -(r + x) * (b + T) ** -s)
    assert model.expected_purchases(t, x, t_x, T) == pytest.approx(float(expected), rel=1e-9)
    assert model.p_purchase_within(t, x, t_x, T) == pytest.approx(float(p_buy), rel=1e-9)


def test_the_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 40, 200).astype(float)
    x[:3] = [0, 10000, 3000]
    T = rng.uniform(0.1, 300.0, 200)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 200), 0.0)
    data = _Data(x, t_x, T, np.ones(200))
    for params in [PARITY_PARAMS[0], PARITY_PARAMS[4], PARITY_PARAMS[5], (1.0, 1.0, 1.0, 1.0)]:
        p = np.array(params, dtype=float)
        _, grad = data.log_likelihood(p)
        for j in range(4):
            h = 1e-6 * p[j]
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            numeric = (data.log_likelihood(up)[0] - data.log_likelihood(down)[0]) / (2 * h)
            assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-4 / p[j])


# --- invariants under hypothesis ---------------------------------------------------------

positive = st.floats(min_value=np.log(1e-2), max_value=np.log(1e3)).map(np.exp)
params_st = st.tuples(positive, positive, positive, positive).map(
    lambda p: ParetoNBD.from_params(dict(zip(("r", "alpha", "s", "beta"), p, strict=True)))
)


@st.composite
def customers(draw: st.DrawFn, n: int = 5) -> Summary:
    """x up to 10,000, T from 1e-3 to 7300, t_x anywhere in [0, T] (0 when x = 0)."""
    x = np.array(draw(st.lists(st.sampled_from([0, 1, 2, 10, 500, 10000]) | st.integers(0, 50),
                               min_size=n, max_size=n)), dtype=float)
    T = np.array(draw(st.lists(st.floats(1e-3, 7300.0), min_size=n, max_size=n)))
    share = np.array(draw(st.lists(st.sampled_from([0.0, 1e-9, 1.0]) | st.floats(0.0, 1.0),
                                   min_size=n, max_size=n)))
    return x, np.where(x > 0, share * T, 0.0), T


FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(model=params_st, data=customers(), t=st.floats(0.0, 7300.0))
def test_probabilities_stay_in_unit_interval_and_everything_is_finite(
    model: ParetoNBD, data: Summary, t: float
) -> None:
    x, t_x, T = data
    alive = model.p_alive(x, t_x, T)
    buy = model.p_purchase_within(t, x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all((buy >= 0) & (buy <= alive * (1 + 1e-12)))
    assert np.all(np.isfinite(model.log_likelihood_individual(x, t_x, T)))
    expected = model.expected_purchases(t, x, t_x, T)
    assert np.all(np.isfinite(expected) & (expected >= 0))
    wait = model.expected_time_to_next_purchase(x, t_x, T)
    assert np.all(np.isnan(wait[alive < 0.5]))
    assert np.all((wait[~np.isnan(wait)] >= 0) & np.isfinite(wait[~np.isnan(wait)]))


@FAST
@given(model=params_st, data=customers(n=3),
       ts=st.lists(st.floats(0.0, 7300.0), min_size=2, max_size=6))
def test_expected_purchases_and_purchase_probability_grow_with_the_horizon(
    model: ParetoNBD, data: Summary, ts: list[float]
) -> None:
    horizons = np.sort(np.array(ts))[:, None]
    x, t_x, T = data
    expected = model.expected_purchases(horizons, x, t_x, T)
    buy = model.p_purchase_within(horizons, x, t_x, T)
    new = model.expected_purchases_new(horizons[:, 0])
    assert np.all(np.diff(expected, axis=0) >= -1e-12 * expected[1:])
    assert np.all(np.diff(buy, axis=0) >= -1e-12)
    assert np.all(np.diff(new) >= -1e-12 * new[1:])
    assert np.all(new >= 0)


@FAST
@given(model=params_st, data=customers(n=4), t=st.floats(0.0, 7300.0))
def test_a_scalar_call_equals_the_matching_element_of_an_array_call(
    model: ParetoNBD, data: Summary, t: float
) -> None:
    x, t_x, T = data
    three: list[Callable[[float, float, float], np.ndarray]] = [
        model.p_alive, model.log_likelihood_individual, model.expected_time_to_next_purchase,
    ]
    for method in three:
        batch = method(x, t_x, T)
        for i in range(x.size):
            single = method(x[i], t_x[i], T[i])
            assert single.shape == ()
            np.testing.assert_allclose(single, batch[i], rtol=1e-10)
    for with_t in (model.expected_purchases, model.p_purchase_within):
        batch = with_t(t, x, t_x, T)
        for i in range(x.size):
            np.testing.assert_allclose(with_t(t, x[i], t_x[i], T[i]), batch[i], rtol=1e-10)
    np.testing.assert_allclose(model.expected_purchases_new(t),
                               model.expected_purchases_new(np.array([t, t]))[0], rtol=1e-12)


@FAST
@given(model=params_st, data=customers(n=4))
def test_time_to_next_purchase_is_the_median_of_the_waiting_time(
    model: ParetoNBD, data: Summary
) -> None:
    # Given a customer whose next purchase is more likely than not, when we ask for the
    # time to it, then the chance of a purchase within that time is one half.
    x, t_x, T = data
    wait = model.expected_time_to_next_purchase(x, t_x, T)
    found = np.isfinite(wait)
    if np.any(found):
        chance = model.p_purchase_within(wait[found], x[found], t_x[found], T[found])
        np.testing.assert_allclose(chance, 0.5, rtol=1e-7)
    # ... and where it is NaN, a purchase is not more likely than not, however long we wait.
    never = model.p_purchase_within(1e12, x[~found], t_x[~found], T[~found])
    assert np.all(never <= 0.5 + 1e-9)


# --- known-hard and limiting cases ---------------------------------------------------------


def test_heavy_buyer_who_bought_today_is_alive_and_keeps_buying() -> None:
    # Where lifetimes (scipy >= 1.16) returns NaN: x in the thousands with t_x = T.
    model = ParetoNBD.from_params(dict(zip(("r", "alpha", "s", "beta"), PARITY_PARAMS[0],
                                           strict=True)))
    alive = model.p_alive(10000, 7300.0, 7300.0)
    assert alive == pytest.approx(1.0, abs=1e-6)
    rate = (0.553 + 10000) / (10.578 + 7300.0)  # posterior mean purchase rate
    assert model.expected_purchases(1e-3, 10000, 7300.0, 7300.0) == pytest.approx(
        1e-3 * rate, rel=1e-3)
    assert np.isfinite(model.expected_time_to_next_purchase(10000, 7300.0, 7300.0))


def test_alpha_equal_to_beta_is_the_limit_of_alpha_near_beta() -> None:
    base = dict(r=0.7, alpha=5.0, s=0.9, beta=5.0)
    near = dict(base, beta=5.0 * (1 + 1e-10))
    args = (np.array([0, 3, 300]), np.array([0.0, 2.0, 30.0]), np.array([40.0, 40.0, 40.0]))
    for method in ("log_likelihood_individual", "p_alive", "expected_time_to_next_purchase"):
        exact = getattr(ParetoNBD.from_params(base), method)(*args)
        limit = getattr(ParetoNBD.from_params(near), method)(*args)
        np.testing.assert_allclose(exact, limit, rtol=1e-8)


def test_s_equal_to_one_is_the_limit_of_the_expected_purchases() -> None:
    one = ParetoNBD.from_params(dict(r=0.5, alpha=10.0, s=1.0, beta=12.0))
    near = ParetoNBD.from_params(dict(r=0.5, alpha=10.0, s=1.0 + 1e-9, beta=12.0))
    for t in (1e-6, 1.0, 52.0, 7300.0):
        assert one.expected_purchases_new(t) == pytest.approx(near.expected_purchases_new(t),
                                                              rel=1e-8)
        assert one.expected_purchases(t, 2, 10.0, 30.0) == pytest.approx(
            near.expected_purchases(t, 2, 10.0, 30.0), rel=1e-8)


def test_a_new_customer_is_a_customer_with_nothing_observed_yet() -> None:
    model = ParetoNBD.from_params(dict(r=0.553, alpha=10.578, s=0.606, beta=11.669))
    t = np.array([0.0, 1.0, 39.0, 1000.0])
    np.testing.assert_allclose(model.expected_purchases_new(t),
                               model.expected_purchases(t, 0, 0.0, 0.0), rtol=1e-13)
    assert model.expected_purchases_new(0.0) == 0.0


# --- parameter recovery on simulated customers ---------------------------------------------


def simulate(n: int, r: float, alpha: float, s: float, beta: float,
             rng: np.random.Generator) -> Summary:
    """Pareto/NBD customers observed for 20-39 weeks: lambda ~ Gamma(r, alpha), an
    exponential lifetime with mu ~ Gamma(s, beta), Poisson purchases while alive; the last
    of x uniform purchase times in (0, L] is L U^(1/x)."""
    T = rng.uniform(20.0, 39.0, n)
    rate = rng.gamma(r, 1.0 / alpha, n)
    death = rng.gamma(s, 1.0 / beta, n)
    observed = np.minimum(rng.exponential(1.0, n) / death, T)
    x = rng.poisson(rate * observed).astype(np.float64)
    t_x = np.where(x > 0, observed * rng.random(n) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    return x, t_x, T


@pytest.mark.parametrize(("truth", "n", "seed"), [
    (dict(r=0.55, alpha=10.6, s=0.6, beta=11.7), 20_000, 1),  # CDNOW-like
    # alpha << beta and alpha >> beta: most tail integrals go through the quadrature, which
    # is slower, hence fewer customers.
    (dict(r=1.5, alpha=4.0, s=0.3, beta=30.0), 6_000, 2),
    (dict(r=0.3, alpha=20.0, s=2.0, beta=2.0), 6_000, 3),
])
def test_fit_recovers_simulated_parameters(truth: dict[str, float], n: int, seed: int) -> None:
    data = simulate(n, *truth.values(), np.random.default_rng(seed))
    model = ParetoNBD().fit(*data)
    assert model.converged_
    for name, value in truth.items():
        error = abs(model.params_[name] - value)
        assert error < 4 * model.standard_errors_[name], (name, model.params_[name], value)
    at_truth = ParetoNBD.from_params(truth).log_likelihood_individual(*data).sum()
    assert model.log_likelihood_ >= at_truth


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "t_x", "T", "message"), [
    ([0, 0, 0], [0, 0, 0], [10, 20, 30], "no customer made a repeat purchase"),
    ([2], [1.0], [5.0], "at least two customers"),
    ([1, 2], [-1.0, 1.0], [5.0, 5.0], ">= 0"),
    ([1, 2], [6.0, 1.0], [5.0, 5.0], "must not exceed T"),
    ([0, 2], [1.0, 1.0], [5.0, 5.0], "t_x must be 0"),
    ([1, 2], [np.nan, 1.0], [5.0, 5.0], "NaN"),
    ([1.5, 2], [1.0, 1.0], [5.0, 5.0], "whole numbers"),
])
def test_fit_refuses_data_that_cannot_identify_the_model(
    x: list[float], t_x: list[float], T: list[float], message: str
) -> None:
    with pytest.raises(NotIdentifiableError, match=message):
        ParetoNBD().fit(x, t_x, T)
    with pytest.raises(ValueError, match=message):  # also a ValueError, for generic callers
        ParetoNBD().fit(x, t_x, T)


def test_predictions_before_fit_say_so() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        ParetoNBD().p_alive(1, 1.0, 2.0)


def test_the_module_never_imports_django() -> None:
    code = ("import sys, guanxi.analytics.paretonbd; "
            "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
